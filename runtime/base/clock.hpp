// clock.hpp — monotonic time in nanoseconds.
#pragma once

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
