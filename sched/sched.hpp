// sched.hpp — the scheduler's global state and its internal API.
//
// Private to sched/ (and tests through tests/support). The public face is
// sched/fiber.hpp (what runtime/ uses) and runtime/weft.hpp (what users use).
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include <weft/internal/lock.hpp>
#include "runtime/base/note.hpp"
#include "sched/fiber.hpp"
#include "sched/g.hpp"
#include "sched/m.hpp"
#include "sched/p.hpp"
#include "sched/run_config.hpp"

namespace weft::sched {

struct Sched {
    // Lock order: see runtime/base/lock_rank.hpp.
    base::Lock lock{base::LockRank::kSched};

    // -- Ms (under lock unless atomic)
    M* midle = nullptr;                  // idle Ms, parked on their notes
    int32_t nmidle = 0;
    int32_t mcount = 0;                  // Ms created and not exited
    int32_t mpending = 0;                // Ms startm reserved whose thread newm has not created yet
    bool maxthreads_reported = false;    // WEFT_MAXTHREADS reached (once)
    int64_t mnext = 0;                   // next M id
    M* allm = nullptr;                   // every M ever made in this run
    std::atomic<int32_t> nmspinning{0};  // Ms with spinning == true

    // -- Ps
    std::vector<P*> allp;
    int32_t nprocs = 0;
    P* pidle = nullptr;              // idle Ps (under lock)
    std::atomic<int32_t> npidle{0};  // written under lock, read racily as a hint

    // -- global run queue (under lock; size read racily as a hint)
    GQueue runq;
    std::atomic<int32_t> runqsize{0};

    // -- dead Gs and free stacks beyond the per-P caches (under gflock)
    base::Lock gflock{base::LockRank::kGFree};
    std::vector<G*> gfree;
    // Written under gflock; gfget reads it without the lock as a hint
    // (relaxed: a stale value only costs or skips one lock round trip).
    std::atomic<int32_t> ngfree{0};
    std::vector<Stack> free_stacks;

    // -- every G, append-only, walkable without locks (dumps, fatal)
    std::atomic<G*> allg_head{nullptr};
    std::atomic<int64_t> ngs{0};
    // Fibers started by threads holding no P (Spawner, go from a plain
    // thread); the Ps count the rest (P::fibers_started).
    std::atomic<uint64_t> fibers_started_outside{0};
    std::atomic<uint64_t> goid_gen{0};
    // The runtime's own fibers alive (spawn_system), as Go's sched.ngsys:
    // raised by newproc, lowered by their exit.
    std::atomic<int64_t> nsys{0};

    // -- lifetime
    RunConfig config;
    int32_t ncpu = 1;  // CPUs this process may run on
    G* main_g = nullptr;
    std::atomic<bool> exiting{false};
    int exit_code = 0;

    // -- stop-the-world (under lock; gcwaiting also read racily)
    std::atomic<bool> gcwaiting{false};
    int32_t stopwait = 0;
    base::Note stopnote;
    // For the stall detector's reports: when the pending stop began (0:
    // none) and why. Written by the stopper, read by sysmon as a hint.
    std::atomic<int64_t> stw_since{0};
    std::atomic<const char*> stw_reason{nullptr};

    // -- netpoll: lastpoll == 0 while an M blocks in netpoll; poll_until is
    // the deadline that M sleeps until (0: none / not sleeping).
    std::atomic<int64_t> lastpoll{1};
    std::atomic<int64_t> poll_until{0};

