// sema.hpp — the runtime semaphore every sync primitive builds on (the role
// of Go's runtime_SemacquireMutex / runtime_Semrelease in runtime/sema.go).
//
// weft::sched::Sema is a count of units plus a queue of fibers waiting for
// one. It is an internal building block (weft::Mutex, RWMutex and WaitGroup
// embed one), not a user-facing semaphore: see weft::Semaphore for that.
//
//   acquire(reason, lifo)  take a unit, parking the calling fiber until one is
//                          handed to it; `lifo` queues it at the front (a
//                          Mutex waiter that already waited once).
//   try_acquire()          take a unit if one is available now.
//   release(handoff)       give a unit to the front waiter, or bank it if none
//                          waits; `handoff` also yields the P so that waiter
//                          runs next (a Mutex in starvation mode).
//
// Call acquire and release from a fiber (acquire outside a fiber is fatal
// when it would block). Constant-initialisable; not copyable or movable.
#pragma once

#include <cstdint>

#include <weft/internal/lock.hpp>

namespace weft::sched {

// Only the name: Mutex, RWMutex and WaitGroup embed a Sema, so this header
// is in the internal layer users' builds see (docs/DESIGN.md, "The public
// tier"), and the wait reasons stay sched/g.hpp's.
enum class WaitReason : uint8_t;
class CancelSet;

class Sema {
public:
    constexpr Sema() = default;
    explicit constexpr Sema(uint32_t units) : count_(units) {}
    Sema(const Sema&) = delete;
    Sema& operator=(const Sema&) = delete;

    // Takes one unit. If none is banked, parks the calling fiber with
    // `reason` (shown in fiber dumps) at the back of the queue, or at the
    // front when `lifo`, until release() hands it one.
    void acquire(WaitReason reason, bool lifo = false);
    // As acquire (FIFO), but a cancel of `set` (a context's) ends the wait:
    // false, and no unit taken, if set is or becomes cancelled before a
    // unit is handed over.
    bool acquire(WaitReason reason, CancelSet* set);
    // Takes one unit if one is banked; never blocks.
    bool try_acquire();
    // Hands one unit to the front waiter and readies it, or banks the unit
    // when nobody waits. With `handoff`, the caller then yields so the woken
    // fiber runs at once (skipped while an exception is in flight or being
    // handled: the C++ runtime's per-thread exception state must not follow
    // a fiber that might resume on another thread).
    void release(bool handoff = false);

    // Diagnostics and tests: fibers queued / units banked at this instant.
    uint32_t waiters();
    uint32_t units();

    struct Waiter;  // one parked fiber; lives on that fiber's stack

private:
    void push(Waiter* w, bool front);
    bool unlink(Waiter* w);  // true if w was queued
    Waiter* pop_front();

    base::Lock lock_{base::LockRank::kSudog};
    uint32_t count_ = 0;      // banked units; guarded by lock_
    uint32_t nwait_ = 0;      // fibers in the queue; guarded by lock_
    Waiter* tail_ = nullptr;  // circular list, tail_->next is the front; guarded by lock_
};

}  // namespace weft::sched
