// clock.hpp — monotonic time in nanoseconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>

namespace weft::base {

inline int64_t nanotime() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// A cheaper, coarser clock (a few ms resolution) for diagnostics only.
inline int64_t nanotime_coarse() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace weft::base

namespace weft {

// The clock of every public time value (timers, sleeps, net deadlines):
// steady_clock reads CLOCK_MONOTONIC on Linux, as nanotime() does. Here,
// below every layer, so that syscall/ names them without the face.
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = std::chrono::nanoseconds;

}  // namespace weft
