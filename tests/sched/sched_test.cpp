// Scheduler properties: stealing, wake-ups, preemption, stop-the-world.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <weft/clock.hpp>
#include <weft/weft.hpp>
#include "runtime/base/test_hooks.hpp"
#include "sched/collector_support.hpp"
#include "sched/sanitizers.hpp"
#include "support/sched_hooks.hpp"
#include "support/test_util.hpp"

namespace {

constexpr int kScale = weft::sched::kSanitized ? 10 : 1;

// Spins for about `us` microseconds, offering preemption points.
void busy_for_us(int us) {
    auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
    while (std::chrono::steady_clock::now() < end) weft::preempt_point();
}

}  // namespace

TEST_CASE("work stealing spreads fibers spawned on one P over every P") {
    for (int procs : {2, 4}) {
        std::mutex mu;
        std::set<std::thread::id> threads;
        std::atomic<int> done{0};
        constexpr int kFibers = 64;
        weft::run(weft::Options{.procs = procs}, [&] {
            // All spawned from the main fiber, so all start in P0's queue.
            for (int i = 0; i < kFibers; i++)
                weft::go([&] {
                    busy_for_us(2000);
                    {
                        std::lock_guard<std::mutex> l(mu);
                        threads.insert(std::this_thread::get_id());
                    }
                    done++;
                });
            while (done.load() < kFibers) weft::yield();
        });
        CHECK(done.load() == kFibers);
        // Other Ps only got work by stealing it from P0.
        CHECK(threads.size() >= 2);
    }
}

TEST_CASE("no lost wake-ups: a baton passed around a ring 10^6 times") {
    for (int procs : {2, 4}) {
        constexpr int kRing = 4;
        const int passes = 1'000'000 / kScale / (procs == 4 ? 2 : 1);
        std::atomic<int> count{0};
        weft::run(weft::Options{.procs = procs}, [&] {
            std::vector<weft::suite::Baton> batons(kRing);
            std::atomic<int> finished{0};
            for (int i = 0; i < kRing; i++)
                weft::go([&, i] {
                    for (;;) {
                        batons[i].wait();
                        int c = count.fetch_add(1) + 1;
                        batons[(i + 1) % kRing].post();
                        if (c >= passes) break;
                    }
                    finished++;
                });
            batons[0].post();
            while (finished.load() < kRing) weft::yield();
        });
        CHECK(count.load() >= passes);
    }
}

namespace {

// The kDropSpinning hook: once armed, holds the first M that stops
// spinning (its OS thread sleeps) until released.
std::atomic<bool> g_drop_armed{false}, g_drop_held{false}, g_drop_release{false};

void hold_spinner_drop(const weft::base::HookEvent& e) {
    if (e.point != weft::base::HookPoint::kDropSpinning) return;
    bool armed = true;
    if (!g_drop_armed.compare_exchange_strong(armed, false)) return;
    g_drop_held = true;
    while (!g_drop_release.load()) std::this_thread::sleep_for(std::chrono::microseconds(20));
}

// Spins (no safe point, so not preemptible) until flag is set or `limit`
// passes; returns the flag.
bool spin_until(const std::atomic<bool>& flag, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!flag.load() && std::chrono::steady_clock::now() < end) {
    }
    return flag.load();
}

}  // namespace