    // -- sysmon
    std::atomic<bool> sysmon_idle{false};     // parked because every P is idle
    std::atomic<uint32_t> sysmon_kick{0};     // futex word: 1 = wake up
    std::atomic<bool> sysmon_syscall_wake{false};
    // For weft::metrics() (snapshot.cpp): wakes by threads holding no P
    // (sysmon's netpoll, plain threads), by wait reason; P hand-offs.
    std::atomic<uint64_t> unparked_outside[kWaitReasons] = {};
    std::atomic<uint64_t> handoffs{0};
    // Stalls found (stall.cpp), reported or suppressed by the rate limit;
    // of them, stops of the world held up by one.
    std::atomic<uint64_t> stalls{0};
    std::atomic<uint64_t> stw_stalls{0};
    pthread_t sysmon_thread{};
};

extern Sched* g_sched;
// The running runtime's scheduler state (valid while a run is active).
inline Sched& sched_state() { return *g_sched; }

// Whether the running code may park or yield: a fiber (g) that holds its
// P and is not running a collector-run destructor (call_context.hpp's
// kFiber, tested on the M and G a caller has already loaded).
inline bool may_park(const M* m, const G* g) {
    return g != nullptr && m->p != nullptr && g->in_gc_destructor == 0;
}

// The current M (null on threads the runtime did not create). Not inlined:
// a fiber can resume on another thread, so no caller may cache the TLS
// address across a switch.
M* getm();
// The running fiber, or null on g0 / foreign threads. Not inlined (above).
G* getg();
// The TLS word behind getm(), read inline: only for a function that
// cannot switch fibers between the read and its last use of what it read
// (the allocation entry, gc/alloc.cpp), where it saves a call per use.
// constinit: no dynamic initialization, so no TLS wrapper call per read.
extern constinit __attribute__((tls_model("initial-exec"))) thread_local M* t_m;
inline M* getm_without_switch() { return t_m; }

// Fibers started in this run and not yet ended, summed over the Ps while
// they run: off by the fibers that start or end during the sum.
int64_t fibers_alive();

// -- P handling (proc.cpp)
void acquirep(M* m, P* p);
P* releasep(M* m);
void pidleput(P* p);  // under lock
P* pidleget();        // under lock

// -- the collector's run tracking (proc.cpp; collector_support.hpp)
void track_run(G* g);

// -- run queues (proc.cpp)
void runqput(P* p, G* g, bool next);
G* runqget(P* p, bool* inherit);
void globrunqput(G* g);                  // under lock
void globrunqput_batch(GQueue& q, int32_t n);  // under lock
// Makes a list of waiting Gs runnable, puts them on the global queue and
// starts Ms for them.
void injectglist(GQueue& q, int32_t n);

// -- syscall_stop_stats' counters, and syscallstress's delays (syscall.cpp)
extern std::atomic<uint64_t> g_syscall_ps_stopped;
extern std::atomic<uint64_t> g_returns_during_stop;
// One time in one_in, spins 0-50 µs on m's thread (m's own random state).
void stress_spin(M* m, uint32_t one_in);

// -- Ms (proc.cpp)
void wakep();
void startm(P* p, bool spinning);
// Parks m on the idle M list until startm hands it a P (or shutdown).
// spin_ns > 0: first polls for that wake-up for up to spin_ns, on the CPU.
void stopm(M* m, int64_t spin_ns = 0);
void handoffp(P* p);
void checkdead();  // under lock
bool runq_empty(P* p);

// -- fibers (proc.cpp): ready, park, gosched are declared in fiber.hpp.

// -- stop-the-world (stw.cpp)
void gcstopm(M* m);
// Stops every other P (running, idle, in syscall). From a fiber; returns
// with the world stopped and the caller still running on its P.
void stop_the_world(const char* reason);
// Restarts the world; returns when it restarted (nanotime): every P with
// queued fibers has been handed to a woken M, the rest are idle. As Go's
// startTheWorld, that is before the extra spinning M is woken for the
// idle Ps: the OS may run that M in the caller's place for a time slice,
// while every fiber but the caller's runs (its P's queue can be stolen).
int64_t start_the_world();
// Sets the preempt flag of every running fiber (under lock).
void preempt_all();

// -- Ms (proc.cpp): ends idle Ms beyond the Ps' needs (sysmon calls it).
// Returns how many Ms are still idle beyond what is kept.
int32_t reclaim_idle_ms(int64_t now);

// -- sysmon (sysmon.cpp)
void sysmon_start();
// syscall: woken by a fiber entering a system call, which sysmon must now
// watch closely (resets its back-off, as Go's syscallWake).
void sysmon_wake(bool syscall = false);
void sysmon_stop();

// -- signals and dumps (signals.cpp, dump.cpp)
void signals_install();
void signals_restore();
void signals_init_thread(M* m);
void signals_fini_thread(M* m);
// The fatal dump (fatal.hpp's hook). From a signal handler, the work is
// handed to sysmon, a thread in no handler, which may allocate while it
// names frames; the dying thread waits for it (bounded).
void dump_all_fibers(bool from_signal);
// sysmon: runs a dump handed to it, if one is pending.
void dump_serve();
// A dump's lines for one fiber (dump.cpp): "fiber 12 [chan receive, 5 ms]:"
// (now: base::nanotime_coarse()), and where it was created.
void print_fiber_header(G* g, GStatus st, int64_t now);
void print_fiber_origin(G* g);

// Fibers a run leaves behind (leakcheck.cpp). At the end of a run, with
// every M gone: counts the program's fibers still blocked, and with
// RunConfig::leakcheck lists them with their stacks.
void leakcheck_at_exit();
// Fibers left blocked when a run's main fiber returned, over every run of
// this process.
uint64_t abandoned_fibers_total();

// The stall detector (stall.cpp), run by sysmon each round.
void stall_check(Sched& s, int64_t now);
void stall_start();   // before sysmon starts: clears the rate limit
void stall_finish();  // after sysmon stops: reports what was suppressed
// base::nanotime_coarse() as sysmon last read it, for debuggers reading a
// core (debug_table.hpp): written by sysmon each round, relaxed.
extern int64_t g_debug_now_coarse;

// The scheduler's part of weft::metrics() (snapshot.cpp): read without
// stopping anyone, each count exact when read.
struct SchedSnapshot {
    uint64_t fibers_alive = 0, fibers_running = 0, fibers_runnable = 0, fibers_waiting = 0, fibers_syscall = 0;
    uint64_t fibers_created = 0;
    uint64_t waiting[kWaitReasons] = {};
    uint64_t threads = 0, threads_idle = 0, threads_spinning = 0, threads_syscall = 0;
    uint64_t procs = 0, procs_idle = 0;
    uint64_t runq_global = 0, runq_local = 0;
    uint64_t steals = 0, syscalls = 0, handoffs = 0;
    uint64_t netpoll_waiters = 0, netpolls = 0, timers = 0;
    uint64_t stacks = 0, stack_bytes = 0;
};
// False if no run is active.
bool sched_snapshot(SchedSnapshot& out);

// Adds n to a counter that one thread at a time writes (a P's, by the M
// holding it): a relaxed load and store, no read-modify-write; readers
// take it as a statistic, and the P's hand-over orders one holder's
// writes before the next holder's.
inline void bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// Stalls found in this run, reported or not (tests, metrics); of them,
// stops of the world held up by one.
uint64_t stalls_found();
uint64_t stw_stalls_found();
// Stalls found over every run of this process (metrics).
uint64_t stalls_found_total();
// Walks every G ever created in this run, without locks (proc.cpp).
void for_each_g(void (*fn)(G*, void*), void* arg);

// -- netpoll (netpoll.cpp)
void netpoll_init();
void netpoll_close();
// Polls for ready fds, sleeping up to delay_ns (< 0 forever, 0 not at all);
// returns the number of Gs moved to `out`. They still count as IO waiters
// (netpoll.cpp N4): the caller lowers the count with netpoll_waiters_done(n)
// once they are where checkdead looks (a run queue, or run by an M that
// holds a P), as Go's netpollAdjustWaiters after injectglist.
int32_t netpoll(int64_t delay_ns, GQueue& out);
void netpoll_waiters_done(int32_t n);
void netpoll_break();
bool netpoll_has_waiters();

}  // namespace weft::sched
