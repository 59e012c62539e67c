// Sleep, after, Timer, Ticker, after_func; timers driven by the scheduler.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <sys/resource.h>
#include <vector>

#include <weft/time.hpp>
#include <weft/weft.hpp>
#include "sched/sanitizers.hpp"
#include "support/death.hpp"
#include "support/test_util.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

}  // namespace

TEST_CASE("sleep lasts at least its duration") {
    for (int procs : {1, 2}) {
        weft::run(weft::Options{.procs = procs}, [] {
            auto t0 = Clock::now();
            weft::sleep(20ms);
            CHECK(Clock::now() - t0 >= 20ms);
            weft::sleep(0ms);  // just yields
            weft::sleep(-5ms);
        });
    }
}

TEST_CASE("sleepers on one P wake in deadline order, however late") {
    // With one P every timer is in one heap and a batch of due timers is
    // queued FIFO: the order holds even if the process is descheduled and
    // all of them fall due at once. (Across Ps the order depends on when
    // each thread runs, which a loaded machine does not promise.)
    //
    // The premise is that every timer is armed before the first falls due:
    // absolute deadlines from one start time 100 ms out (a relative sleep
    // would shift with each fiber's start latency). A fiber that starts
    // after its deadline (a heavily loaded machine, TSan) makes the run
    // inconclusive, and it is repeated.
    bool conclusive = false;
    for (int attempt = 0; attempt < 5 && !conclusive; attempt++) {
        std::vector<int> order;
        std::atomic<bool> late{false};
        weft::run(weft::Options{.procs = 1}, [&] {
            constexpr int kN = 20;
            std::atomic<int> done{0};
            const weft::TimePoint t0 = weft::Clock::now() + 100ms;
            for (int i = kN - 1; i >= 0; i--)  // spawned in reverse deadline order
                weft::go([&, i, t0] {
                    weft::TimePoint deadline = t0 + std::chrono::milliseconds(2 * (i + 1));
                    if (weft::Clock::now() >= deadline) late = true;
                    weft::sleep_until(deadline);
                    order.push_back(i);
                    done++;
                });
            while (done.load() < kN) weft::sleep(1ms);
        });
        CHECK(order.size() == 20);
        if (late.load()) continue;
        conclusive = true;
        CHECK(std::is_sorted(order.begin(), order.end()));
    }
    if (!conclusive) MESSAGE("every attempt started a fiber after its deadline; order not judged");
}

namespace {

// Spins (no runtime call, so nothing else runs on a single P) until tp.
void spin_until(weft::TimePoint tp) {
    while (weft::Clock::now() < tp) {
    }
}

}  // namespace

TEST_CASE("a sleeper's wake-up runs before fibers already queued on its P") {
    // T1: a ticker behind a queue of runnable fibers waited for all of
    // them. One P: the sleeper's timer falls due while 20 fresh fibers
    // queue; when the main fiber yields, the sleeper runs first.
    // (The spin is short so that sysmon does not flag the main fiber, which
    // would then yield at its first go() with an empty queue.)
    std::vector<int> order;
    weft::run(weft::Options{.procs = 1}, [&] {
        std::atomic<bool> asleep{false};
        const weft::TimePoint due = weft::Clock::now() + 3ms;
        weft::go([&] {
            asleep = true;
            weft::sleep_until(due);
            order.push_back(-1);
        });
        while (!asleep.load()) weft::yield();
        weft::yield();  // the sleeper is parked in its sleep
        spin_until(due);
        for (int i = 0; i < 20; i++) weft::go([&order, i] { order.push_back(i); });
        while (order.size() < 21) weft::yield();
    });
    REQUIRE(order.size() == 21);
    CHECK(order.front() == -1);
}

