// stw.cpp — stopping and starting the world (as Go's stopTheWorldWithSema).
//
// Owns Sched::gcwaiting/stopwait/stopnote.
//
// Protocol (stop):
//   1. Under the sched lock: gcwaiting = true, stopwait = nprocs; flag every
//      running fiber for preemption.
//   2. The caller's own P goes to kGCStop (the caller keeps running on it).
//   3. Idle Ps are taken off the idle list into kGCStop; Ps in kSyscall are
//      CASed to kGCStop (their M finds it gone when the call returns).
//   4. Each running M notices gcwaiting at its next schedule (gcstopm),
//      releases its P into kGCStop and decrements stopwait; the last one
//      wakes the stopper.
//   5. The stopper waits on stopnote, re-flagging fibers every 100 µs. If
//      the run ends meanwhile (main returned: Ms leave their loops holding
//      their Ps), the stop is undone and the stopper's fiber is abandoned.
// Invariant W1: with gcwaiting set, no M acquires a P except through
// start_the_world (pidleget finds nothing: every P is in kGCStop).
#include <weft/clock.hpp>
#include "runtime/base/check.hpp"
#include "runtime/base/fatal.hpp"
#include "runtime/base/test_hooks.hpp"
#include "sched/fiber.hpp"
#include "sched/sched.hpp"
#include "sched/trace.hpp"

namespace weft::sched {

void preempt_all() {
    for (P* p : sched_state().allp) {
        if (p->status.load() != PStatus::kRunning) continue;
        M* m = p->m.load(std::memory_order_acquire);  // hint (p.hpp)
        if (m == nullptr) continue;
        if (G* g = m->curg.load(std::memory_order_acquire)) g->preempt.store(true, std::memory_order_relaxed);
    }
}

// An M stopped for a stop-the-world polls kStopSpinNs for the start
// before it sleeps, when the Ps do not outnumber the CPUs (so the pollers
// never take the stopper's CPU). Most pauses are shorter than that: the
// start then finds the M awake, and no futex wake-up makes the OS run the
// woken thread in place of the stopper's (wake-up preemption), which can
// turn a pause of tens of microseconds of work into milliseconds.
constexpr int64_t kStopSpinNs = 50'000;

void gcstopm(M* m) {
    Sched& s = sched_state();
    if (m->spinning) {
        m->spinning = false;
        if (s.nmspinning.fetch_sub(1) <= 0) base::fatal("gcstopm: negative nmspinning");
    }
    P* p = releasep(m);
    s.lock.lock();
    p->status.store(PStatus::kGCStop);
    if (--s.stopwait == 0) s.stopnote.wakeup();
    bool spin = s.nprocs <= s.ncpu;
    s.lock.unlock();
    stopm(m, spin ? kStopSpinNs : 0);
}

namespace {

// main returned while this stop waited: Ms leave their loops at shutdown
// holding their Ps, so the stop can never complete. Undo it (the caller's
// P runs again, the stopped ones go idle) and park the calling fiber for
// good: it is abandoned like any fiber alive when main returns, its M
// leaves its loop, and run() returns. Called with the sched lock held.
[[noreturn]] void abandon_stop_locked(M* m) {
    Sched& s = sched_state();
    for (P* p : s.allp) {
        if (p == m->p) {
            p->status.store(PStatus::kRunning);
        } else if (p->status.load() == PStatus::kGCStop) {
            // As pidleput, but fibers abandoned at shutdown may remain queued.
            p->status.store(PStatus::kIdle);
            p->link = s.pidle;
            s.pidle = p;
            s.npidle.fetch_add(1);
        }
    }
    s.stopwait = 0;
    s.gcwaiting.store(false);
    s.stw_since.store(0, std::memory_order_relaxed);
    s.lock.unlock();
    park([](G*, void*) { return true; }, nullptr, WaitReason::kShutdownAbandoned);
    base::fatal("stop_the_world: a fiber abandoned at shutdown was resumed");
}

}  // namespace

void stop_the_world(const char* reason) {
    Sched& s = sched_state();
    M* m = getm();
    WEFT_CHECK(m != nullptr && m->p != nullptr && getg() != nullptr, "stop_the_world: must be called from a fiber");
    // syscallstress: half the stops and starts wait 0-50 µs first, so
    // system calls return at varied points of a switch.
    if (s.config.syscall_stress) stress_spin(m, 2);
    trace::stw_begin(reason);
    s.lock.lock();
    WEFT_CHECK(!s.gcwaiting.load(), "stop_the_world: the world is already stopping");
    s.stopnote.clear();
    s.stopwait = s.nprocs;
    s.gcwaiting.store(true);  // step 1
    s.stw_reason.store(reason, std::memory_order_relaxed);
    s.stw_since.store(base::nanotime(), std::memory_order_release);
    preempt_all();
    m->p->status.store(PStatus::kGCStop);  // step 2
    s.stopwait--;
    for (P* p : s.allp) {  // step 3
        PStatus st = PStatus::kSyscall;
        if (p->status.compare_exchange_strong(st, PStatus::kGCStop)) {
            p->syscalltick.fetch_add(1);
            g_syscall_ps_stopped.fetch_add(1, std::memory_order_relaxed);
            s.stopwait--;
        }
    }
    while (P* p = pidleget()) {
        p->status.store(PStatus::kGCStop);
        s.stopwait--;
    }
    bool wait = s.stopwait > 0;
    s.lock.unlock();
    if (wait) {  // step 5
        while (!s.stopnote.sleep_for(100'000)) {
            s.lock.lock();
            if (s.exiting.load()) abandon_stop_locked(m);  // does not return
            preempt_all();
            s.lock.unlock();
        }
    }
    s.stw_since.store(0, std::memory_order_relaxed);
    for (P* p : s.allp)
        if (p->status.load() != PStatus::kGCStop)
            base::fatal("stop_the_world (%s): P %d is %s, not stopped", reason, p->id, pstatus_name(p->status.load()));
}

int64_t start_the_world() {
    Sched& s = sched_state();
    M* m = getm();
    if (s.config.syscall_stress) stress_spin(m, 2);
    P* mine = m->p;
    P* with_work[64];
    int nwork = 0;
    {
        base::LockGuard l(s.lock);
        WEFT_CHECK(s.gcwaiting.load(), "start_the_world: the world is not stopped");
        s.gcwaiting.store(false);
        for (P* p : s.allp) {
            if (p == mine) continue;
            bool has_work = !p->runq.empty() || p->runnext.load() != nullptr;
            if (has_work && nwork < 64) {
                p->status.store(PStatus::kIdle);
                with_work[nwork++] = p;
            } else {
                pidleput(p);
            }
        }
        mine->status.store(PStatus::kRunning);
    }
    for (int i = 0; i < nwork; i++) startm(with_work[i], false);
    int64_t started = base::nanotime();
    trace::stw_end();
    base::test_hook(base::HookPoint::kStartWakeIdle);
    wakep();
    return started;
}

const char* pstatus_name(PStatus st) {
    switch (st) {
        case PStatus::kIdle: return "idle";
        case PStatus::kRunning: return "running";
        case PStatus::kSyscall: return "syscall";
        case PStatus::kGCStop: return "gcstop";
        case PStatus::kDead: return "dead";
    }
    return "?";
}

}  // namespace weft::sched
