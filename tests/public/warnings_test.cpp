// Compiled as a user's project compiles weft's headers: -O2 -Wall -Wextra
// -Wpedantic -Werror (tests/meson.build). A public header that makes a
// user's build warn fails the build, so the test command fails.
//
// Not weft's: GCC 12 warns -Wmaybe-uninitialized wherever a function
// dereferences a by-value std::optional<std::string> without testing it
// (`void f(std::optional<std::string> v) { s = *v; }` alone does), so a
// select callback doing that warns too; the callbacks here test first.
#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <weft/weft.hpp>

TEST_CASE("weft.hpp compiles warning-free at -O2 -Wall -Wextra -Wpedantic, and this code runs") {
    std::string got;
    int n = 0;
    weft::run(weft::Options{.procs = 1}, [&] {
        weft::Chan<std::string> a(1);
        weft::Chan<int> b(1);
        std::string hello = "hello";
        (void)a.try_send(hello);
        weft::select(weft::recv_case(a, [&](std::optional<std::string> v) { got = v ? *v : "closed"; }),
                     weft::recv_case(b, [&](std::optional<int> v) { n = *v; }));
    });
    CHECK(got == "hello");
    CHECK(n == 0);
}

namespace {
struct Leaf {
    int v = 0;
};
}  // namespace

TEST_CASE("the issue-22 idioms instantiate warning-free too: nil channels, dynamic select, timers, erase, BufReader") {
    int chosen = -1, lines = 0, fired = 0;
    size_t left = 0;
    weft::run(weft::Options{.procs = 1}, [&] {
        weft::Chan<int> nil(nullptr), ready(1);
        ready.send(1);
        std::vector<weft::SelectCase> cases;
        cases.emplace_back(weft::recv_case(nil));
        cases.emplace_back(weft::recv_case(ready, [&](std::optional<int> v) { chosen = v ? *v : -2; }));
        cases.emplace_back(weft::recv_case(weft::after(std::chrono::hours(1))));
        weft::select(cases);
        weft::after_func(std::chrono::hours(1), [] {});  // the handle may be ignored: no warning
        weft::FuncTimer h = weft::after_func(std::chrono::hours(1), [] {});
        fired += h.stop() ? 1 : 0;
        weft::Timer t(std::chrono::hours(1));
        weft::Timer moved = std::move(t);
        fired += moved.stop() ? 1 : 0;
        weft::gc::Vector<Leaf> vec;
        for (int i = 0; i < 4; i++) vec.push_back(weft::gc::make<Leaf>());
        vec.erase(vec.begin());
        vec.erase(vec.begin(), vec.begin() + 1);
        erase_if(vec, [](Leaf* l) { return l->v != 0; });
        left = vec.size();
        weft::File f = weft::File::open("/dev/null");
        weft::BufReader in(f);
        while (in.read_line()) lines++;
    });
    CHECK(chosen == 1);
    CHECK(fired == 2);
    CHECK(left == 2);
    CHECK(lines == 0);
}
