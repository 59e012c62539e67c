// mutex.hpp — weft::Mutex, a mutual-exclusion lock for fibers (Go's
// sync.Mutex).
//
//   weft::Mutex mu;
//   {
//       std::lock_guard g(mu);   // or mu.lock() ... mu.unlock()
//       counter++;
//   }
//
// Blocking parks the fiber, not the thread: other fibers keep running on
// that thread. Fairness as Go's: in normal mode a woken waiter competes with
// newly arriving fibers (who usually win, being on a CPU already); a waiter
// that has waited more than 1 ms switches the Mutex to starvation mode, in
// which unlock() hands ownership straight to the oldest waiter. The design
// essay is in mutex.cpp.
//
// Contract:
//  - lock() and unlock() are called from a fiber (lock() outside a fiber is
//    fatal when it would block). try_lock() never blocks.
//  - A Mutex is not owned by a fiber: one fiber may lock it and another
//    unlock it (as Go's). It is not recursive: locking it twice from the same
//    fiber deadlocks.
//  - unlock() of an unlocked Mutex is fatal: "sync: unlock of unlocked mutex".
//  - unlock() may yield the P to the fiber it hands the Mutex to (starvation
//    mode only; never while an exception is in flight or being handled).
//  - Lifetime as std::mutex: once unlock() has made the Mutex available,
//    it no longer touches it, so a fiber that then locks it may destroy it
//    even before the first unlock() returns.
//  - Meets the standard Lockable requirements: std::lock_guard,
//    std::unique_lock and std::scoped_lock work.
//  - Constant-initialisable (constinit statics need no constructor run);
//    neither copyable nor movable.
#pragma once

#include <atomic>
#include <cstdint>

#include <weft/internal/entry.hpp>
#include <weft/internal/sema.hpp>

namespace weft {

class Mutex;

namespace detail {
// The state word's layout (mutex.cpp draws it): three flag bits, then the
// count of fibers waiting.
inline constexpr int32_t kMutexLocked = 1;
inline constexpr int32_t kMutexWoken = 2;
inline constexpr int32_t kMutexStarving = 4;
inline constexpr int kMutexWaiterShift = 3;

// Tests and diagnostics: the state word now.
int32_t mutex_state(const Mutex& m);
}  // namespace detail

class Mutex {
public:
    constexpr Mutex() = default;
    Mutex(const Mutex&) = delete;
    Mutex& operator=(const Mutex&) = delete;

    // Locks the Mutex, parking the calling fiber until it is available. A
    // cooperative preemption point.
    void lock() { lock_as(Holder::kMutex); }

    // Locks the Mutex if that needs no wait; never blocks. False also in
    // starvation mode, where the Mutex belongs to its waiters in turn.
    bool try_lock() {
        int32_t old = state_.load(std::memory_order_relaxed);
        if ((old & (detail::kMutexLocked | detail::kMutexStarving)) != 0) return false;
        // Acquire on success, as lock(); a stale `old` only makes the CAS fail.
        return state_.compare_exchange_strong(old, old | detail::kMutexLocked, std::memory_order_acquire,
                                              std::memory_order_relaxed);
    }

    // Unlocks the Mutex; with waiters, wakes one (see the contract above).
    void unlock() {
        int32_t locked = detail::kMutexLocked;
        // Release: the critical section is visible to the next owner. A CAS
        // rather than Go's subtract: the bit stays set until the slow path
        // has decided whom to wake (mutex.cpp, invariant M4).
        if (state_.compare_exchange_strong(locked, 0, std::memory_order_release, std::memory_order_relaxed)) return;
        unlock_slow(locked);
    }

private:
    friend class RWMutex;  // locks its writer Mutex with its own wait reason
    friend int32_t detail::mutex_state(const Mutex& m);

    // Who locks: the API a misuse message names and the wait reason a
    // fiber dump shows.
    enum class Holder : uint8_t { kMutex, kRWMutexWriter };
    void lock_slow(Holder who);
    void lock_as(Holder who) {
        sched::preempt_check(who == Holder::kMutex ? "Mutex::lock" : "RWMutex::lock");
        int32_t unlocked = 0;
        // Acquire on success: the critical section may not move above the
        // lock; pairs with the release of the unlock that freed it.
        if (state_.compare_exchange_strong(unlocked, detail::kMutexLocked, std::memory_order_acquire,
                                           std::memory_order_relaxed))
            return;
        lock_slow(who);
    }
    void unlock_slow(int32_t old);

    std::atomic<int32_t> state_{0};
    sched::Sema sema_;
};

}  // namespace weft
