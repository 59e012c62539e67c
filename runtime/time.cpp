// time.cpp — see time.hpp. Owns nothing beyond each Timer's, Ticker's and
// after_func's state; arming, firing and stopping follow sched/timers.hpp
// (T1–T4).
//
// Sleeping is sched::park_until (its protocol in sched/timers.hpp).
#include <weft/time.hpp>

#include <stdexcept>
#include <string>
#include <utility>

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

// ---------------------------------------------------------------- after_func

void detail::func_timer_arm(FuncTimerState* s, Duration d) {
    sched::require_runtime_thread("weft::after_func");
    s->t.detached = true;  // T4: the callback holds a reference of its own
    s->t.when = deadline_after(d);
    s->t.arg = s;
    s->t.fn = [](void* p) {
        auto* st = static_cast<FuncTimerState*>(p);
        st->start(st);
        func_timer_release(st);
    };
    s->t.drop = [](void* p) {  // the run ended first
        auto* st = static_cast<FuncTimerState*>(p);
        st->discard(st);
        func_timer_release(st);
    };
    sched::timer_add(&s->t);
}

bool detail::func_timer_stop(FuncTimerState* s) {
    // Exactly one of this and the heap's pop wins (T4); the winner owns the
    // function and the armed timer's reference.
    if (!sched::timer_cancel(&s->t)) return false;
    s->discard(s);
    func_timer_release(s);
    return true;
}

void detail::func_timer_release(FuncTimerState* s) noexcept {
    // acq_rel: every holder's last use happens-before the free (as
    // ChanCore::release).
    if (s->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) s->free(s);
}

// ---------------------------------------------------------------- Timer and Ticker
//
// Each owns a State on the heap (so a move leaves the armed sched::Timer
// where the heap knows it). stop and reset give Go 1.23's guarantee in two
// steps: timer_stop, after which no callback of the old arming runs or is
// running (T4), then drain, which drops a value a callback delivered
// before and nobody received.

namespace {

[[noreturn]] void throw_empty(const char* what) {
    throw std::logic_error(std::string(what) + ": empty (moved from)");
}

// Stops t and drops what it delivered: true if either kept a value from
// being received.
bool stop_and_drain(sched::Timer* t, Chan<TimePoint>& ch) {
    bool pending = sched::timer_stop(t);
    if (detail::ChanAccess::core(ch)->drain()) pending = true;
    return pending;
}

}  // namespace

struct Timer::State {
    Chan<TimePoint> ch{1};
    sched::Timer t;
};

Timer::Timer(Duration d) {
    sched::require_runtime_thread("weft::Timer");
    s_ = new State;
    s_->t.fn = fire;
    s_->t.arg = s_;
    s_->t.when = deadline_after(d);
    sched::timer_add(&s_->t);
}

Timer::~Timer() {
    if (s_ == nullptr) return;
    stop();
    delete s_;
}

Timer::Timer(Timer&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}

Timer& Timer::operator=(Timer&& o) noexcept {
    if (this != &o) {
        Timer old(std::move(*this));
        s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
}

Chan<TimePoint>& Timer::chan() {
    if (s_ == nullptr) throw_empty("weft::Timer::chan");
    return s_->ch;
}

const Chan<TimePoint>& Timer::chan() const {
    if (s_ == nullptr) throw_empty("weft::Timer::chan");
    return s_->ch;
}

void Timer::fire(void* state) {
    TimePoint now = now_point();
    static_cast<State*>(state)->ch.try_send(now);
}

bool Timer::stop() { return s_ != nullptr && stop_and_drain(&s_->t, s_->ch); }

bool Timer::reset(Duration d) {
    sched::require_runtime_thread("weft::Timer::reset");
    if (s_ == nullptr) throw_empty("weft::Timer::reset");
    bool pending = stop_and_drain(&s_->t, s_->ch);
    s_->t.when = deadline_after(d);
    sched::timer_add(&s_->t);
    return pending;
}

struct Ticker::State {
    Chan<TimePoint> ch{1};
    sched::Timer t;
};

namespace {
void check_period(const char* what, Duration period) {
    if (period.count() <= 0)
        throw std::invalid_argument(std::string(what) + ": period must be positive, got " +
                                    std::to_string(period.count()) + " ns");
}
}  // namespace

Ticker::Ticker(Duration period) {
    sched::require_runtime_thread("weft::Ticker");
    check_period("weft::Ticker", period);
    s_ = new State;
    s_->t.fn = fire;
    s_->t.arg = s_;
    s_->t.period = period.count();
    s_->t.when = deadline_after(period);
    sched::timer_add(&s_->t);
}

Ticker::~Ticker() {
    if (s_ == nullptr) return;
    stop();
    delete s_;
}

Ticker::Ticker(Ticker&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}

Ticker& Ticker::operator=(Ticker&& o) noexcept {
    if (this != &o) {
        Ticker old(std::move(*this));
        s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
}

Chan<TimePoint>& Ticker::chan() {
    if (s_ == nullptr) throw_empty("weft::Ticker::chan");
    return s_->ch;
}

const Chan<TimePoint>& Ticker::chan() const {
    if (s_ == nullptr) throw_empty("weft::Ticker::chan");
    return s_->ch;
}

void Ticker::fire(void* state) {
    TimePoint now = now_point();
    static_cast<State*>(state)->ch.try_send(now);
}

void Ticker::stop() {
    if (s_ != nullptr) stop_and_drain(&s_->t, s_->ch);
}

void Ticker::reset(Duration period) {
    sched::require_runtime_thread("weft::Ticker::reset");
    if (s_ == nullptr) throw_empty("weft::Ticker::reset");
    check_period("weft::Ticker::reset", period);
    stop_and_drain(&s_->t, s_->ch);
    s_->t.period = period.count();
    s_->t.when = deadline_after(period);
    sched::timer_add(&s_->t);
}

}  // namespace weft
