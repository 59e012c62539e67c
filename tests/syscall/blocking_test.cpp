// weft::blocking and weft::sys: P hand-off while a fiber's thread is
// blocked in the kernel, errors, EINTR, getaddrinfo, waitpid.
//
// Hand-off is observed with a ticker fiber (weft::sleep(1ms) in a loop)
// at procs 1: while another fiber blocks its thread, the ticker can only
// run if the blocked M's P went to another thread. Bounds are generous
// (a third or less of the ticks a 1 ms ticker would make). No REQUIRE
// inside a fiber: its exception would escape the fiber and end the process.
#include <doctest/doctest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <weft/blocking.hpp>
#include <weft/sys.hpp>
#include <weft/weft.hpp>
#include "support/death.hpp"
#include "support/test_util.hpp"

using namespace std::chrono_literals;
using weft::suite::kTicksInCalls;
using weft::suite::ticks_inside_calls;
using Clock = std::chrono::steady_clock;

namespace {

// A pipe whose ends close at scope exit.
struct Pipe {
    int r = -1, w = -1;
    Pipe() {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        r = fds[0];
        w = fds[1];
    }
    ~Pipe() {
        if (r >= 0) ::close(r);
        if (w >= 0) ::close(w);
    }
};

// Reads errno afresh on the running thread (its address must not be
// reused from before a switch).
[[gnu::noinline]] int errno_here() { return errno; }
[[gnu::noinline]] void set_errno_here(int e) { errno = e; }

}  // namespace

TEST_CASE("a fiber blocked in sys::nanosleep does not stop the others (procs 1)") {
    int inside = 0;
    weft::run(weft::Options{.procs = 1}, [&] { inside = ticks_inside_calls([] { weft::sys::nanosleep(50ms); }); });
    CHECK(inside >= kTicksInCalls);
}

TEST_CASE("a fiber blocked in sys::read on a pipe does not stop the others (procs 1)") {
    int inside = 0;
    int reads = 0;
    Pipe p;
    // The writer fiber writes a byte whenever the main fiber is about to
    // block in a read: if hand-off were broken it could never run and the
    // read would hang, so a watchdog thread writes the bytes left after
    // 60 s, and the tick count then fails the test.
    std::mutex mu;
    std::condition_variable cv;
    bool finished = false;
    std::thread watchdog([&] {
        std::unique_lock<std::mutex> l(mu);
        if (!cv.wait_for(l, 60s, [&] { return finished; })) {
            char c[64] = {};
            (void)!::write(p.w, c, sizeof c);
        }
    });
    bool data_ok = true;
    weft::run(weft::Options{.procs = 1}, [&] {
        weft::Chan<int> reading(1), written;
        weft::go([&p, reading, written]() mutable {
            for (int r : reading) {
                char c = static_cast<char>('a' + r % 26);
                weft::sys::write(p.w, &c, 1);
            }
            written.close();
        });
        inside = ticks_inside_calls([&] {
            reading.send(reads);
            char c = 0;
            size_t n = weft::sys::read(p.r, &c, 1);
            if (n != 1 || c != static_cast<char>('a' + reads % 26)) data_ok = false;
            ++reads;
        });
        reading.close();
        written.recv();
    });
    {
        std::lock_guard<std::mutex> l(mu);
        finished = true;
    }
    cv.notify_one();
    watchdog.join();
    MESSAGE(reads << " reads");
    CHECK(data_ok);
    CHECK(inside >= kTicksInCalls);
}

