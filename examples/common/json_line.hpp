// json_line.hpp — the one-line JSON result every workload prints last.
//
//   ex::JsonLine j("spawn");            // {"workload": "spawn"
//   j.add("procs", 4);                  //  , "procs": 4
//   j.add("wall_ms", 123.4567);         //  , "wall_ms": 123.457
//   j.print();                          //  }\n on stdout, flushed
//
// Keys are written as given (use plain identifiers; they are not escaped).
// Doubles get a fixed number of decimals (3 by default); NaN and infinities
// become null so the line stays valid JSON.
#pragma once

#include <cmath>
#include <concepts>
#include <cstdio>
#include <fmt/core.h>
#include <string>
#include <string_view>

namespace ex {

class JsonLine {
public:
    explicit JsonLine(std::string_view workload) { add_string("workload", workload); }

    template <std::integral T>
    JsonLine& add(std::string_view key, T value) {
        return raw(key, fmt::format("{}", value));
    }
    JsonLine& add(std::string_view key, double value, int decimals = 3) {
        return raw(key, std::isfinite(value) ? fmt::format("{:.{}f}", value, decimals) : std::string("null"));
    }
    JsonLine& add_string(std::string_view key, std::string_view value) {
        std::string quoted = "\"";
        for (char c : value) {
            if (c == '"' || c == '\\') quoted += '\\';
            if (static_cast<unsigned char>(c) < 0x20) quoted += fmt::format("\\u{:04x}", static_cast<int>(c));
            else quoted += c;
        }
        return raw(key, quoted + "\"");
    }

    std::string str() const { return body_ + "}"; }
    void print() const {
        fmt::print("{}\n", str());
        std::fflush(stdout);
    }

private:
    JsonLine& raw(std::string_view key, const std::string& value) {
        body_ += fmt::format("{}\"{}\": {}", body_.empty() ? "{" : ", ", key, value);
        return *this;
    }

    std::string body_;
};

}  // namespace ex
