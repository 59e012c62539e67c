// park.cpp — W2: the memory a parked fiber costs.
//
// Starts --n fibers that each block receiving from ONE shared unbuffered
// channel. Once all of them are parked, the growth of the resident set since
// just before the first spawn, divided by n, is bytes_per_parked_fiber. Then
// the channel is closed, which wakes every receiver with "closed", and the
// main fiber waits for all of them through a WaitGroup. See shared
// docs/BENCHMARKS.md, W2.
//
// "All parked" is observed like this: each fiber bumps `arrived` right before
// its recv(); the main fiber yields until arrived == n, then keeps yielding
// for a few more rounds and at least kSettle, so the last arrivals (possibly
// running on other Ps) are inside recv() and suspended, not just about to be.
//
// The timing window (wall_ms) covers spawning, parking, the RSS reading,
// close and the final wait. While all are parked, metrics_ns is the mean
// time of a weft::metrics() snapshot (over kMetricsCalls calls, outside
// wall_ms), which must count the n fibers waiting on the channel.
//
// JSON: workload, procs, n, wall_ms, bytes_per_parked_fiber,
//       rss_before_kb, rss_parked_kb, peak_rss_kb, metrics_ns.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <fmt/core.h>

#include <weft/chan.hpp>
#include <weft/sync/waitgroup.hpp>
#include <weft/weft.hpp>
#include "common/flags.hpp"
#include "common/json_line.hpp"
#include "common/rss.hpp"
#include "common/run.hpp"
#include "common/stopwatch.hpp"

namespace {

constexpr int kSettleRounds = 16;
constexpr int kMetricsCalls = 1000;
constexpr double kSettleMs = 2.0;

}  // namespace

int main(int argc, char** argv) {
    int64_t n = 100'000, procs = 0;
    ex::Flags flags("park", "W2: park N fibers on one unbuffered channel, measure RSS, close, wait.");
    flags.add_int("n", &n, 1, 10'000'000, "fibers to park");
    flags.add_procs(&procs);
    flags.parse(argc, argv);

    return ex::run("park", procs, [n]() -> int {
        weft::Chan<int> ch;  // unbuffered; nobody ever sends
        std::atomic<int64_t> arrived{0}, closed_seen{0};
        weft::WaitGroup wg;

        int64_t rss_before = ex::current_rss_bytes();
        ex::Stopwatch sw;
        wg.add(n);
        // The addresses outlive every fiber: this frame waits for all.
        for (int64_t i = 0; i < n; ++i)
            weft::go([ch, a = &arrived, c = &closed_seen, w = &wg]() mutable {
                // relaxed: only a progress count; the WaitGroup orders the
                // final read of closed_seen.
                a->fetch_add(1, std::memory_order_relaxed);
                if (!ch.recv().has_value()) c->fetch_add(1, std::memory_order_relaxed);
                w->done();
            });
        while (arrived.load(std::memory_order_relaxed) < n) weft::yield();
        ex::Stopwatch settle;
        for (int round = 0; round < kSettleRounds || settle.elapsed_ms() < kSettleMs; ++round) weft::yield();
        int64_t rss_parked = ex::current_rss_bytes();
        double park_ms = sw.elapsed_ms();

        ex::Stopwatch msw;
        uint64_t counted = 0;
        for (int i = 0; i < kMetricsCalls; ++i) counted = weft::metrics().waiting("chan receive");
        double metrics_ms = msw.elapsed_ms();
        if (counted != static_cast<uint64_t>(n)) {
            fmt::print(stderr, "park: FAILED: weft::metrics() counts {} fibers waiting on the channel, not {}\n",
                       counted, n);
            return 1;
        }

        ch.close();
        wg.wait();
        double wall_ms = sw.elapsed_ms() - metrics_ms;

        int64_t woken = closed_seen.load(std::memory_order_relaxed);
        if (woken != n) {
            fmt::print(stderr, "park: FAILED: {} of {} receivers saw the channel closed\n", woken, n);
            return 1;
        }
        if (rss_before < 0 || rss_parked < 0) {
            fmt::print(stderr, "park: FAILED: cannot read /proc/self/statm\n");
            return 1;
        }
        double per_fiber = static_cast<double>(rss_parked - rss_before) / static_cast<double>(n);
        int64_t peak = ex::peak_rss_kb();
        fmt::print("park: {} fibers parked on {} Ps in {:.1f} ms; RSS {} KiB -> {} KiB: {:.0f} bytes per parked fiber\n",
                   n, weft::procs(), park_ms, rss_before / 1024, rss_parked / 1024, per_fiber);
        fmt::print("park: closed the channel, all {} woke and finished; total {:.1f} ms, peak RSS {} KiB\n", n, wall_ms,
                   peak);
        ex::JsonLine("park")
            .add("procs", weft::procs())
            .add("n", n)
            .add("wall_ms", wall_ms)
            .add("bytes_per_parked_fiber", per_fiber, 0)
            .add("rss_before_kb", rss_before / 1024)
            .add("rss_parked_kb", rss_parked / 1024)
            .add("peak_rss_kb", peak)
            .add("metrics_ns", metrics_ms * 1e6 / kMetricsCalls, 0)
            .print();
        return 0;
    });
}
