// once.hpp — weft::Once, one-time initialisation for fibers (Go's
// sync.Once, with std::call_once's exception rule).
//
//   static weft::Once once;
//   static Config* config;
//   once.call([] { config = load_config(); });   // any number of fibers
//
// The first call() runs its f; calls made meanwhile park until that run
// finishes, and later calls return at once. Every call returns after the
// successful f's effects are visible. Once done, call() is one acquire load.
//
// Contract:
//  - Call from a fiber (a call that must wait for another fiber's f is
//    fatal outside a fiber).
//  - If f throws, the exception propagates to that caller and the Once is
//    NOT done: the fibers waiting for it wake up and one of them (or a later
//    caller) runs its own f. This differs from Go, where a panicking f still
//    counts as done; C++ callers expect std::call_once's rule, where an
//    exceptional return is a failed attempt to be retried, and an exception
//    here (unlike a Go panic) is routinely caught and recovered from.
//  - f must not call call() on the same Once: it would wait for itself
//    (a deadlock; the fiber dump shows it as "sync.Once").
//  - f may block (channels, locks, sleeps); waiting callers park meanwhile.
//  - Lifetime: a fiber that sees the Once done (call() returned, or done()
//    is true) may destroy it at once, even while the fiber that ran f is
//    still returning from call(): that fiber's last touch is the store that
//    marks it done. No other fiber may be inside call() then.
//  - Constant-initialisable; neither copyable nor movable.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>

namespace weft::sched {
struct G;
}  // namespace weft::sched

namespace weft {

class Once {
public:
    constexpr Once() = default;
    Once(const Once&) = delete;
    Once& operator=(const Once&) = delete;

    // Runs f() unless the Once is done; see the contract above. f is called
    // as an lvalue, from the calling fiber.
    template <class F>
    void call(F&& f) {
        static_assert(std::is_invocable_v<std::remove_reference_t<F>&>, "weft::Once::call takes a callable with no arguments");
        // Acquire: pairs with the release that marked it done, so f's
        // effects are visible to a caller that returns here.
        if (state_.load(std::memory_order_acquire) == kComplete) return;
        using Fn = std::remove_reference_t<F>;
        call_slow(&invoke<Fn>, const_cast<void*>(static_cast<const void*>(std::addressof(f))));
    }

    // True once some call's f has returned normally.
    bool done() const {
        // Acquire: as call()'s fast path.
        return state_.load(std::memory_order_acquire) == kComplete;
    }

    struct Waiter;  // a fiber parked in call(); lives on its stack

private:
    // The state word (once.cpp): kIncomplete, kComplete, or kRunning with
    // the waiters' list in the bits above the tag.
    static constexpr uintptr_t kIncomplete = 0;
    static constexpr uintptr_t kRunning = 1;
    static constexpr uintptr_t kComplete = 2;
    static constexpr uintptr_t kTagMask = 3;

    template <class Fn>
    static void invoke(void* f) {
        std::invoke(*static_cast<Fn*>(f));
    }
    void call_slow(void (*run)(void*), void* f);
    void finish(uintptr_t final_state);
    // park()'s unlockf: pushes the parked caller's Waiter while f runs.
    static bool enqueue(sched::G* g, void* waiter);

    std::atomic<uintptr_t> state_{kIncomplete};
};

}  // namespace weft