TEST_CASE("sleepers keep their deadline order when a timer's channel send takes runnext between them") {
    // One P, all three due at once: sleeper A wakes into runnext, then the
    // Timer's send readies its receiver into runnext, pushing A into the
    // ring; sleeper B, due last, must still run after A (T1's count of
    // timer wake-ups in the ring includes the one pushed there).
    std::vector<char> order;
    weft::run(weft::Options{.procs = 1}, [&] {
        std::atomic<int> ready{0};
        const weft::TimePoint t0 = weft::Clock::now() + 30ms;
        weft::go([&] {
            ready++;
            weft::sleep_until(t0);
            order.push_back('A');
        });
        weft::Timer timer(t0 + 1ms - weft::Clock::now());
        weft::go([&] {
            ready++;
            timer.chan().recv();
            order.push_back('R');
        });
        weft::go([&] {
            ready++;
            weft::sleep_until(t0 + 2ms);
            order.push_back('B');
        });
        while (ready.load() < 3) weft::yield();
        weft::yield();  // all three are parked
        spin_until(t0 + 3ms);
        while (order.size() < 3) weft::yield();
    });
    REQUIRE(order.size() == 3);
    auto a = std::find(order.begin(), order.end(), 'A'), b = std::find(order.begin(), order.end(), 'B');
    CHECK(a < b);
}

TEST_CASE("sleep_until wakes at the time point, never before; a past one just yields") {
    weft::run(weft::Options{.procs = 2}, [] {
        for (auto d : {1ms, 5ms, 20ms}) {
            weft::TimePoint tp = weft::Clock::now() + d;
            weft::sleep_until(tp);
            CHECK(weft::Clock::now() >= tp);
        }
        auto t0 = weft::Clock::now();
        weft::sleep_until(t0 - 1s);
        weft::sleep_until(weft::TimePoint{});
        CHECK(weft::Clock::now() - t0 < 500ms);
    });
}

TEST_CASE("sleepers on several Ps all wake, none before its deadline") {
    for (int procs : {2, 4}) {
        std::atomic<int> early{0}, woke{0};
        weft::run(weft::Options{.procs = procs}, [&] {
            constexpr int kN = 40;
            for (int i = 0; i < kN; i++)
                weft::go([&, i] {
                    auto d = std::chrono::milliseconds(1 + i % 7);
                    auto t0 = Clock::now();
                    weft::sleep(d);
                    if (Clock::now() - t0 < d) early++;
                    woke++;
                });
            while (woke.load() < kN) weft::sleep(1ms);
        });
        CHECK(early.load() == 0);
        CHECK(woke.load() == 40);
    }
}

TEST_CASE("a pending timer is not a deadlock") {
    // The only fiber sleeps: every M is idle, yet the runtime must wait for
    // the timer instead of declaring a deadlock.
    auto t0 = Clock::now();
    CHECK(weft::run(weft::Options{.procs = 2}, [] {
        weft::sleep(30ms);
        return 5;
    }) == 5);
    CHECK(Clock::now() - t0 >= 30ms);
}

TEST_CASE("an idle program sleeps in the kernel instead of spinning") {
    double cpu = 0;
    weft::run(weft::Options{.procs = 2}, [&] {
        double c0 = weft::suite::cpu_seconds();
        weft::sleep(300ms);
        cpu = weft::suite::cpu_seconds() - c0;
    });
    // Spinning for 300 ms on any thread would cost about 0.3 s of CPU.
    CHECK(cpu < (weft::sched::kSanitized ? 0.15 : 0.05));
}

TEST_CASE("after delivers the time once") {
    weft::run(weft::Options{.procs = 2}, [] {
        auto t0 = Clock::now();
        auto ch = weft::after(10ms);
        auto v = ch.recv();
        REQUIRE(v.has_value());
        CHECK(*v - t0 >= 10ms);
        CHECK(Clock::now() - t0 >= 10ms);
        weft::sleep(15ms);
        weft::TimePoint extra;
        CHECK(ch.try_recv(extra) == weft::RecvStatus::kEmpty);
    });
}

TEST_CASE("Timer stop, fire and reset follow Go's semantics") {
    weft::run(weft::Options{.procs = 2}, [] {
        weft::TimePoint v;
        {
            weft::Timer t(20ms);
            CHECK(t.stop());        // stopped before firing
            CHECK_FALSE(t.stop());  // already stopped
            weft::sleep(30ms);
            CHECK(t.chan().try_recv(v) == weft::RecvStatus::kEmpty);
        }
        {
            weft::Timer t(5ms);
            CHECK(t.chan().recv().has_value());
            CHECK_FALSE(t.stop());  // already fired
            CHECK_FALSE(t.reset(5ms));
            CHECK(t.chan().recv().has_value());  // fires again after reset
        }
        {
            weft::Timer t(1h);
            auto t0 = Clock::now();
            CHECK(t.reset(5ms));  // was armed
            CHECK(t.chan().recv().has_value());
            CHECK(Clock::now() - t0 < 30min);
        }
    });
}

