// syscall.cpp — entering and leaving blocking system calls (as Go's
// entersyscall / exitsyscall in proc.go).
//
// Owns the hand-off of a P between an M blocked in a call, sysmon (which
// retakes it, sysmon.cpp) and stop-the-world (stw.cpp).
//
// Invariants:
//   Y1. A P in kSyscall belongs to whoever moves it out of kSyscall first,
//       by CAS: the returning M (-> kRunning), sysmon (-> kIdle, then
//       handoffp) or stop-the-world (-> kGCStop). Everyone else backs off.
//   Y2. Between entersyscall and the re-acquisition of a P, the M holds no
//       P and runs nothing that needs one. In particular these paths make
//       no write barrier: nothing here stores a GC reference, and (once the
//       collector exists) a barrier on an M without a P is fatal ("write
//       barrier without P"). Each step below only touches scheduler words.
//   Y3. While gcwaiting is set, exitsyscall takes no P: stop-the-world has
//       moved the old P to kGCStop (so the fast CAS fails) and every other
//       P as well (so pidleget finds none, stw.cpp W1). The fiber waits in
//       the global queue, its M sleeps, and it runs after start_the_world.
//
// Protocol (entersyscall):
//   1. m->locks++: no preemption or parking from here.
//   2. Spill callee-saved registers to the stack and record the stack
//      pointer in g->syscall_sp: a stack scan of a fiber in a syscall must
//      see every reference the call's caller still holds.
//   3. g: running -> syscall.
//   4. p->syscalltick++; m->oldp = p; unwire m and p; p: running -> syscall
//      (seq_cst store: pairs with the CAS in Y1).
//   5. If a stop-the-world is pending, hand it the P at once (CAS kSyscall
//      -> kGCStop under the sched lock, count it in stopwait).
//   6. Wake sysmon if it sleeps: it must watch this P.
//   7. m->locks--.
// Protocol (exitsyscall):
//   1. m->locks++.
//   2. Fast path: CAS oldp kSyscall -> kRunning; rewire; g: syscall ->
//      running (a CAS that waits while a collector scans the stack: the
//      frames above syscall_sp must not change under the scanner). Return.
//   3. Second chance: unless the world is stopping, take an idle P.
//   4. Slow path: switch to g0 (MAction::kExitSyscall). There, g: syscall
//      -> runnable; under the sched lock, an idle P if the world is not
//      stopping (then run g at once) else put g on the global queue; the M,
//      without a P, stops (proc.cpp mloop).
//   5. After steps 2 and 3, the return is a safe point: a fiber flagged to
//      yield (sysmon's time slice) yields here, and every fiber does once
//      the runtime is exiting. Otherwise a fiber that only makes blocking
//      calls would never yield, and shutdown would wait for it forever.
//      (Step 4 goes through the scheduler, which runs nothing once the
//      runtime is exiting.)
//
// Rejected: keeping the P attached and letting sysmon preempt the call
// (a thread blocked in the kernel cannot be preempted); a thread per
// blocking call from a pool (the fiber would still need to migrate back
// and the pool bound is the same problem as WEFT_MAXTHREADS).
#include "sched/syscall.hpp"

#include <weft/clock.hpp>
#include "runtime/base/check.hpp"
#include "runtime/base/cpu_relax.hpp"
#include "runtime/base/test_hooks.hpp"
#include "sched/fiber.hpp"
#include "sched/sanitizers.hpp"
#include "sched/sched.hpp"
#include "sched/trace.hpp"

