#include "runtime/base/env.hpp"

#include <charconv>
#include <cstdlib>
#include <stdexcept>

namespace weft::base {
namespace {

[[noreturn]] void bad(std::string_view what, std::string_view text, const std::string& expected) {
    throw std::invalid_argument(std::string(what) + ": '" + std::string(text) + "' is not " + expected);
}

}  // namespace

int64_t parse_int(std::string_view what, std::string_view text, int64_t lo, int64_t hi) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    std::string expected = "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    if (text.empty() || ec != std::errc() || p != text.data() + text.size() || v < lo || v > hi)
        bad(what, text, expected);
    return v;
}

int64_t parse_size(std::string_view what, std::string_view text, int64_t lo, int64_t hi) {
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') digits++;
    std::string_view num = text.substr(0, digits), suffix = text.substr(digits);
    int64_t mult = 1;
    if (suffix.empty()) mult = 1;
    else if (suffix == "K" || suffix == "KiB" || suffix == "k") mult = 1 << 10;
    else if (suffix == "M" || suffix == "MiB") mult = 1 << 20;
    else if (suffix == "G" || suffix == "GiB") mult = 1 << 30;
    else bad(what, text, "a size (digits with an optional K, M or G suffix)");
    std::string expected = "a size in [" + std::to_string(lo) + ", " + std::to_string(hi) + "] bytes";
    int64_t v = 0;
    auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
    if (num.empty() || ec != std::errc() || p != num.data() + num.size()) bad(what, text, expected);
    if (v > hi / mult) bad(what, text, expected);
    v *= mult;
    if (v < lo || v > hi) bad(what, text, expected);
    return v;
}

std::optional<std::string> getenv_str(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) return std::nullopt;
    return std::string(v);
}

namespace {
template <class F>
void for_each_debug_item(F&& f) {
    auto env = getenv_str("WEFT_DEBUG");
    if (!env) return;
    std::string_view s = *env;
    while (!s.empty()) {
        size_t comma = s.find(',');
        std::string_view item = s.substr(0, comma);
        s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
        if (item.empty()) continue;
        size_t eq = item.find('=');
        std::string_view key = item.substr(0, eq);
        std::string_view val = eq == std::string_view::npos ? std::string_view{"1"} : item.substr(eq + 1);
        if (f(key, val)) return;
    }
}
}  // namespace

std::optional<std::string> debug_option(std::string_view key) {
    std::optional<std::string> out;
    for_each_debug_item([&](std::string_view k, std::string_view v) {
        if (k == key) out = std::string(v);
        return false;  // last one wins
    });
    return out;
}

bool debug_flag(std::string_view key) {
    std::optional<std::string> v = debug_option(key);
    if (!v || *v == "0") return false;
    if (*v == "1") return true;
    bad("WEFT_DEBUG: " + std::string(key), *v, "0 or 1");
}

void validate_debug_env(const char* const* known, int n) {
    for_each_debug_item([&](std::string_view k, std::string_view) {
        for (int i = 0; i < n; i++)
            if (k == known[i]) return false;
        std::string list;
        for (int i = 0; i < n; i++) list += (i ? ", " : "") + std::string(known[i]);
        throw std::invalid_argument("WEFT_DEBUG: unknown option '" + std::string(k) + "' (known: " + list + ")");
    });
}

}  // namespace weft::base
