// run.hpp — weft::run for the workloads, with bad WEFT_* settings reported
// and --flight-recorder obeyed.
//
// weft::run throws std::invalid_argument before any fiber starts when a
// WEFT_* variable (or an option) is malformed; a workload reports that as a
// usage error, "<program>: WEFT_PROCS: 'x' is not an integer in [1, 1024]",
// exit status 2, instead of dying in std::terminate. Call from main().
#pragma once

#include <cstdint>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <fmt/core.h>
#include <string_view>
#include <utility>

#include <weft/weft.hpp>

namespace ex {

extern bool g_flight_recorder;  // flags.hpp

template <class F>
int run(std::string_view program, int64_t procs, F&& fn,
        const std::source_location& site = std::source_location::current()) {
    try {
        return weft::run(
            weft::Options{.procs = static_cast<int>(procs)},
            [f = std::forward<F>(fn)]() mutable -> int {
                // --flight-recorder: the workload runs with one recording,
                // as a server that keeps one on in production would.
                std::optional<weft::trace::FlightRecorder> rec;
                if (g_flight_recorder) rec.emplace().start();
                return f();
            },
            site);
    } catch (const std::invalid_argument& e) {
        fmt::print(stderr, "{}: {}\n", program, e.what());
        return 2;
    }
}

}  // namespace ex