TEST_CASE("Ticker ticks periodically and drops ticks nobody takes") {
    weft::run(weft::Options{.procs = 2}, [] {
        auto t0 = Clock::now();
        weft::Ticker tk(2ms);
        for (int i = 0; i < 5; i++) REQUIRE(tk.chan().recv().has_value());
        CHECK(Clock::now() - t0 >= 10ms);
        weft::sleep(20ms);  // ~10 periods with no reader
        CHECK(tk.chan().len() <= 1);
        tk.stop();
        weft::TimePoint v;
        (void)tk.chan().try_recv(v);  // drain a tick delivered before stop
        weft::sleep(10ms);
        CHECK(tk.chan().try_recv(v) == weft::RecvStatus::kEmpty);
        CHECK_THROWS_WITH_AS(weft::Ticker(0ms), "weft::Ticker: period must be positive, got 0 ns",
                             std::invalid_argument);
    });
}

TEST_CASE("after_func runs its function in a new fiber") {
    std::atomic<uint64_t> ran_in{0};
    weft::run(weft::Options{.procs = 2}, [&] {
        uint64_t me = weft::fiber_id();
        weft::Chan<int> done;
        weft::after_func(5ms, [&, done]() mutable {
            ran_in = weft::fiber_id();
            done.send(1);
        });
        CHECK(done.recv() == 1);
        CHECK(ran_in.load() != me);
    });
    CHECK(ran_in.load() != 0);
}

TEST_CASE("timers fire on a P whose run queue never empties") {
    // Two fibers keep one P busy yielding to each other; a timer armed on
    // that P must still fire (checked on every schedule, not only when idle).
    std::atomic<bool> gave_up{false};
    weft::run(weft::Options{.procs = 1}, [&] {
        std::atomic<bool> stop{false};
        std::atomic<int> done{0};
        auto give_up_at = Clock::now() + 5s;
        for (int i = 0; i < 2; i++)
            weft::go([&] {
                while (!stop.load()) {
                    if (Clock::now() > give_up_at) {
                        gave_up = true;  // the P went idle only now
                        break;
                    }
                    weft::yield();
                }
                done++;
            });
        weft::Timer t(2ms);
        auto got = t.chan().recv();  // parks main; the P stays busy
        CHECK(got.has_value());
        stop = true;
        while (done.load() < 2) weft::yield();
    });
    CHECK_FALSE(gave_up.load());
}

TEST_CASE("many sleepers across Ps all wake") {
    const int n = weft::sched::kSanitized ? 2000 : 20000;
    std::atomic<int> woke{0};
    weft::run(weft::Options{.procs = 4}, [&] {
        std::atomic<int> done{0};
        for (int i = 0; i < n; i++)
            weft::go([&, i] {
                weft::sleep(std::chrono::microseconds((i * 7919) % 20000));
                woke++;
                done++;
            });
        while (done.load() < n) weft::sleep(1ms);
    });
    CHECK(woke.load() == n);
}

TEST_CASE("stopping timers that are firing on other Ps never touches freed memory") {
    // Timers armed for ~now and destroyed right away race their callbacks on
    // other Ms; timer_stop must wait for an in-flight callback (T4). ASan
    // and TSan builds turn a violation into a report.
    // Nobody receives, so under Go 1.23's semantics every stop() keeps the
    // value from being received: it returns true and leaves the channel
    // empty, whether it stopped the timer armed or dropped the value a
    // callback (maybe still running when stop began) had delivered.
    const int rounds = weft::sched::kSanitized ? 2000 : 20000;
    std::atomic<int> delivered_before{0}, bad_return{0}, stale{0};
    weft::run(weft::Options{.procs = 4}, [&] {
        std::atomic<int> done{0};
        for (int f = 0; f < 4; f++)
            weft::go([&] {
                for (int i = 0; i < rounds / 4; i++) {
                    weft::Timer t(std::chrono::microseconds(i % 3));
                    if (i % 2) weft::yield();
                    if (t.chan().len() == 1) delivered_before++;
                    if (!t.stop()) bad_return++;
                    weft::TimePoint v;
                    if (t.chan().try_recv(v) != weft::RecvStatus::kEmpty) stale++;
                }
                done++;
            });
        while (done.load() < 4) weft::yield();
    });
    CHECK(bad_return.load() == 0);
    CHECK(stale.load() == 0);
    CHECK(delivered_before.load() > 0);  // the race with delivery was run
}

