// collector_support.hpp — what the scheduler offers a garbage collector.
//
// sched/ knows nothing of gc/ (docs/DESIGN.md, layering): the collector installs
// hooks here and reads fibers through these calls. Everything is
// runtime-internal.
//
// Run tracking (for Dijkstra stack re-scans): while a non-zero epoch is set,
// every G that starts running (execute) or is created (newproc) is pushed,
// once per epoch, onto a lock-free list. The collector sets the epoch with
// the world stopped before it scans stacks, and drains the list with the
// world stopped in mark termination: exactly the fibers whose stacks may
// have changed since they were scanned. It may also, with the world
// stopped, take the list and set the next epoch, then re-scan the list's
// fibers concurrently: those that run again are tracked in the new epoch.
// Each epoch parity has its own list and link (g.hpp), so the collector may
// walk epoch e's list while epoch e + 1 pushes, as long as it sets e + 2
// only after the walk.
//
// No write barrier without a P (issue 5, the syscall-return race). A
// barrier on a thread holding no P could mark an object after mark
// termination has decided marking is done; gc/barrier.cpp makes it fatal
// ("write barrier without P"), in every build. These paths run without a P
// and store no GC reference, so they make no barrier:
//  - entersyscall after step 4 and exitsyscall until it holds a P again
//    (syscall.cpp, Y2): scheduler words of the G, M and P only;
//  - releasep, handoffp, stopm, gcstopm (proc.cpp, stw.cpp): P and M
//    lists and states, under the sched lock;
//  - the slow exit of a call on g0 (proc.cpp MAction::kExitSyscall): the
//    G's status and stack generation and the global run queue;
//  - netpoll readying (netpoll.cpp): G pointers moved from poll descriptors
//    to a run queue; Gs, Ms, Ps and poll descriptors are runtime objects
//    (operator new), never GC objects, so these are plain stores;
//  - sysmon (sysmon.cpp): P states, preempt flags, tick counters.
// A value handed to a parked fiber (a channel send) is copied by the
// sender, which holds a P; the collector re-scans that fiber's stack (run
// tracking, below). weft::blocking's callable is user code in the same
// position: its contract (syscall/blocking.hpp) forbids touching the
// runtime, and a GC store there is the fatal above.
#pragma once

#include <cstdint>

#include "sched/g.hpp"
#include "sched/p.hpp"

namespace weft::sched {

struct CollectorHooks {
    // After the Ps exist, before main runs (on the thread calling weft::run).
    void (*on_start)() = nullptr;
    // At shutdown, after every other M has stopped, before the Ps are freed.
    void (*on_stop)() = nullptr;
    // An M about to idle with P p: do a bounded slice of background work
    // (on g0, holding p); true if it did any (the M then looks for fibers
    // again instead of sleeping).
    bool (*idle_work)(P* p) = nullptr;
};
// Before weft::run starts the scheduler (runtime/run.cpp).
void set_collector_hooks(const CollectorHooks& hooks);

// -- run tracking (above). The first two with the world stopped.
void set_track_epoch(uint32_t epoch);  // 0: off
G* take_tracked(uint32_t epoch);       // the fibers tracked in epoch (a list)
G* next_tracked(const G* g, uint32_t epoch);

// The stack range [lo, hi) a scanner must read for a G it holds with the
// scan bit (try_begin_scan), `was` being the status it had: from the saved
// context of a parked or runnable fiber (Boost.Context spills the callee-
// saved registers there), from syscall_sp for one in a system call; empty
// for a fiber that has not started. Also the bytes of its entry closure.
struct MemRange {
    uintptr_t lo = 0;
    uintptr_t hi = 0;
};
MemRange g_stack_range(const G* g, GStatus was);
MemRange g_closure_range(const G* g);
// ASan builds: the fiber's fake stack (locals moved off the real stack
// that the scan must follow), else null.
void* g_fake_stack(const G* g, GStatus was);

// The P the calling M holds (null without one).
P* current_p();
// The same, and in *g the fiber the M runs (null on g0 or a plain thread).
P* current_p_and_g(G** g);
// Every P of this run, for code that runs with the world stopped.
int32_t nprocs_now();
P* p_at(int32_t i);

// Wakes an idle P if there is one (new background work appeared).
void wake_idle_p();

// True while a stop-the-world is pending or in force (a racy hint: long
// background work polls it and bails so the stop is not kept waiting).
bool world_stopping();

}  // namespace weft::sched
