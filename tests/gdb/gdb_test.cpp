// gdb with tools/weft-gdb.py, in batch mode, against tests/gdb/gdb_target:
// `info weft-fibers` lists the fibers with their states and wait reasons,
// and `weft-bt ID` prints a parked fiber's stack from its saved context
// and a fiber in a call from its thread: on the program run by gdb, on a
// core file gdb wrote from it, and on the program running by itself with
// gdb attached (-p).
#include <doctest/doctest.h>

#include <cstdio>
#include <regex>
#include <string>
#include <csignal>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/test_util.hpp"

using weft::suite::contains;

namespace {

// Runs a shell command; returns its stdout and stderr together. Files it
// writes are limited to 1 GiB: a core with the GC heap's whole reservation
// in it (the runtime marks it MADV_DONTDUMP) would be tens of GiB.
std::string run(const std::string& cmd) { return weft::suite::run_command("ulimit -f 1048576; " + cmd).out; }

// The id `info weft-fibers` gives the first fiber in `state` (and reason).
std::string fiber_id(const std::string& listing, const std::string& what) {
    std::smatch m;
    std::regex line("\\n\\s*([0-9]+)  " + what);
    return std::regex_search(listing, m, line) ? m[1].str() : "";
}

const char* const kBatch = "gdb -nx -batch -iex 'set debuginfod enabled off' -iex 'set pagination off' ";

}  // namespace

// Removes the core file however the test ends.
struct RemoveOnExit {
    std::string path;
    ~RemoveOnExit() { unlink(path.c_str()); }
};

TEST_CASE("gdb lists the fibers and prints their stacks, live and from a core") {
    std::string core = "/tmp/weft-gdb-test-" + std::to_string(getpid()) + ".core";
    RemoveOnExit remove_core{core};
    std::string source = std::string("-ex 'source ") + WEFT_GDB_SCRIPT + "' ";
    // Live: stop at the target's ready point, list, then write a core.
    std::string live = run(std::string(kBatch) + source + "-ex 'break weft_gdb_target_ready' -ex run " +
                           "-ex 'info weft-fibers' -ex 'generate-core-file " + core + "' -ex kill " +
                           WEFT_GDB_TARGET);
    INFO(live);
    CHECK(contains(live, "  fiber  state     wait reason"));
    std::string parked = fiber_id(live, "waiting   chan receive");
    std::string calling = fiber_id(live, "syscall");
    REQUIRE(!parked.empty());
    REQUIRE(!calling.empty());
    CHECK(contains(live, "gdb_target.cpp:"));  // creation sites
    CHECK(std::regex_search(live, std::regex("\\n\\s*1  running .*main fiber on M [0-9]+ \\(LWP [0-9]+\\)")));

    // The backtraces, live: a second session. Its fibers' ids need not be
    // the first one's (they depend on which P starts each fiber), so the
    // target keeps them in variables and weft-bt takes an expression.
    std::string bts = run(std::string(kBatch) + source + "-ex 'break weft_gdb_target_ready' -ex run " +
                          "-ex 'weft-bt gdb_target::parked_id' -ex 'weft-bt gdb_target::calling_id' " +
                          "-ex 'weft-bt 999999' -ex 'weft-bt no_such_variable' -ex kill " + WEFT_GDB_TARGET);
    INFO(bts);
    size_t at = bts.find(" [waiting, chan receive]:");
    REQUIRE(at != std::string::npos);
    size_t p1 = bts.find("gdb_target::parked_here", at), p2 = bts.find("gdb_target::middle", at),
           p3 = bts.find("gdb_target::outer", at);
    CHECK(p1 != std::string::npos);
    CHECK(p1 < p2);
    CHECK(p2 < p3);
    CHECK(p3 != std::string::npos);
    CHECK(contains(bts, " [syscall]:\n  running on M "));
    CHECK(contains(bts, "gdb_target::in_a_blocking_call"));
    CHECK(contains(bts, "weft: no fiber 999999"));
    CHECK(contains(bts, "weft-bt: 'no_such_variable' is not a fiber id"));

    // From the core.
    struct stat st {};
    REQUIRE(stat(core.c_str(), &st) == 0);
    CHECK(st.st_size < (512 << 20));  // stacks, the heap's committed part, the arenas: not the reserve
    std::string from_core = run(std::string(kBatch) + source + "-ex 'info weft-fibers' -ex 'weft-bt " + parked + "' " +
                                WEFT_GDB_TARGET + " " + core);
    INFO(from_core);
    CHECK(fiber_id(from_core, "waiting   chan receive") == parked);
    size_t c1 = from_core.find("gdb_target::parked_here"), c3 = from_core.find("gdb_target::outer");
    CHECK(c1 != std::string::npos);
    CHECK(c1 < c3);
    CHECK(c3 != std::string::npos);
}

TEST_CASE("gdb attached to a running program lists its fibers and prints a parked one's stack") {
    // The target, started here with its stdout on a pipe, says "ready"
    // once its fibers are in place; gdb -p attaches to it.
    int out[2];
    REQUIRE(pipe(out) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execl(WEFT_GDB_TARGET, WEFT_GDB_TARGET, "wait", static_cast<char*>(nullptr));
        _exit(127);
    }
    close(out[1]);
    struct KillOnExit {
        pid_t pid;
        ~KillOnExit() {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
    } kill_target{pid};
    std::string said;
    char c;
    while (said.find("ready\n") == std::string::npos && read(out[0], &c, 1) == 1) said += c;
    close(out[0]);
    REQUIRE(said == "ready\n");
    std::string source = std::string("-ex 'source ") + WEFT_GDB_SCRIPT + "' ";
    std::string listing = run(std::string(kBatch) + source + "-p " + std::to_string(pid) + " -ex 'info weft-fibers'");
    INFO(listing);
    std::string parked = fiber_id(listing, "waiting   chan receive");
    REQUIRE(!parked.empty());
    CHECK(!fiber_id(listing, "syscall").empty());
    std::string bt = run(std::string(kBatch) + source + "-p " + std::to_string(pid) + " -ex 'weft-bt " + parked + "'");
    INFO(bt);
    size_t p1 = bt.find("gdb_target::parked_here"), p3 = bt.find("gdb_target::outer");
    CHECK(p1 != std::string::npos);
    CHECK(p3 != std::string::npos);
    CHECK(p1 < p3);
}

