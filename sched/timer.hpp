// timer.hpp — one timer of the per-P timer heaps (timers.hpp, which holds
// the invariants T1-T4 and the stop and run protocols). weft::Timer and
// weft::Ticker embed one, so this header is in the internal layer users'
// builds see (docs/DESIGN.md, "The public tier"); the heaps are private.
#pragma once

#include <atomic>
#include <cstdint>

namespace weft::sched {

class TimerHeap;

struct Timer {
    using Fn = void (*)(void* arg);

    int64_t when = 0;    // nanotime() at which it fires
    int64_t period = 0;  // > 0: re-arm every period
    Fn fn = nullptr;
    void* arg = nullptr;
    bool detached = false;  // T4: the callback owns the timer
    // Detached timers only: frees what the callback would have freed, when
    // the runtime stops before the timer fires. Null: nothing to free (a
    // sleep's timer lives on its fiber's stack).
    Fn drop = nullptr;

    // Internal: the heap holding it (T1).
    std::atomic<TimerHeap*> heap_{nullptr};
    int32_t index_ = -1;
    std::atomic<int32_t> firing_{0};  // T4
};

// Arms t at t->when on the current M's P (fiber or g0 holding a P). If the
// new timer is earlier than what a sleeping poller waits for, wakes it.
void timer_add(Timer* t);
// Disarms t. True if it was armed (its callback will not run for this
// arming); false if it had already fired or was never armed. On return no
// callback of t is running (T4). Not for detached timers.
bool timer_stop(Timer* t);
// stop + re-arm at `when`. Returns what stop returned.
bool timer_reset(Timer* t, int64_t when);
// Removes t from its heap if it is armed: true if this call removed it (its
// callback will not run for this arming), false if it had fired (its
// callback may still be running) or was not armed. Unlike timer_stop it
// does not wait for a callback in flight, so it also serves a detached
// timer, whose memory the caller keeps alive by other means (weft::FuncTimer
// holds a reference to it; T4). From anywhere.
bool timer_cancel(Timer* t);

}  // namespace weft::sched
