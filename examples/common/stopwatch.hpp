// stopwatch.hpp — the timing window of a workload (steady_clock).
//
// Start it right before the measured work, inside weft::run, so runtime
// start-up and shutdown stay outside the figure:
//   ex::Stopwatch sw;  ... work ...;  double ms = sw.elapsed_ms();
#pragma once

#include <chrono>

namespace ex {

class Stopwatch {
public:
    Stopwatch() : start_(std::chrono::steady_clock::now()) {}
    void restart() { start_ = std::chrono::steady_clock::now(); }
    double elapsed_ns() const {
        return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start_).count();
    }
    double elapsed_ms() const { return elapsed_ns() / 1e6; }

private:
    std::chrono::steady_clock::time_point start_;
};

}  // namespace ex
