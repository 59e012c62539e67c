// test_util.hpp — small helpers the suites share. weft::suite is the
// suites' own namespace (tests/support/); what users call to test their
// code is <weft/testing.hpp>, weft::testing, which the install ships.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <optional>
#include <sys/resource.h>
#include <sys/wait.h>
#include <fstream>
#include <iterator>
#include <netinet/in.h>
#include <sys/socket.h>
#include <mutex>
#include <string>
#include <unistd.h>
#include <vector>

#include <weft/run.hpp>
#include <weft/sync/waitgroup.hpp>
#include <weft/time.hpp>

namespace weft::suite {

using Clock = std::chrono::steady_clock;

// The proc counts concurrency tests run at.
inline constexpr int kProcs[] = {1, 2, 4};

inline bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// A file's whole contents ("" if it cannot be read).
inline std::string slurp(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Whether this host can bind ::1 (some containers have no IPv6).
inline bool have_ipv6_loopback() {
    int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    return ok;
}

// A shell command's exit status (-1: killed by a signal or not run) and
// its stdout and stderr together.
struct CommandResult {
    int status = -1;
    std::string out;
};
inline CommandResult run_command(const std::string& cmd) {
    CommandResult r;
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    int st = pclose(p);
    if (st != -1 && WIFEXITED(st)) r.status = WEXITSTATUS(st);
    return r;
}

// How many fibers a traceback dump lists whose state starts with `state`
// (lines "fiber N [state..."). Fiber ids come from per-P batches of 16, so
// only the main fiber's (1) is predictable: tests name fiber 1 and count the
// others.
inline int fibers_in_dump(const std::string& dump, const std::string& state) {
    int n = 0;
    for (size_t at = 0; (at = dump.find("fiber ", at)) != std::string::npos; at += 6) {
        if (at != 0 && dump[at - 1] != '\n') continue;
        size_t i = at + 6, digits = i;
        while (i < dump.size() && dump[i] >= '0' && dump[i] <= '9') ++i;
        if (i == digits || dump.compare(i, 2, " [") != 0) continue;
        if (dump.compare(i + 2, state.size(), state) == 0) ++n;
    }
    return n;
}

// From a fiber: yields until pred() holds or `timeout` passes; returns pred().
template <class Pred>
bool wait_until(Pred pred, Clock::duration timeout = std::chrono::seconds(20)) {
    auto deadline = Clock::now() + timeout;
    while (!pred()) {
        if (Clock::now() > deadline) return pred();
        weft::yield();
    }
    return true;
}

// From a fiber: yields for at least `d` and `min_yields` switches, the
// window in which something that must not happen gets every chance to.
inline void linger(Clock::duration d, int min_yields = 100) {
    auto end = Clock::now() + d;
    for (int i = 0; i < min_yields || Clock::now() < end; i++) weft::yield();
}

// Raises `max` to at least v.
template <class T>
void raise_max(std::atomic<T>& max, T v) {
    T m = max.load();
    while (v > m && !max.compare_exchange_weak(m, v)) {
    }
}

// Sets an environment variable for a scope and restores what it was (set
// or unset) when the scope ends, also when a failed REQUIRE leaves it:
// the runtime reads WEFT_* at each run, so a leaked value would change the
// tests after this one.
// Calls wg.done() when it goes out of scope. Declared first in a fiber's
// body, it runs after every other local's destructor: a waiter that
// returns from run() right after wg.wait() then leaves no half-destroyed
// fiber behind (main's return abandons fibers still running, and whatever
// they had not destroyed yet would read as a leak).
class DoneOnExit {
public:
    explicit DoneOnExit(weft::WaitGroup& wg) : wg_(wg) {}
    ~DoneOnExit() { wg_.done(); }
    DoneOnExit(const DoneOnExit&) = delete;
    DoneOnExit& operator=(const DoneOnExit&) = delete;

private:
    weft::WaitGroup& wg_;
};

class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        ::setenv(name, value, 1);
    }
    ~ScopedEnv() {
        if (old_) ::setenv(name_.c_str(), old_->c_str(), 1);
        else ::unsetenv(name_.c_str());
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    std::string name_;
    std::optional<std::string> old_;
};

// CPU time (user + system) this process has used, in seconds.
// For hand-off tests: counts the ticks of a 1 ms sleeper that happen on
// another thread while the calling fiber, alone on one P, is inside a
// blocking call: only a hand-off of the P lets the sleeper run then. (On
// the calling fiber's own thread it could run only if that fiber yielded,
// as at the preemption point every blocking call's entry is, which proves
// nothing.) Repeats the call until 30 such ticks were seen (bounded:
// 60 s), so a loaded machine only makes a test take longer; without the
// hand-off no tick is ever counted and the test fails at the bound.
constexpr int kTicksInCalls = 30;

// A barrier for n threads blocked in system calls at once (plain OS
// code: no runtime call, so it may run inside weft::blocking or between
// entersyscall and exitsyscall). Fibers whose calls queued on the Ps
// instead of overlapping could never all arrive: arrive_and_wait then
// gives up after `timeout` and returns false, and so do the calls that
// arrive after (at once, so a broken hand-off fails in one timeout).
class CallBarrier {
public:
    explicit CallBarrier(int n) : n_(n) {}
    bool arrive_and_wait(std::chrono::seconds timeout) {
        std::unique_lock<std::mutex> l(mu_);
        if (++arrived_ == n_) cv_.notify_all();
        if (!cv_.wait_for(l, timeout, [&] { return arrived_ >= n_ || broken_; })) {
            broken_ = true;
            cv_.notify_all();
        }
        return arrived_ >= n_;
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    int n_;
    int arrived_ = 0;
    bool broken_ = false;
};

// Runs `call` repeatedly until the ticker has ticked kTicksInCalls times
// on another thread while a call was in progress; returns those ticks.
template <class Call>
int ticks_inside_calls(Call call) {
    std::atomic<pid_t> caller_tid{0};  // the calling fiber's thread, 0 between calls
    std::atomic<int> inside{0};
    std::atomic<bool> stop{false};
    weft::WaitGroup wg;
    wg.add(1);
    weft::go([&] {
        while (!stop.load()) {
            weft::sleep(std::chrono::milliseconds(1));
            pid_t t = caller_tid.load();
            if (t != 0 && t != ::gettid()) inside.fetch_add(1);
        }
        wg.done();
    });
    auto deadline = Clock::now() + std::chrono::seconds(60);
    while (inside.load() < kTicksInCalls && Clock::now() < deadline) {
        caller_tid.store(::gettid());
        call();
        caller_tid.store(0);
    }
    stop.store(true);
    wg.wait();
    return inside.load();
}


inline double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Open file descriptors of this process (for leak checks), or -1.
inline int open_fd_count() {
    DIR* d = opendir("/proc/self/fd");
    if (d == nullptr) return -1;
    int n = 0;
    while (dirent* e = readdir(d))
        if (e->d_name[0] != '.') ++n;
    closedir(d);
    return n - 1;  // the DIR's own descriptor
}

// The names of this process's threads (/proc/self/task/*/comm), as the
// kernel keeps them (15 bytes at most).
inline std::vector<std::string> thread_names() {
    std::vector<std::string> names;
    DIR* d = opendir("/proc/self/task");
    if (d == nullptr) return names;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/comm");
        std::string name;
        if (std::getline(f, name)) names.push_back(name);
    }
    closedir(d);
    return names;
}

}  // namespace weft::suite
