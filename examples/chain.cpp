// chain.cpp — W10: a chain of fibers handing one value along, as in Go's
// test/chan/goroutines.go.
//
// Each round builds a chain of --n fibers joined by unbuffered channels:
// fiber i receives from channel i+1 and sends what it got plus one into
// channel i. Once all are spawned, the main fiber sends 0 into the last
// channel and receives from the first, which must give n. Every fiber
// starts, parks on its receive, is woken once and exits: the figure is the
// cost of a fiber's whole short life (first run, one park, one wake-up),
// the pattern of a pipeline stage or a short request handler.
//
// The timing window covers all --rounds rounds; ns_per_fiber is it divided
// by n x rounds.
//
// JSON: workload, procs, n, rounds, wall_ms, ns_per_fiber, peak_rss_kb.
#include <cstdint>

#include <fmt/core.h>
#include <weft/weft.hpp>

#include "common/flags.hpp"
#include "common/json_line.hpp"
#include "common/rss.hpp"
#include "common/run.hpp"
#include "common/stopwatch.hpp"

int main(int argc, char** argv) {
    int64_t n = 10'000, rounds = 10, procs = 0;
    ex::Flags flags("chain", "W10: a chain of N fibers joined by channels passes one value along, ROUNDS times.");
    flags.add_int("n", &n, 1, 10'000'000, "fibers in the chain");
    flags.add_int("rounds", &rounds, 1, 1'000'000, "chains built and run, one after another");
    flags.add_procs(&procs);
    flags.parse(argc, argv);

    return ex::run("chain", procs, [n, rounds]() -> int {
        ex::Stopwatch sw;
        for (int64_t r = 0; r < rounds; ++r) {
            weft::Chan<int64_t> leftmost;
            weft::Chan<int64_t> left = leftmost;
            for (int64_t i = 0; i < n; ++i) {
                weft::Chan<int64_t> right;
                weft::go([left, right]() mutable {
                    auto v = right.recv();
                    left.send(*v + 1);
                });
                left = right;
            }
            left.send(0);
            auto got = leftmost.recv();
            if (!got || *got != n) {
                fmt::print(stderr, "chain: FAILED: round {} ended with {}, not {}\n", r, got ? *got : -1, n);
                return 1;
            }
        }
        double wall_ms = sw.elapsed_ms();
        double ns_per_fiber = wall_ms * 1e6 / static_cast<double>(n * rounds);
        int64_t peak = ex::peak_rss_kb();
        fmt::print("chain: {} rounds of {} chained fibers on {} Ps in {:.1f} ms: {:.1f} ns per fiber, peak RSS {} "
                   "KiB; every value arrived\n",
                   rounds, n, weft::procs(), wall_ms, ns_per_fiber, peak);
        ex::JsonLine("chain")
            .add("procs", weft::procs())
            .add("n", n)
            .add("rounds", rounds)
            .add("wall_ms", wall_ms)
            .add("ns_per_fiber", ns_per_fiber, 1)
            .add("peak_rss_kb", peak)
            .print();
        return 0;
    });
}
