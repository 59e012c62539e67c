// Every fatal path ends the process with status 2 and a precise message.
#include <doctest/doctest.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <string>

#include <weft/weft.hpp>
#include "support/death.hpp"
#include "support/sched_hooks.hpp"
#include "support/test_util.hpp"

using weft::suite::run_in_child;

using namespace weft::suite;

TEST_CASE("all fibers asleep is a deadlock, with every fiber listed") {
    for (int procs : {1, 2}) {
        auto r = run_in_child([procs] {
            weft::run(weft::Options{.procs = procs}, [] {
                weft::go([] { weft::suite::park_forever(); });
                weft::suite::park_forever();
            });
        });
        INFO(r.err);
        CHECK(r.exit_code == 2);
        CHECK(contains(r.err, "fatal error: all fibers are asleep - deadlock!"));
        CHECK(contains(r.err, "fiber 1 [test hook"));
        CHECK(fibers_in_dump(r.err, "test hook") == 2);
        CHECK(contains(r.err, "created by fiber 1 at death_test.cpp"));
    }
}

TEST_CASE("an uncaught exception in a fiber names the fiber and what()") {
    auto r = run_in_child([] {
        weft::run(weft::Options{.procs = 2}, [] {
            weft::go([] {
                // Its id depends on which P creates it: tell the parent.
                std::printf("%llu\n", static_cast<unsigned long long>(weft::sched::current_g()->id));
                std::fflush(stdout);
                throw std::runtime_error("boom at the fiber");
            });
            weft::suite::park_forever();
        });
    });
    INFO(r.err);
    CHECK(r.exit_code == 2);
    std::string id = r.out.substr(0, r.out.find('\n'));
    CHECK(id.size() > 0);
    CHECK(id != "1");
    CHECK(contains(r.err, "fatal error: uncaught exception in fiber " + id + ": boom at the fiber"));
}

TEST_CASE("an exception that is not a std::exception is reported too") {
    auto r = run_in_child([] { weft::run(weft::Options{.procs = 1}, [] { throw 42; }); });
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "fatal error: uncaught exception in fiber 1 (not derived from std::exception)"));
}

TEST_CASE("weft::go outside a runtime is fatal") {
    auto r = run_in_child([] { weft::go([] {}); });
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "fatal error: weft::go called while no runtime is running"));
}

TEST_CASE("weft::run inside a running runtime is fatal") {
    auto r = run_in_child([] { weft::run([] { weft::run([] {}); }); });
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "fatal error: weft::run called while a weft runtime is already running"));
}

TEST_CASE("SIGQUIT dumps every fiber and exits with status 2") {
    auto r = run_in_child([] {
        weft::run(weft::Options{.procs = 2}, [] {
            std::atomic<weft::sched::G*> gs[3] = {};
            for (int i = 0; i < 3; i++)
                weft::go([&gs, i] {
                    gs[i] = weft::sched::current_g();
                    weft::suite::park_forever();
                });
            // Dump only once all three are parked (not merely started).
            auto parked = [&] {
                for (auto& g : gs) {
                    weft::sched::G* x = g.load();
                    if (x == nullptr || x->status.load() != weft::sched::GStatus::kWaiting) return false;
                }
                return true;
            };
            wait_until(parked);
            raise(SIGQUIT);
        });
    });
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "SIGQUIT: quit"));
    CHECK(contains(r.err, "fiber 1 [running]"));
    CHECK(fibers_in_dump(r.err, "test hook") == 3);
}
