// Runtime lifetime and options.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include <weft/weft.hpp>
#include "support/death.hpp"
#include "support/test_util.hpp"

TEST_CASE("run returns the main fiber's result and can run again") {
    CHECK(weft::run([] { return 7; }) == 7);
    CHECK(weft::run([] {}) == 0);
    CHECK(weft::run([] { return weft::fiber_id() == 1 ? 11 : 0; }) == 11);
}

TEST_CASE("fibers run and yield at several proc counts") {
    for (int procs : {1, 2, 4}) {
        std::atomic<int> n{0};
        int seen_procs = 0;
        weft::run(weft::Options{.procs = procs}, [&] {
            seen_procs = weft::procs();
            for (int i = 0; i < 1000; i++)
                weft::go([&] {
                    n++;
                    weft::yield();
                    n++;
                });
            while (n.load() < 2000) weft::yield();
        });
        CHECK(seen_procs == procs);
        CHECK(n.load() == 2000);
    }
}

TEST_CASE("bad WEFT_PROCS and options are reported before anything starts") {
    {
        weft::suite::ScopedEnv env("WEFT_PROCS", "lots");
        CHECK_THROWS_WITH_AS(weft::run([] {}), "WEFT_PROCS: 'lots' is not an integer in [1, 1024]",
                             std::invalid_argument);
    }
    CHECK_THROWS_WITH_AS(weft::run(weft::Options{.procs = -1}, [] {}),
                         "weft::Options::procs: -1 is not in [0, 1024]", std::invalid_argument);
    CHECK_THROWS_WITH_AS(weft::run(weft::Options{.procs = 1, .stack_size = 100}, [] {}),
                         "weft::Options::stack_size: 100 is below the minimum of 16384 bytes", std::invalid_argument);
    {
        weft::suite::ScopedEnv env("WEFT_STACK_GUARD", "sometimes");
        CHECK_THROWS_WITH_AS(weft::run([] {}), "WEFT_STACK_GUARD: 'sometimes' is not one of auto, always, never",
                             std::invalid_argument);
    }
    {
        weft::suite::ScopedEnv env("WEFT_DEBUG", "gctrace=1,bogus=2");
        CHECK_THROWS_WITH_AS(weft::run([] {}),
                             "WEFT_DEBUG: unknown option 'bogus' (known: gctrace, gccheckmark, gcstoptheworld, "
                             "gcpoison, gcstress, syscallstress, schedtrace, scheddetail, symbolize, stalldetect, leakcheck)",
                             std::invalid_argument);
    }
    {
        weft::suite::ScopedEnv env("WEFT_DEBUG", "gctrace=yes");
        CHECK_THROWS_WITH_AS(weft::run([] {}), "WEFT_DEBUG: gctrace: 'yes' is not 0 or 1", std::invalid_argument);
    }
    {
        weft::suite::ScopedEnv env("WEFT_DEBUG", "gcpoison=1,syscallstress=");
        CHECK_THROWS_WITH_AS(weft::run([] {}), "WEFT_DEBUG: syscallstress: '' is not 0 or 1", std::invalid_argument);
    }
    for (const char* v : {"schedtrace=abc", "schedtrace=-1", "schedtrace=3600001", "schedtrace="}) {
        weft::suite::ScopedEnv env("WEFT_DEBUG", v);
        std::string value = std::string(v).substr(11);
        CHECK_THROWS_WITH_AS(weft::run([] {}),
                             ("WEFT_DEBUG: schedtrace: '" + value + "' is not an integer in [0, 3600000]").c_str(),
                             std::invalid_argument);
    }
    for (const char* gogc : {"abc", "0", "-5", "100001", "50%"}) {
        weft::suite::ScopedEnv env("WEFT_GOGC", gogc);
        CHECK_THROWS_WITH_AS(weft::run([] {}),
                             ("WEFT_GOGC: '" + std::string(gogc) + "' is not an integer in [1, 100000]").c_str(),
                             std::invalid_argument);
    }
    // Nothing was left half started: the next run runs.
    weft::suite::ScopedEnv env("WEFT_PROCS", "3");
    CHECK(weft::run([] { return weft::procs(); }) == 3);
}

TEST_CASE("fiber ids are unique and the main fiber is 1") {
    std::set<uint64_t> ids;
    std::atomic<int> done{0};
    std::mutex mu;
    weft::run(weft::Options{.procs = 2}, [&] {
        ids.insert(weft::fiber_id());
        for (int i = 0; i < 200; i++)
            weft::go([&] {
                {
                    std::lock_guard<std::mutex> l(mu);
                    ids.insert(weft::fiber_id());
                }
                done++;
            });
        while (done.load() < 200) weft::yield();
    });
    CHECK(ids.size() == 201);
    CHECK(*ids.begin() == 1);
}

TEST_CASE("go from a foreign thread while the runtime runs") {
    std::atomic<bool> ran{false};
    weft::run(weft::Options{.procs = 2}, [&] {
        std::thread t([&] { weft::go([&] { ran = true; }); });
        t.join();
        while (!ran.load()) weft::yield();
    });
    CHECK(ran.load());
}

namespace {
std::atomic<int> g_tracked_live{0};
struct Tracked {
    int value = 0;
    Tracked() { g_tracked_live++; }
    ~Tracked() { g_tracked_live--; }
};
}  // namespace

