// flags.cpp — see flags.hpp.
#include "common/flags.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fmt/core.h>
#include <utility>

namespace ex {

Flags::Flags(std::string program, std::string summary) : program_(std::move(program)), summary_(std::move(summary)) {}

void Flags::add_int(std::string name, int64_t* out, int64_t lo, int64_t hi, std::string help) {
    flags_.push_back({std::move(name), std::move(help), out, nullptr, lo, hi, std::to_string(*out)});
}

void Flags::add_bool(std::string name, bool* out, std::string help) {
    flags_.push_back({std::move(name), std::move(help), nullptr, out, 0, 0, *out ? "on" : "off"});
}

bool g_flight_recorder = false;

void Flags::add_procs(int64_t* out) {
    add_int("procs", out, 0, 1024, "Ps (GOMAXPROCS), 0 = all cores");
    add_bool("flight-recorder", &g_flight_recorder,
             "run with a weft::trace::FlightRecorder recording (what it costs; WEFT_TRACE=FILE traces to a file)");
}

const Flags::Flag* Flags::find(std::string_view name) const {
    for (const Flag& f : flags_)
        if (f.name == name) return &f;
    return nullptr;
}

std::string Flags::usage() const {
    std::string s = fmt::format("usage: {}", program_);
    for (const Flag& f : flags_) s += f.int_out ? fmt::format(" [--{} N]", f.name) : fmt::format(" [--{}]", f.name);
    s += fmt::format("\n  {}\n", summary_);
    for (const Flag& f : flags_) {
        std::string lhs = f.int_out ? fmt::format("--{} N", f.name) : fmt::format("--{}", f.name);
        std::string range = f.int_out ? fmt::format(", in [{}, {}]", f.lo, f.hi) : "";
        s += fmt::format("  {:<14}{}{} (default {})\n", lhs, f.help, range, f.default_text);
    }
    s += fmt::format("  {:<14}{}\n", "--help", "print this text");
    return s;
}

void Flags::fail(const std::string& message) const {
    fmt::print(stderr, "{}: {}\n{}", program_, message, usage());
    std::exit(2);
}

void Flags::parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            fmt::print("{}", usage());
            std::exit(0);
        }
        if (arg.substr(0, 2) != "--") fail(fmt::format("unexpected argument '{}'", arg));
        std::string_view name = arg.substr(2);
        std::string_view value;
        bool has_value = false;
        if (auto eq = name.find('='); eq != std::string_view::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            has_value = true;
        }
        const Flag* f = find(name);
        if (f == nullptr) fail(fmt::format("unknown flag '--{}'", name));
        if (f->bool_out) {
            if (has_value) fail(fmt::format("--{}: takes no value", name));
            *f->bool_out = true;
            continue;
        }
        if (!has_value) {
            if (i + 1 >= argc) fail(fmt::format("--{}: missing value", name));
            value = argv[++i];
        }
        int64_t v = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
        if (value.empty() || ec != std::errc() || end != value.data() + value.size() || v < f->lo || v > f->hi)
            fail(fmt::format("--{}: '{}' is not an integer in [{}, {}]", name, value, f->lo, f->hi));
        *f->int_out = v;
    }
}

}  // namespace ex
