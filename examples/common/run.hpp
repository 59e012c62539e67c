// run.hpp — weft::run for the workloads, with bad WEFT_* settings reported.
//
// weft::run throws std::invalid_argument before any fiber starts when a
// WEFT_* variable (or an option) is malformed; a workload reports that as a
// usage error, "<program>: WEFT_PROCS: 'x' is not an integer in [1, 1024]",
// exit status 2, instead of dying in std::terminate. Call from main().
#pragma once

#include <cstdint>
#include <stdexcept>
#include <fmt/core.h>
#include <string_view>
#include <utility>

#include <weft/weft.hpp>

namespace ex {

template <class F>
int run(std::string_view program, int64_t procs, F&& fn) {
    try {
        return weft::run(weft::Options{.procs = static_cast<int>(procs)}, std::forward<F>(fn));
    } catch (const std::invalid_argument& e) {
        fmt::print(stderr, "{}: {}\n", program, e.what());
        return 2;
    }
}

}  // namespace ex
