// p.hpp — P, the right to run fibers (GOMAXPROCS of them).
//
//   status     meaning                                   owner
//   ------     -------                                   -----
//   kIdle      on the idle list, no M                    sched lock
//   kRunning   held by an M running fibers or g0         that M
//   kSyscall   left by an M in a blocking call (oldp)    CAS race: the M on
//                                                        return, sysmon, or
//                                                        stop-the-world
//   kGCStop    collected by stop-the-world               the stopper
//   kDead      not in use                                nobody
#pragma once

#include <atomic>
#include <cstdint>

#include "sched/g.hpp"
#include "sched/runq.hpp"
#include "sched/timers.hpp"

namespace weft::sched {

struct M;

enum class PStatus : uint32_t { kIdle, kRunning, kSyscall, kGCStop, kDead };
const char* pstatus_name(PStatus s);

struct P {
    int32_t id = 0;
    std::atomic<PStatus> status{PStatus::kIdle};
    // The M holding it (kRunning). Written by that M in acquirep/releasep;
    // sysmon and stop-the-world read it as a hint (M records are never freed
    // during a run, so a stale M only misdirects a preempt flag). Stored
    // with release and loaded with acquire, so that a reader that gets a
    // brand-new M sees it constructed (its curg, its tid).
    std::atomic<M*> m{nullptr};
    P* link = nullptr;   // idle list (under sched lock)

    // Incremented on every schedule that does not inherit a time slice.
    // Read by sysmon to spot a fiber that has run too long (relaxed: sysmon
    // only needs an eventually-observed change).
    std::atomic<uint32_t> schedtick{0};
    std::atomic<uint32_t> syscalltick{0};

    LocalRunQueue runq;
    // A G readied by the running G, run next and inheriting the time slice.
    // Stealers CAS it only after spinning a little (see steal_work).
    std::atomic<G*> runnext{nullptr};

    // Dead Gs, without stacks (a G needs one only once it runs): an array,
    // not a list through G::schedlink, so that moving Gs to and from the
    // global list never touches a G (each one is a cache miss, likely on
    // another core's line: a refill walking 32 cold Gs one load after
    // another was most of a spawn's cost in W1).
    static constexpr int32_t kGFreeMax = 64;
    G* gfree[kGFreeMax];
    int32_t ngfree = 0;
    // Free stacks (as Go's per-P stackcache): a G takes one when it first
    // runs and gives it back when it exits, so a program that spawns faster
    // than fibers finish still reuses a handful of stacks.
    static constexpr int32_t kStackCacheMax = 32;
    Stack stack_cache[kStackCacheMax];
    int32_t nstack_cache = 0;
    // Timer wake-ups put in this P's ring (S6, proc.cpp); this P's M only.
    // At least the number still there: it only errs high.
    int32_t timer_queued = 0;
    // Batch of fiber ids handed out without touching a shared counter.
    uint64_t goid_next = 0, goid_end = 0;
    // Fibers started (newproc) and ended (goexit) on this P, for counts
    // summed over the Ps (fibers_alive). Written only by the M holding the
    // P, read by anyone: relaxed, a load and a store, no read-modify-write.
    std::atomic<uint64_t> fibers_started{0};
    std::atomic<uint64_t> fibers_ended{0};

    TimerHeap timers;

    // Counters for weft::metrics() (snapshot.cpp). Written only by the M
    // holding the P, with a relaxed load and store (the P's hand-over
    // orders one holder's writes before the next one's); read by anyone.
    // parked/unparked: fibers that parked, and fibers woken, by their wait
    // reason, here (a fiber may park on one P and be woken on another: only
    // the sums over the Ps mean something).
    std::atomic<uint64_t> parked[kWaitReasons] = {};
    std::atomic<uint64_t> unparked[kWaitReasons] = {};
    std::atomic<uint64_t> steals{0};    // fibers taken from other Ps' queues
    std::atomic<uint64_t> syscalls{0};  // system calls entered (entersyscall)

    // sysmon's private view (only sysmon touches these).
    uint32_t sysmon_tick = 0;
    int64_t sysmon_when = 0;
    uint32_t sysmon_syscalltick = 0;
    int64_t sysmon_syscallwhen = 0;
    // The stall detector's view of the fiber running here (stall.cpp;
    // sysmon only): which fiber, which run of it (its stack_gen), since
    // when, and its thread's CPU time once it has run a slice.
    G* stall_g = nullptr;
    uint64_t stall_gen = 0;
    int64_t stall_since = 0;
    int64_t stall_cpu_at = 0;    // when stall_cpu was read; 0: not yet
    int64_t stall_cpu = 0;       // the M's thread CPU time then
    bool stall_reported = false;
    int64_t stall_stw = 0;       // the stop-the-world (its start) reported for

    // Slots owned by other subsystems (the collector's caches); sched/ never
    // interprets them.
    void* ext[4] = {};
};

}  // namespace weft::sched
