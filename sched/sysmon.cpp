// sysmon.cpp — the system monitor thread (as Go's sysmon).
//
// Runs without a P and never runs fibers. Owns P::sysmon_*. Each round it
//  - retakes Ps left in kSyscall by Ms blocked in system calls (as Go's
//    retake): once the same call has been seen for a whole round (>= 20 µs),
//    if the P has work or no P is idle or spinning to pick work up — else
//    only after 10 ms — it CASes the P kSyscall -> kIdle (syscall.cpp Y1)
//    and hands it off (handoffp), so a blocked call never idles a core; and
//    a P whose one schedule has lasted a whole time slice through calls
//    shorter than a round, so that its timers and queue get to run;
//  - polls the network when no M has for 10 ms (lastpoll), injecting the
//    fibers it readies into the global queue;
//  - flags fibers that have held their P for longer than the time slice
//    (RunConfig::preempt_after_ns, 10 ms): they yield at their next safe
//    point (cooperative preemption);
//  - with WEFT_DEBUG=schedtrace=MS, writes one line to stderr every MS ms,
//    idle or not (as Go's schedtrace):
//      SCHED 1003ms: procs=4 idleprocs=2 threads=7 spinningthreads=0
//      idlethreads=3 syscallthreads=1 runqueue=0 fibers=12 [0 3 0 0]
//    (one line): Ps, idle Ps, Ms alive, Ms spinning, idle Ms, Ms in a
//    system call, the global run queue, fibers alive, each P's local run
//    queue (its runnext counted). Read without stopping anyone: each count
//    is exact when read, the line a near-instant snapshot. With
//    scheddetail=1, a line per P, M and fiber follows (scheddetail()).
//
// Protocol (idle parking — an idle program must not wake every 10 ms):
//   1. If every P is idle: kick = 0; sysmon_idle = true (seq_cst).
//   2. Re-check npidle == nprocs (seq_cst); if not, clear idle and go on.
//   3. Sleep on the kick futex. pidleget() decrements npidle (seq_cst) and
//      then reads sysmon_idle: either sysmon sees the busy P in step 2 or the
//      taker sees the flag and kicks.
// Delay between rounds: 20 µs, doubling after 1 ms without work to 10 ms;
// reset by work (a retake, a preemption, a network poll) or by a fiber
// entering a system call while sysmon slept, not by mere idle -> busy.
#include <algorithm>
#include <cstdio>
#include <pthread.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <weft/clock.hpp>
#include "runtime/base/fatal.hpp"
#include "runtime/base/futex.hpp"
#include "runtime/base/test_hooks.hpp"
#include "sched/sched.hpp"
#include "sched/trace.hpp"

