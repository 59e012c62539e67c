// syscalls.cpp — W9: blocking system calls do not stall the scheduler.
//
// --n fibers each make --calls blocking 1 ms sleeps through
// weft::sys::nanosleep: a raw nanosleep(2) that blocks the fiber's OS
// thread, bracketed by entersyscall/exitsyscall (not weft::sleep, which is
// a timer and blocks nothing). Meanwhile a ticker fiber sleeps 1 ms at a
// time with weft::sleep and records how late each wake-up is.
//
// With P hand-off (sysmon retakes a P whose M is blocked and gives it to
// another thread), every sleeper gets a thread and the whole run takes
// about calls x 1 ms plus overhead (~20 ms by default), and the ticker
// stays close to on time. Without it, each P would serve one sleep at a
// time: n x calls / procs ms (1 s by default). A run slower than
// n x calls ms (the serial time) therefore means hand-off is broken: the
// program says so and exits 1 (checked for n >= 2; with one fiber the
// serial time is the ideal). See docs/BENCHMARKS.md, W9.
//
// The timing window (wall_ms) runs from the first spawn to the last
// sleeper's end. ticker_max_late_us is the worst (wake-up - intended
// wake-up) the ticker saw in that window, in microseconds.
//
// JSON: workload, procs, n, calls, wall_ms, ticker_max_late_us.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <fmt/core.h>
#include <string>

#include <weft/file.hpp>
#include <weft/sys.hpp>
#include <weft/weft.hpp>
#include "common/flags.hpp"
#include "common/json_line.hpp"
#include "common/run.hpp"
#include "common/stopwatch.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The Threads: line of /proc/self/status, -1 if unreadable.
int64_t os_threads() {
    try {
        std::string s = weft::read_file("/proc/self/status");
        auto at = s.find("Threads:");
        if (at == std::string::npos) return -1;
        return std::stoll(s.substr(at + 8));
    } catch (const std::exception&) {
        return -1;
    }
}

}  // namespace

int main(int argc, char** argv) {
    int64_t n = 100, calls = 20, procs = 2;
    ex::Flags flags("syscalls",
                    "W9: N fibers each make CALLS blocking 1 ms nanosleeps while a ticker fiber wakes every 1 ms.");
    flags.add_int("n", &n, 1, 100'000, "fibers making blocking calls");
    flags.add_int("calls", &calls, 1, 1'000'000, "blocking 1 ms sleeps per fiber");
    flags.add_procs(&procs);
    flags.parse(argc, argv);

    return ex::run("syscalls", procs, [n, calls]() -> int {
        std::atomic<bool> stop{false};
        std::atomic<int64_t> max_late_ns{0}, ticks{0};
        weft::WaitGroup ticker_done, sleepers;

        // The ticker: wake every 1 ms, record the worst lateness.
        ticker_done.add(1);
        weft::go([&] {
            while (!stop.load(std::memory_order_relaxed)) {
                auto intended = Clock::now() + 1ms;
                weft::sleep(1ms);
                int64_t late = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - intended).count();
                // relaxed: one writer; the WaitGroup orders the final read.
                if (late > max_late_ns.load(std::memory_order_relaxed))
                    max_late_ns.store(late, std::memory_order_relaxed);
                ticks.fetch_add(1, std::memory_order_relaxed);
            }
            ticker_done.done();
        });
        // Start measuring once the ticker runs (its first wake-up is not
        // part of the window).
        while (ticks.load(std::memory_order_relaxed) < 2) weft::sleep(1ms);
        max_late_ns.store(0, std::memory_order_relaxed);
        int64_t ticks_before = ticks.load(std::memory_order_relaxed);

        ex::Stopwatch sw;
        sleepers.add(n);
        for (int64_t i = 0; i < n; ++i)
            weft::go([calls, &sleepers] {
                for (int64_t c = 0; c < calls; ++c) weft::sys::nanosleep(1ms);
                sleepers.done();
            });
        sleepers.wait();
        double wall_ms = sw.elapsed_ms();
        int64_t window_ticks = ticks.load(std::memory_order_relaxed) - ticks_before;
        stop.store(true, std::memory_order_relaxed);
        ticker_done.wait();
        double max_late_us = static_cast<double>(max_late_ns.load(std::memory_order_relaxed)) / 1e3;
        int64_t threads = os_threads();  // idle Ms linger (reclaimed after 10 s): about the peak

        fmt::print("syscalls: {} fibers x {} blocking 1 ms sleeps on {} Ps in {:.1f} ms (serial {} ms); "
                   "ticker woke {} times, worst {:.0f} us late; {} OS threads at the end\n",
                   n, calls, weft::procs(), wall_ms, n * calls, window_ticks, max_late_us, threads);
        // With one fiber the serial time is also the ideal: nothing to check.
        double serial_ms = static_cast<double>(n * calls);
        if (n >= 2 && wall_ms >= serial_ms) {
            fmt::print(stderr,
                       "syscalls: FAILED: {:.1f} ms is not less than the serial time {:.0f} ms: blocked calls are "
                       "not being handed off (P hand-off in sysmon/entersyscall is broken)\n",
                       wall_ms, serial_ms);
            return 1;
        }
        ex::JsonLine("syscalls")
            .add("procs", weft::procs())
            .add("n", n)
            .add("calls", calls)
            .add("wall_ms", wall_ms)
            .add("ticker_max_late_us", max_late_us, 1)
            .print();
        return 0;
    });
}