TEST_CASE("no lost wake-up when a fiber reaches the global queue as the last spinning M gives up its P") {
    // proc.cpp S4, for the global queue. The hook holds the other M just
    // after it gave its P up while spinning, so a producer reads
    // nmspinning == 1 and wakes nobody. The main fiber then yields to the
    // global queue from its P (P0), whose M goes on to run a fiber C that
    // spins, without a safe point, until the main fiber has run again. Only
    // the held M can run it, and only if it looks at the global queue once
    // more after it stops spinning; otherwise it sleeps and C gives up
    // after 3 s.
    // An attempt is void if P0 took the main fiber back before running C
    // (not expected: the test starts off a 61st tick).
    constexpr auto kLimit = std::chrono::milliseconds(3000);
    bool ran_during_spin = false;
    int attempts = 0;
    for (bool void_attempt = true; void_attempt && attempts < 5; ++attempts) {
        std::atomic<bool> c_started{false}, main_back{false}, c_done{false}, held{false};
        weft::run(weft::Options{.procs = 2}, [&] {
            // Not at a 61st tick, when the P would take the main fiber
            // from the global queue before C from its own (schedule()).
            while (weft::sched::current_p()->schedtick.load() % 61 == 0) weft::yield();
            g_drop_held = g_drop_release = false;
            weft::base::g_test_hook.store(&hold_spinner_drop, std::memory_order_release);
            g_drop_armed = true;
            // Work for the other M: it steals this fiber, runs it, spins
            // for more, gives up, and the hook holds it.
            weft::go([] {});
            held = spin_until(g_drop_held, kLimit);
            if (!held) {
                g_drop_armed = false;
                g_drop_release = true;
                return;
            }
            weft::go([&] {  // into P0's runnext; nmspinning is 1: no wake
                c_started = true;
                g_drop_release = true;
                ran_during_spin = spin_until(main_back, kLimit);
                c_done = true;
            });
            weft::sched::gosched_global();  // nmspinning is still 1: no wake
            void_attempt = !c_started.load();
            main_back = true;
            g_drop_release = true;
            while (!c_done.load()) weft::yield();
        });
        weft::base::g_test_hook.store(nullptr, std::memory_order_release);
        REQUIRE_MESSAGE(held.load(), "the other M never stopped spinning");
    }
    CHECK(ran_during_spin);
    MESSAGE("attempts: " << attempts);
}

TEST_CASE("sysmon preempts a fiber that holds its P past its time slice") {
    // One P: the hog never blocks, so the main fiber runs again only if
    // sysmon flags the hog and it yields at preempt_point().
    std::atomic<bool> stop{false}, ended{false};
    std::atomic<long> spins{0};
    weft::run(weft::Options{.procs = 1}, [&] {
        weft::go([&] {
            while (!stop.load()) {
                spins++;
                weft::preempt_point();
            }
            ended = true;
        });
        // Once the hog has started, it never yields by itself: the main
        // fiber gets its P back only if sysmon preempts the hog.
        while (spins.load() == 0) weft::yield();
        stop = true;
        weft::suite::wait_until([&] { return ended.load(); });
    });
    CHECK(stop.load());
    CHECK(spins.load() > 0);
}

TEST_CASE("go() is a preemption point: a flagged spawner yields there") {
    // The flag is what sysmon sets on a fiber past its time slice; the
    // scheduler clears it when it runs the fiber again, so a flag still set
    // after go() means the spawner never left its P.
    bool kept_unflagged = true, cleared_by_yield = false;
    weft::run(weft::Options{.procs = 1}, [&] {
        auto* self = weft::sched::current_g();
        weft::go([] {});
        kept_unflagged = !self->preempt.load(std::memory_order_relaxed);
        self->preempt.store(true, std::memory_order_relaxed);
        weft::go([] {});
        cleared_by_yield = !self->preempt.load(std::memory_order_relaxed);
    });
    CHECK(kept_unflagged);
    CHECK(cleared_by_yield);
}

TEST_CASE("a spawner whose P's run queue is full yields at go()") {
    // One P and no other runtime call in the loop: a fiber it started runs
    // before the loop ends only if a go() yields. The rule: a full ring
    // and 1,024 fibers started since the spawner last ran; a full ring
    // spills half to the global queue, so it is full again within 129
    // more spawns. Counted from the spawner's last run, not from the
    // loop's start: a yield to sysmon's 10 ms flag can hand the P straight
    // back to the spawner (the scheduler's periodic look at the global
    // queue finds it there first), which starts its count again.
    int64_t first_ran_at = -1;
    int64_t since_run_at_first = -1;
    weft::run(weft::Options{.procs = 1}, [&] {
        constexpr int kSpawns = 5000;
        std::atomic<int64_t> spawned{0}, first{-1}, ran{0};
        weft::sched::G* spawner = weft::sched::current_g();
        for (int i = 0; i < kSpawns; i++) {
            weft::go([&] {
                int64_t none = -1;
                // One P: the spawner is parked in its yield while this runs.
                if (first.compare_exchange_strong(none, spawned.load())) since_run_at_first = spawner->spawned_since_run;
                ran++;
            });
            spawned++;
        }
        while (ran.load() < kSpawns) weft::yield();
        first_ran_at = first.load();
    });
    CHECK(first_ran_at >= 0);
    CHECK(since_run_at_first >= 0);
    CHECK(since_run_at_first <= 1024 + 256);
}

