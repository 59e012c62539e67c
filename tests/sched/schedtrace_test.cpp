// WEFT_DEBUG=schedtrace=MS (sched/sysmon.cpp): sysmon's summary line.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <regex>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#include <weft/weft.hpp>
#include "support/death.hpp"
#include "support/test_util.hpp"

namespace {

// A field's value in a schedtrace line, or -1.
long field(const std::string& line, const std::string& name) {
    size_t at = line.find(" " + name + "=");
    return at == std::string::npos ? -1 : std::stol(line.substr(at + name.size() + 2));
}

// In a child, with stderr on a pipe: runs weft at `procs` Ps with
// schedtrace every 5 ms, the main fiber reading the pipe in weft::blocking
// (so its P idles and its thread is in a system call) until it has 3 lines
// and one of them counts that thread; then, with two more fibers keeping
// the Ps busy, until a line counts 3 fibers. Writes what it read to the
// real stderr. A line never written (sysmon asleep while every P idles) or
// a count never right keeps the child waiting until it is killed.
weft::suite::DeathResult trace_in_child(int procs) {
    return weft::suite::run_in_child(
        [=] {
            int fds[2];
            if (::pipe(fds) != 0) std::abort();
            int saved = ::dup(2);
            ::dup2(fds[1], 2);
            ::setenv("WEFT_DEBUG", "schedtrace=5", 1);
            std::string got;
            weft::run(weft::Options{.procs = procs}, [&] {
                size_t done = 0;  // got[0, done) holds whole lines already looked at
                // Reads until `enough` holds for the lines so far (each line
                // also passed to `seen`).
                auto read_until = [&](auto seen, auto enough) {
                    while (!enough()) {
                        char buf[512];
                        ssize_t n = weft::blocking([&] { return ::read(fds[0], buf, sizeof buf); });
                        if (n <= 0) std::abort();
                        got.append(buf, static_cast<size_t>(n));
                        for (size_t nl; (nl = got.find('\n', done)) != std::string::npos; done = nl + 1)
                            seen(got.substr(done, nl - done));
                    }
                };
                int lines = 0;
                bool syscall_seen = false;
                read_until(
                    [&](const std::string& l) {
                        ++lines;
                        if (field(l, "syscallthreads") >= 1) syscall_seen = true;
                    },
                    [&] { return lines >= 3 && syscall_seen; });
                std::atomic<bool> stop{false};
                weft::WaitGroup wg;
                for (int i = 0; i < 2; ++i) {
                    wg.add(1);
                    weft::go([&] {
                        while (!stop.load()) weft::yield();
                        wg.done();
                    });
                }
                bool three_seen = false;
                read_until([&](const std::string& l) { three_seen = three_seen || field(l, "fibers") >= 3; },
                           [&] { return three_seen; });
                stop.store(true);
                wg.wait();
            });
            ::dup2(saved, 2);
            (void)!::write(2, got.data(), got.size());
        },
        120);
}

}  // namespace

TEST_CASE("schedtrace: a line every period in Go's format, idle or busy, counting fibers and threads in calls") {
    for (int procs : {1, 3}) {
        CAPTURE(procs);
        auto r = trace_in_child(procs);
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        std::regex line(
            R"(SCHED (\d+)ms: procs=(\d+) idleprocs=(\d+) threads=(\d+) spinningthreads=(\d+) idlethreads=(\d+) )"
            R"(syscallthreads=(\d+) runqueue=(\d+) fibers=(\d+) \[([0-9 ]*)\])");
        // Whole lines only: the last read may have ended inside one.
        std::vector<std::string> lines;
        for (size_t at = 0, nl; (nl = r.err.find('\n', at)) != std::string::npos; at = nl + 1)
            lines.push_back(r.err.substr(at, nl - at));
        CHECK(lines.size() >= 4);
        long last_ms = -1;
        for (const std::string& l : lines) {
            CAPTURE(l);
            std::smatch m;
            REQUIRE(std::regex_match(l, m, line));
            long ms = std::stol(m[1]);
            CHECK(ms > last_ms);  // a line per period, in order
            last_ms = ms;
            CHECK(std::stoi(m[2]) == procs);
            CHECK(std::stoi(m[3]) <= procs);
            CHECK(std::stoi(m[4]) >= 1);  // threads: at least the main fiber's
            CHECK(std::stoi(m[9]) >= 1);  // fibers: at least the main one
            // One run-queue length per P.
            std::string qs = m[10];
            int n = 0;
            for (size_t i = 0; i < qs.size(); ++i)
                if (qs[i] != ' ' && (i == 0 || qs[i - 1] == ' ')) ++n;
            CHECK(n == procs);
        }
    }
}

