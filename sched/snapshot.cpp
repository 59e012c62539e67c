// snapshot.cpp — the scheduler's counters for weft::metrics().
//
// Read without stopping anyone: the per-P counters and run queues with
// relaxed loads, the M list under the sched lock (a few dozen Ms at most),
// the timer heaps under their own locks. Each count is exact when read;
// the snapshot as a whole is not one instant, so derived counts (fibers
// waiting) are clamped to what the others leave.
#include <weft/clock.hpp>
#include "sched/netpoll.hpp"
#include "sched/sched.hpp"
#include "sched/stack.hpp"

namespace weft::sched {

bool sched_snapshot(SchedSnapshot& out) {
    out = SchedSnapshot{};
    if (g_sched == nullptr) return false;
    Sched& s = *g_sched;
    uint64_t parked[kWaitReasons] = {}, unparked[kWaitReasons] = {};
    out.procs = static_cast<uint64_t>(s.nprocs);
    int32_t idle_procs = s.npidle.load(std::memory_order_relaxed);
    out.procs_idle = idle_procs > 0 ? static_cast<uint64_t>(idle_procs) : 0;
    for (P* p : s.allp) {
        for (int r = 0; r < kWaitReasons; r++) {
            parked[r] += p->parked[r].load(std::memory_order_relaxed);
            unparked[r] += p->unparked[r].load(std::memory_order_relaxed);
        }
        out.steals += p->steals.load(std::memory_order_relaxed);
        out.syscalls += p->syscalls.load(std::memory_order_relaxed);
        out.runq_local += p->runq.size() + (p->runnext.load(std::memory_order_relaxed) != nullptr ? 1 : 0);
        out.timers += p->timers.size();
        // A P held by an M that runs a fiber (not the scheduler's loop).
        if (p->status.load(std::memory_order_relaxed) == PStatus::kRunning) {
            M* m = p->m.load(std::memory_order_acquire);
            if (m && m->curg.load(std::memory_order_acquire)) out.fibers_running++;
        }
    }
    for (int r = 0; r < kWaitReasons; r++) {
        unparked[r] += s.unparked_outside[r].load(std::memory_order_relaxed);
        out.waiting[r] = parked[r] > unparked[r] ? parked[r] - unparked[r] : 0;
        out.fibers_waiting += out.waiting[r];
    }
    int32_t global = s.runqsize.load(std::memory_order_relaxed);
    out.runq_global = global > 0 ? static_cast<uint64_t>(global) : 0;
    out.fibers_runnable = out.runq_global + out.runq_local;
    {
        base::LockGuard l(s.lock);
        out.threads = static_cast<uint64_t>(s.mcount);
        out.threads_idle = static_cast<uint64_t>(s.nmidle);
        for (M* m = s.allm; m; m = m->alllink) {
            G* g = m->curg.load(std::memory_order_acquire);
            if (g && without_scan(g->status.load(std::memory_order_relaxed)) == GStatus::kSyscall) out.threads_syscall++;
        }
    }
    out.fibers_syscall = out.threads_syscall;
    int32_t spinning = s.nmspinning.load(std::memory_order_relaxed);
    out.threads_spinning = spinning > 0 ? static_cast<uint64_t>(spinning) : 0;
    uint64_t started = s.fibers_started_outside.load(std::memory_order_relaxed);
    for (P* p : s.allp) started += p->fibers_started.load(std::memory_order_relaxed);
    out.fibers_created = started;
    out.fibers_alive = static_cast<uint64_t>(fibers_alive());
    // The waiting count comes from two sums taken at different moments;
    // keep the states' total within the fibers alive.
    uint64_t others = out.fibers_running + out.fibers_runnable + out.fibers_syscall;
    if (out.fibers_alive < others + out.fibers_waiting)
        out.fibers_waiting = out.fibers_alive > others ? out.fibers_alive - others : 0;
    out.handoffs = s.handoffs.load(std::memory_order_relaxed);
    int32_t waiters = netpoll_waiters();
    out.netpoll_waiters = waiters > 0 ? static_cast<uint64_t>(waiters) : 0;
    out.netpolls = netpoll_count();
    StackStats st = stack_stats();
    out.stacks = static_cast<uint64_t>(st.guarded + st.canary);
    out.stack_bytes = out.stacks * st.size;
    return true;
}

}  // namespace weft::sched
