#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "runtime/base/backoff.hpp"

using weft::base::Backoff;

TEST_CASE("Backoff spins, then yields, then sleeps in doubling steps up to its cap") {
    Backoff b;
    for (int i = 0; i < Backoff::kSpinRounds; ++i) {
        CHECK(b.next_step() == Backoff::Step::kSpin);
        b.pause();
    }
    for (int i = 0; i < Backoff::kYieldRounds; ++i) {
        CHECK(b.next_step() == Backoff::Step::kYield);
        b.pause();
    }
    int64_t want = Backoff::kFirstSleepNs;
    for (int i = 0; i < 10; ++i) {
        REQUIRE(b.next_step() == Backoff::Step::kSleep);
        CHECK(b.next_sleep_ns() == want);
        // A sleeping round lasts at least its sleep (a lower bound only).
        auto t0 = std::chrono::steady_clock::now();
        b.pause();
        CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::nanoseconds(want));
        want = std::min(2 * want, Backoff::kMaxSleepNs);
    }
    CHECK(b.next_sleep_ns() == Backoff::kMaxSleepNs);
    CHECK(b.rounds() == Backoff::kSpinRounds + Backoff::kYieldRounds + 10);
}

TEST_CASE("a Backoff wait on a 50 ms step takes a bounded number of rounds, not a stream of yields") {
    // A plain sched_yield loop returns at once on an idle CPU: it would make
    // tens of thousands of calls here. The bound is on the time the wait
    // really took, not on the 50 ms asked for: on a loaded machine the
    // other thread wakes late (69 sleeps for a 50 ms step were seen).
    std::atomic<bool> done{false};
    auto t0 = std::chrono::steady_clock::now();
    std::thread other([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        done = true;
    });
    Backoff b;
    while (!done.load()) b.pause();
    double waited_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    other.join();
    // 64 spins + 8 yields, then sleeps of 10, 20, ... 640 us (7 of them),
    // then 1 ms each; every sleep lasts at least its step, so the sleeps
    // number at most 7 + the milliseconds waited + 1.
    int sleeps = b.rounds() - Backoff::kSpinRounds - Backoff::kYieldRounds;
    CAPTURE(waited_ms);
    CHECK(sleeps > 0);
    CHECK(sleeps <= 7 + static_cast<int>(waited_ms) + 1);
}
