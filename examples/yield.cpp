// yield.cpp — W3: the cost of one fiber switch through the scheduler.
//
// Two fibers on one P each call weft::yield() --n times, so every yield
// switches to the other fiber; the main fiber is parked in a WaitGroup wait
// meanwhile. ns_per_yield = wall / (2 n). --procs defaults to 1 here, as
// docs/BENCHMARKS.md specifies (with more Ps the two fibers mostly yield to
// themselves and the figure means something else). See shared
// docs/BENCHMARKS.md, W3.
//
// JSON: workload, procs, n, wall_ms, ns_per_yield.
#include <array>
#include <cstdint>
#include <fmt/core.h>

#include <weft/sync/waitgroup.hpp>
#include <weft/weft.hpp>
#include "common/flags.hpp"
#include "common/json_line.hpp"
#include "common/run.hpp"
#include "common/stopwatch.hpp"

int main(int argc, char** argv) {
    int64_t n = 5'000'000, procs = 1;
    ex::Flags flags("yield", "W3: 2 fibers on one P each call weft::yield() N times.");
    flags.add_int("n", &n, 1, 1'000'000'000, "yields per fiber");
    flags.add_procs(&procs);
    flags.parse(argc, argv);

    return ex::run("yield", procs, [n]() -> int {
        std::array<int64_t, 2> done{};  // each written by its own fiber only
        weft::WaitGroup wg;
        ex::Stopwatch sw;
        wg.add(2);
        for (int64_t& count : done)
            weft::go([n, c = &count, w = &wg] {
                for (int64_t i = 0; i < n; ++i) {
                    weft::yield();
                    ++*c;
                }
                w->done();
            });
        wg.wait();
        double wall_ms = sw.elapsed_ms();

        if (done[0] != n || done[1] != n) {
            fmt::print(stderr, "yield: FAILED: the fibers made {} and {} yields, expected {} each\n", done[0], done[1], n);
            return 1;
        }
        double ns_per_yield = wall_ms * 1e6 / (2.0 * static_cast<double>(n));
        fmt::print("yield: 2 fibers x {} yields on {} P(s) in {:.1f} ms: {:.1f} ns per yield\n", n, weft::procs(),
                   wall_ms, ns_per_yield);
        ex::JsonLine("yield")
            .add("procs", weft::procs())
            .add("n", n)
            .add("wall_ms", wall_ms)
            .add("ns_per_yield", ns_per_yield, 1)
            .print();
        return 0;
    });
}
