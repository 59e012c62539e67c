// weft::Mutex: exclusion, try_lock, Lockable, starvation mode, lifetime,
// misuse and deadlock reporting.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include <weft/sync.hpp>
#include <weft/weft.hpp>
#include "support/death.hpp"
#include "support/test_util.hpp"

using namespace weft::suite;

namespace {

using namespace std::chrono_literals;

void busy_for(Clock::duration d) {
    auto end = Clock::now() + d;
    while (Clock::now() < end) {
    }
}

int32_t waiters_of(const weft::Mutex& m) { return weft::detail::mutex_state(m) >> weft::detail::kMutexWaiterShift; }

// Constant initialisation: no constructor runs for these.
constinit weft::Mutex g_static_mutex;

}  // namespace

TEST_CASE("Mutex: mutual exclusion under contention, counted exactly") {
    for (int procs : kProcs) {
        CAPTURE(procs);
        constexpr int kFibers = 16;
        constexpr int kIters = 2000;
        int64_t counter = 0;  // deliberately not atomic: the Mutex guards it
        std::atomic<int> inside{0};
        std::atomic<int> overlaps{0};
        std::atomic<int> finished{0};
        bool all_done = false;
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::Mutex mu;
            for (int f = 0; f < kFibers; f++) {
                weft::go([&, f] {
                    for (int i = 0; i < kIters; i++) {
                        mu.lock();
                        if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
                        int64_t v = counter;
                        if ((i + f) % 16 == 0) weft::yield();  // hold it across a switch now and then
                        counter = v + 1;
                        inside.fetch_sub(1);
                        mu.unlock();
                    }
                    finished.fetch_add(1);
                });
            }
            all_done = wait_until([&] { return finished.load() == kFibers; });
        });
        CHECK(all_done);
        CHECK(overlaps.load() == 0);
        CHECK(counter == int64_t{kFibers} * kIters);
    }
}

TEST_CASE("Mutex: try_lock, and cross-fiber unlock") {
    for (int procs : kProcs) {
        CAPTURE(procs);
        bool first = false, second = false, other_while_held = true, other_after = false, relocked = false;
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::Mutex mu;
            first = mu.try_lock();
            second = mu.try_lock();
            std::atomic<int> step{0};
            weft::go([&] {
                other_while_held = mu.try_lock();
                step.store(1);
                wait_until([&] { return step.load() == 2; });
                other_after = mu.try_lock();  // the main fiber unlocked it
                mu.unlock();
                step.store(3);
            });
            wait_until([&] { return step.load() == 1; });
            mu.unlock();
            step.store(2);
            wait_until([&] { return step.load() == 3; });
            // Locked here, unlocked by another fiber: a Mutex has no owner.
            mu.lock();
            weft::go([&] {
                mu.unlock();
                step.store(4);
            });
            wait_until([&] { return step.load() == 4; });
            relocked = mu.try_lock();
            mu.unlock();
        });
        CHECK(first);
        CHECK_FALSE(second);
        CHECK_FALSE(other_while_held);
        CHECK(other_after);
        CHECK(relocked);
    }
}

TEST_CASE("Mutex: Lockable (lock_guard, unique_lock, scoped_lock) and constant initialisation") {
    int64_t total = 0;
    std::atomic<int> finished{0};
    weft::run(weft::Options{.procs = 2}, [&] {
        weft::Mutex a;
        for (int f = 0; f < 4; f++) {
            weft::go([&] {
                for (int i = 0; i < 200; i++) {
                    switch (i % 3) {
                        case 0: {
                            std::lock_guard g(g_static_mutex);
                            total++;
                            break;
                        }
                        case 1: {
                            std::unique_lock l(g_static_mutex);
                            total++;
                            l.unlock();
                            break;
                        }
                        case 2: {
                            std::scoped_lock l(a, g_static_mutex);
                            total++;
                            break;
                        }
                    }
                }
                finished.fetch_add(1);
            });
        }
        wait_until([&] { return finished.load() == 4; });
    });
    CHECK(finished.load() == 4);
    CHECK(total == 800);
    CHECK(weft::detail::mutex_state(g_static_mutex) == 0);
}

