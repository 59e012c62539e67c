// mutex.cpp — weft::Mutex's slow paths (as Go's sync/mutex.go; contract in
// mutex.hpp).
//
// Owns: one atomic state word per Mutex, and the Sema its waiters park on.
//
//   bit:   31 ............ 3   2          1        0
//          waiter count        starving   woken    locked
//
//   locked    some fiber owns the Mutex.
//   woken     a fiber is awake inside lock_slow and will compete (a spinner,
//             or a waiter that unlock() woke): unlock() need not wake another.
//   starving  starvation mode: unlock() hands ownership to the front waiter;
//             newcomers neither take the Mutex nor spin, they queue.
//   waiters   fibers that registered to wait and that no unlock() has yet
//             chosen to wake.
//
// Fairness. Normal mode: waiters queue FIFO, but a woken waiter does not own
// the Mutex; it competes with newcomers, who usually win (they are already
// on a CPU). A waiter that loses is requeued at the front (LIFO), keeping
// its place. Once a waiter has waited more than 1 ms (kStarvationThresholdNs)
// it switches the Mutex to starvation mode: from then on unlock() hands the
// Mutex directly to the front waiter, and newcomers queue at the back. The
// waiter that receives it returns to normal mode if it is the last one, or
// if it waited less than 1 ms. Normal mode performs much better (a fiber can
// lock repeatedly without a switch); starvation mode bounds tail latency.
//
// Invariants:
//   M1. Each Sema unit is one wake-up that unlock() decided on (decrementing
//       waiters, setting woken) or a starvation handoff; at most one fiber
//       consumes it.
//   M2. woken is set by at most one fiber at a time and cleared only by the
//       fiber it designates, in its next state CAS.
//   M3. starving implies waiters >= 1 (a waiter sets it in the CAS that
//       registers it, and only while the Mutex is locked), and while
//       starving, locked is set only by the waiter the Mutex is handed to.
//   M4. unlock() keeps locked set until the CAS that also records its
//       decision (wake someone or not). After that CAS or, in starvation
//       mode, after clearing locked, it touches only the Sema's release,
//       which another fiber must complete before it can own the Mutex. So an
//       unlock() never touches a Mutex someone else could already have
//       locked, unlocked and destroyed (std::mutex's guarantee). Go instead
//       subtracts locked first and then inspects the word again, which is
//       safe only under a garbage collector.
//
// Protocol (lock_slow, as lockSlow):
//   1. Spin, if the Mutex is locked in normal mode and spinning can help
//      (can_spin): while spinning, try to set woken so unlock() does not wake
//      a waiter we are about to beat.
//   2. Compute the new state from the old: take locked unless starving;
//      count ourselves a waiter if it is locked or starving; set starving if
//      we waited too long and it is locked (never on an unlocked Mutex: M3);
//      clear woken if we were the woken fiber (M2). CAS; on failure, reload
//      and go back to 1.
//   3. If the old state was neither locked nor starving, the CAS took the
//      Mutex: return.
//   4. Park on the Sema: at the back the first time, at the front after
//      that (we keep our place). Woken, note whether we have now waited
//      more than 1 ms.
//   5. If starving, the Mutex was handed to us: set locked and drop our
//      waiter count in one add, leaving starvation mode if we did not wait
//      long or are the last waiter. Return.
//   6. Otherwise we are the woken fiber (M2): reset the spin count, go to 1.
//
// Protocol (unlock; fast path inline in mutex.hpp):
//   1. CAS locked -> 0. Succeeds when nobody waits and no flag is set: done.
//   2. Starving: clear locked, release the Sema with handoff (the front
//      waiter owns the Mutex now, step 5 above; we yield to it).
//   3. Normal: if there are waiters and no fiber is already woken, CAS to
//      (locked cleared, one waiter fewer, woken set) and release the Sema;
//      else CAS to clear locked. On CAS failure, reload and repeat.
//
// Memory order: all coordination goes through the modification order of
// the one state word, plus the Sema's lock. RMWs that may take the Mutex
// are acquire, those that drop it are release; the others only move
// bookkeeping (waiter count, flags) and are relaxed, since no decision pairs
// a store to one location with a load of another. Go's atomics are seq_cst
// by default, not by need.
//
// Rejected: spinning with no bound or on one P (the holder cannot run while
// we spin on its P); waking all waiters on unlock (thundering herd); strict
// FIFO handoff always (every contended lock then costs a fiber switch and
// the Mutex idles while the new owner is scheduled, which is why Go hands
// off only when a waiter starves).
#include <weft/sync/mutex.hpp>

#include <unistd.h>

#include <weft/clock.hpp>
#include "runtime/base/check.hpp"
#include "runtime/base/cpu_relax.hpp"
#include "sched/fiber.hpp"

