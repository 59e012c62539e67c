// WEFT_GOGC: the heap goal it sets after each cycle, and `off`. Each case
// runs in a child process: the variable is read when a run starts, and the
// child's collector starts from a fresh goal.
#include <doctest/doctest.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <weft/weft.hpp>
#include "support/death.hpp"
#include "test_nodes.hpp"

using namespace gctest;  // NOLINT: Node, build, keep, g_live

namespace {

// Reports a failed expectation from the child (doctest's CHECK counts in
// the parent only) and exits 1.
void expect(bool ok, const char* what, int64_t got, int64_t want) {
    if (ok) return;
    std::fprintf(stderr, "%s: got %" PRId64 ", want %" PRId64 "\n", what, got, want);
    std::exit(1);
}

}  // namespace

TEST_CASE("WEFT_GOGC=N: after a cycle the heap goal is the marked heap times 1 + N/100") {
    // 262,143 nodes kept (8 MiB), so every goal here is above the 4 MiB
    // minimum; unset means 100.
    for (const char* gogc : {"50", "300", "100", static_cast<const char*>(nullptr)}) {
        CAPTURE(gogc ? gogc : "(unset)");
        int64_t n = gogc ? std::stoll(gogc) : 100;
        auto r = weft::suite::run_in_child([gogc, n] {
            if (gogc) setenv("WEFT_GOGC", gogc, 1);
            else unsetenv("WEFT_GOGC");
            weft::run({.procs = 1}, [n] {
                gc::Root<Node> kept(build(17));
                gc::collect();
                gc::Stats st = gc::stats();
                // Above the 4 MiB floor of every goal, so the formula is all.
                expect(st.heap_marked_bytes > (int64_t{4} << 20), "marked bytes", st.heap_marked_bytes, 4 << 20);
                expect(st.heap_goal_bytes == st.heap_marked_bytes + st.heap_marked_bytes * n / 100, "heap goal",
                       st.heap_goal_bytes, st.heap_marked_bytes + st.heap_marked_bytes * n / 100);
            });
        });
        CHECK(r.exit_code == 0);
        CHECK(r.err == "");
    }
}

TEST_CASE("WEFT_GOGC=off: no cycle starts however much is allocated; gc::collect() still collects") {
    auto r = weft::suite::run_in_child([] {
        setenv("WEFT_GOGC", "off", 1);
        weft::run({.procs = 2}, [] {
            uint64_t cycles0 = gc::stats().cycles;
            int64_t live0 = g_live.load();
            // 24 MiB of garbage: six times the first trigger with a goal.
            on_fresh_fiber([] {
                for (int i = 0; i < 3; ++i) keep(build(17));
            });
            gc::Stats st = gc::stats();
            expect(st.cycles == cycles0, "cycles while allocating", static_cast<int64_t>(st.cycles),
                   static_cast<int64_t>(cycles0));
            expect(st.heap_goal_bytes == INT64_MAX, "heap goal", st.heap_goal_bytes, INT64_MAX);
            expect(g_live.load() - live0 == 3 * 262143, "nodes alive before collect", g_live.load() - live0,
                   3 * 262143);
            gc::collect();
            st = gc::stats();
            expect(st.cycles == cycles0 + 1, "cycles after collect", static_cast<int64_t>(st.cycles),
                   static_cast<int64_t>(cycles0 + 1));
            expect(g_live.load() == live0, "nodes alive after collect", g_live.load(), live0);
            expect(st.heap_goal_bytes == INT64_MAX, "heap goal after collect", st.heap_goal_bytes, INT64_MAX);
        });
    });
    CHECK(r.exit_code == 0);
    CHECK(r.err == "");
}