TEST_CASE("FiberLocal values are per fiber and destroyed at fiber exit") {
    static weft::FiberLocal<Tracked> local;
    std::atomic<int> ok{0}, done{0};
    weft::run(weft::Options{.procs = 2}, [&] {
        for (int i = 0; i < 100; i++)
            weft::go([&, i] {
                local->value = i;
                for (int k = 0; k < 5; k++) weft::yield();  // migrate, interleave
                if (local->value == i) ok++;
                done++;
            });
        while (done.load() < 100) weft::yield();
        for (int k = 0; k < 10; k++) weft::yield();  // let the last fibers exit
    });
    CHECK(ok.load() == 100);
    CHECK(g_tracked_live.load() == 0);
}

TEST_CASE("a fiber may block inside a catch block and resume on another thread") {
    // Each fiber switches (and likely migrates) while handling its own
    // exception; the per-thread C++ exception state must travel with it.
    constexpr int kFibers = 64;
    std::atomic<int> ok{0}, done{0};
    weft::run(weft::Options{.procs = 4}, [&] {
        for (int i = 0; i < kFibers; i++)
            weft::go([&, i] {
                const std::string mine = "fiber " + std::to_string(i);
                try {
                    throw std::runtime_error(mine);
                } catch (const std::exception& outer) {
                    for (int k = 0; k < 20; k++) weft::yield();
                    bool same = std::current_exception() != nullptr && outer.what() == mine &&
                                std::uncaught_exceptions() == 0;
                    try {
                        throw;  // rethrows the exception this fiber is handling
                    } catch (const std::runtime_error& again) {
                        if (same && again.what() == mine) ok++;
                    }
                }
                done++;
            });
        while (done.load() < kFibers) weft::yield();
    });
    CHECK(ok.load() == kFibers);
}

namespace {

bool has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

}  // namespace

TEST_CASE("a plain thread holding a Spawner may start the fiber the others wait for: no false deadlock") {
    // run.hpp: go() from a plain thread while the main fiber waits on a
    // channel only that thread's fiber feeds. Without a Spawner the
    // runtime saw every fiber blocked, no timer, no descriptor, and
    // reported a deadlock before the thread got there. The thread waits
    // 100 ms first so that the check has every chance to run.
    auto r = weft::suite::run_in_child([] {
        std::setvbuf(stdout, nullptr, _IONBF, 0);
        for (int procs : {1, 2}) {
            int got = weft::run(weft::Options{.procs = procs}, [] {
                weft::Chan<int> ch;
                weft::Spawner spawner;
                std::thread t([s = std::move(spawner), ch]() mutable {
                    std::this_thread::sleep_for(std::chrono::milliseconds(100));
                    bool started = s.go([ch]() mutable { ch.send(42); });
                    if (!started) std::printf("go returned false\n");
                });
                int v = *ch.recv();
                t.join();
                return v;
            });
            std::printf("procs %d got %d\n", procs, got);
        }
    });
    INFO("child stderr: " << r.err);
    CHECK(r.exit_code == 0);
    CHECK(has(r.out, "procs 1 got 42\nprocs 2 got 42\n"));
}

TEST_CASE("a real deadlock is reported once the last Spawner is dropped unused") {
    auto r = weft::suite::run_in_child([] {
        weft::run(weft::Options{.procs = 2}, [] {
            weft::Chan<int> ch;
            weft::Spawner spawner;
            std::thread t([s = std::move(spawner)]() mutable {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                s.reset();  // starts nothing: now nobody can wake the main fiber
            });
            t.detach();
            (void)ch.recv();
        });
    });
    CHECK(r.exit_code == 2);
    CHECK(has(r.err, "all fibers are asleep - deadlock!"));
    CHECK(has(r.err, "fiber 1 [chan receive"));
}

TEST_CASE("a Spawner outside a run throws; one that outlived its run starts nothing and holds off no deadlock") {
    CHECK_THROWS_WITH_AS(weft::Spawner{}, "weft::Spawner: no weft::run is active", std::logic_error);
    auto r = weft::suite::run_in_child([] {
        std::setvbuf(stdout, nullptr, _IONBF, 0);
        std::optional<weft::Spawner> kept;
        weft::run([&] { kept.emplace(); });
        int destroyed = 0;
        struct Probe {
            int* destroyed;
            bool armed = true;
            Probe(int* d) : destroyed(d) {}
            Probe(Probe&& o) noexcept : destroyed(o.destroyed) { o.armed = false; }
            ~Probe() {
                if (armed) ++*destroyed;
            }
            void operator()() { std::printf("ran\n"); }
        };
        bool started = kept->go(Probe(&destroyed));
        std::printf("after the run: go %d, destroyed %d\n", started ? 1 : 0, destroyed);
        // A second run: the old Spawner counts for nothing there.
        weft::run([&] {
            bool again = kept->go([] { std::printf("ran in run 2\n"); });
            std::printf("in run 2: go %d\n", again ? 1 : 0);
            weft::Chan<int> ch;
            (void)ch.recv();  // nobody can wake it: a deadlock
        });
    });
    CHECK(r.exit_code == 2);
    CHECK(has(r.out, "after the run: go 0, destroyed 1\n"));
    CHECK(has(r.out, "in run 2: go 0\n"));
    CHECK(!has(r.out, "ran"));
    CHECK(has(r.err, "all fibers are asleep - deadlock!"));
}