namespace weft::sched {

int64_t g_debug_now_coarse = 0;

namespace {

constexpr int64_t kSyscallIdleRetakeNs = 10'000'000;
constexpr int64_t kNetpollStaleNs = 10'000'000;

void retake(Sched& s, int64_t now, bool& did_work) {
    for (P* p : s.allp) {
        PStatus st = p->status.load();
        // Relaxed ticks (here and below): counters sysmon samples; a stale
        // read only postpones a retake or a preemption by a round.
        uint32_t tick = p->schedtick.load(std::memory_order_relaxed);
        if (p->sysmon_tick != tick) {
            p->sysmon_tick = tick;
            p->sysmon_when = now;
        }
        // The same schedule has held the P for a whole slice (as Go's retake
        // checks schedtick for _Psyscall as well as _Prunning).
        bool slice_used = now - p->sysmon_when >= s.config.preempt_after_ns;
        if (st == PStatus::kSyscall) {
            uint32_t t = p->syscalltick.load(std::memory_order_relaxed);
            // A fiber looping on calls shorter than a round shows a new call
            // every round and takes its P back at each return, so its P's
            // timers and queue would wait for ever: once it has held the P a
            // whole slice, the P is retaken like a long call's.
            if (p->sysmon_syscalltick != t && !slice_used) {  // a new call: watch it one round
                p->sysmon_syscalltick = t;
                p->sysmon_syscallwhen = now;
                continue;
            }
            bool others_can_work = s.nmspinning.load() + s.npidle.load() > 0;
            if (!slice_used && runq_empty(p) && others_can_work && now - p->sysmon_syscallwhen < kSyscallIdleRetakeNs)
                continue;
            PStatus expected = PStatus::kSyscall;
            if (p->status.compare_exchange_strong(expected, PStatus::kIdle)) {  // Y1
                p->syscalltick.store(t + 1, std::memory_order_relaxed);
                p->sysmon_when = now;
                did_work = true;
                trace::proc_handoff(p->id);
                handoffp(p);
            }
            continue;
        }
        if (st != PStatus::kRunning || !slice_used) continue;
        // The same schedule has run a whole slice: ask its fiber to yield.
        // M and G records are never freed during a run, so a stale read only
        // flags a fiber that no longer needs it (one spurious yield).
        M* m = p->m.load(std::memory_order_acquire);
        if (m == nullptr) continue;
        if (G* g = m->curg.load(std::memory_order_acquire)) {
            g->preempt.store(true, std::memory_order_relaxed);
            p->sysmon_when = now;
            did_work = true;
        }
    }
}

// scheddetail (above): a line per P, per M and per fiber after the
// summary, read as the summary is (hints, no one stopped):
//     P0: status=running schedtick=1523 syscalltick=4 m=2 runqueue=3 timers=1
//     M2: p=0 curg=12 spinning=false idle=false tid=48213
//     G12: status=waiting(chan receive) m=-1 created at server.cpp:41
// no_sanitize("thread"): reads other threads' M and G fields as a dump does.
__attribute__((no_sanitize("thread"))) void print_g_detail(G* g, void*) {
    GStatus st = without_scan(g->status.load(std::memory_order_relaxed));
    if (st == GStatus::kDead || st == GStatus::kIdle) return;
    M* m = g->m;
    char reason[64] = "";
    if (st == GStatus::kWaiting) std::snprintf(reason, sizeof reason, "(%s)", wait_reason_name(g->wait_reason));
    char line[512];
    int n = std::snprintf(line, sizeof line, "  G%llu: status=%s%s m=%lld %s%s:%u\n",
                          static_cast<unsigned long long>(g->id), status_name(st), reason,
                          m && (st == GStatus::kRunning || st == GStatus::kSyscall) ? static_cast<long long>(m->id) : -1LL,
                          g->parent_id ? "created at " : "main fiber, ", g->created_at.file_name(), g->created_at.line);
    if (n > 0) (void)!::write(2, line, std::min(static_cast<size_t>(n), sizeof line - 1));
}

__attribute__((no_sanitize("thread"))) void scheddetail(Sched& s) {
    char line[256];
    for (const P* p : s.allp) {
        M* m = const_cast<P*>(p)->m.load(std::memory_order_acquire);
        int n = std::snprintf(line, sizeof line, "  P%d: status=%s schedtick=%u syscalltick=%u m=%lld runqueue=%u timers=%zu\n",
                              p->id, pstatus_name(p->status.load(std::memory_order_relaxed)),
                              p->schedtick.load(std::memory_order_relaxed), p->syscalltick.load(std::memory_order_relaxed),
                              m ? static_cast<long long>(m->id) : -1LL,
                              p->runq.size() + (p->runnext.load(std::memory_order_relaxed) != nullptr ? 1 : 0),
                              const_cast<P*>(p)->timers.size());
        (void)!::write(2, line, static_cast<size_t>(n));
    }
    {
        base::LockGuard l(s.lock);
        for (M* m = s.allm; m; m = m->alllink) {
            G* g = m->curg.load(std::memory_order_acquire);
            bool idle = false;
            for (M* i = s.midle; i; i = i->schedlink) idle |= i == m;
            int n = std::snprintf(line, sizeof line, "  M%lld: p=%d curg=%lld spinning=%s idle=%s tid=%d\n",
                                  static_cast<long long>(m->id), m->p ? m->p->id : -1,
                                  g ? static_cast<long long>(g->id) : -1LL, m->spinning ? "true" : "false",
                                  idle ? "true" : "false", m->tid);
            (void)!::write(2, line, static_cast<size_t>(n));
        }
    }
    for_each_g(print_g_detail, nullptr);
}

// One schedtrace line (above), `elapsed` since the run started.
void schedtrace(Sched& s, int64_t elapsed) {
    int32_t threads, idlethreads, syscallthreads = 0;
    {
        base::LockGuard l(s.lock);
        threads = s.mcount;
        idlethreads = s.nmidle;
        // M records live as long as the run; a G's status is read as a hint.
        for (M* m = s.allm; m; m = m->alllink) {
            G* g = m->curg.load(std::memory_order_acquire);
            if (g && without_scan(g->status.load(std::memory_order_relaxed)) == GStatus::kSyscall) ++syscallthreads;
        }
    }
    char line[4096];
    int n = std::snprintf(line, sizeof line,
                          "SCHED %lldms: procs=%d idleprocs=%d threads=%d spinningthreads=%d idlethreads=%d "
                          "syscallthreads=%d runqueue=%d fibers=%lld [",
                          static_cast<long long>(elapsed / 1'000'000), s.nprocs, s.npidle.load(), threads,
                          s.nmspinning.load(), idlethreads, syscallthreads, s.runqsize.load(),
                          static_cast<long long>(fibers_alive()));
    for (size_t i = 0; i < s.allp.size() && n < static_cast<int>(sizeof line) - 16; ++i) {
        const P* p = s.allp[i];
        // Relaxed: a snapshot; runnext may be taken at any moment anyway.
        uint32_t q = p->runq.size() + (p->runnext.load(std::memory_order_relaxed) != nullptr ? 1 : 0);
        n += std::snprintf(line + n, sizeof line - static_cast<size_t>(n), i == 0 ? "%u" : " %u", q);
    }
    if (n > static_cast<int>(sizeof line) - 3) n = static_cast<int>(sizeof line) - 3;  // 1024 Ps: cut short
    line[n++] = ']';
    line[n++] = '\n';
    // One write: the line is not interleaved with other threads' output.
    (void)!::write(2, line, static_cast<size_t>(n));
    if (s.config.scheddetail) scheddetail(s);
}

void* sysmon_main(void*) {
    Sched& s = sched_state();
    // The kernel's default 50 us timer slack would stretch every 20 us round
    // to ~70-100 us, and with it every syscall hand-off.
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    pthread_setname_np(pthread_self(), "weft-sysmon");  // by itself: see mthread
    trace::set_sysmon_thread();
    int64_t delay_us = 20;
    int idle_rounds = 0;
    int64_t last_reclaim = base::nanotime();
    const int64_t reclaim_every = std::max<int64_t>(s.config.idle_m_timeout_ns / 4, 1'000'000);
    const int64_t started = last_reclaim;
    const int64_t trace_every = s.config.schedtrace_ns;
    int64_t next_trace = trace_every > 0 ? started + trace_every : INT64_MAX;
    // A wait of at most `ns` that also ends at the next schedtrace line.
    auto bounded = [&](int64_t ns, int64_t now) {
        if (next_trace == INT64_MAX) return ns;
        int64_t until_trace = std::max<int64_t>(next_trace - now, 0);
        return ns < 0 ? until_trace : std::min(ns, until_trace);
    };
    while (!s.exiting.load()) {
        dump_serve();
        __atomic_store_n(&g_debug_now_coarse, base::nanotime_coarse(), __ATOMIC_RELAXED);
        int64_t now = base::nanotime();
        if (now >= next_trace) {
            schedtrace(s, now - started);
            // The next one a period later; after a stall of sysmon, half a
            // period from now rather than a burst of lines to catch up.
            next_trace = std::max(next_trace + trace_every, now + trace_every / 2);
        }
        if (now - last_reclaim >= reclaim_every) {
            last_reclaim = now;
            reclaim_idle_ms(now);
        }
        if (idle_rounds > 50) delay_us = std::min<int64_t>(delay_us * 2, 10'000);
        else delay_us = 20;
        base::futex_wait(&s.sysmon_kick, 0, bounded(delay_us * 1000, now));
        s.sysmon_kick.store(0);
        dump_serve();
        if (s.exiting.load()) break;
        if (s.npidle.load() == s.nprocs && !s.gcwaiting.load()) {
            s.sysmon_idle.store(true);                 // step 1
            if (s.npidle.load() == s.nprocs && !s.exiting.load()) {  // step 2
                // Step 3. While idle Ms remain to be reclaimed, wake for that
                // now and then; otherwise sleep until kicked.
                int64_t t = base::nanotime();
                bool reclaim_pending = reclaim_idle_ms(t) > 0;
                base::futex_wait(&s.sysmon_kick, 0, bounded(reclaim_pending ? reclaim_every : -1, t));
            }
            s.sysmon_idle.store(false);
            s.sysmon_kick.store(0);
            // Keep the back-off: a P leaving idle (request/response load)
            // wakes us constantly, and resetting to 20 us rounds each time
            // costs a server a large share of its CPU. A system call needs
            // us soon.
            if (s.sysmon_syscall_wake.exchange(false)) idle_rounds = 0;
            continue;
        }
        bool did_work = false;
        now = base::nanotime();
        // Poll the network if nobody has for 10 ms (as Go's sysmon): with
        // every P always busy, find_runnable never reaches its netpoll step
        // and fibers waiting on fds would starve.
        int64_t last = s.lastpoll.load();
        if (netpoll_has_waiters() && last != 0 && now - last > kNetpollStaleNs &&
            s.lastpoll.compare_exchange_strong(last, now)) {
            GQueue ready_list;
            int32_t n = netpoll(0, ready_list);
            if (n > 0) {
                // Sysmon is no M: while it holds these fibers every M may
                // go idle, and only their waiter count (still raised until
                // netpoll_waiters_done, netpoll.cpp N4) keeps checkdead
                // from calling that a deadlock.
                base::test_hook(base::HookPoint::kSysmonPolled, static_cast<uint64_t>(n));
                injectglist(ready_list, n);
                netpoll_waiters_done(n);
                did_work = true;
            }
        }
        retake(s, now, did_work);
        if (s.config.stall_ns > 0) stall_check(s, now);
        idle_rounds = did_work ? 0 : idle_rounds + 1;
    }
    trace::thread_exit();
    return nullptr;
}

}  // namespace

void sysmon_start() {
    Sched& s = sched_state();
    stall_start();
    int err = pthread_create(&s.sysmon_thread, nullptr, sysmon_main, nullptr);
    if (err != 0) base::fatal("cannot start the sysmon thread: error %d", err);
}

void sysmon_wake(bool syscall) {
    Sched& s = sched_state();
    if (syscall) s.sysmon_syscall_wake.store(true);
    s.sysmon_kick.store(1);
    base::futex_wake(&s.sysmon_kick, 1);
}

void sysmon_stop() {
    sysmon_wake();
    pthread_join(sched_state().sysmon_thread, nullptr);
    stall_finish();
}

}  // namespace weft::sched
