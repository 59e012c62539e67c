// time.hpp — sleeping and timers for fibers (Go's time.Sleep, After, Timer,
// Ticker, AfterFunc).
//
// Timers live in per-P heaps driven by the scheduler (sched/timers.hpp): a
// sleeping fiber costs no CPU and no thread, and an idle program sleeps in
// the kernel until the earliest timer.
//
// Channel semantics are Go 1.23's: once Timer::stop, Timer::reset,
// Ticker::stop or Ticker::reset has returned, no value made before the call
// is received from the channel (a value already delivered and not yet
// received is dropped by the call). A Timer's or Ticker's channel holds at
// most one value (its cap() is 1, where Go 1.23 reports 0); a tick that
// finds it full is dropped (a slow reader sees fewer ticks, never a burst).
// The channels are for receiving: do not send on them or close them.
//
// Contexts: call everything here from a fiber (making or resetting a Timer
// or Ticker, after and after_func also from the scheduler's own timer
// callbacks); elsewhere, a plain thread, inside weft::blocking or with no
// run active, each call is fatal, naming itself. Timer::stop, Ticker::stop,
// FuncTimer::stop and the destructors work anywhere. One Timer or Ticker is
// not for concurrent stop/reset calls from several fibers (receiving from
// its channel concurrently is fine).
//
// Timer and Ticker are movable (their state is allocated, so the scheduler's
// timer heaps never see the object move): a moved-from one is empty, its
// stop() returns false (Ticker: does nothing), its destructor does nothing,
// and chan() and reset() throw std::logic_error.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <source_location>
#include <type_traits>
#include <utility>

#include <weft/chan.hpp>
#include <weft/clock.hpp>
#include <weft/internal/barrier.hpp>
#include <weft/internal/external_root.hpp>
#include <weft/internal/timer.hpp>
#include <weft/run.hpp>

namespace weft {

// Blocks the calling fiber for at least d (d <= 0: just yields).
void sleep(Duration d);
// Blocks the calling fiber until tp (already past: just yields). Fibers
// sleeping until time points wake in time-point order.
void sleep_until(TimePoint tp);
// A channel that receives the current time once, after d.
Chan<TimePoint> after(Duration d);

// A one-shot timer: chan() receives the fire time once, after d.
class Timer {
public:
    explicit Timer(Duration d);
    ~Timer();  // stop()s it
    Timer(Timer&& o) noexcept;
    Timer& operator=(Timer&& o) noexcept;  // stop()s what this held first
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    Chan<TimePoint>& chan();
    const Chan<TimePoint>& chan() const;
    // Stops the timer (Go 1.23's Stop). True if this call kept a value from
    // being received: the timer was armed, or it had fired and its value
    // was still in the channel (now dropped). False if the value was
    // already received, or the timer was already stopped. Either way no
    // value from before the call is received after it.
    bool stop();
    // Re-arms for d from now (Go 1.23's Reset): stop(), then arm; returns
    // what that stop() returned. The next value received is this arming's.
    bool reset(Duration d);

private:
    struct State;
    static void fire(void* state);
    State* s_;
};

// Delivers the time on chan() every period, dropping ticks nobody takes.
class Ticker {
public:
    explicit Ticker(Duration period);  // period > 0, else std::invalid_argument
    ~Ticker();  // stop()s it
    Ticker(Ticker&& o) noexcept;
    Ticker& operator=(Ticker&& o) noexcept;  // stop()s what this held first
    Ticker(const Ticker&) = delete;
    Ticker& operator=(const Ticker&) = delete;