TEST_CASE("a long-running fiber does not starve a fiber waiting in the global queue") {
    // Two fibers handing a baton back and forth keep inheriting their time
    // slice through runnext; a third fiber must still get to run.
    std::atomic<bool> third_ran{false}, stop{false};
    weft::run(weft::Options{.procs = 1}, [&] {
        weft::suite::Baton a, b;
        std::atomic<int> done{0};
        weft::go([&] {
            while (!stop.load()) {
                a.wait();
                b.post();
            }
            b.post();
            done++;
        });
        weft::go([&] {
            while (!stop.load()) {
                b.wait();
                a.post();
            }
            a.post();
            done++;
        });
        weft::go([&] {
            third_ran = true;
            stop = true;
        });
        a.post();
        while (done.load() < 2) weft::yield();
    });
    CHECK(third_ran.load());
}

namespace {

std::atomic<int64_t> g_start_wake_ns{0};

void note_start_wake(const weft::base::HookEvent& e) {
    if (e.point == weft::base::HookPoint::kStartWakeIdle) g_start_wake_ns = weft::base::nanotime();
}

}  // namespace

TEST_CASE("stop the world halts every other fiber until start") {
    for (int procs : {2, 4}) {
        std::atomic<long> progress{0};
        std::atomic<bool> stop{false};
        long during_a = 0, during_b = 0, after = 0;
        weft::run(weft::Options{.procs = procs}, [&] {
            std::atomic<int> done{0};
            for (int i = 0; i < procs; i++)
                weft::go([&] {
                    while (!stop.load()) {
                        progress++;
                        weft::preempt_point();
                    }
                    done++;
                });
            while (progress.load() < 1000) weft::yield();
            weft::sched::stop_the_world("test");
            during_a = progress.load();
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            during_b = progress.load();
            int64_t t0 = weft::base::nanotime();
            g_start_wake_ns = 0;
            weft::base::g_test_hook.store(&note_start_wake, std::memory_order_release);
            int64_t started = weft::sched::start_the_world();
            weft::base::g_test_hook.store(nullptr, std::memory_order_release);
            int64_t t1 = weft::base::nanotime();
            // The pause's end, for gc::Stats: within the call, and taken
            // before the wake-up of an M for the idle Ps (which can run in
            // the starter's place for milliseconds), as Go measures it.
            CHECK(started >= t0);
            CHECK(started <= t1);
            CHECK(g_start_wake_ns.load() != 0);
            CHECK(started <= g_start_wake_ns.load());
            long before = progress.load();
            while (progress.load() < before + 1000) weft::yield();
            after = progress.load();
            stop = true;
            while (done.load() < procs) weft::yield();
        });
        CHECK(during_a == during_b);
        CHECK(after > during_b);
    }
}

TEST_CASE("OS threads are named after their role: weft-m<N> for Ms, weft-sysmon") {
    // Each thread names itself as it starts (naming another thread opens a
    // file under /proc), so poll until both kinds show, for at most 5 s.
    std::vector<std::string> names;
    auto read_names = [&names] {
        names = weft::suite::thread_names();
        REQUIRE(!names.empty());
    };
    auto sysmons = [&names] { return std::count(names.begin(), names.end(), "weft-sysmon"); };
    auto ms = [&names] {
        return std::count_if(names.begin(), names.end(), [](const std::string& n) { return n.rfind("weft-m", 0) == 0; });
    };
    std::atomic<int> spinning{0};
    std::atomic<bool> stop{false};
    weft::run(weft::Options{.procs = 2}, [&] {
        // Keep both Ps busy so a second M exists. The spinner tells when it
        // is done: the main fiber must not return while it still runs.
        weft::go([&] {
            spinning++;
            while (!stop.load()) weft::preempt_point();
            spinning--;
        });
        while (spinning.load() == 0) weft::yield();
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        do {
            read_names();
            if (sysmons() == 1 && ms() >= 1) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        } while (std::chrono::steady_clock::now() < deadline);
        stop = true;
        while (spinning.load() != 0) weft::yield();
    });
    INFO(fmt::format("{}", fmt::join(names, ", ")));
    CHECK(sysmons() == 1);
    CHECK(ms() >= 1);
}
