// spawn.cpp — W1: the cost of starting and finishing a fiber.
//
// Spawns --n fibers; each adds 1 to a shared atomic counter and signals a
// WaitGroup; the main fiber waits, then checks counter == n. The timing
// window is the spawn loop plus the wait (runtime start-up and shutdown are
// outside it). See docs/BENCHMARKS.md, W1.
//
// JSON: workload, procs, n, wall_ms, ns_per_fiber, peak_rss_kb.
#include <atomic>
#include <cstdint>
#include <fmt/core.h>

#include <weft/sync/waitgroup.hpp>
#include <weft/weft.hpp>
#include "common/flags.hpp"
#include "common/json_line.hpp"
#include "common/rss.hpp"
#include "common/run.hpp"
#include "common/stopwatch.hpp"

int main(int argc, char** argv) {
    int64_t n = 1'000'000, procs = 0;
    ex::Flags flags("spawn", "W1: spawn N fibers; each bumps a shared counter and signals a WaitGroup.");
    flags.add_int("n", &n, 1, 100'000'000, "fibers to spawn");
    flags.add_procs(&procs);
    flags.parse(argc, argv);

    return ex::run("spawn", procs, [n]() -> int {
        std::atomic<int64_t> counter{0};
        weft::WaitGroup wg;
        ex::Stopwatch sw;
        wg.add(n);
        // Capturing the addresses is safe: this frame waits for every fiber.
        for (int64_t i = 0; i < n; ++i)
            weft::go([c = &counter, w = &wg] {
                // relaxed: the WaitGroup's done/wait orders this for the
                // main fiber's read below.
                c->fetch_add(1, std::memory_order_relaxed);
                w->done();
            });
        wg.wait();
        double wall_ms = sw.elapsed_ms();

        int64_t got = counter.load(std::memory_order_relaxed);
        if (got != n) {
            fmt::print(stderr, "spawn: FAILED: counter is {} after {} fibers\n", got, n);
            return 1;
        }
        double ns_per_fiber = wall_ms * 1e6 / static_cast<double>(n);
        int64_t peak = ex::peak_rss_kb();
        fmt::print("spawn: {} fibers on {} Ps in {:.1f} ms: {:.1f} ns per fiber, peak RSS {} KiB; counter ok\n", n,
                   weft::procs(), wall_ms, ns_per_fiber, peak);
        ex::JsonLine("spawn")
            .add("procs", weft::procs())
            .add("n", n)
            .add("wall_ms", wall_ms)
            .add("ns_per_fiber", ns_per_fiber, 1)
            .add("peak_rss_kb", peak)
            .print();
        return 0;
    });
}
