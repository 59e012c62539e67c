// process.hpp — a real program the tests start and stop (openssl
// s_server, examples/beast_server), its output in a file.
#pragma once

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>
#include "support/test_util.hpp"

extern char** environ;

namespace weft::suite {

// `sh -c cmd`, stdout and stderr into one file; SIGTERM and reaped on
// destruction (or by stop()).
class Process {
public:
    explicit Process(const std::string& cmd) {
        char tmpl[] = "/tmp/weft-process-out-XXXXXX";
        int fd = mkstemp(tmpl);
        REQUIRE(fd >= 0);
        close(fd);
        out_ = tmpl;
        std::string full = "exec " + cmd + " >" + out_ + " 2>&1";
        const char* argv[] = {"sh", "-c", full.c_str(), nullptr};
        REQUIRE(posix_spawnp(&pid_, "sh", nullptr, nullptr, const_cast<char**>(argv), environ) == 0);
    }
    ~Process() {
        if (pid_ > 0) stop();
        std::remove(out_.c_str());
    }
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    std::string output() const { return slurp(out_); }
    // Whether it has exited (reaped then). From a fiber or a thread.
    bool exited() {
        if (pid_ <= 0) return true;
        if (waitpid(pid_, &status_, WNOHANG) != pid_) return false;
        pid_ = -1;
        return true;
    }
    // SIGTERM, then its exit status (-1 if it did not exit normally). From
    // a fiber (the wait is bounded, and yields).
    int stop() {
        if (pid_ > 0) {
            kill(pid_, SIGTERM);
            wait_until([&] { return exited(); }, std::chrono::seconds(60));
        }
        return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
    }

private:
    std::string out_;
    pid_t pid_ = -1;
    int status_ = 0;
};

}  // namespace weft::suite
