// death.hpp — run code in a child process and check how it died.
//
// The child is forked from the test process while no runtime runs (each
// test's weft::run has returned), so the fork copies a single-threaded
// process. It runs `body`, then exits 0; the parent collects its stderr.
#pragma once

#include <functional>
#include <string>

namespace weft::suite {

struct DeathResult {
    int exit_code = -1;   // exit status, or -1 if killed by a signal
    int signal = 0;       // the signal that killed it, else 0
    std::string err;      // everything it wrote to stderr
    std::string out;      // everything it wrote to stdout
};

// Runs body in a child; kills it after timeout_s seconds (then signal=9).
DeathResult run_in_child(const std::function<void()>& body, int timeout_s = 60);

}  // namespace weft::suite