namespace weft::sched {

std::atomic<uint64_t> g_syscall_ps_stopped{0};
std::atomic<uint64_t> g_returns_during_stop{0};

namespace {

inline __attribute__((always_inline)) uintptr_t current_sp() {
    uintptr_t sp;
#if defined(__x86_64__)
    asm volatile("mov %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
    asm volatile("mov %0, sp" : "=r"(sp));
#else
#error "weft: current_sp() needs this architecture's stack pointer register"
#endif
    return sp;
}

// exitsyscall step 5, on the fiber with its P back. Shutdown flags only
// the fibers running when it starts, and a fiber resumed since (execute
// clears its flag) would loop on here: exiting counts as a flag too.
// syscallstress: an eighth of the returns yield anyway.
inline void yield_if_asked(G* g, bool stress) {
    // Relaxed: hints, as in preempt_check; a flag set just after is seen
    // at the next safe point.
    if (g->preempt.load(std::memory_order_relaxed) || sched_state().exiting.load(std::memory_order_relaxed) ||
        (stress && getm()->rand.below(8) == 0))
        gosched();
}

}  // namespace

void stress_spin(M* m, uint32_t one_in) {
    if (m->rand.below(one_in) != 0) return;
    int64_t until = base::nanotime() + m->rand.below(50'000);
    while (base::nanotime() < until) base::cpu_relax();
}

SyscallStopStats syscall_stop_stats() {
    return {g_syscall_ps_stopped.load(std::memory_order_relaxed), g_returns_during_stop.load(std::memory_order_relaxed)};
}

__attribute__((noinline)) void entersyscall() {
    M* m = getm();
    G* g = m ? m->curg.load(std::memory_order_relaxed) : nullptr;
    WEFT_CHECK(g != nullptr, "entersyscall: not called from a fiber");
    WEFT_CHECK(m->p != nullptr, "entersyscall: the fiber's M holds no P (nested entersyscall?)");
    m->locks++;  // step 1
    // Step 2: this frame's stack pointer; everything the caller keeps live
    // is at or above it once the callee-saved registers are spilled. Read
    // from the register, not from a local's address: ASan's
    // detect_stack_use_after_return may put a local in a fake frame off the
    // stack (a stack scan then found "saved sp outside the stack").
    __builtin_unwind_init();
    g->syscall_sp = current_sp();
#if defined(WEFT_ASAN)
    g->syscall_fake_stack = __asan_get_current_fake_stack();  // locals ASan moved off the stack
#endif
    trace::go_syscall(g->id);
    set_status(g, GStatus::kRunning, GStatus::kSyscall);  // step 3
    P* p = m->p;  // step 4
    p->syscalltick.store(p->syscalltick.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    bump(p->syscalls);
    m->oldp = p;
    m->p = nullptr;
    p->m.store(nullptr, std::memory_order_relaxed);
    p->status.store(PStatus::kSyscall);
    Sched& s = sched_state();
    if (s.gcwaiting.load()) {  // step 5
        base::LockGuard l(s.lock);
        PStatus st = PStatus::kSyscall;
        if (s.stopwait > 0 && p->status.compare_exchange_strong(st, PStatus::kGCStop)) {
            g_syscall_ps_stopped.fetch_add(1, std::memory_order_relaxed);
            if (--s.stopwait == 0) s.stopnote.wakeup();
        }
    }
    if (s.sysmon_idle.load()) sysmon_wake(/*syscall=*/true);  // step 6
    m->locks--;                               // step 7
}

// As Go's entersyscallblock: entersyscall, then take the P out of kSyscall
// ourselves (Y1: if the CAS loses, stop-the-world already has it) and hand
// it off, without waiting for sysmon to notice the call. Still no barrier
// and no P needed (Y2): handoffp only touches scheduler state.
__attribute__((noinline)) void entersyscallblock() {
    entersyscall();
    M* m = getm();
    P* p = m->oldp;
    PStatus st = PStatus::kSyscall;
    if (p && p->status.compare_exchange_strong(st, PStatus::kIdle)) {
        p->syscalltick.store(p->syscalltick.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        trace::proc_handoff(p->id);
        handoffp(p);
    }
}

__attribute__((noinline)) void exitsyscall() {
    M* m = getm();
    G* g = m->curg.load(std::memory_order_relaxed);
    // (A collector may hold the scan bit on top of kSyscall: the CAS below
    // waits it out. Relaxed: only this M moves g out of kSyscall.)
    WEFT_CHECK(g != nullptr && without_scan(g->status.load(std::memory_order_relaxed)) == GStatus::kSyscall,
               "exitsyscall: the fiber is not in a system call");
    m->locks++;  // step 1
    base::test_hook(base::HookPoint::kExitSyscallBeforeP);
    // syscallstress: a quarter of the returns wait 0-50 µs here, without a
    // P (a stop of the world may begin meanwhile); an eighth of those that
    // get a P back yield at once.
    bool stress = sched_state().config.syscall_stress;
    if (stress) stress_spin(m, 4);
    P* oldp = m->oldp;
    m->oldp = nullptr;
    PStatus st = PStatus::kSyscall;
    if (oldp && oldp->status.compare_exchange_strong(st, PStatus::kRunning)) {  // step 2 (Y1)
        m->p = oldp;
        oldp->m.store(m, std::memory_order_relaxed);
        cas_status(g, GStatus::kSyscall, GStatus::kRunning);  // waits out a stack scan
        g->syscall_sp = 0;  // only now: a scanner may be reading it until the CAS
        track_run(g);       // it runs again without execute(): its stack may change
        trace::go_syscall_end(g->id, oldp->id);
        m->locks--;
        base::test_hook(base::HookPoint::kExitSyscallAfterP);
        yield_if_asked(g, stress);
        return;
    }
    Sched& s = sched_state();
    if (!s.gcwaiting.load() && s.npidle.load() > 0) {  // step 3
        P* p;
        {
            base::LockGuard l(s.lock);
            p = s.gcwaiting.load() ? nullptr : pidleget();
        }
        if (p) {
            acquirep(m, p);
            cas_status(g, GStatus::kSyscall, GStatus::kRunning);
            g->syscall_sp = 0;
            track_run(g);
            trace::go_syscall_end(g->id, p->id);
            m->locks--;
            base::test_hook(base::HookPoint::kExitSyscallAfterP);
            yield_if_asked(g, stress);
            return;
        }
    }
    // Step 4: on g0 (proc.cpp, MAction::kExitSyscall). We come back running,
    // holding whatever P the M that resumes us holds.
    m->locks--;
    trace::go_syscall_blocked(g->id);
    m->action = MAction::kExitSyscall;
    switch_to(g->ctx, m->g0);
    base::test_hook(base::HookPoint::kExitSyscallAfterP);
}

}  // namespace weft::sched
