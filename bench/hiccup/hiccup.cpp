// hiccup — how long this machine stops a busy thread, with no runtime in it.
//
// --threads plain threads (std::thread, default 2: one per core here) each
// read the monotonic clock in a tight loop for --seconds and record every
// gap between two consecutive readings longer than 1 ms: the time the
// thread was not running although it never blocked (the kernel ran
// something else on its CPU, or the hypervisor took the vCPU). Nothing is
// allocated and nothing is shared while they run.
//
// This is the floor under any "longest operation" figure measured on the
// same machine with as many busy threads: W7 gcpause runs one mutator per
// P on every core, and a mutator operation cannot be shorter than the
// longest stop the machine imposes on a thread that is only computing.
// scripts/compare.sh runs it before the workloads and prints its line.
//
// Build: c++ -O2 -std=c++20 -pthread -Iexamples bench/hiccup/hiccup.cpp
// examples/common/steal.cpp (compare.sh does; no weft runtime in it).
//
// JSON (last line): workload "hiccup", threads, seconds, max_gap_us (the
// longest gap any thread saw), p99_gap_us (over the gaps > 1 ms; 0 if
// none), gaps_over_1ms, gaps_over_5ms (all threads together),
// host_steal_ms (/proc/stat over the window, all CPUs; -1 if unknown).
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <thread>
#include <vector>

#include "common/steal.hpp"  // weft's examples/common: plain C++, no runtime

namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kGapNs = 1'000'000;

[[noreturn]] void usage_error(const char* what, std::string_view arg) {
    std::fprintf(stderr,
                 "hiccup: %s '%.*s'\nusage: hiccup [--threads N] [--seconds N]\n"
                 "  --threads N  busy threads, in [1, 256] (default 2)\n"
                 "  --seconds N  length of the window, in [1, 3600] (default 10)\n",
                 what, static_cast<int>(arg.size()), arg.data());
    std::exit(2);
}

int64_t parse_flag(int argc, char** argv, int& i, int64_t lo, int64_t hi) {
    std::string_view name = argv[i];
    if (i + 1 >= argc) usage_error("missing value for", name);
    std::string_view v = argv[++i];
    int64_t x = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (ec != std::errc() || p != v.data() + v.size() || x < lo || x > hi) usage_error("bad value for", name);
    return x;
}

}  // namespace

int main(int argc, char** argv) {
    int64_t threads = 2, seconds = 10;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--threads") threads = parse_flag(argc, argv, i, 1, 256);
        else if (a == "--seconds") seconds = parse_flag(argc, argv, i, 1, 3600);
        else usage_error("unknown argument", a);
    }

    std::vector<std::vector<int64_t>> gaps(static_cast<size_t>(threads));
    for (auto& g : gaps) g.reserve(1 << 16);  // no allocation while measuring (up to 65536 gaps)
    ex::StealWindow steal_window;
    Clock::time_point end = Clock::now() + std::chrono::seconds(seconds);
    std::vector<std::thread> ts;
    for (int64_t t = 0; t < threads; ++t)
        ts.emplace_back([&g = gaps[static_cast<size_t>(t)], end] {
            Clock::time_point prev = Clock::now();
            for (;;) {
                Clock::time_point now = Clock::now();
                int64_t d = std::chrono::duration_cast<std::chrono::nanoseconds>(now - prev).count();
                if (d > kGapNs && g.size() < g.capacity()) g.push_back(d);
                prev = now;
                if (now >= end) break;
            }
        });
    for (auto& t : ts) t.join();
    double steal = steal_window.elapsed_ms();

    std::vector<int64_t> all;
    for (auto& g : gaps) all.insert(all.end(), g.begin(), g.end());
    std::sort(all.begin(), all.end());
    int64_t max_gap = all.empty() ? 0 : all.back();
    int64_t p99 = all.empty() ? 0 : all[std::min(all.size() - 1, all.size() * 99 / 100)];
    auto over5 = std::count_if(all.begin(), all.end(), [](int64_t d) { return d > 5 * kGapNs; });
    std::printf("hiccup: %lld busy threads for %lld s: longest stop %.1f ms; %zu stops over 1 ms, %ld over 5 ms; "
                "host steal %.0f ms\n",
                static_cast<long long>(threads), static_cast<long long>(seconds), static_cast<double>(max_gap) / 1e6,
                all.size(), static_cast<long>(over5), steal);
    std::printf("{\"workload\": \"hiccup\", \"threads\": %lld, \"seconds\": %lld, \"max_gap_us\": %.1f, "
                "\"p99_gap_us\": %.1f, \"gaps_over_1ms\": %zu, \"gaps_over_5ms\": %ld, \"host_steal_ms\": %.0f}\n",
                static_cast<long long>(threads), static_cast<long long>(seconds), static_cast<double>(max_gap) / 1e3,
                static_cast<double>(p99) / 1e3, all.size(), static_cast<long>(over5), steal);
    return 0;
}
