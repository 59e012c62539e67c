// The README's runnable examples do what the README says (built from the
// README itself by tests/meson.build; the server example is only built).
#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <sys/wait.h>

namespace {

struct Output {
    int status = -1;  // exit status, -1 if it did not exit normally
    std::string out;
};

Output run(const char* path) {
    Output r;
    FILE* p = popen(path, "r");
    REQUIRE(p != nullptr);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    int st = pclose(p);
    if (WIFEXITED(st)) r.status = WEXITSTATUS(st);
    return r;
}

}  // namespace

TEST_CASE("README: the first program prints the sum of the squares") {
    Output r = run(WEFT_README_SQUARES);
    CHECK(r.status == 0);
    CHECK(r.out == "sum of the squares of 1..100: 338350\n");
}

TEST_CASE("README: the collector example runs to its end") {
    CHECK(run(WEFT_README_GC).status == 0);
}

TEST_CASE("README: the race kit example finds no race in the code it shows") {
    Output r = run(WEFT_README_RACE_KIT);
    INFO(r.out);
    CHECK(r.status == 0);
    CHECK(r.out.find("100000 iterations, ") == 0);
    CHECK(r.out.find("collections: no race\n") != std::string::npos);
}
