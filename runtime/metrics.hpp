// metrics.hpp — a snapshot of the runtime's counters (as Go's runtime/metrics).
//
//   weft::Metrics m = weft::metrics();
//   fmt::print("{} fibers, {} waiting on channels\n", m.fibers.alive, m.waiting("chan receive"));
//
// Cheap enough to call every millisecond: it stops nothing, sums per-P
// counters and reads a few shared ones (the list of threads and each P's
// timer heap under their locks). Every count is exact when it is read; the
// snapshot as a whole is not one instant. Callable from any fiber or
// thread; outside weft::run every field is zero but the process totals
// fibers.abandoned_total and stalls_total.
//
// Units are in the names: a count of things unless it ends in _bytes or
// _ns. "Total" counts grow from the start of the run (the collector's from
// the start of the process); the others are levels now.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace weft {

struct Metrics {
    struct Fibers {
        uint64_t alive = 0;       // started and not ended
        uint64_t running = 0;     // on a P now
        uint64_t runnable = 0;    // in a run queue, ready to run
        uint64_t waiting = 0;     // parked: a channel, a lock, a timer, the network...
        uint64_t in_syscall = 0;  // in weft::blocking or a system call, holding no P
        uint64_t created_total = 0;
        // Fibers still blocked (parked, or in a call) when a run's main
        // fiber returned, over every run of this process
        // (WEFT_DEBUG=leakcheck=1 lists them); kept after the run too.
        uint64_t abandoned_total = 0;
    } fibers;
    // Fibers waiting, by the reason a dump shows ("chan receive", "select",
    // "sleep", "sync.Mutex.Lock", "IO wait", ...): reasons[i] waits
    // waiting_count[i]. Every reason is listed, with 0 if no fiber waits.
    static constexpr size_t kMaxReasons = 32;
    size_t nreasons = 0;
    const char* reasons[kMaxReasons] = {};
    uint64_t waiting_count[kMaxReasons] = {};
    // The count for one reason; 0 for a reason no fiber waits for or that
    // does not exist.
    uint64_t waiting(std::string_view reason) const;

    struct Threads {
        uint64_t total = 0;       // OS threads running fibers (Ms), those in calls included
        uint64_t idle = 0;        // parked with nothing to run
        uint64_t spinning = 0;    // looking for work to steal
        uint64_t in_syscall = 0;  // blocked in a call (weft::blocking, sys::, files)
    } threads;
    struct Procs {
        uint64_t total = 0;  // Ps (GOMAXPROCS)
        uint64_t idle = 0;   // Ps with nothing to run
    } procs;
    struct Scheduler {
        uint64_t runqueue_global = 0;  // fibers in the global run queue
        uint64_t runqueue_local = 0;   // fibers in the Ps' own queues, summed
        uint64_t steals_total = 0;     // fibers a P took from another P's queue
        uint64_t syscalls_total = 0;   // calls entered (weft::blocking, sys::, files)
        uint64_t handoffs_total = 0;   // Ps handed to another thread (a call blocked, sysmon)
        uint64_t netpoll_waiters = 0;  // fibers parked on a socket or pipe now
        uint64_t netpolls_total = 0;   // polls of the network (epoll_wait calls)
        uint64_t timers = 0;           // pending timers (sleep, deadlines, Timer, Ticker)
    } sched;
    // Fiber runs the stall detector found (reported or rate-limited) over
    // every run of this process; kept after the run.
    uint64_t stalls_total = 0;
    struct Stacks {
        uint64_t allocated = 0;            // fiber stacks mapped (in use or cached for reuse)
        uint64_t reserved_bytes = 0;       // their address space (committed lazily by the OS)
    } stacks;
    struct Collector {
        uint64_t cycles_total = 0;
        uint64_t heap_live_bytes = 0;    // marked at the last cycle, plus allocated since
        uint64_t heap_goal_bytes = 0;    // where the current or next cycle aims to end
        uint64_t heap_mapped_bytes = 0;  // pages the heap holds from the OS
        uint64_t allocated_bytes_total = 0;
        uint64_t freed_bytes_total = 0;
        uint64_t pauses_total = 0;       // stops of the world
        uint64_t pause_total_ns = 0;
        uint64_t pause_max_ns = 0;
        // Pauses by length; pause_buckets_ns[i] is bucket i's upper bound
        // (exclusive), the last bucket has none.
        static constexpr size_t kPauseBuckets = 10;
        static constexpr uint64_t pause_buckets_ns[kPauseBuckets - 1] = {
            10'000, 50'000, 100'000, 250'000, 500'000, 1'000'000, 2'000'000, 5'000'000, 10'000'000};
        uint64_t pauses[kPauseBuckets] = {};
        uint64_t assist_ns_total = 0;  // fibers' time in mark assists
        uint64_t worker_ns_total = 0;  // the collector fiber's marking time
        uint64_t idle_mark_ns_total = 0;  // idle Ps' marking and stack scans
    } gc;
};

// The snapshot above.
Metrics metrics();

}  // namespace weft
