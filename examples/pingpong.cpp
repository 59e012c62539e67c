// pingpong.cpp — W4: the cost of a blocking hand-off between two fibers.
//
// Two fibers bounce an int over two unbuffered channels --n round trips:
// the pinger sends i on `ping` and expects i + 1 back on `pong`; the ponger
// answers every value it receives with value + 1. The pinger then closes
// `ping`; the ponger's range loop ends and it closes `pong`. Run it with
// --procs 1 (the default here: a pure fiber switch per hand-off) and with
// --procs 2 (hand-offs across threads, with wake-ups of parked Ms). See
// docs/BENCHMARKS.md, W4.
//
// JSON: workload, procs, n, wall_ms, ns_per_roundtrip.
#include <cstdint>
#include <fmt/core.h>
#include <optional>

#include <weft/chan.hpp>
#include <weft/sync/waitgroup.hpp>
#include <weft/weft.hpp>
#include "common/flags.hpp"
#include "common/json_line.hpp"
#include "common/run.hpp"
#include "common/stopwatch.hpp"

int main(int argc, char** argv) {
    int64_t n = 1'000'000, procs = 1;
    ex::Flags flags("pingpong", "W4: 2 fibers bounce an int over two unbuffered channels N round trips.");
    flags.add_int("n", &n, 1, 1'000'000'000, "round trips");
    flags.add_procs(&procs);
    flags.parse(argc, argv);

    return ex::run("pingpong", procs, [n]() -> int {
        weft::Chan<int> ping, pong;  // unbuffered
        int64_t bad = 0;             // written by the pinger, read after wg.wait()
        weft::WaitGroup wg;
        ex::Stopwatch sw;
        wg.add(2);
        weft::go([ping, pong, n, bad_out = &bad, w = &wg]() mutable {
            for (int i = 0; i < n; ++i) {
                ping.send(i);
                std::optional<int> back = pong.recv();
                if (!back || *back != i + 1) ++*bad_out;
            }
            ping.close();
            if (pong.recv().has_value()) ++*bad_out;  // the ponger closes pong once ping is closed
            w->done();
        });
        weft::go([ping, pong, w = &wg]() mutable {
            for (int v : ping) pong.send(v + 1);
            pong.close();
            w->done();
        });
        wg.wait();
        double wall_ms = sw.elapsed_ms();

        if (bad != 0) {
            fmt::print(stderr, "pingpong: FAILED: {} of {} round trips returned a wrong value\n", bad, n);
            return 1;
        }
        double ns_per_roundtrip = wall_ms * 1e6 / static_cast<double>(n);
        fmt::print("pingpong: {} round trips on {} P(s) in {:.1f} ms: {:.1f} ns per round trip\n", n, weft::procs(),
                   wall_ms, ns_per_roundtrip);
        ex::JsonLine("pingpong")
            .add("procs", weft::procs())
            .add("n", n)
            .add("wall_ms", wall_ms)
            .add("ns_per_roundtrip", ns_per_roundtrip, 1)
            .print();
        return 0;
    });
}
