// flags.hpp — the command-line flags of the example workloads.
//
//   int64_t n = 1000000, procs = 0;
//   ex::Flags flags("spawn", "W1: spawn N fibers that each bump a counter.");
//   flags.add_int("n", &n, 1, 100'000'000, "fibers to spawn");
//   flags.add_procs(&procs);
//   flags.parse(argc, argv);          // exits on --help or a bad flag
//
// Accepted forms: `--name value`, `--name=value`, and `--name` alone for a
// bool flag. A bad flag is a user error: parse() prints one precise line
// ("spawn: --n: 'abc' is not an integer in [1, 100000000]"), then the usage,
// to stderr and exits with status 2. `--help` prints the usage to stdout and
// exits 0. Single-threaded: call from main() before weft::run.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ex {

// --flight-recorder: ex::run records the workload with a flight recorder.
extern bool g_flight_recorder;

class Flags {
public:
    Flags(std::string program, std::string summary);

    // An integer flag in [lo, hi]; *out holds the default until parse().
    void add_int(std::string name, int64_t* out, int64_t lo, int64_t hi, std::string help);
    // A switch: present sets *out to true.
    void add_bool(std::string name, bool* out, std::string help);
    // The --procs flag every workload has (0: all cores), in [0, 1024],
    // and --flight-recorder (g_flight_recorder, which ex::run obeys).
    void add_procs(int64_t* out);

    // Parses argv, storing into the registered variables. Does not return on
    // --help (exit 0) or on an error (exit 2).
    void parse(int argc, char** argv);

    const std::string& program() const { return program_; }

private:
    struct Flag {
        std::string name;
        std::string help;
        int64_t* int_out = nullptr;  // exactly one of int_out, bool_out is set
        bool* bool_out = nullptr;
        int64_t lo = 0, hi = 0;
        std::string default_text;
    };

    const Flag* find(std::string_view name) const;
    std::string usage() const;
    [[noreturn]] void fail(const std::string& message) const;

    std::string program_;
    std::string summary_;
    std::vector<Flag> flags_;
};

}  // namespace ex