namespace {
std::atomic<int> g_capture_destroyed{0};
struct CountsDestruction {
    bool owner = true;
    CountsDestruction() = default;
    CountsDestruction(CountsDestruction&& o) noexcept : owner(o.owner) { o.owner = false; }
    ~CountsDestruction() {
        if (owner) g_capture_destroyed++;
    }
};
}  // namespace

TEST_CASE("timers still pending when run() returns are freed, not leaked") {
    g_capture_destroyed = 0;
    weft::run(weft::Options{.procs = 2}, [] {
        auto ch = weft::after(1h);  // the channel and its timer outlive nothing
        (void)ch;
        weft::after_func(1h, [c = CountsDestruction{}] { (void)c; });
        weft::Timer t(1h);  // owned: stopped by its destructor
    });
    CHECK(g_capture_destroyed.load() == 1);  // the after_func closure was dropped
}

// ---------------------------------------------------------------- Go 1.23 semantics

namespace {
bool buffered(const weft::Chan<weft::TimePoint>& ch) {
    return weft::suite::wait_until([&] { return ch.len() == 1; });
}
}  // namespace

TEST_CASE("Timer::stop drops a value delivered and not yet received, and says so (Go 1.23)") {
    weft::run(weft::Options{.procs = 2}, [] {
        weft::TimePoint v;
        weft::Timer t(1ms);
        REQUIRE(buffered(t.chan()));  // fired: the value waits in the channel
        CHECK(t.stop());               // it was never received: stop kept it from that
        CHECK(t.chan().try_recv(v) == weft::RecvStatus::kEmpty);
        CHECK_FALSE(t.stop());  // already stopped

        weft::Timer u(1ms);
        CHECK(u.chan().recv().has_value());
        CHECK_FALSE(u.stop());  // received already: nothing to stop
    });
}

TEST_CASE("Timer::reset: the next value received is the new arming's, never a stale one") {
    weft::run(weft::Options{.procs = 2}, [] {
        for (int round = 0; round < 3; round++) {
            weft::Timer t(1ms);
            REQUIRE(buffered(t.chan()));
            auto t0 = weft::Clock::now();
            CHECK(t.reset(20ms));  // the undelivered value counted as pending
            auto v = t.chan().recv();
            REQUIRE(v.has_value());
            CHECK(*v - t0 >= 20ms);  // fired by the new arming, not before it
        }
    });
}

TEST_CASE("Ticker::stop and reset drop an undelivered tick; a stopped ticker ticks no more") {
    // One P: every timer is in one heap and fires in deadline order, so a
    // later timer firing means an earlier tick would have been delivered.
    weft::run(weft::Options{.procs = 1}, [] {
        weft::TimePoint v;
        weft::Ticker tk(1ms);
        REQUIRE(buffered(tk.chan()));
        tk.stop();
        CHECK(tk.chan().try_recv(v) == weft::RecvStatus::kEmpty);
        weft::Timer later(5ms);
        CHECK(later.chan().recv().has_value());
        CHECK(tk.chan().try_recv(v) == weft::RecvStatus::kEmpty);

        tk.reset(1ms);
        REQUIRE(buffered(tk.chan()));
        auto t0 = weft::Clock::now();
        tk.reset(20ms);
        auto got = tk.chan().recv();
        REQUIRE(got.has_value());
        CHECK(*got - t0 >= 20ms);  // the old period's tick was dropped
        CHECK_THROWS_WITH_AS(tk.reset(0ms), "weft::Ticker::reset: period must be positive, got 0 ns",
                             std::invalid_argument);
    });
}

