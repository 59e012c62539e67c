// Fiber stacks: overflow detection, canary fallback, degrading past the VMA budget.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include <weft/weft.hpp>
#include "sched/sanitizers.hpp"
#include "support/death.hpp"
#include "support/sched_hooks.hpp"
#include "support/test_util.hpp"

using weft::suite::run_in_child;

using namespace weft::suite;

namespace {

// Recurses with a 1 KiB frame the compiler cannot elide.
__attribute__((noinline)) int deep(int n, volatile char* prev) {
    volatile char frame[1024];
    frame[0] = static_cast<char>(n);
    frame[1023] = prev ? prev[0] : 0;
    if (n == 0) return frame[0];
    return deep(n - 1, frame) + frame[1023];
}

}  // namespace

#if !defined(WEFT_ASAN)  // ASan reports the overflow itself, before our handler
TEST_CASE("running off a guarded stack reports a fiber stack overflow") {
    auto r = run_in_child([] {
        weft::run(weft::Options{.procs = 2, .stack_size = 64 * 1024}, [] {
            weft::go([] { deep(1 << 20, nullptr); });
            weft::suite::park_forever();
        });
    });
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "fatal error: fiber stack overflow (G 2)"));
}
#endif

TEST_CASE("a clobbered canary on an unguarded stack is fatal at the next switch") {
    auto r = run_in_child([] {
        setenv("WEFT_STACK_GUARD", "never", 1);
        weft::run(weft::Options{.procs = 1}, [] {
            weft::go([] {
                auto* g = weft::sched::current_g();
                std::memset(g->stack.lo, 0xab, 8);  // what an overflow would do
                weft::yield();
            });
            weft::suite::park_forever();
        });
    });
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "fatal error: fiber stack overflow (G 2): stack canary overwritten"));
}

TEST_CASE("WEFT_STACK_GUARD=never hands out canary stacks only") {
    weft::suite::ScopedEnv env("WEFT_STACK_GUARD", "never");
    weft::sched::StackStats st;
    weft::run(weft::Options{.procs = 1}, [&] {
        std::atomic<int> done{0};
        for (int i = 0; i < 10; i++) weft::go([&] { done++; });
        while (done.load() < 10) weft::yield();
        st = weft::suite::stack_stats();
    });
    CHECK(st.guarded == 0);
    CHECK(st.canary >= 1);
}

namespace {

// Parks `fibers` fibers at once (each holding its stack) and returns the
// stack statistics seen while all of them were alive.
weft::sched::StackStats park_many(int fibers, const weft::sched::RunConfig& cfg) {
    std::atomic<int> parked{0}, released{0};
    weft::sched::StackStats st;
    weft::suite::run_with(cfg, [&] {
        std::atomic<bool> open{false};
        for (int i = 0; i < fibers; i++)
            weft::go([&] {
                parked++;
                while (!open.load()) weft::yield();
                released++;
            });
        while (parked.load() < fibers) weft::yield();
        st = weft::suite::stack_stats();
        open = true;
        while (released.load() < fibers) weft::yield();
    });
    REQUIRE(released.load() == fibers);
    return st;
}

}  // namespace

TEST_CASE("past the guarded-stack budget new stacks degrade to canary stacks") {
    weft::sched::RunConfig cfg;
    cfg.procs = 2;
    cfg.stack_size = 32 * 1024;
    cfg.guard_budget = 100;
    auto st = park_many(300, cfg);
    CHECK(st.guarded == 100);
    CHECK(st.canary >= 200);
}

#if !defined(WEFT_TSAN) && !defined(WEFT_ASAN)  // TSan caps live fibers at ~8k
TEST_CASE("more parked fibers than vm.max_map_count allows guarded stacks for") {
    // The real budget: half of vm.max_map_count (65530 by default).
    weft::sched::RunConfig cfg;
    cfg.procs = 2;
    cfg.stack_size = 32 * 1024;
    auto st = park_many(40000, cfg);
    CHECK(st.guarded > 0);
    CHECK(st.canary > 0);
    CHECK(st.guarded + st.canary >= 40000);
}
#endif
