#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "runtime/base/env.hpp"

using weft::base::parse_int;
using weft::base::parse_size;

TEST_CASE("parse_int accepts whole integers in range") {
    CHECK(parse_int("X", "42", 0, 100) == 42);
    CHECK(parse_int("X", "-3", -5, 5) == -3);
}

TEST_CASE("parse_int rejects junk with a message naming the input") {
    for (const char* bad : {"", "4x", "x", "101", "-1", " 4"}) {
        try {
            parse_int("WEFT_PROCS", bad, 0, 100);
            FAIL("accepted '" << bad << "'");
        } catch (const std::invalid_argument& e) {
            CHECK(std::string(e.what()) == "WEFT_PROCS: '" + std::string(bad) + "' is not an integer in [0, 100]");
        }
    }
}

TEST_CASE("parse_size understands K, M and G suffixes") {
    CHECK(parse_size("S", "4096", 0, 1 << 30) == 4096);
    CHECK(parse_size("S", "64K", 0, 1 << 30) == 64 * 1024);
    CHECK(parse_size("S", "2MiB", 0, 1 << 30) == 2 * 1024 * 1024);
    CHECK(parse_size("S", "1G", 0, int64_t{1} << 31) == int64_t{1} << 30);
    CHECK_THROWS_WITH_AS(parse_size("S", "12Q", 0, 100), "S: '12Q' is not a size (digits with an optional K, M or G suffix)",
                         std::invalid_argument);
    CHECK_THROWS_AS(parse_size("S", "2G", 0, 1 << 20), std::invalid_argument);
}
