// The workloads' host-steal reading (examples/common/steal.hpp).
#include <doctest/doctest.h>

#include <unistd.h>

#include "common/steal.hpp"

TEST_CASE("host_steal_ns reads /proc/stat: whole clock ticks, never decreasing") {
    int64_t a = ex::host_steal_ns();
    REQUIRE(a >= 0);  // Linux with /proc mounted, as CI
    int64_t tick = 1'000'000'000 / sysconf(_SC_CLK_TCK);
    CHECK(a % tick == 0);
    usleep(20'000);
    int64_t b = ex::host_steal_ns();
    CHECK(b >= a);
}

TEST_CASE("StealWindow: the steal since it was made, in ms") {
    ex::StealWindow w;
    usleep(20'000);
    double ms = w.elapsed_ms();
    CHECK(ms >= 0);
    CHECK(ms == static_cast<double>(static_cast<int64_t>(ms)));  // whole ticks (10 ms or finer) in ms
}
