// Compiled as a user's project compiles weft's headers: -O2 -Wall -Wextra
// -Wpedantic -Werror (tests/meson.build). A public header that makes a
// user's build warn fails the build, so the test command fails.
//
// Not weft's: GCC 12 warns -Wmaybe-uninitialized wherever a function
// dereferences a by-value std::optional<std::string> without testing it
// (`void f(std::optional<std::string> v) { s = *v; }` alone does), so a
// select callback doing that warns too; the callbacks here test first.
#include <doctest/doctest.h>

#include <optional>
#include <string>

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
