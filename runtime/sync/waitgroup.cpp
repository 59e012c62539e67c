// waitgroup.cpp — weft::WaitGroup (as Go's sync/waitgroup.go; contract in
// waitgroup.hpp).
//
// Owns: one 64-bit state word and the Sema that waiters park on.
//
//   bits 63..32   counter v   (int32: the add()s not yet done())
//   bits 31..0    waiters w   (fibers registered in wait())
//
// Both halves live in one word so that one atomic op reads them together:
// the add() that brings v to zero learns in the same RMW how many fibers to
// release, and a waiter registers only while v is non-zero.
//
// Invariants:
//   WG1. w > 0 only while v > 0, except in the moment between the add() that
//       zeroes v and its reset of the word to 0.
//   WG2. A registered waiter is released by exactly one Sema unit, given by
//       the add() that zeroed v (one unit per waiter it read).
//   WG3. While waiters are registered, v only falls: an add() that raises v
//       from zero with w > 0 is a misuse (a new round racing the release).
//
// Protocol (add):
//   1. Add delta << 32 to the word; read v and w from the result.
//   2. v < 0: fatal. delta > 0, v == delta and w > 0: the round had ended
//      while waiters were still being released (WG3): fatal.
//   3. v > 0 or w == 0: done (nobody to release).
//   4. v == 0, w > 0: we release. The word must still equal what step 1
//      returned (else an add() or wait() raced with the release: fatal);
//      reset it to 0 (so the released waiters, and the next round, see a
//      clean word), then release the Sema w times (WG2).
//
// Protocol (wait):
//   1. Load the word; v == 0: return.
//   2. CAS w + 1 (register); on failure go back to 1.
//   3. Park on the Sema until the releasing add() gives us a unit.
//   4. The word must be 0 (step 4 of add reset it before releasing us);
//      otherwise a new round started before we returned: fatal.
//
// Memory order: the counter is one word, so the release decision is made by
// one RMW (acq_rel: each done() releases its fiber's work, and the zeroing
// one acquires them all through the release sequence before passing them on
// through the Sema's lock). A waiter that sees v == 0 without parking
// acquires it directly: from a done()'s RMW (part of a release sequence),
// or from the reset store, which is a release for that reason (a plain
// store does not continue the zeroing RMW's release sequence).
//
// Rejected: a Mutex + Cond implementation (two locks per done(); Go's single
// word needs one RMW on the common path); waking waiters through a list kept
// in the WaitGroup (the Sema already is that list).
#include <weft/sync/waitgroup.hpp>

#include <weft/context.hpp>
#include "sched/cancel.hpp"

#include <limits>
#include <stdexcept>
#include <string>

#include "runtime/base/fatal.hpp"
#include "sched/fiber.hpp"

namespace weft {

void WaitGroup::add(int64_t delta) {
    if (delta > std::numeric_limits<int32_t>::max() || delta < std::numeric_limits<int32_t>::min())
        throw std::invalid_argument("WaitGroup::add: delta " + std::to_string(delta) +
                                    " does not fit the 32-bit counter");
    const uint64_t step = static_cast<uint64_t>(delta) << 32;
    uint64_t state = state_.fetch_add(step, std::memory_order_acq_rel) + step;  // step 1
    auto v = static_cast<int32_t>(state >> 32);
    auto w = static_cast<uint32_t>(state);
    // Step 2.
    if (v < 0) base::fatal("sync: negative WaitGroup counter");
    if (w != 0 && delta > 0 && v == static_cast<int32_t>(delta))
        base::fatal("sync: WaitGroup misuse: Add called concurrently with Wait");
    if (v > 0 || w == 0) return;  // step 3
    // Step 4. Relaxed load: same word, just re-read; any change is misuse.
    if (state_.load(std::memory_order_relaxed) != state)
        base::fatal("sync: WaitGroup misuse: Add called concurrently with Wait");
    state_.store(0, std::memory_order_release);  // see "Memory order" above
    for (; w != 0; w--) sema_.release();
}

void WaitGroup::wait() {
    sched::preempt_check("WaitGroup::wait");
    // Acquire: a zero counter means every done() has happened; their work
    // must be visible when we return.
    uint64_t state = state_.load(std::memory_order_acquire);
    for (;;) {
        if (static_cast<int32_t>(state >> 32) == 0) return;  // step 1
        // Step 2. Acquire on failure: the reloaded word feeds step 1's
        // zero test. On success nothing needs it (the work reaches us
        // through the Sema); it is acquire there only to keep one order.
        if (state_.compare_exchange_weak(state, state + 1, std::memory_order_acquire, std::memory_order_acquire)) {
            sema_.acquire(sched::WaitReason::kWaitGroupWait);  // step 3
            // Step 4. Relaxed: ordered after the reset by the Sema hand-off.
            if (state_.load(std::memory_order_relaxed) != 0)
                base::fatal("sync: WaitGroup is reused before previous Wait has returned");
            return;
        }
    }
}

bool WaitGroup::wait_for(Duration d) {
    auto [ctx, cancel] = with_timeout(Context(), d);
    try {
        wait(ctx);
        return true;
    } catch (const ContextError&) {
        return false;
    }
}

void WaitGroup::wait(const Context& ctx) {
    sched::CancelSet* set = detail_context_access::cancel_set(ctx);
    if (set == nullptr) {
        wait();
        return;
    }
    sched::preempt_check("WaitGroup::wait");
    uint64_t state = state_.load(std::memory_order_acquire);
    for (;;) {
        if (static_cast<int32_t>(state >> 32) == 0) return;
        if (set->err() != 0) ctx.check("WaitGroup::wait");
        if (!state_.compare_exchange_weak(state, state + 1, std::memory_order_acquire, std::memory_order_acquire))
            continue;
        if (sema_.acquire(sched::WaitReason::kWaitGroupWait, set)) break;  // released
        // Cancelled. Take our registration back while the counter is
        // above zero and the word still holds waiters; once the add() that
        // zeroes it has begun (v == 0) or finished (w == 0: it read our
        // registration and releases a unit for it), our unit is on its way
        // and must be taken, or the next round would find it banked (WG2).
        uint64_t st = state_.load(std::memory_order_acquire);
        for (;;) {
            if (static_cast<int32_t>(st >> 32) == 0 || static_cast<uint32_t>(st) == 0) {
                sema_.acquire(sched::WaitReason::kWaitGroupWait);
                break;
            }
            if (state_.compare_exchange_weak(st, st - 1, std::memory_order_acquire, std::memory_order_acquire))
                ctx.check("WaitGroup::wait");  // throws: the set is cancelled
        }
        break;
    }
    // As wait()'s step 4.
    if (state_.load(std::memory_order_relaxed) != 0)
        base::fatal("sync: WaitGroup is reused before previous Wait has returned");
}

}  // namespace weft
