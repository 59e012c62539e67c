// metrics.cpp — see metrics.hpp: the scheduler's snapshot and the
// collector's statistics, under their public names.
#include <weft/metrics.hpp>

#include <cstring>

#include <weft/gc.hpp>
#include "sched/sched.hpp"

namespace weft {

uint64_t Metrics::waiting(std::string_view reason) const {
    for (size_t i = 0; i < nreasons; i++)
        if (reason == reasons[i]) return waiting_count[i];
    return 0;
}

Metrics metrics() {
    Metrics m;
    m.fibers.abandoned_total = sched::abandoned_fibers_total();
    m.stalls_total = sched::stalls_found_total();
    sched::SchedSnapshot s;
    if (!sched::sched_snapshot(s)) return m;
    m.fibers = {s.fibers_alive,   s.fibers_running, s.fibers_runnable,
                s.fibers_waiting, s.fibers_syscall, s.fibers_created, m.fibers.abandoned_total};
    static_assert(sched::kWaitReasons <= static_cast<int>(Metrics::kMaxReasons), "Metrics::kMaxReasons too small");
    // Reason 0 is "none", which no parked fiber has.
    for (int r = 1; r < sched::kWaitReasons; r++) {
        m.reasons[m.nreasons] = sched::wait_reason_name(static_cast<sched::WaitReason>(r));
        m.waiting_count[m.nreasons] = s.waiting[r];
        m.nreasons++;
    }
    m.threads = {s.threads, s.threads_idle, s.threads_spinning, s.threads_syscall};
    m.procs = {s.procs, s.procs_idle};
    m.sched = {s.runq_global, s.runq_local, s.steals, s.syscalls, s.handoffs, s.netpoll_waiters, s.netpolls, s.timers};
    m.stacks = {s.stacks, s.stack_bytes};
    gc::Stats g = gc::stats();
    auto u = [](int64_t v) { return v > 0 ? static_cast<uint64_t>(v) : 0; };
    m.gc.cycles_total = g.cycles;
    m.gc.heap_live_bytes = u(g.heap_live_bytes);
    m.gc.heap_goal_bytes = u(g.heap_goal_bytes);
    m.gc.heap_mapped_bytes = u(g.heap_mapped_bytes);
    m.gc.allocated_bytes_total = g.total_alloc_bytes;
    m.gc.freed_bytes_total = g.total_freed_bytes;
    m.gc.pauses_total = g.stw_pauses;
    m.gc.pause_total_ns = u(g.total_pause_ns);
    m.gc.pause_max_ns = u(g.max_pause_ns);
    static_assert(sizeof g.pause_histogram / sizeof g.pause_histogram[0] == Metrics::Collector::kPauseBuckets);
    for (size_t i = 0; i < Metrics::Collector::kPauseBuckets; i++) m.gc.pauses[i] = g.pause_histogram[i];
    m.gc.assist_ns_total = u(g.assist_ns);
    m.gc.worker_ns_total = u(g.worker_ns);
    m.gc.idle_mark_ns_total = u(g.idle_mark_ns);
    return m;
}

}  // namespace weft
