// time.cpp — see time.hpp. Owns nothing beyond each Timer/Ticker's state;
// arming, firing and stopping follow sched/timers.hpp (T1–T4).
//
// Sleeping is sched::park_until (its protocol in sched/timers.hpp).
#include <weft/time.hpp>

#include <stdexcept>

#include <weft/clock.hpp>
#include "runtime/base/check.hpp"
#include "sched/call_context.hpp"
#include "sched/fiber.hpp"
#include "sched/timers.hpp"

namespace weft {
namespace {

int64_t deadline_after(Duration d) {
    int64_t now = base::nanotime();
    int64_t ns = d.count();
    if (ns <= 0) return now;
    if (ns > INT64_MAX - now) return INT64_MAX;
    return now + ns;
}

// nanotime() and steady_clock both read CLOCK_MONOTONIC on Linux.
TimePoint now_point() { return TimePoint(std::chrono::nanoseconds(base::nanotime())); }

}  // namespace

namespace {

// Parks the fiber until nanotime() >= when.
void sleep_until_ns(int64_t when) {
    WEFT_CHECK(sched::current_g() != nullptr, "weft::sleep called outside a fiber");
    sched::park_until(when, sched::WaitReason::kSleep);
}

}  // namespace

void sleep(Duration d) {
    sched::require_fiber("weft::sleep");
    if (d.count() <= 0) {
        sched::gosched();
        return;
    }
    sleep_until_ns(deadline_after(d));
}

void sleep_until(TimePoint tp) {
    sched::require_fiber("weft::sleep_until");
    // TimePoint is steady_clock, which reads CLOCK_MONOTONIC like nanotime().
    int64_t when = std::chrono::duration_cast<Duration>(tp.time_since_epoch()).count();
    if (when <= base::nanotime()) {
        sched::gosched();
        return;
    }
    sleep_until_ns(when);
}

Chan<TimePoint> after(Duration d) {
    sched::require_runtime_thread("weft::after");
    struct Box {
        sched::Timer t;
        Chan<TimePoint> ch{1};
    };
    auto* box = new Box;
    Chan<TimePoint> ch = box->ch;
    box->t.detached = true;
    box->t.when = deadline_after(d);
    box->t.arg = box;
    box->t.fn = [](void* p) {
        std::unique_ptr<Box> b(static_cast<Box*>(p));
        TimePoint now = now_point();
        b->ch.try_send(now);
    };
    box->t.drop = [](void* p) { delete static_cast<Box*>(p); };  // run() ended first
    sched::timer_add(&box->t);
    return ch;
}

void detail::after_detached(Duration d, void (*fn)(void*), void (*drop)(void*), void* arg) {
    sched::require_runtime_thread("weft::after_func");
    struct Box {
        sched::Timer t;
        void (*fn)(void*);
        void (*drop)(void*);
        void* arg;
    };
    auto* box = new Box{{}, fn, drop, arg};
    box->t.detached = true;
    box->t.when = deadline_after(d);
    box->t.arg = box;
    box->t.fn = [](void* p) {
        std::unique_ptr<Box> b(static_cast<Box*>(p));
        b->fn(b->arg);
    };
    box->t.drop = [](void* p) {
        auto* b = static_cast<Box*>(p);
        if (b->drop) b->drop(b->arg);
        delete b;
    };
    sched::timer_add(&box->t);
}

// ---------------------------------------------------------------- Timer

Timer::Timer(Duration d) {
    sched::require_runtime_thread("weft::Timer");
    t_.fn = fire;
    t_.arg = this;
    t_.when = deadline_after(d);
    sched::timer_add(&t_);
}

Timer::~Timer() { sched::timer_stop(&t_); }

void Timer::fire(void* self) {
    TimePoint now = now_point();
    static_cast<Timer*>(self)->ch_.try_send(now);
}

bool Timer::stop() { return sched::timer_stop(&t_); }

bool Timer::reset(Duration d) {
    sched::require_runtime_thread("weft::Timer::reset");
    return sched::timer_reset(&t_, deadline_after(d));
}

// ---------------------------------------------------------------- Ticker

Ticker::Ticker(Duration period) {
    sched::require_runtime_thread("weft::Ticker");
    if (period.count() <= 0)
        throw std::invalid_argument("weft::Ticker: period must be positive, got " + std::to_string(period.count()) + " ns");
    t_.fn = fire;
    t_.arg = this;
    t_.period = period.count();
    t_.when = deadline_after(period);
    sched::timer_add(&t_);
}

Ticker::~Ticker() { sched::timer_stop(&t_); }

void Ticker::fire(void* self) {
    TimePoint now = now_point();
    static_cast<Ticker*>(self)->ch_.try_send(now);
}

void Ticker::stop() { sched::timer_stop(&t_); }

void Ticker::reset(Duration period) {
    sched::require_runtime_thread("weft::Ticker::reset");
    if (period.count() <= 0)
        throw std::invalid_argument("weft::Ticker::reset: period must be positive, got " +
                                    std::to_string(period.count()) + " ns");
    sched::timer_stop(&t_);
    t_.period = period.count();
    t_.when = deadline_after(period);
    sched::timer_add(&t_);
}

}  // namespace weft