TEST_CASE("scheddetail: a line per P, per M and per fiber after each schedtrace line") {
    auto r = weft::suite::run_in_child(
        [] {
            int fds[2];
            if (::pipe(fds) != 0) std::abort();
            int saved = ::dup(2);
            ::dup2(fds[1], 2);
            ::setenv("WEFT_DEBUG", "schedtrace=5,scheddetail=1", 1);
            std::string got;
            weft::run(weft::Options{.procs = 2}, [&] {
                weft::Chan<int> never;
                weft::WaitGroup wg;
                wg.add(1);
                weft::go([&] {
                    never.recv();
                    wg.done();
                });
                // Until detail lines have shown that fiber parked on the
                // channel and this one in its read (it may be runnable, back
                // from one read and not yet in the next, when a line is made).
                // Each line is looked at once, as it completes: a search over
                // all that was read, at every read, lets the reader fall
                // behind sysmon under a sanitizer, and a reader behind is
                // never in its read when a line is made.
                const std::regex main_in_read("  G1: status=syscall m=[0-9]+ main fiber, .*");
                bool parked_seen = false, main_seen = false;
                size_t done = 0;  // got[0, done) holds whole lines already looked at
                while (!parked_seen || !main_seen) {
                    char buf[4096];
                    ssize_t n = weft::blocking([&] { return ::read(fds[0], buf, sizeof buf); });
                    if (n <= 0) std::abort();
                    got.append(buf, static_cast<size_t>(n));
                    for (size_t nl; (nl = got.find('\n', done)) != std::string::npos; done = nl + 1) {
                        std::string line = got.substr(done, nl - done);
                        if (line.find(": status=waiting(chan receive) m=-1 created at schedtrace_test.cpp:") !=
                            std::string::npos)
                            parked_seen = true;
                        if (std::regex_match(line, main_in_read)) main_seen = true;
                    }
                }
                never.close();
                wg.wait();
            });
            ::dup2(saved, 2);
            (void)!::write(2, got.data(), got.size());
        },
        120);
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(std::regex_search(r.err, std::regex("\\n  P0: status=[a-z]+ schedtick=[0-9]+ syscalltick=[0-9]+ m=-?[0-9]+ "
                                              "runqueue=[0-9]+ timers=[0-9]+\\n")));
    CHECK(std::regex_search(r.err, std::regex("\\n  P1: status=")));
    CHECK(std::regex_search(r.err, std::regex("\\n  M0: p=-?[0-9]+ curg=-?[0-9]+ spinning=(true|false) "
                                              "idle=(true|false) tid=[0-9]+\\n")));
    CHECK(std::regex_search(r.err, std::regex("\\n  G1: status=syscall m=[0-9]+ main fiber, ")));
}

TEST_CASE("scheddetail without schedtrace is refused") {
    weft::suite::ScopedEnv env("WEFT_DEBUG", "scheddetail=1");
    CHECK_THROWS_WITH_AS(weft::run([] {}),
                         "WEFT_DEBUG: scheddetail=1 needs schedtrace=MS (it details each schedtrace line)",
                         std::invalid_argument);
}
