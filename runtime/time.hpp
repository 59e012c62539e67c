// time.hpp — sleeping and timers for fibers (Go's time.Sleep, After, Timer,
// Ticker, AfterFunc).
//
// Timers live in per-P heaps driven by the scheduler (sched/timers.hpp): a
// sleeping fiber costs no CPU and no thread, and an idle program sleeps in
// the kernel until the earliest timer.
//
// Channel semantics are Go's before 1.23: a Timer's or Ticker's channel has
// capacity 1; a tick that finds it full is dropped (a slow reader sees
// fewer ticks, never a burst); stop() does not drain a value already
// delivered. Call everything here from a fiber (making or resetting a
// Timer or Ticker, after and after_func also from the scheduler's own
// timer callbacks); elsewhere, a plain thread, inside weft::blocking or
// with no run active, each call is fatal, naming itself. Timer::stop and
// the destructors work anywhere.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <source_location>

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
    ~Timer();  // stops it
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    Chan<TimePoint>& chan() { return ch_; }
    // True if this call stopped the timer before it fired.
    bool stop();
    // Re-arms for d from now. True if it had been armed (Go's Reset).
    bool reset(Duration d);

private:
    static void fire(void* self);
    Chan<TimePoint> ch_{1};
    sched::Timer t_;
};

// Delivers the time on chan() every period, dropping ticks nobody takes.
class Ticker {
public:
    explicit Ticker(Duration period);  // period > 0, else std::invalid_argument
    ~Ticker();
    Ticker(const Ticker&) = delete;
    Ticker& operator=(const Ticker&) = delete;

    Chan<TimePoint>& chan() { return ch_; }
    void stop();
    void reset(Duration period);

private:
    static void fire(void* self);
    Chan<TimePoint> ch_{1};
    sched::Timer t_;
};

namespace detail {
// Calls fn(arg) on g0 of some M with a P after d; fn must not block. The
// timer frees itself after firing; if the runtime stops first, drop(arg)
// runs instead (at teardown).
void after_detached(Duration d, void (*fn)(void*), void (*drop)(void*), void* arg);
}  // namespace detail

// Runs f in a new fiber after d (Go's AfterFunc, without Stop).
template <class F>
void after_func(Duration d, F&& f, const std::source_location& site = std::source_location::current()) {
    using Fn = std::decay_t<F>;
    // Until it fires, the closure is a root of the collector (when its type
    // can hold a GC reference at all).
    constexpr bool kRoot = gc::detail::kMayHoldRefs<Fn>;
    struct Box : gc::detail::ExternalRoot {
        Fn f;
        std::source_location site;
    };
    auto* box = new Box{{}, std::forward<F>(f), site};
    if constexpr (kRoot) {
        box->scan = [](gc::detail::ExternalRoot* self, gc::detail::ExternalRoot::RangeFn range, void* ctx) {
            auto* b = static_cast<Box*>(self);
            range(ctx, &b->f, sizeof b->f);
        };
        gc::detail::external_root_register(box);
        // Registered after this cycle's root scan: shade what it holds.
        gc::detail::write_barrier_range(&box->f, sizeof box->f);
    }
    detail::after_detached(
        d,
        [](void* p) {
            std::unique_ptr<Box> b(static_cast<Box*>(p));
            // The captures move into the new fiber's closure, which the
            // collector re-scans (go() tracks the fiber it creates).
            if constexpr (kRoot) gc::detail::external_root_unregister(b.get());
            go(std::move(b->f), b->site);
        },
        [](void* p) {
            auto* b = static_cast<Box*>(p);
            if constexpr (kRoot) gc::detail::external_root_unregister(b);
            delete b;
        },
        box);
}

}  // namespace weft
