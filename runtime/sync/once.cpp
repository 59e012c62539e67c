// once.cpp — weft::Once's slow path (the role of Go's sync/once.go; the
// contract, including the exception rule, is in once.hpp).
//
// Owns: one word, which is the whole state, waiters included:
//
//   value                   meaning                    who changes it
//   -----                   -------                    --------------
//   kIncomplete (0)         f never returned normally  a caller CASes it to kRunning
//   kRunning | waiters      one caller runs f; the     waiters push themselves;
//                           rest are a stack of        the runner swaps it for
//                           Waiters above the tag bits kComplete or kIncomplete
//   kComplete (2)           done; never changes again  nobody
//
// A Waiter lives on its parked fiber's stack (aligned to 8, so the two tag
// bits are free).
//
// Invariants:
//   O1. At most one caller runs f at a time: only the CAS from kIncomplete
//       to kRunning starts a run.
//   O2. Every Waiter pushed during a run is readied exactly once, by the
//       runner's final swap, which takes the whole list and publishes the
//       outcome in one atomic exchange.
//   O3. That exchange is the runner's last access to the Once, so a fiber
//       that sees kComplete may destroy it at once (no touch after publish).
//
// Protocol (call_slow):
//   1. Load the word. kComplete: return.
//   2. kIncomplete: CAS it to kRunning (on failure, back to 1). Run f.
//      a. f returned: swap in kComplete; ready every Waiter taken.
//      b. f threw: swap in kIncomplete; ready every Waiter taken; the
//         exception propagates (the waiters go back to 1 and one reruns).
//   3. kRunning: park. On the scheduler stack, once we are suspended, the
//      unlockf pushes our Waiter with a CAS, but only while the word still
//      says kRunning; otherwise it resumes us at once (the run ended between
//      our load and the park). Woken, go back to 1.
//
// Memory order: the fast path and step 1 load with acquire, pairing with the
// runner's release in the final swap (f's effects). The swap also acquires,
// to read the Waiters that the pushes released. Nothing else is shared.
//
// Rejected: Go's Mutex + done flag (the runner must unlock the Mutex after
// publishing done, so a fiber that sees done could free the Once under the
// unlock: O3 would not hold); marking done on exception (see once.hpp).
#include <weft/sync/once.hpp>

#include <weft/internal/sema.hpp>
#include "runtime/base/check.hpp"
#include "sched/fiber.hpp"

namespace weft {

struct alignas(8) Once::Waiter {
    sched::G* g = nullptr;
    Waiter* next = nullptr;
    Once* once = nullptr;
};

bool Once::enqueue(sched::G*, void* arg) {
    static_assert(alignof(Waiter) > kTagMask, "Waiter addresses must leave the tag bits free");
    auto* w = static_cast<Waiter*>(arg);
    Once* o = w->once;
    // Relaxed: only the CAS below decides, and it re-checks the value.
    uintptr_t s = o->state_.load(std::memory_order_relaxed);
    for (;;) {
        if ((s & kTagMask) != kRunning) return false;  // step 3: the run ended; resume
        w->next = reinterpret_cast<Waiter*>(s & ~kTagMask);
        // Release: the runner's swap reads our Waiter's fields.
        if (o->state_.compare_exchange_weak(s, reinterpret_cast<uintptr_t>(w) | kRunning, std::memory_order_release,
                                            std::memory_order_relaxed))
            return true;
    }
}

void Once::finish(uintptr_t final_state) {
    // Acq_rel: release f's effects (or our failed attempt's) with the
    // outcome; acquire the pushed Waiters. Our last touch of *this (O3).
    uintptr_t s = state_.exchange(final_state, std::memory_order_acq_rel);
    WEFT_CHECK((s & kTagMask) == kRunning, "Once: finished a run that was not running (O1)");
    auto* w = reinterpret_cast<Waiter*>(s & ~kTagMask);
    while (w != nullptr) {
        // Read both before ready(): the Waiter's frame may be gone after.
        Waiter* next = w->next;
        sched::G* g = w->g;
        sched::ready(g);
        w = next;
    }
}

void Once::call_slow(void (*run)(void*), void* f) {
    sched::preempt_check("Once::call");  // a blocking operation's entry (the done fast path is not one)
    // Acquire: as the fast path.
    uintptr_t s = state_.load(std::memory_order_acquire);
    for (;;) {
        if (s == kComplete) return;  // step 1
        if (s == kIncomplete) {      // step 2
            // Acquire on success: a previous failed run's effects are
            // visible to our retry. Acquire on failure: feeds step 1.
            if (!state_.compare_exchange_weak(s, kRunning, std::memory_order_acquire, std::memory_order_acquire))
                continue;
            // 2b runs from a destructor during unwinding, which is safe:
            // finish() readies fibers but never switches.
            struct Finisher {
                Once* once;
                bool ok = false;
                ~Finisher() { once->finish(ok ? kComplete : kIncomplete); }
            } fin{this};
            run(f);
            fin.ok = true;  // 2a
            return;
        }
        Waiter w;  // step 3
        w.g = sched::current_fiber("Once::call");
        w.once = this;
        sched::park(&Once::enqueue, &w, sched::WaitReason::kOnce);
        s = state_.load(std::memory_order_acquire);
    }
}

}  // namespace weft
