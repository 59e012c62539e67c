// fiber.hpp — what runtime/ builds on: spawning, parking, readying.
//
// Callable from a fiber unless noted. These are the scheduler's whole
// contract with channels, sync primitives and timers:
//   - park(unlockf, arg, reason): suspend the calling fiber. On the M's g0,
//     after the fiber is fully suspended, unlockf(g, arg) runs; it typically
//     releases the lock that protected the wait queue the fiber joined, so
//     no waker can ready the fiber before it is suspended. If it returns
//     false the fiber resumes at once. park returns when someone ready()s it.
//   - ready(g): make a parked fiber runnable (fiber or g0 holding a P).
#pragma once

#include <cstdint>
#include <source_location>

#include <weft/internal/closure.hpp>
#include <weft/internal/entry.hpp>
#include "sched/g.hpp"
#include "sched/m.hpp"
#include "sched/run_config.hpp"

namespace weft::sched {

G* current_g();  // null outside fibers
// Where ready() puts the fiber on the current P:
enum class ReadyAt {
    kNext,        // a handoff: runs next, inheriting the time slice (channels, sync)
    kTimer,       // a timer wake-up: runs next (a fiber in runnext goes
                  // to the ring's tail, as Go's timers do) unless an earlier
                  // timer wake-up still waits on this P; then FIFO behind
                  // it, so wake-ups keep their deadline order (S6, proc.cpp).
    kBack,        // FIFO behind the P's other work
};
// From a thread that is not an M (a plain thread unlocking a weft::Mutex,
// say), g goes to the global run queue. Fatal inside weft::blocking.
void ready(G* g, ReadyAt at = ReadyAt::kNext);
void park(ParkUnlockFn unlockf, void* arg, WaitReason reason);
// Yields the P to other runnable fibers (to the local run queue's tail).
void gosched();
// Yields to the global run queue's tail, as a fiber preempted at the end of
// its time slice: everything already waiting, on any P, runs first (a
// background fiber that yields between slices of work, so it does not run
// again before the fibers it yielded to).
void gosched_global();
// Whether a fiber about to block on a sync primitive should spin a little
// first (as Go's sync_runtime_canSpin): only for a few rounds, on a
// multicore machine, when another P is busy (the holder may be running)
// and this P has no other work waiting.
bool can_spin(int iter);

// Starts a fiber running fn. From a fiber, or from any thread while the
// runtime runs (then it goes to the global queue).
void spawn(Closure fn, const std::source_location& site);
// As spawn, for a fiber of the runtime's own (the collector's): the leak
// check (leakcheck.cpp) does not count it as left behind.
void spawn_system(Closure fn, const std::source_location& site);

// Runs `main_fn` as the main fiber on a fresh runtime and returns when it
// returns, after stopping every thread. Not re-entrant: fatal if a runtime
// already runs in this process.
// site: where weft::run was called (the main fiber's creation site).
void run_main(const RunConfig& cfg, Closure main_fn, const std::source_location& site);

bool runtime_running();

// Shared by the sync primitives' parks: an unlockf (park, above) that
// releases the base::Lock passed as `arg` once the fiber is suspended.
// Defined in sema.cpp.
bool unlock_after_park(G* g, void* lock);
// The calling fiber; fatal, naming `what`, when called outside a fiber.
G* current_fiber(const char* what);

// Outside wakers (weft::Spawner): plain threads that may still start a
// fiber. While the running run has any, checkdead reports no deadlock.
// add: registers one with the active run and returns that run's number;
// 0 if no run is active. done: unregisters one of run `run`; a no-op once
// that run has ended; the last one of an active run re-runs the deadlock
// check (from the calling thread). spawn_outside: spawn() on behalf of
// one of run `run`; false, spawning nothing, once that run has ended.
uint64_t outside_waker_add();
void outside_waker_done(uint64_t run);
bool spawn_outside(uint64_t run, Closure& fn, const std::source_location& site);
int32_t nprocs();
uint64_t fiber_id();  // 0 outside fibers
// Fibers started and not yet ended but the runtime's own (spawn_system),
// as Go's gcount; 0 when no run is active. Off by the fibers that start or
// end while it sums the per-P counts (as fibers_alive, sched.hpp).
int64_t user_fibers_alive();

}  // namespace weft::sched
