// env.hpp — parsing WEFT_* environment variables and flag values.
//
// Bad values are user errors: they throw std::invalid_argument naming the
// variable, the value and what was expected. Nothing is silently defaulted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace weft::base {

// Parses a whole decimal integer in [lo, hi]; throws std::invalid_argument
// "<what>: '<text>' is not an integer in [lo, hi]".
int64_t parse_int(std::string_view what, std::string_view text, int64_t lo, int64_t hi);

// Parses a byte size: digits with an optional K/KiB/M/MiB/G/GiB suffix.
int64_t parse_size(std::string_view what, std::string_view text, int64_t lo, int64_t hi);

// The variable's value, or nullopt when unset. An empty value counts as unset.
std::optional<std::string> getenv_str(const char* name);

// WEFT_DEBUG is a comma-separated list of name=value; returns the value of
// `key`, or nullopt. Unknown keys are reported by validate_debug_env.
std::optional<std::string> debug_option(std::string_view key);

// An on/off WEFT_DEBUG setting: false when absent, else its value must be
// 0 or 1 ("name" alone means 1); anything else throws
// std::invalid_argument "WEFT_DEBUG: <key>: '<value>' is not 0 or 1".
bool debug_flag(std::string_view key);

// Throws std::invalid_argument when WEFT_DEBUG holds a key not in `known`.
void validate_debug_env(const char* const* known, int n);

}  // namespace weft::base
