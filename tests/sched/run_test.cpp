#include <doctest/doctest.h>

#include <atomic>

#include "runtime/weft.hpp"

TEST_CASE("run returns the main fiber's result") {
    CHECK(weft::run([] { return 7; }) == 7);
    CHECK(weft::run([] {}) == 0);
}

TEST_CASE("fibers run and yield") {
    for (int procs : {1, 2, 4}) {
        std::atomic<int> n{0};
        weft::run(weft::Options{.procs = procs}, [&] {
            for (int i = 0; i < 1000; i++) weft::go([&] { n++; weft::yield(); n++; });
            while (n.load() < 2000) weft::yield();
        });
        CHECK(n.load() == 2000);
    }
}
