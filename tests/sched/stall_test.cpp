// The stall detector (sched/stall.cpp): a fiber that runs past the
// threshold without a safe point is reported once, with its stack; a
// program whose fibers reach safe points is never reported.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <time.h>

#include <weft/weft.hpp>
#include "sched/fiber.hpp"
#include "sched/run_config.hpp"
#include "sched/sched.hpp"
#include "support/death.hpp"
#include "support/sched_hooks.hpp"
#include "support/test_util.hpp"

using namespace std::chrono_literals;
using namespace weft::suite;

namespace stall_test {

// Spins without a safe point until told to stop. Not instrumented by
// TSan, so that the signal lands in this function, not in TSan's runtime,
// whose frames the walk may not get through.
__attribute__((noinline, no_sanitize("thread"))) void spins_without_safe_points(const std::atomic<bool>& stop) {
    while (!stop.load(std::memory_order_relaxed)) asm volatile("" ::: "memory");
    asm volatile("");
}

// From a fiber: starts `body(stop)` on a new fiber, waits (a minute at
// most) until `found()` holds, then sets stop and waits for the fiber.
template <class Body, class Found>
void spin_until(Body body, Found found) {
    std::atomic<bool> stop{false}, done{false};
    weft::go([&] {
        body(stop);
        done = true;
    });
    weft::suite::wait_until(found, 60s);
    stop = true;
    weft::suite::wait_until([&] { return done.load(); }, 60s);
}

// This thread's CPU time.
int64_t cpu_now() {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Burns `ns` of CPU, reaching a safe point each round.
__attribute__((noinline)) void computes_with_safe_points(int64_t ns) {
    int64_t start = cpu_now();
    while (cpu_now() - start < ns) weft::preempt_point();
}

// Burns `ns` of CPU without a safe point (a stall when detection is on).
__attribute__((noinline)) void computes_without_safe_points(int64_t ns) {
    int64_t start = cpu_now();
    while (cpu_now() - start < ns) asm volatile("" ::: "memory");
}

}  // namespace stall_test

namespace {

size_t count(const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) n++;
    return n;
}

}  // namespace

TEST_CASE("a fiber spinning without a safe point is reported once, with its stack") {
    auto r = run_in_child([] {
        weft::run(weft::Options{.procs = 2, .stall_threshold = 50ms}, [] {
            stall_test::spin_until(
                [](const std::atomic<bool>& stop) {
                    stall_test::spins_without_safe_points(stop);
                    // Found, and still running: the same stall, not another.
                    stall_test::computes_without_safe_points(200'000'000);
                },
                [] { return weft::sched::stalls_found() >= 1; });
        });
    });
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(count(r.err, "without a safe point") == 1);
    CHECK(contains(r.err, "weft: fiber 2 has run "));
    CHECK(contains(r.err, " ms without a safe point (M "));
    CHECK(contains(r.err, ", created at stall_test.cpp:"));
    CHECK(contains(r.err, "\tstall_test::spins_without_safe_points(std::atomic<bool> const&)\n"));
}

TEST_CASE("WEFT_DEBUG=stalldetect=MS sets the threshold; Options::stall_threshold = 0 turns it off") {
    auto reported = [](weft::Options opts) {
        auto r = run_in_child([opts] {
            ScopedEnv env("WEFT_DEBUG", "stalldetect=30");
            weft::run(opts, [] {
                std::atomic<bool> done{false};
                weft::go([&] {
                    stall_test::computes_without_safe_points(300'000'000);
                    done = true;
                });
                wait_until([&] { return done.load(); }, 60s);
            });
        });
        INFO(r.err);
        CHECK(r.exit_code == 0);
        return contains(r.err, "without a safe point");
    };
    CHECK(reported(weft::Options{.procs = 2}));
    CHECK(!reported(weft::Options{.procs = 2, .stall_threshold = 0ms}));
}

TEST_CASE("fibers that reach safe points are never reported") {
    uint64_t found = 1;
    weft::run(weft::Options{.procs = 1, .stall_threshold = 100ms}, [&] {
        // Fibers that park, handing values back and forth.
        weft::Chan<int> ping, pong;
        weft::go([&] {
            for (int i = 0; i < 20000; i++) pong.send(*ping.recv());
        });
        for (int i = 0; i < 20000; i++) {
            ping.send(i);
            pong.recv();
        }
        // A long computation that reaches safe points, alone on its P:
        // each preemption resumes the same fiber, in a new run.
        weft::Chan<int> done;
        weft::go([&] {
            stall_test::computes_with_safe_points(400'000'000);
            done.send(1);
        });
        done.recv();
        found = weft::sched::stalls_found();
    });
    CHECK(found == 0);
}

TEST_CASE("reports are rate-limited, and the suppressed ones counted") {
    auto r = run_in_child([] {
        weft::sched::RunConfig cfg;
        cfg.procs = 2;
        cfg.stall_ns = 30'000'000;
        cfg.stall_reports_max = 2;
        weft::suite::run_with(cfg, [] {
            // Five stalls, one after another: each spins until found.
            for (uint64_t i = 1; i <= 5; i++)
                stall_test::spin_until(stall_test::spins_without_safe_points,
                                       [i] { return weft::sched::stalls_found() >= i; });
        });
    });
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(count(r.err, "without a safe point") == 2);
    CHECK(contains(r.err, "weft: 3 more stall reports suppressed\n"));
}

TEST_CASE("a stop-the-world held up by a stalled fiber names the stop and the fiber") {
    auto r = run_in_child([] {
        weft::run(weft::Options{.procs = 2, .stall_threshold = 50ms}, [] {
            std::atomic<bool> spinning{false}, stop{false};
            weft::go([&] {
                spinning = true;
                stall_test::spins_without_safe_points(stop);
            });
            wait_until([&] { return spinning.load(); }, 60s);
            // A plain thread ends the spin once the stop has been reported:
            // this fiber is stopping the world and cannot.
            std::thread ender([&] {
                auto deadline = std::chrono::steady_clock::now() + 60s;
                while (weft::sched::stw_stalls_found() == 0 && std::chrono::steady_clock::now() < deadline)
                    std::this_thread::sleep_for(1ms);
                stop = true;
            });
            weft::sched::stop_the_world("stall test");
            weft::sched::start_the_world();
            ender.join();
        });
    });
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.err, "weft: stop-the-world (stall test) has waited "));
    CHECK(contains(r.err, " ms for P "));
    CHECK(contains(r.err, ", held by fiber 2:\nweft: fiber 2 has run "));
}

TEST_CASE("Options::stall_threshold: negative values other than -1 are refused") {
    try {
        weft::run(weft::Options{.stall_threshold = -5ms}, [] {});
        FAIL("no error");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()) ==
              "weft::Options::stall_threshold: -5 ms; use 0 to turn the stall detector off, -1 for the default");
    }
    ScopedEnv env("WEFT_DEBUG", "stalldetect=soon");
    CHECK_THROWS_AS(weft::run([] {}), std::invalid_argument);
}