TEST_CASE("weft::blocking hands off the P as well (procs 1)") {
    int inside = 0;
    weft::run(weft::Options{.procs = 1}, [&] { inside = ticks_inside_calls([] { weft::blocking([] { ::usleep(50'000); }); }); });
    CHECK(inside >= kTicksInCalls);
}

// All the calls are inside at once: each waits, in its call, for the
// others to arrive, which only hand-offs of the Ps allow (at most `procs`
// calls could be in progress otherwise). Bounded at 60 s, so a loaded
// machine only makes it slower.
TEST_CASE("many concurrent blocking calls overlap") {
    constexpr int kFibers = 50;
    for (int procs : {1, 2, 4}) {
        CAPTURE(procs);
        std::atomic<int> met{0};
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::suite::CallBarrier barrier(kFibers);
            weft::WaitGroup wg;
            wg.add(kFibers);
            for (int i = 0; i < kFibers; i++)
                weft::go([&] {
                    if (weft::blocking([&] { return barrier.arrive_and_wait(std::chrono::seconds(60)); }))
                        met.fetch_add(1);
                    wg.done();
                });
            wg.wait();
        });
        CHECK(met.load() == kFibers);
    }
}

TEST_CASE("weft::blocking returns f's value, outside and inside fibers") {
    CHECK(weft::blocking([] { return 5; }) == 5);  // a plain thread: just calls f
    weft::run(weft::Options{.procs = 2}, [] {
        CHECK(weft::blocking([] { return 42; }) == 42);
        auto p = weft::blocking([] { return std::make_unique<int>(7); });  // move-only result
        CHECK((p && *p == 7));
        int x = 1;
        int& r = weft::blocking([&x]() -> int& { return x; });
        CHECK(&r == &x);
        bool ran = false;
        weft::blocking([&ran] { ran = true; });
        CHECK(ran);
    });
}

TEST_CASE("weft::blocking propagates f's exception and leaves the fiber sane") {
    for (int procs : {1, 2, 4}) {
        std::atomic<int> caught{0}, received{0};
        weft::run(weft::Options{.procs = procs}, [&] {
            constexpr int kFibers = 8, kRounds = 20;
            weft::WaitGroup wg;
            wg.add(kFibers);
            for (int i = 0; i < kFibers; i++)
                weft::go([&, i] {
                    for (int round = 0; round < kRounds; round++) {
                        try {
                            weft::blocking([i, round]() -> int {
                                ::usleep(100);  // long enough for sysmon to hand the P off at times
                                throw std::runtime_error("boom " + std::to_string(i) + "/" + std::to_string(round));
                            });
                        } catch (const std::runtime_error& e) {
                            if (std::string(e.what()) == "boom " + std::to_string(i) + "/" + std::to_string(round))
                                caught.fetch_add(1);
                        }
                        // The fiber is back in the runtime: channels work.
                        weft::Chan<int> ch;
                        weft::go([ch, round]() mutable { ch.send(round); });
                        if (ch.recv() == round) received.fetch_add(1);
                    }
                    wg.done();
                });
            wg.wait();
            CHECK(caught.load() == kFibers * kRounds);
            CHECK(received.load() == kFibers * kRounds);
        });
    }
}

TEST_CASE("weft::blocking carries errno to the thread the fiber continues on") {
    std::atomic<int> wrong{0}, migrated{0};
    weft::run(weft::Options{.procs = 2}, [&] {
        constexpr int kFibers = 16, kRounds = 10;
        weft::WaitGroup wg;
        wg.add(kFibers);
        for (int i = 0; i < kFibers; i++)
            weft::go([&, i] {
                for (int round = 0; round < kRounds; round++) {
                    int want = (i + round) % 2 ? EDOM : ERANGE;
                    set_errno_here(0);
                    pthread_t before = pthread_self();
                    int r = weft::blocking([want] {
                        ::usleep(1000);  // the P is handed off; we may come back elsewhere
                        set_errno_here(want);
                        return -1;
                    });
                    if (r != -1 || errno_here() != want) wrong.fetch_add(1);
                    if (!pthread_equal(before, pthread_self())) migrated.fetch_add(1);
                }
                wg.done();
            });
        wg.wait();
    });
    MESSAGE("calls that came back on another thread: " << migrated.load());
    CHECK(wrong.load() == 0);
    WARN(migrated.load() > 0);  // else this run did not exercise the carry
}

TEST_CASE("sys errors: throwing form names the call and argument, ec form does not throw") {
    weft::run(weft::Options{.procs = 2}, [] {
        // open of a missing file
        try {
            weft::sys::open("/no/such/file", O_RDONLY);
            FAIL("open of a missing file did not throw");
        } catch (const std::system_error& e) {
            std::string what = e.what();
            CHECK(what.find("open") != std::string::npos);
            CHECK(what.find("/no/such/file") != std::string::npos);
            CHECK(e.code().value() == ENOENT);
            CHECK(e.code() == std::errc::no_such_file_or_directory);
            CHECK(e.code().category() == std::generic_category());
        }
        std::error_code ec;
        int fd = 0;
        CHECK_NOTHROW(fd = weft::sys::open("/no/such/file", O_RDONLY, 0, ec));
        CHECK(fd == -1);
        CHECK(ec.value() == ENOENT);

        // read and write on a closed descriptor
        int fds[2];
        if (::pipe(fds) != 0) {
            FAIL_CHECK("pipe failed");
            return;
        }
        ::close(fds[0]);
        ::close(fds[1]);
        char c = 0;
        try {
            weft::sys::read(fds[0], &c, 1);
            FAIL("read of a closed fd did not throw");
        } catch (const std::system_error& e) {
            CHECK(e.code().value() == EBADF);
            CHECK(std::string(e.what()).find("read fd " + std::to_string(fds[0])) != std::string::npos);
        }
        CHECK_NOTHROW(weft::sys::read(fds[0], &c, 1, ec));
        CHECK(ec.value() == EBADF);
        CHECK_NOTHROW(weft::sys::write(fds[1], &c, 1, ec));
        CHECK(ec.value() == EBADF);
        CHECK_NOTHROW(weft::sys::pread(fds[0], &c, 1, 0, ec));
        CHECK(ec.value() == EBADF);
        CHECK_NOTHROW(weft::sys::fsync(fds[0], ec));
        CHECK(ec.value() == EBADF);
        CHECK_NOTHROW(weft::sys::close(fds[0], ec));
        CHECK(ec.value() == EBADF);
        CHECK_THROWS_AS(weft::sys::close(fds[0]), std::system_error);

        // ec is cleared on success
        ec = std::make_error_code(std::errc::io_error);
        weft::sys::nanosleep(1ms, ec);
        CHECK(!ec);
        // a waitpid with no children: ECHILD
        CHECK_NOTHROW(weft::sys::waitpid(-1, WNOHANG, ec));
        CHECK(ec.value() == ECHILD);
    });
}

namespace {

std::atomic<int> g_alarms{0};
static_assert(std::atomic<int>::is_always_lock_free, "used from a signal handler");

extern "C" void on_alarm(int) { g_alarms.fetch_add(1, std::memory_order_relaxed); }

// A no-op SIGALRM handler installed WITHOUT SA_RESTART, so blocking calls
// on the signalled thread fail with EINTR; restored at scope exit.
class AlarmHandler {
public:
    AlarmHandler() {
        struct sigaction sa {};
        sa.sa_handler = on_alarm;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;  // no SA_RESTART
        sigaction(SIGALRM, &sa, &old_);
        g_alarms.store(0);
    }
    ~AlarmHandler() { sigaction(SIGALRM, &old_, nullptr); }

private:
    struct sigaction old_ {};
};

}  // namespace

// EINTR: a plain thread signals the thread a fiber is blocked on with
// pthread_kill. The fiber records pthread_self() right before the call;
// nothing between that and the system call can switch it to another
// thread, and the signals stop before the call is released, so they only
// ever hit the blocked call. A control run first shows that on this system
// such a signal does interrupt a raw read with EINTR (so the wrapper really
// had something to retry).
TEST_CASE("EINTR is retried: read, and nanosleep with the remaining time") {
    AlarmHandler handler;

    SUBCASE("control: a raw read is interrupted") {
        Pipe p;
        std::atomic<bool> ready{false};
        ssize_t r = 0;
        int err = 0;
        std::thread reader([&] {
            ready.store(true);
            char c;
            r = ::read(p.r, &c, 1);
            err = errno;
        });
        while (!ready.load()) std::this_thread::yield();
        std::this_thread::sleep_for(50ms);
        pthread_kill(reader.native_handle(), SIGALRM);
        std::this_thread::sleep_for(50ms);
        char c = 'x';
        (void)!::write(p.w, &c, 1);  // releases it if the signal did not
        reader.join();
        CHECK(r == -1);
        CHECK(err == EINTR);
    }

    SUBCASE("sys::read") {
        Pipe p;
        std::atomic<pthread_t> tid{};
        std::atomic<bool> armed{false};
        constexpr int kSignals = 5;
        std::thread signaller([&] {
            while (!armed.load()) std::this_thread::sleep_for(1ms);
            for (int i = 0; i < kSignals; i++) {
                std::this_thread::sleep_for(20ms);
                pthread_kill(tid.load(), SIGALRM);
            }
            std::this_thread::sleep_for(20ms);
            char c = 'z';
            (void)!::write(p.w, &c, 1);
        });
        bool ok = false;
        std::string error;
        weft::run(weft::Options{.procs = 2}, [&] {
            char c = 0;
            try {
                tid.store(pthread_self());
                armed.store(true);
                size_t n = weft::sys::read(p.r, &c, 1);
                ok = n == 1 && c == 'z';
            } catch (const std::system_error& e) {
                error = e.what();
            }
        });
        signaller.join();
        CHECK(error == "");
        CHECK(ok);
        CHECK(g_alarms.load() == kSignals);
    }

    SUBCASE("sys::nanosleep") {
        // Signals at about 70 and 90 ms into a 100 ms sleep. Resuming with
        // the remainder ends it about 10 ms after the last signal was sent;
        // restarting the full 100 ms would end it at least 100 ms after
        // that signal was delivered, hence after it was sent. The bound is
        // taken from the send time, so a late signaller (a loaded machine)
        // cannot make a restart look like a resume.
        std::atomic<pthread_t> tid{};
        std::atomic<bool> armed{false};
        std::atomic<Clock::rep> last_sent{0};
        std::thread signaller([&] {
            while (!armed.load()) std::this_thread::sleep_for(100us);
            std::this_thread::sleep_for(70ms);
            pthread_kill(tid.load(), SIGALRM);
            std::this_thread::sleep_for(20ms);
            last_sent.store(Clock::now().time_since_epoch().count());
            pthread_kill(tid.load(), SIGALRM);
        });
        double slept = 0;
        Clock::time_point end;
        std::string error;
        weft::run(weft::Options{.procs = 2}, [&] {
            try {
                tid.store(pthread_self());
                armed.store(true);
                auto t0 = Clock::now();
                weft::sys::nanosleep(100ms);
                end = Clock::now();
                slept = std::chrono::duration<double, std::milli>(end - t0).count();
            } catch (const std::system_error& e) {
                error = e.what();
            }
        });
        signaller.join();
        Clock::time_point sent{Clock::duration(last_sent.load())};
        double after_last = std::chrono::duration<double, std::milli>(end - sent).count();
        MESSAGE("100 ms nanosleep interrupted twice took " << slept << " ms, ending " << after_last
                                                          << " ms after the last signal was sent");
        CHECK(error == "");
        CHECK(g_alarms.load() == 2);
        CHECK(slept >= 100.0);  // not cut short
        if (sent < end) {
            CHECK(after_last < 100.0);  // resumed with the remainder, not restarted
        } else {
            WARN_MESSAGE(false, "the last signal came after the sleep ended (loaded machine): restart not checked");
        }
    }
}

TEST_CASE("getaddrinfo: localhost resolves (from /etc/hosts, no network)") {
    weft::run(weft::Options{.procs = 2}, [] {
        auto addrs = weft::sys::getaddrinfo("localhost", "80");
        CHECK(addrs.size() >= 1);
        for (const auto& a : addrs) {
            CHECK((a.family == AF_INET || a.family == AF_INET6));
            CHECK(a.len > 0);
            CHECK(a.addr.ss_family == a.family);
        }
        weft::sys::AddrHints h;
        h.family = AF_INET;
        h.socktype = SOCK_STREAM;
        h.flags = AI_NUMERICHOST | AI_NUMERICSERV;
        auto num = weft::sys::getaddrinfo("127.0.0.1", "8080", h);
        CHECK(num.size() == 1);
        if (num.size() != 1) return;
        CHECK(num[0].socktype == SOCK_STREAM);
        const auto* sin = reinterpret_cast<const sockaddr_in*>(&num[0].addr);
        CHECK(ntohs(sin->sin_port) == 8080);
        CHECK(ntohl(sin->sin_addr.s_addr) == INADDR_LOOPBACK);
    });
}

TEST_CASE("getaddrinfo: a bad name throws with the resolver's message") {
    // Deterministic and offline: AI_NUMERICHOST makes any non-numeric host
    // EAI_NONAME without a lookup.
    weft::run(weft::Options{.procs = 2}, [] {
        weft::sys::AddrHints h;
        h.flags = AI_NUMERICHOST;
        try {
            weft::sys::getaddrinfo("no.such.host.invalid", "80", h);
            FAIL("getaddrinfo of a bad numeric host did not throw");
        } catch (const std::system_error& e) {
            CHECK(std::string(e.code().category().name()) == "getaddrinfo");
            CHECK(e.code().value() == EAI_NONAME);
            CHECK(std::string(e.what()) ==
                  std::string("getaddrinfo no.such.host.invalid:80: ") + ::gai_strerror(EAI_NONAME));
        }
        std::error_code ec;
        std::vector<weft::sys::Address> none;
        CHECK_NOTHROW(none = weft::sys::getaddrinfo("no.such.host.invalid", "80", h, ec));
        CHECK(none.empty());
        CHECK(ec == std::error_code(EAI_NONAME, weft::sys::gai_category()));
    });

    // The real lookup path, in a child in a fresh network namespace: no
    // interface but a down loopback, so a DNS query fails locally
    // (ENETUNREACH) and never leaves the machine. Skipped when the
    // namespace cannot be made.
    auto r = weft::suite::run_in_child([] {
        if (::unshare(CLONE_NEWNET) != 0 && ::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
            std::printf("skip %s\n", std::strerror(errno));
            return;
        }
        weft::run(weft::Options{.procs = 2}, [] {
            try {
                auto a = weft::sys::getaddrinfo("no.such.host.invalid", "80");
                std::printf("resolved %zu\n", a.size());
            } catch (const std::system_error& e) {
                std::printf("error %s %d %s\n", e.code().category().name(), e.code().value(), e.what());
            }
        });
    });
    REQUIRE(r.exit_code == 0);
    if (r.out.rfind("skip", 0) == 0) {
        MESSAGE("no network namespace (" << r.out << "): the DNS failure path was not exercised");
        return;
    }
    MESSAGE("child: " << r.out);
    char cat[32] = {};
    int code = 0;
    REQUIRE(std::sscanf(r.out.c_str(), "error %31s %d", cat, &code) == 2);
    CHECK(std::string(cat) == "getaddrinfo");
    CHECK((code == EAI_NONAME || code == EAI_AGAIN || code == EAI_FAIL));
    CHECK(r.out.find("getaddrinfo no.such.host.invalid:80: " + std::string(::gai_strerror(code))) !=
          std::string::npos);
}

TEST_CASE("waitpid: the exit status arrives while other fibers run (procs 1)") {
    int inside = 0;
    int children = 0;
    bool all_ok = true;
    weft::run(weft::Options{.procs = 1}, [&] {
        inside = ticks_inside_calls([&] {
            pid_t pid = ::fork();
            if (pid == 0) {
                ::usleep(50'000);
                ::_exit(7);
            }
            REQUIRE(pid > 0);
            ++children;
            weft::sys::WaitStatus st = weft::sys::waitpid(pid);
            if (st.pid != pid || !st.exited() || st.exit_code() != 7) all_ok = false;
        });
    });
    MESSAGE(children << " children waited for");
    CHECK(all_ok);
    CHECK(inside >= kTicksInCalls);
}
