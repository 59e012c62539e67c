// testing.cpp — weft::testing::stress_gc: the child process, and the
// parent that collects what it reports.
#include <weft/testing.hpp>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <stdexcept>

#include <weft/gc.hpp>
#include <weft/metrics.hpp>
#include <weft/run.hpp>
#include <weft/sync.hpp>
#include "sched/fiber.hpp"
#include "sched/syscall.hpp"

namespace weft::testing {

namespace {

// In the child: runs the body and writes "<iterations> <cycles>
// <ps stopped in a call> <returns during a stop> <fibers left blocked>\n"
// to fd.
[[noreturn]] void child_main(const std::function<void(int)>& body, const StressOptions& o, int result_fd) {
    std::string debug = "gcstress=1,leakcheck=1";
    if (o.syscall_stress) debug += ",syscallstress=1";
    if (o.checkmark) debug += ",gccheckmark=1";
    if (o.poison) debug += ",gcpoison=1";
    setenv("WEFT_DEBUG", debug.c_str(), 1);
    std::atomic<int> next{0}, done{0};
    uint64_t cycles = 0;
    sched::SyscallStopStats stops0 = sched::syscall_stop_stats();
    uint64_t left0 = weft::metrics().fibers.abandoned_total;
    weft::run({.procs = o.procs}, [&] {
        if (o.setup) o.setup();
        weft::WaitGroup wg;
        wg.add(o.fibers);
        for (int f = 0; f < o.fibers; ++f) {
            weft::go([&] {
                for (int i; (i = next.fetch_add(1)) < o.iterations;) {
                    body(i);
                    done.fetch_add(1);
                }
                wg.done();
            });
        }
        wg.wait();
        cycles = gc::stats().cycles;
    });
    sched::SyscallStopStats stops = sched::syscall_stop_stats();
    uint64_t left = weft::metrics().fibers.abandoned_total - left0;
    char line[160];
    int n = std::snprintf(line, sizeof line, "%d %llu %llu %llu %llu\n", done.load(),
                          static_cast<unsigned long long>(cycles),
                          static_cast<unsigned long long>(stops.syscall_ps_stopped - stops0.syscall_ps_stopped),
                          static_cast<unsigned long long>(stops.returns_during_stop - stops0.returns_during_stop),
                          static_cast<unsigned long long>(left));
    if (write(result_fd, line, static_cast<size_t>(n)) != n) _exit(3);
    std::fflush(stderr);
    _exit(0);
}

// The first line of text that starts with "fatal error:", else "".
std::string fatal_line(const std::string& text) {
    size_t at = text.find("fatal error:");
    if (at == std::string::npos) return {};
    size_t end = text.find('\n', at);
    return text.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

}  // namespace

StressReport stress_gc(const std::function<void(int)>& body, const StressOptions& o) {
    if (o.iterations < 0 || o.fibers < 1 || o.procs < 1 || o.timeout_s < 1)
        throw std::invalid_argument("weft::testing::stress_gc: iterations >= 0, fibers >= 1, procs >= 1 and "
                                    "timeout_s >= 1 are required");
    if (sched::runtime_running())
        throw std::logic_error("weft::testing::stress_gc: called inside weft::run (it forks a child that runs its own)");
    int err[2], res[2];
    if (pipe(err) != 0 || pipe(res) != 0) throw std::runtime_error("weft::testing::stress_gc: pipe failed");
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("weft::testing::stress_gc: fork failed");
    if (pid == 0) {
        dup2(err[1], 2);
        close(err[0]);
        close(res[0]);
        child_main(body, o, res[1]);
    }
    close(err[1]);
    close(res[1]);
    StressReport r;
    std::string result;
    time_t deadline = time(nullptr) + o.timeout_s;
    bool timed_out = false;
    pollfd fds[2] = {{err[0], POLLIN, 0}, {res[0], POLLIN, 0}};
    for (int open = 2; open > 0;) {
        int left = static_cast<int>(deadline - time(nullptr));
        if (left <= 0) {
            kill(pid, SIGKILL);
            timed_out = true;
            break;
        }
        if (poll(fds, 2, left * 1000) < 0 && errno != EINTR) break;
        for (pollfd& f : fds) {
            if (f.fd < 0 || !(f.revents & (POLLIN | POLLHUP))) continue;
            char buf[4096];
            ssize_t k = read(f.fd, buf, sizeof buf);
            if (k > 0) {
                (f.fd == err[0] ? r.child_stderr : result).append(buf, static_cast<size_t>(k));
            } else if (k == 0 || errno != EINTR) {
                close(f.fd);
                f.fd = -1;
                open--;
            }
        }
    }
    for (pollfd& f : fds)
        if (f.fd >= 0) close(f.fd);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    unsigned long long cycles = 0, stopped = 0, returned = 0, left = 0;
    if (std::sscanf(result.c_str(), "%d %llu %llu %llu %llu", &r.iterations_done, &cycles, &stopped, &returned,
                    &left) != 5)
        r.iterations_done = 0;
    r.cycles = cycles;
    r.ps_stopped_in_call = stopped;
    r.returns_during_stop = returned;
    r.fibers_left_blocked = left;
    r.ok = !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0 && !result.empty();
    if (r.ok && left > 0) {
        r.ok = false;
        r.failure = std::to_string(left) + " fiber" + (left == 1 ? "" : "s") +
                    " left blocked when the run ended (the leak check's list is in child_stderr)";
    } else if (!r.ok) {
        r.failure = fatal_line(r.child_stderr);
        if (r.failure.empty()) {
            if (timed_out) r.failure = "timed out after " + std::to_string(o.timeout_s) + " s";
            else if (WIFSIGNALED(status)) r.failure = "killed by signal " + std::to_string(WTERMSIG(status));
            else r.failure = "exited with status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        }
    }
    return r;
}

}  // namespace weft::testing