TEST_CASE("Timer and Ticker move while armed; a moved-from one is empty") {
    weft::run(weft::Options{.procs = 1}, [] {
        // A vector's growth moves armed timers: each still fires into its
        // own channel.
        std::vector<weft::Timer> timers;
        for (int i = 0; i < 50; i++) timers.emplace_back(std::chrono::milliseconds(1 + i % 3));
        for (auto& t : timers) CHECK(t.chan().recv().has_value());

        weft::Timer a(1ms);
        weft::Timer b = std::move(a);
        CHECK_FALSE(a.stop());  // empty
        CHECK_THROWS_WITH_AS(a.chan(), "weft::Timer::chan: empty (moved from)", std::logic_error);
        CHECK_THROWS_WITH_AS(a.reset(1ms), "weft::Timer::reset: empty (moved from)", std::logic_error);
        CHECK(b.chan().recv().has_value());

        // Move assignment stops the timer it replaces (one P: the earlier
        // deadline of the replaced timer would fire first).
        weft::Timer c(1ms);
        weft::Chan<weft::TimePoint> old = c.chan();
        weft::Timer d(3ms);
        c = std::move(d);
        CHECK(c.chan().recv().has_value());
        weft::TimePoint v;
        CHECK(old.try_recv(v) == weft::RecvStatus::kEmpty);

        weft::Ticker t1(1ms);
        weft::Ticker t2 = std::move(t1);
        t1.stop();  // empty: nothing
        CHECK_THROWS_AS(t1.chan(), std::logic_error);
        CHECK(t2.chan().recv().has_value());
        weft::Ticker t3(1h);
        t3 = std::move(t2);
        CHECK(t3.chan().recv().has_value());
    });
}

TEST_CASE("after_func's handle: stop prevents a call that has not started, and says whether it did") {
    g_capture_destroyed = 0;
    weft::run(weft::Options{.procs = 2}, [] {
        std::atomic<int> ran{0};
        weft::FuncTimer h = weft::after_func(1h, [&, c = CountsDestruction{}] {
            (void)c;
            ran++;
        });
        CHECK(h.stop());
        CHECK(g_capture_destroyed.load() == 1);  // the function is destroyed unrun, at once
        CHECK_FALSE(h.stop());

        weft::Chan<int> done;
        weft::FuncTimer fired = weft::after_func(1ms, [done] { done.send(1); });
        CHECK(done.recv() == 1);
        CHECK_FALSE(fired.stop());  // it ran

        weft::FuncTimer a = weft::after_func(1h, [&] { ran++; });
        weft::FuncTimer b = a;  // copies name one timer
        CHECK(b.stop());
        CHECK_FALSE(a.stop());
        weft::FuncTimer empty;
        CHECK_FALSE(empty.stop());
        CHECK(ran.load() == 0);
    });
}

TEST_CASE("after_func: dropping the handle does not cancel the call") {
    weft::run(weft::Options{.procs = 2}, [] {
        weft::Chan<int> done(2);
        { weft::FuncTimer h = weft::after_func(1ms, [done] { done.send(1); }); }
        weft::after_func(1ms, [done] { done.send(2); });  // the handle ignored
        int sum = *done.recv() + *done.recv();
        CHECK(sum == 3);
    });
}

TEST_CASE("after_func: stop racing the timer either prevents the call or reports it started, never both") {
    const int rounds = weft::sched::kSanitized ? 1000 : 10000;
    std::atomic<int> ran{0};
    int started = 0;
    weft::run(weft::Options{.procs = 4}, [&] {
        for (int i = 0; i < rounds; i++) {
            weft::FuncTimer h = weft::after_func(std::chrono::microseconds(i % 3), [&] { ran++; });
            if (i % 2) weft::yield();
            if (!h.stop()) started++;
        }
        // Every call that stop() reported started runs; no other does.
        CHECK(weft::suite::wait_until([&] { return ran.load() >= started; }));
    });
    CHECK(ran.load() == started);
    CHECK(started > 0);           // the race with firing was run
    CHECK(started < rounds);      // and so was stopping in time
}
