// cond.hpp — weft::Cond, a condition variable for fibers (Go's sync.Cond).
//
//   weft::Mutex mu;
//   weft::Cond ready(mu);
//   // waiter                          // notifier
//   mu.lock();                         mu.lock();
//   while (!condition) ready.wait();   condition = true;
//   use();                             mu.unlock();
//   mu.unlock();                       ready.signal();   // or broadcast()
//
// Contract:
//  - wait(): the caller holds the Mutex given at construction. wait()
//    atomically (with respect to signal and broadcast) joins the wait list
//    and unlocks it, parks, and re-locks it before returning. Call from a
//    fiber. A preemption point.
//  - signal() wakes one fiber that was already waiting when it was called,
//    the longest-waiting one; broadcast() wakes all of them. Fibers that
//    start waiting afterwards are not woken by it. Neither blocks nor needs
//    the Mutex held (though holding it is the usual way to make the
//    condition and the notification consistent). Call from a fiber.
//  - No spurious wakeups: wait() returns only after a signal() or
//    broadcast() that was issued after it started waiting. Still re-check
//    the condition in a loop: another fiber may have changed it between the
//    notification and the re-lock.
//  - Lifetime: destroy a Cond only once no fiber is inside any of its
//    methods. The Mutex must outlive the Cond.
//  - Neither copyable nor movable.
#pragma once

#include <atomic>
#include <cstdint>

#include <weft/internal/lock.hpp>
#include <weft/sync/mutex.hpp>

namespace weft {

class Cond {
public:
    explicit constexpr Cond(Mutex& m) : m_(m) {}
    Cond(const Cond&) = delete;
    Cond& operator=(const Cond&) = delete;

    // Unlocks the Mutex, waits for a signal() or broadcast(), re-locks.
    void wait();
    // Wakes the longest-waiting fiber, if any waits.
    void signal();
    // Wakes every waiting fiber.
    void broadcast();

    // The Mutex given at construction.
    Mutex& mutex() const { return m_; }

    struct Waiter;  // a parked fiber and its ticket; lives on its stack

private:
    void wait_ticket(uint32_t ticket);

    Mutex& m_;
    // Next ticket to hand to a waiter (Go's notifyList.wait).
    std::atomic<uint32_t> wait_{0};
    // Next ticket to notify (notifyList.notify); written under lock_.
    std::atomic<uint32_t> notify_{0};
    base::Lock lock_{base::LockRank::kSudog};
    Waiter* head_ = nullptr;  // parked waiters, in parking order; guarded by lock_
    Waiter* tail_ = nullptr;
};

}  // namespace weft
