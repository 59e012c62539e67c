// timers.hpp — per-P timer heaps (as Go's time.go, per-P since 1.14).
//
// Each P owns a 4-ary min-heap of timers keyed by `when`, guarded by the
// heap's lock. A timer sits in at most one heap; `heap_` names it and is
// changed only with that heap's lock held.
//
// Invariants:
//   T1. t->heap_ == h  <=>  t is in h at index t->index_ (under h's lock).
//   T2. h->next_when_ is 0 when h is empty, else the root's when (written
//       under the lock, read without it as a hint: a stale read only makes
//       an idle M wake early or a spinning M look once more).
//   T3. A timer's callback runs without any heap lock held, on an M that
//       holds a P (so it may ready fibers), and never after a successful
//       stop() of the same arming.
//   T4. When timer_stop() returns, no callback of that timer is running:
//       run() counts callbacks in flight in firing_ (raised under the heap
//       lock, lowered after the callback) and stop waits for zero, so the
//       owner may free the timer right after stopping it. A `detached`
//       timer is never stopped: its callback owns (and may free) it, and
//       run() does not touch it after calling the callback. It may be
//       cancelled (timer_cancel: steps 1-3 of stop, without the wait) by a
//       holder that keeps its memory alive otherwise: the callback and the
//       holder each own a reference (after_func's FuncTimer, time.hpp);
//       exactly one of the cancel and the pop in run() wins the removal.
//
// Protocol (stop):
//   1. h = t->heap_ (acquire); if null the timer is not armed: false.
//   2. lock h; if t->heap_ is still h, remove it, clear heap_: true.
//   3. else unlock and retry from 1 (it moved or fired meanwhile).
// Protocol (run due timers of h at `now`):
//   1. lock h; while root.when <= now: pop it (heap_ = null), or for a
//      periodic timer re-insert at the next period; collect the callback.
//   2. unlock h; run the collected callbacks in order (T3).
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include <weft/internal/lock.hpp>
#include <weft/internal/timer.hpp>

namespace weft::sched {

class TimerHeap {
public:
    TimerHeap() = default;
    TimerHeap(const TimerHeap&) = delete;
    TimerHeap& operator=(const TimerHeap&) = delete;

    void add(Timer* t);
    // Removes t if it is in this heap (caller read t->heap_ == this).
    bool remove_if_here(Timer* t);
    // Runs timers due at `now` (protocol above). Returns the next when, or 0.
    int64_t run(int64_t now);
    int64_t next_when() const { return next_when_.load(std::memory_order_acquire); }
    size_t size();
    // Empties the heap at teardown, disarming every timer and dropping
    // detached ones that have a drop hook.
    void clear();

private:
    void sift_up(size_t i);
    void sift_down(size_t i);
    void remove_at(size_t i);
    void update_next();

    base::Lock lock_{base::LockRank::kTimers};
    std::vector<Timer*> heap_;
    std::atomic<int64_t> next_when_{0};
};

// Parks the calling fiber until nanotime() >= when, with `reason` (the
// sleep protocol, as Go's timeSleep):
//   1. a timer on the fiber's own stack whose callback readies it;
//   2. the park's unlockf (on g0, the fiber now suspended) arms the timer,
//      so the callback can never ready a fiber that is still running;
//   3. the callback (on some M's g0) readies the fiber into runnext if that
//      is free, else FIFO: a sleeper does not wait behind a long run queue,
//      and sleepers due in one batch still run in deadline order; the
//      timer left the heap when it fired, so the stack frame may go away.
// From a fiber.
enum class WaitReason : uint8_t;  // g.hpp
void park_until(int64_t when, WaitReason reason);

// Scheduler internals: the earliest when over all Ps (0 if none).
int64_t timers_earliest();

}  // namespace weft::sched
