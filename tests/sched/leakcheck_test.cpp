// The leak check (sched/leakcheck.cpp): fibers a run leaves blocked are
// counted, and with WEFT_DEBUG=leakcheck=1 listed with their stacks.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <weft/testing.hpp>
#include <weft/weft.hpp>
#include "support/death.hpp"
#include "support/test_util.hpp"

using namespace weft::suite;

namespace leak_test {

__attribute__((noinline)) void waits_for_a_value_never_sent(weft::Chan<int> ch) {
    ch.recv();
    asm volatile("");
}

// A run whose main fiber returns with one fiber blocked on a channel and
// one that finished; prints the leak count to stdout.
void leave_one_blocked() {
    uint64_t before = weft::metrics().fibers.abandoned_total;
    weft::run(weft::Options{.procs = 2}, [] {
        weft::Chan<int> never, done;
        weft::go([never] { waits_for_a_value_never_sent(never); });
        weft::go([done]() mutable { done.send(1); });
        done.recv();
        wait_until([] { return weft::metrics().waiting("chan receive") == 1; });
    });
    std::printf("%llu\n", static_cast<unsigned long long>(weft::metrics().fibers.abandoned_total - before));
}

}  // namespace leak_test

TEST_CASE("WEFT_DEBUG=leakcheck=1 lists a fiber left blocked on a channel, with its stack") {
    auto r = run_in_child([] {
        ScopedEnv env("WEFT_DEBUG", "leakcheck=1");
        leak_test::leave_one_blocked();
    });
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "1\n");
    CHECK(contains(r.err, "weft: leakcheck: 1 fiber left blocked when the main fiber returned:\nfiber "));
    CHECK(contains(r.err, " [chan receive, "));
    CHECK(contains(r.err, "\tleak_test::waits_for_a_value_never_sent(weft::Chan<int>)\n"));
    CHECK(contains(r.err, "\tcreated by fiber 1 at leakcheck_test.cpp:"));
}

TEST_CASE("without leakcheck the fibers left blocked are counted, not listed") {
    auto r = run_in_child([] {
        ::unsetenv("WEFT_DEBUG");  // the child is a copy: the parent keeps its own
        leak_test::leave_one_blocked();
    });
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "1\n");
    CHECK(!contains(r.err, "leakcheck"));
}

TEST_CASE("the collector's own fiber and fibers about to finish are not leaks") {
    uint64_t before = weft::metrics().fibers.abandoned_total;
    weft::run(weft::Options{.procs = 2}, [] {
        weft::gc::collect();  // the collector's fiber now exists, parked
        weft::Chan<int> ch;
        weft::go([ch]() mutable { ch.send(1); });  // woken by the recv below, may not have run since
        ch.recv();
    });
    CHECK(weft::metrics().fibers.abandoned_total == before);
}

TEST_CASE("stress_gc fails a body that leaves a fiber blocked") {
    weft::testing::StressReport r = weft::testing::stress_gc(
        [](int i) {
            if (i != 0) return;
            weft::go([] { leak_test::waits_for_a_value_never_sent(weft::Chan<int>()); });
            // Blocked before the run can end: a fiber still in a run queue
            // when main returns is about to finish, not a leak (the
            // machine may not have run it yet).
            wait_until([] { return weft::metrics().waiting("chan receive") >= 1; });
        },
        {.iterations = 10, .fibers = 2, .syscall_stress = false, .checkmark = false, .poison = false});
    INFO(r.child_stderr);
    CHECK(!r.ok);
    CHECK(r.iterations_done == 10);
    CHECK(r.fibers_left_blocked == 1);
    CHECK(r.failure == "1 fiber left blocked when the run ended (the leak check's list is in child_stderr)");
    CHECK(contains(r.child_stderr, "leak_test::waits_for_a_value_never_sent("));
}