// As Go's TestMutexFairness: one fiber relocks in a tight loop, holding the
// Mutex most of the time; another must still get it 10 times, which needs
// starvation mode (in normal mode the running relocker wins every race).
// Go bounds the wait in seconds; this counts the hog's rounds instead (each
// at least 100 us of holding the lock), so a loaded machine, which slows
// both fibers, does not fail it: starvation mode hands the lock over once
// a waiter has waited 1 ms, a few rounds; without it the hog's rounds run
// into the bound.
TEST_CASE("Mutex: starvation mode engages and bounds the wait of a starved fiber") {
    constexpr int kMaxHogRounds = 20000;  // 2000 rounds per acquisition
    for (int procs : kProcs) {
        CAPTURE(procs);
        std::atomic<bool> stop{false};
        std::atomic<bool> saw_starving{false};
        std::atomic<int> acquired{0};
        std::atomic<int> exited{0};
        std::atomic<int> hog_rounds{0};
        int rounds_used = 0;
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::Mutex mu;
            auto starving_now = [&] {
                if (weft::detail::mutex_state(mu) & weft::detail::kMutexStarving) saw_starving.store(true);
            };
            weft::go([&] {  // the hog
                while (!stop.load()) {
                    mu.lock();
                    hog_rounds.fetch_add(1);
                    auto end = Clock::now() + 100us;
                    while (Clock::now() < end) starving_now();
                    weft::yield();  // still holding: lets the starved fiber queue even on one P
                    starving_now();
                    mu.unlock();
                }
                exited.fetch_add(1);
            });
            weft::go([&] {  // the starved fiber
                for (int i = 0; i < 10; i++) {
                    // As Go's sleep between attempts: let the hog get going.
                    int seen = hog_rounds.load();
                    wait_until([&] { return stop.load() || hog_rounds.load() >= seen + 2; });
                    mu.lock();
                    starving_now();
                    acquired.fetch_add(1);
                    mu.unlock();
                }
                exited.fetch_add(1);
            });
            wait_until([&] { return acquired.load() == 10 || hog_rounds.load() >= kMaxHogRounds; }, 600s);
            rounds_used = hog_rounds.load();
            stop.store(true);
            wait_until([&] { return exited.load() == 2; });
        });
        MESSAGE("hog rounds for 10 acquisitions: " << rounds_used);
        CHECK(rounds_used < kMaxHogRounds);
        CHECK(acquired.load() == 10);
        CHECK(saw_starving.load());
        CHECK(exited.load() == 2);
    }
}

// std::mutex's guarantee: once unlock() has let another fiber in, it no
// longer touches the Mutex, so that fiber may destroy it at once. Under
// AddressSanitizer a violation is a heap-use-after-free. Both unlock paths:
// the normal wake-up, and (on one P, where the order is deterministic) the
// starvation-mode handoff.
TEST_CASE("Mutex: the fiber that locks it next may destroy it while unlock() returns") {
    for (int procs : kProcs) {
        CAPTURE(procs);
        std::atomic<int> destroyed{0};
        int handoffs = 0;
        bool all = false;
        constexpr int kRounds = 200;
        weft::run(weft::Options{.procs = procs}, [&] {
            for (int r = 0; r < kRounds; r++) {
                auto* mu = new weft::Mutex;
                mu->lock();
                weft::go([mu, &destroyed] {
                    mu->lock();
                    mu->unlock();
                    delete mu;
                    destroyed.fetch_add(1);
                });
                wait_until([&] { return waiters_of(*mu) == 1; });  // it is parked in lock()
                if (procs == 1 && r % 2 == 1) {
                    // Make the waiter starve: wake it after 1 ms, and take the
                    // Mutex back before it runs (try_lock: no preemption point,
                    // so with one P it cannot run in between). When it runs it
                    // finds the Mutex held and switches to starvation mode.
                    busy_for(1100us);
                    mu->unlock();
                    if (!mu->try_lock()) break;
                    if (!wait_until([&] { return (weft::detail::mutex_state(*mu) & weft::detail::kMutexStarving) != 0; },
                                    5s))
                        break;
                    handoffs++;
                }
                mu->unlock();
                wait_until([&] { return destroyed.load() == r + 1; });
            }
            all = destroyed.load() == kRounds;
        });
        CHECK(all);
        CHECK(handoffs == (procs == 1 ? kRounds / 2 : 0));
    }
}

TEST_CASE("Mutex: unlock of an unlocked Mutex is fatal") {
    auto r = weft::suite::run_in_child([] {
        weft::run(weft::Options{.procs = 1}, [] {
            weft::Mutex mu;
            mu.lock();
            mu.unlock();
            mu.unlock();
        });
    });
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "fatal error: sync: unlock of unlocked mutex"));

    auto fresh = weft::suite::run_in_child([] {
        weft::run(weft::Options{.procs = 2}, [] {
            weft::Mutex mu;
            mu.unlock();
        });
    });
    CHECK(fresh.exit_code == 2);
    CHECK(contains(fresh.err, "fatal error: sync: unlock of unlocked mutex"));
}

TEST_CASE("Mutex: a lock nobody will release is reported as a deadlock") {
    for (int procs : {1, 2}) {
        CAPTURE(procs);
        auto r = weft::suite::run_in_child([procs] {
            weft::run(weft::Options{.procs = procs}, [] {
                weft::Mutex mu;
                mu.lock();
                weft::go([&mu] { mu.lock(); });
                mu.lock();
            });
        });
        INFO(r.err);
        CHECK(r.exit_code == 2);
        CHECK(contains(r.err, "all fibers are asleep - deadlock!"));
        CHECK(contains(r.err, "fiber 1 [sync.Mutex.Lock"));
        CHECK(fibers_in_dump(r.err, "sync.Mutex.Lock") == 2);
    }
}