namespace weft {

namespace {

using detail::kMutexLocked;
using detail::kMutexStarving;
using detail::kMutexWaiterShift;
using detail::kMutexWoken;

constexpr int64_t kStarvationThresholdNs = 1'000'000;
constexpr int kActiveSpinPauses = 30;  // pause instructions per round (active_spin_cnt)

// Go's sync_runtime_canSpin, from the scheduler (sched/fiber.hpp): a few
// rounds, multicore, another P busy, nothing else queued on this P.
bool can_spin(int iter) { return sched::can_spin(iter); }

void spin_pause() {
    for (int i = 0; i < kActiveSpinPauses; i++) base::cpu_relax();
}

int32_t waiters_of(int32_t state) { return state >> kMutexWaiterShift; }

}  // namespace

int32_t detail::mutex_state(const Mutex& m) {
    // Relaxed: a snapshot for tests and diagnostics; it orders nothing.
    return m.state_.load(std::memory_order_relaxed);
}

void Mutex::lock_slow(Holder who) {
    sched::WaitReason reason = who == Holder::kMutex ? sched::WaitReason::kMutexLock : sched::WaitReason::kRWMutexLock;
    int64_t wait_start = 0;
    bool starving = false;
    bool awoke = false;
    int iter = 0;
    // Relaxed loads here and below: each only seeds a CAS that re-checks it.
    int32_t old = state_.load(std::memory_order_relaxed);
    for (;;) {
        // Step 1.
        if ((old & (kMutexLocked | kMutexStarving)) == kMutexLocked && can_spin(iter)) {
            if (!awoke && (old & kMutexWoken) == 0 && waiters_of(old) != 0) {
                int32_t expected = old;
                // Relaxed: setting woken takes nothing and publishes nothing.
                if (state_.compare_exchange_strong(expected, old | kMutexWoken, std::memory_order_relaxed,
                                                   std::memory_order_relaxed))
                    awoke = true;
            }
            spin_pause();
            iter++;
            old = state_.load(std::memory_order_relaxed);
            continue;
        }
        // Step 2.
        int32_t next = old;
        if ((old & kMutexStarving) == 0) next |= kMutexLocked;
        if ((old & (kMutexLocked | kMutexStarving)) != 0) next += 1 << kMutexWaiterShift;
        if (starving && (old & kMutexLocked) != 0) next |= kMutexStarving;
        if (awoke) {
            if ((next & kMutexWoken) == 0) base::fatal("sync: inconsistent mutex state (woken flag lost, M2)");
            next &= ~kMutexWoken;
        }
        // Acquire on success: this CAS may take the Mutex (step 3).
        if (!state_.compare_exchange_weak(old, next, std::memory_order_acquire, std::memory_order_relaxed)) continue;
        // Step 3.
        if ((old & (kMutexLocked | kMutexStarving)) == 0) return;
        // Step 4.
        bool lifo = wait_start != 0;
        if (wait_start == 0) wait_start = base::nanotime();
        sema_.acquire(reason, lifo);
        starving = starving || base::nanotime() - wait_start > kStarvationThresholdNs;
        // Relaxed: the Sema's lock ordered the releasing unlock before us,
        // so this sees its update; step 5's add acquires what it needs.
        old = state_.load(std::memory_order_relaxed);
        // Step 5.
        if ((old & kMutexStarving) != 0) {
            if ((old & (kMutexLocked | kMutexWoken)) != 0 || waiters_of(old) == 0)
                base::fatal("sync: inconsistent mutex state (handoff to a taken or waiterless Mutex, M3)");
            int32_t delta = kMutexLocked - (1 << kMutexWaiterShift);
            if (!starving || waiters_of(old) == 1) delta -= kMutexStarving;
            // Acquire: we now own the Mutex; pairs with the handing-off
            // unlock's release (intervening RMWs continue its release sequence).
            state_.fetch_add(delta, std::memory_order_acquire);
            return;
        }
        // Step 6.
        awoke = true;
        iter = 0;
    }
}

void Mutex::unlock_slow(int32_t old) {
    for (;;) {
        if ((old & kMutexLocked) == 0) base::fatal("sync: unlock of unlocked mutex");
        if ((old & kMutexStarving) != 0) {
            // Step 2. M3: nobody else can set locked or clear starving now,
            // so a blind subtract is exact. Release: the critical section is
            // visible to the waiter we hand the Mutex to.
            state_.fetch_sub(kMutexLocked, std::memory_order_release);
            sema_.release(/*handoff=*/true);
            return;
        }
        // Step 3.
        bool wake = waiters_of(old) != 0 && (old & kMutexWoken) == 0;
        int32_t next = wake ? ((old - kMutexLocked - (1 << kMutexWaiterShift)) | kMutexWoken) : old - kMutexLocked;
        // Release: drops the Mutex (as the fast path).
        if (state_.compare_exchange_weak(old, next, std::memory_order_release, std::memory_order_relaxed)) {
            if (wake) sema_.release(/*handoff=*/false);
            return;
        }
    }
}

}  // namespace weft