    Chan<TimePoint>& chan();
    const Chan<TimePoint>& chan() const;
    // No more ticks; a tick delivered and not yet received is dropped.
    void stop();
    // stop(), then tick every period from now (period > 0, else
    // std::invalid_argument, the ticker left as it was).
    void reset(Duration period);

private:
    struct State;
    static void fire(void* state);
    State* s_;
};

namespace detail {
// What an after_func's timer and its FuncTimer handles share. The timer is
// detached (sched/timers.hpp T4): its callback holds one reference, each
// handle one, and the last to go frees it.
struct FuncTimerState {
    sched::Timer t;
    std::atomic<uint32_t> refs{2};            // the armed timer's and the first handle's
    void (*start)(FuncTimerState*) = nullptr;  // fired: moves the function into a new fiber
    void (*discard)(FuncTimerState*) = nullptr;  // stopped, or the run ended first: destroys it unrun
    void (*free)(FuncTimerState*) = nullptr;   // the last reference went
};
// Arms s->t for d from now (the context check first: fatal where after_func
// may not be called).
void func_timer_arm(FuncTimerState* s, Duration d);
bool func_timer_stop(FuncTimerState* s);
void func_timer_release(FuncTimerState* s) noexcept;
struct FuncTimerAccess;  // makes the handle after_func returns
}  // namespace detail

// The handle after_func returns (Go's *Timer from AfterFunc). Copies refer
// to the same timer. Dropping every handle does not cancel the call.
class FuncTimer {
public:
    FuncTimer() noexcept = default;  // empty: stop() returns false
    FuncTimer(const FuncTimer& o) noexcept : s_(o.s_) {
        // Relaxed: a new reference made from a live one (as ChanCore::retain).
        if (s_) s_->refs.fetch_add(1, std::memory_order_relaxed);
    }
    FuncTimer(FuncTimer&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    FuncTimer& operator=(FuncTimer o) noexcept {
        std::swap(s_, o.s_);
        return *this;
    }
    ~FuncTimer() {
        if (s_) detail::func_timer_release(s_);
    }

    // Prevents the call if it has not started (Go's Stop for AfterFunc):
    // true if this call stopped it (the function is destroyed unrun);
    // false if the timer had fired (the function has been started in its
    // own fiber; stop does not wait for it) or was already stopped.
    bool stop() { return s_ != nullptr && detail::func_timer_stop(s_); }

private:
    friend struct detail::FuncTimerAccess;
    explicit FuncTimer(detail::FuncTimerState* s) noexcept : s_(s) {}
    detail::FuncTimerState* s_ = nullptr;
};

namespace detail {
struct FuncTimerAccess {
    static FuncTimer adopt(FuncTimerState* s) noexcept { return FuncTimer(s); }
};
}  // namespace detail

// Runs f in a new fiber after d (Go's AfterFunc). The returned handle may
// stop it; ignoring or dropping the handle lets the call happen.
template <class F>
FuncTimer after_func(Duration d, F&& f, const std::source_location& site = std::source_location::current()) {
    using Fn = std::decay_t<F>;
    static_assert(std::is_invocable_v<Fn&>, "weft::after_func takes a callable with no arguments");
    // Until it fires or is stopped, the closure is a root of the collector
    // (when its type can hold a GC reference at all).
    constexpr bool kRoot = gc::detail::kMayHoldRefs<Fn>;
    struct Box : detail::FuncTimerState, gc::detail::ExternalRoot {
        std::optional<Fn> f;
        std::source_location site;
    };
    auto box = std::make_unique<Box>();
    box->f.emplace(std::forward<F>(f));
    box->site = site;
    box->start = [](detail::FuncTimerState* s) {
        auto* b = static_cast<Box*>(s);
        // The captures move into the new fiber's closure, which the
        // collector re-scans (go() tracks the fiber it creates).
        if constexpr (kRoot) gc::detail::external_root_unregister(b);
        go(std::move(*b->f), b->site);
        b->f.reset();
    };
    box->discard = [](detail::FuncTimerState* s) {
        auto* b = static_cast<Box*>(s);
        if constexpr (kRoot) gc::detail::external_root_unregister(b);
        b->f.reset();
    };
    box->free = [](detail::FuncTimerState* s) { delete static_cast<Box*>(s); };
    if constexpr (kRoot) {
        box->scan = [](gc::detail::ExternalRoot* self, gc::detail::ExternalRoot::RangeFn range, void* ctx) {
            auto* b = static_cast<Box*>(self);
            range(ctx, &b->f, sizeof b->f);
        };
        gc::detail::external_root_register(box.get());
        // Registered after this cycle's root scan: shade what it holds.
        gc::detail::write_barrier_range(&box->f, sizeof box->f);
    }
    detail::func_timer_arm(box.get(), d);
    return detail::FuncTimerAccess::adopt(box.release());
}

}  // namespace weft
