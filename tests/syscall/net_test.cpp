// weft::net over loopback (127.0.0.1, ::1, Unix sockets) and the netpoller
// under it: echo, many connections, errors, deadlines, close, EMFILE.
//
// Every test checks that the process has as many descriptors after its
// weft::run as before (no leaked sockets) and that no fiber is left
// counted as an IO waiter.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fcntl.h>
#include <mutex>
#include <netinet/in.h>
#include <random>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

#include <weft/net.hpp>
#include <weft/weft.hpp>
#include "runtime/base/test_hooks.hpp"
#include "sched/netpoll.hpp"
#include "sched/sanitizers.hpp"
#include "sched/sched.hpp"
#include "support/death.hpp"
#include "support/test_util.hpp"

using namespace std::chrono_literals;
using weft::net::Addr;
using weft::net::ClosedError;
using weft::net::Conn;
using weft::net::Listener;
using weft::net::TimeoutError;

namespace {

using SteadyClock = std::chrono::steady_clock;

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// Aborts the process if a test hangs, naming it (bounded tests).
class Watchdog {
public:
    Watchdog(const char* what, std::chrono::seconds limit) : what_(what) {
        thread_ = std::thread([this, limit] {
            std::unique_lock<std::mutex> l(mu_);
            if (!cv_.wait_for(l, limit, [this] { return done_; })) {
                std::fprintf(stderr, "net_test: '%s' did not finish in time\n", what_);
                std::abort();
            }
        });
    }
    ~Watchdog() {
        {
            std::lock_guard<std::mutex> l(mu_);
            done_ = true;
        }
        cv_.notify_one();
        thread_.join();
    }

private:
    const char* what_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_;
};

// Runs body as the main fiber at `procs`, bounded by a watchdog, and
// checks for leaked descriptors and IO waiters afterwards.
template <class F>
void run_checked(int procs, F&& body) {
    Watchdog dog("a weft::net test", std::chrono::seconds(120));
    int before = weft::suite::open_fd_count();
    weft::run(weft::Options{.procs = procs}, [&] {
        body();
        // Bounded wait, not a plain read: netpoll.cpp N4 counts a fiber an
        // M's poll took until that M has queued it and lowered the count,
        // and the fiber may run on another M in between (a loaded machine
        // stretches that window: "1 waiter" seen under TSan).
        CHECK(weft::suite::wait_until([] { return weft::sched::netpoll_waiters() == 0; }));
    });
    CHECK(weft::suite::open_fd_count() == before);
}

// First error seen inside fibers (an exception escaping a fiber would end
// the process; tests record it and check it in the main fiber).
class Errors {
public:
    void add(const std::string& e) {
        std::lock_guard<std::mutex> l(mu_);
        if (first_.empty()) first_ = e;
        n_++;
    }
    int count() {
        std::lock_guard<std::mutex> l(mu_);
        return n_;
    }
    std::string first() {
        std::lock_guard<std::mutex> l(mu_);
        return first_;
    }

private:
    std::mutex mu_;
    std::string first_;
    int n_ = 0;
};

std::string read_string(Conn& c, size_t n) {
    std::string s(n, '\0');
    size_t got = c.read_full(std::as_writable_bytes(std::span<char>(s.data(), s.size())));
    s.resize(got);
    return s;
}

// Echoes until end of stream, then closes.
void echo(Conn& c) {
    std::byte buf[16384];
    while (size_t n = c.read(buf)) c.write_all({buf, n});
}

// The dial address for a listener's address (its own host, port).
std::string dial_target(const Listener& ln) { return ln.addr().to_string(); }

// Lowers the soft descriptor limit to 0 for its lifetime (or until
// restore()): the descriptors already open stay usable, and no new one can
// be made, so a server's accept4 fails with EMFILE whatever else the
// process opens or closes meanwhile. (Filling the table up to a limit left
// that to chance: a descriptor some other thread held while the table was
// filled, and closed later, gave accept a free slot.)
class DescriptorsExhausted {
public:
    DescriptorsExhausted() {
        getrlimit(RLIMIT_NOFILE, &saved_);
        rlimit none = saved_;
        none.rlim_cur = 0;
        if (setrlimit(RLIMIT_NOFILE, &none) != 0) throw std::system_error(errno, std::generic_category(), "setrlimit");
    }
    ~DescriptorsExhausted() { restore(); }
    void restore() {
        if (restored_) return;
        restored_ = true;
        setrlimit(RLIMIT_NOFILE, &saved_);
    }
    DescriptorsExhausted(const DescriptorsExhausted&) = delete;
    DescriptorsExhausted& operator=(const DescriptorsExhausted&) = delete;

private:
    rlimit saved_{};
    bool restored_ = false;
};

// In a child: stderr goes to an unlinked temporary file, read back through
// a descriptor opened before the test exhausts the table (then it could
// open nothing), so a test can wait for what the runtime reports.
struct StderrToFile {
    int fd = -1;
    StderrToFile() {
        char path[] = "/tmp/weft-emfile-log-XXXXXX";
        fd = mkstemp(path);
        unlink(path);
        dup2(fd, 2);
    }
    std::string contents() const {
        std::string s(65536, '\0');
        ssize_t n = pread(fd, s.data(), s.size(), 0);
        s.resize(n > 0 ? static_cast<size_t>(n) : 0);
        return s;
    }
};

// One echo exchange over (network, address); checks both ends' addresses.
void echo_roundtrip(const char* network, const char* address, const char* dial_network = nullptr,
                    const std::string& dial_address = "") {
    Listener ln = weft::net::listen(network, address);
    Addr server_local, server_remote;
    Errors errors;
    weft::WaitGroup wg;
    wg.add(1);
    weft::go([&] {
        try {
            Conn c = ln.accept();
            server_local = c.local_addr();
            server_remote = c.remote_addr();
            echo(c);
        } catch (const std::exception& e) {
            errors.add(e.what());
        }
        wg.done();
    });
    std::string target = dial_address.empty() ? dial_target(ln) : dial_address;
    Conn c = weft::net::dial(dial_network ? dial_network : network, target);
    const std::string msg = std::string("hello over ") + network;
    c.write_all(msg);
    CHECK(read_string(c, msg.size()) == msg);
    c.write_all(std::string_view("second"));
    CHECK(read_string(c, 6) == "second");
    c.shutdown_write();
    std::byte b[1];
    CHECK(c.read(b) == 0);  // the server saw EOF and closed
    wg.wait();
    CHECK(errors.first() == "");
    // Addresses: each side's local is the other's remote.
    CHECK(server_local == ln.addr());
    CHECK(c.remote_addr() == ln.addr());
    CHECK(server_remote == c.local_addr());
    c.close();
    CHECK(c.fd() == -1);
    c.close();  // idempotent
}

std::string temp_socket_path(const char* tag) {
    return "/tmp/weft-net-test-" + std::to_string(getpid()) + "-" + tag + ".sock";
}

// Waits (bounded) until n fibers are parked in the poller.
void wait_for_io_waiters(int n) {
    for (int i = 0; i < 1000 && weft::sched::netpoll_waiters() != n; i++) weft::sleep(5ms);
    CHECK(weft::sched::netpoll_waiters() == n);
}

}  // namespace

TEST_CASE("echo over tcp4 at 1, 2 and 4 procs") {
    for (int procs : {1, 2, 4}) {
        CAPTURE(procs);
        run_checked(procs, [] {
            echo_roundtrip("tcp4", "127.0.0.1:0");
            echo_roundtrip("tcp", "localhost:0");
        });
    }
}

TEST_CASE("addresses print as Go prints them") {
    run_checked(1, [] {
        Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
        Addr a = ln.addr();
        CHECK(a.family() == Addr::Family::kIPv4);
        CHECK(a.port() > 0);
        CHECK(a.to_string() == "127.0.0.1:" + std::to_string(a.port()));
        CHECK(a.ip_string() == "127.0.0.1");
    });
    CHECK(Addr::ipv6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 80).to_string() == "[::1]:80");
    CHECK(Addr::unix_path("/tmp/s.sock").to_string() == "/tmp/s.sock");
    CHECK(Addr::unix_path("/tmp/s.sock").port() == 0);
    CHECK(Addr{}.to_string() == "");
}

TEST_CASE("echo over tcp6") {
    if (!weft::suite::have_ipv6_loopback()) {
        MESSAGE("skipped: ::1 is not available on this host");
        return;
    }
    run_checked(2, [] {
        echo_roundtrip("tcp6", "[::1]:0");
        Listener ln = weft::net::listen("tcp6", "[::1]:0");
        CHECK(ln.addr().to_string() == "[::1]:" + std::to_string(ln.addr().port()));
    });
}

TEST_CASE("a tcp listener on :port serves IPv4 and IPv6 clients") {
    if (!weft::suite::have_ipv6_loopback()) {
        MESSAGE("skipped: ::1 is not available on this host");
        return;
    }
    run_checked(2, [] {
        Listener ln = weft::net::listen("tcp", ":0");
        int port = ln.addr().port();
        weft::WaitGroup wg;
        wg.add(1);
        weft::go([&] {
            for (int i = 0; i < 2; i++) {
                Conn c = ln.accept();
                echo(c);
            }
            wg.done();
        });
        for (const char* host : {"127.0.0.1", "[::1]"}) {
            Conn c = weft::net::dial("tcp", std::string(host) + ":" + std::to_string(port));
            c.write_all(std::string_view("x"));
            CHECK(read_string(c, 1) == "x");
            c.shutdown_write();
            std::byte b[1];
            CHECK(c.read(b) == 0);
        }
        wg.wait();
    });
}

TEST_CASE("echo over unix sockets, path and abstract") {
    std::string path = temp_socket_path("echo");
    run_checked(2, [&] {
        echo_roundtrip("unix", path.c_str());
        CHECK(access(path.c_str(), F_OK) != 0);  // the listener removed its file
        std::string abstract = "@weft-net-test-" + std::to_string(getpid());
        echo_roundtrip("unix", abstract.c_str());
        // Listening on an existing path fails, as Go.
        Listener ln = weft::net::listen("unix", path);
        CHECK(ln.addr().to_string() == path);
        try {
            Listener ln2 = weft::net::listen("unix", path);
            FAIL("listening twice on one path succeeded");
        } catch (const std::system_error& e) {
            CHECK(e.code().value() == EADDRINUSE);
            CHECK(std::string(e.what()) == "listen unix " + path + ": Address already in use");
        }
    });
}

TEST_CASE("many concurrent loopback connections, every byte checked") {
    const int kConns = weft::sched::kSanitized ? 200 : 2000;
    run_checked(2, [&] {
        Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
        std::string target = dial_target(ln);
        Errors errors;
        std::atomic<int64_t> verified{0};
        weft::WaitGroup servers;
        weft::WaitGroup acceptor;
        acceptor.add(1);
        weft::go([&] {
            for (;;) {
                Conn c;
                try {
                    c = ln.accept();
                } catch (const ClosedError&) {
                    break;
                } catch (const std::exception& e) {
                    errors.add(std::string("accept: ") + e.what());
                    break;
                }
                servers.add(1);
                weft::go([&, c = std::move(c)]() mutable {
                    try {
                        echo(c);
                    } catch (const std::exception& e) {
                        errors.add(std::string("server: ") + e.what());
                    }
                    servers.done();
                });
            }
            acceptor.done();
        });

        auto t0 = SteadyClock::now();
        weft::WaitGroup clients;
        clients.add(kConns);
        for (int i = 0; i < kConns; i++) {
            weft::go([&, i] {
                try {
                    std::mt19937 rng(static_cast<uint32_t>(i) * 7919u + 1);
                    size_t size = 1 + rng() % (64 * 1024);
                    auto pattern = [i](size_t j) { return static_cast<std::byte>((j * 131 + static_cast<size_t>(i) * 17) & 0xff); };
                    Conn c = weft::net::dial("tcp4", target);
                    weft::WaitGroup writer;
                    writer.add(1);
                    weft::go([&] {
                        try {
                            std::vector<std::byte> out(size);
                            for (size_t j = 0; j < size; j++) out[j] = pattern(j);
                            c.write_all(out);
                            c.shutdown_write();
                        } catch (const std::exception& e) {
                            errors.add(std::string("client write: ") + e.what());
                        }
                        writer.done();
                    });
                    std::vector<std::byte> in(8192);
                    size_t got = 0;
                    bool ok = true;
                    while (size_t n = c.read(in)) {
                        for (size_t k = 0; k < n; k++)
                            if (in[k] != pattern(got + k)) ok = false;
                        got += n;
                    }
                    writer.wait();
                    if (!ok || got != size) errors.add("client " + std::to_string(i) + ": echoed bytes differ");
                    else verified.fetch_add(static_cast<int64_t>(got));
                } catch (const std::exception& e) {
                    errors.add(std::string("client: ") + e.what());
                }
                clients.done();
            });
        }
        clients.wait();
        servers.wait();
        ln.close();
        acceptor.wait();
        auto took = SteadyClock::now() - t0;
        MESSAGE(kConns << " connections in " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                       << " ms");
        CHECK(errors.count() == 0);
        CHECK(errors.first() == "");
        CHECK(verified.load() > 0);
        CHECK(took < 90s);
    });
}

TEST_CASE("concurrent write_all calls on one Conn never interleave") {
    // net.hpp: a write_all is never interleaved with another write. Each
    // record is larger than the socket buffers, so every writer parks in
    // the middle of its record holding the Conn's write side (net_fd.cpp
    // F3, IoLock) while the others queue behind it.
    static constexpr size_t kRecord = 512 << 10;
    static constexpr int kWriters = 6, kRounds = 3;
    for (int procs : {1, 2}) {
        CAPTURE(procs);
        run_checked(procs, [] {
            Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
            std::string got;
            weft::WaitGroup server;
            server.add(1);
            weft::go([&] {
                {
                    Conn s = ln.accept();
                    std::byte buf[65536];
                    while (size_t n = s.read(buf)) got.append(reinterpret_cast<const char*>(buf), n);
                }
                server.done();
            });
            Conn c = weft::net::dial("tcp4", dial_target(ln));
            weft::WaitGroup writers;
            for (int w = 0; w < kWriters; ++w) {
                writers.add(1);
                weft::go([&, w] {
                    std::string record(kRecord, static_cast<char>('a' + w));
                    for (int r = 0; r < kRounds; ++r) c.write_all(record);
                    writers.done();
                });
            }
            writers.wait();
            c.shutdown_write();
            server.wait();
            REQUIRE(got.size() == kRecord * kWriters * kRounds);
            int torn = 0, per_writer[kWriters] = {};
            for (size_t at = 0; at < got.size(); at += kRecord) {
                char first = got[at];
                if (got.find_first_not_of(first, at) < at + kRecord) ++torn;
                else if (first >= 'a' && first < 'a' + kWriters) ++per_writer[first - 'a'];
            }
            CHECK(torn == 0);
            for (int n : per_writer) CHECK(n == kRounds);
        });
    }
}

TEST_CASE("a peer reset is ECONNRESET with a clear message; writes never raise SIGPIPE") {
    for (int procs : {1, 2}) {
        CAPTURE(procs);
        run_checked(procs, [] {
            Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
            Conn c = weft::net::dial("tcp4", dial_target(ln));
            Conn s = ln.accept();
            weft::WaitGroup wg;
            wg.add(1);
            std::string read_error;
            int read_errno = 0;
            weft::go([&] {  // blocks in read until the reset arrives
                try {
                    std::byte b[16];
                    c.read(b);
                } catch (const std::system_error& e) {
                    read_errno = e.code().value();
                    read_error = e.what();
                }
                wg.done();
            });
            weft::sleep(20ms);
            linger lg{1, 0};  // close sends RST
            REQUIRE(setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
            s.close();
            wg.wait();
            CHECK(read_errno == ECONNRESET);
            CHECK(read_error == "read tcp4 " + c.local_addr().to_string() + "->" + c.remote_addr().to_string() +
                                    ": Connection reset by peer");
            // Writing to the dead connection fails with an error, not SIGPIPE.
            int write_errno = 0;
            for (int i = 0; i < 100 && write_errno == 0; i++) {
                try {
                    c.write_all(std::string_view("data after reset"));
                } catch (const std::system_error& e) {
                    write_errno = e.code().value();
                    CHECK(contains(e.what(), "write tcp4 "));
                }
            }
            CHECK((write_errno == EPIPE || write_errno == ECONNRESET));
        });
    }
}

TEST_CASE("half-close: the peer reads EOF and can still answer") {
    run_checked(2, [] {
        Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
        weft::WaitGroup wg;
        wg.add(1);
        std::string server_got;
        weft::go([&] {
            {
                Conn s = ln.accept();
                std::string all;
                std::byte buf[64];
                while (size_t n = s.read(buf)) all.append(reinterpret_cast<const char*>(buf), n);
                server_got = all;
                s.write_all(std::string_view("got "));
                s.write_all(all);
            }  // s closes here, before main may return and end the run
            wg.done();
        });
        Conn c = weft::net::dial("tcp4", dial_target(ln));
        c.write_all(std::string_view("request"));
        c.shutdown_write();
        std::string reply;
        std::byte buf[64];
        while (size_t n = c.read(buf)) reply.append(reinterpret_cast<const char*>(buf), n);
        wg.wait();
        CHECK(server_got == "request");
        CHECK(reply == "got request");
        // Writing after shutdown_write is EPIPE (no SIGPIPE).
        try {
            c.write_all(std::string_view("late"));
            FAIL("write after shutdown_write succeeded");
        } catch (const std::system_error& e) {
            CHECK(e.code().value() == EPIPE);
        }
    });
}

TEST_CASE("read deadline: TimeoutError, then the Conn works again") {
    run_checked(2, [] {
        Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
        Conn c = weft::net::dial("tcp4", dial_target(ln));
        Conn s = ln.accept();
        auto t0 = SteadyClock::now();
        c.set_read_deadline(t0 + 50ms);
        std::byte b[8];
        try {
            c.read(b);
            FAIL("read returned before its deadline with no data");
        } catch (const TimeoutError& e) {
            CHECK(e.code() == std::errc::timed_out);
            CHECK(std::string(e.what()) == "read tcp4 " + c.local_addr().to_string() + "->" +
                                               c.remote_addr().to_string() + ": i/o timeout");
        }
        CHECK(SteadyClock::now() - t0 >= 50ms);
        // The deadline stays passed: the next read fails at once, even with
        // data waiting.
        s.write_all(std::string_view("abc"));
        weft::sleep(10ms);
        CHECK_THROWS_AS(c.read(b), TimeoutError);
        c.set_read_deadline(weft::TimePoint{});  // cleared
        CHECK(read_string(c, 3) == "abc");
        // A deadline in the past wakes a blocked reader at once.
        weft::WaitGroup wg;
        wg.add(1);
        bool timed_out = false;
        weft::go([&] {
            try {
                std::byte x[1];
                c.read(x);
            } catch (const TimeoutError&) {
                timed_out = true;
            }
            wg.done();
        });
        wait_for_io_waiters(1);
        c.set_read_deadline(weft::Clock::now() - 1s);
        wg.wait();
        CHECK(timed_out);
        // A later deadline replaces an earlier one.
        c.set_read_deadline(weft::Clock::now() + 10ms);
        c.set_read_deadline(weft::Clock::now() + 10s);
        weft::go([&] {
            weft::sleep(50ms);
            s.write_all(std::string_view("z"));
        });
        CHECK(read_string(c, 1) == "z");
    });
}

TEST_CASE("a deadline racing data wakes the reader exactly once") {
    // Each round arms a deadline about when the peer's byte lands; the read
    // gets either the byte or a timeout. A second wake-up of the parked
    // fiber would be fatal (cas_status) or leave the waiter count off.
    for (int procs : {1, 2, 4}) {
        CAPTURE(procs);
        run_checked(procs, [] {
            Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
            Conn c = weft::net::dial("tcp4", dial_target(ln));
            Conn s = ln.accept();
            int data = 0, timeouts = 0;
            const int kRounds = weft::sched::kSanitized ? 100 : 300;
            for (int i = 0; i < kRounds; i++) {
                auto delay = std::chrono::microseconds(200 + (i % 7) * 100);
                weft::WaitGroup wg;
                wg.add(1);
                weft::go([&, delay] {
                    weft::sleep(delay);
                    s.write_all(std::string_view("x"));
                    wg.done();
                });
                c.set_read_deadline(weft::Clock::now() + std::chrono::microseconds(500));
                std::byte b[1];
                size_t n = 0;
                try {
                    n = c.read(b);
                    data++;
                } catch (const TimeoutError&) {
                    timeouts++;
                    c.set_read_deadline(weft::TimePoint{});
                    n = c.read(b);
                }
                CHECK(n == 1);
                wg.wait();
                c.set_read_deadline(weft::TimePoint{});
            }
            MESSAGE("data first: " << data << ", deadline first: " << timeouts);
            CHECK(data + timeouts == kRounds);
        });
    }
}

TEST_CASE("write deadline: a full socket buffer times out, then writes resume") {
    run_checked(2, [] {
        Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
        Conn c = weft::net::dial("tcp4", dial_target(ln));
        Conn s = ln.accept();
        int small = 4096;
        setsockopt(c.fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
        setsockopt(s.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        std::vector<std::byte> chunk(64 * 1024, std::byte{7});
        auto t0 = SteadyClock::now();
        c.set_write_deadline(t0 + 100ms);
        size_t sent = 0;
        bool timed_out = false;
        for (int i = 0; i < 10000 && !timed_out; i++) {  // the peer never reads
            try {
                sent += c.write(chunk);
            } catch (const TimeoutError& e) {
                timed_out = true;
                CHECK(contains(e.what(), "write tcp4 "));
                CHECK(contains(e.what(), ": i/o timeout"));
            }
        }
        REQUIRE(timed_out);
        CHECK(SteadyClock::now() - t0 >= 100ms);
        // Clear it; drain on the other side; writing works again.
        c.set_write_deadline(weft::TimePoint{});
        weft::WaitGroup wg;
        wg.add(1);
        size_t drained = 0;
        weft::go([&] {
            std::vector<std::byte> buf(65536);
            while (size_t n = s.read(buf)) drained += n;
            wg.done();
        });
        c.write_all(chunk);
        c.shutdown_write();
        wg.wait();
        CHECK(drained == sent + chunk.size());
    });
}

TEST_CASE("accept deadline and accept after clearing it") {
    run_checked(2, [] {
        Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
        auto t0 = SteadyClock::now();
        ln.set_deadline(t0 + 30ms);
        try {
            ln.accept();
            FAIL("accept returned without a client");
        } catch (const TimeoutError& e) {
            CHECK(std::string(e.what()) == "accept tcp4 " + ln.addr().to_string() + ": i/o timeout");
        }
        CHECK(SteadyClock::now() - t0 >= 30ms);
        ln.set_deadline(weft::TimePoint{});
        Conn c = weft::net::dial("tcp4", dial_target(ln));
        Conn s = ln.accept();
        CHECK(s.remote_addr() == c.local_addr());
    });
}

TEST_CASE("close from another fiber wakes blocked readers and accepts") {
    for (int procs : {1, 2}) {
        CAPTURE(procs);
        run_checked(procs, [] {
            Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
            Conn c = weft::net::dial("tcp4", dial_target(ln));
            Conn s = ln.accept();
            weft::WaitGroup wg;
            std::atomic<int> closed_errors{0};
            std::string message;
            std::mutex mu;
            // Two readers: one parked in the poller, one waiting its turn.
            for (int i = 0; i < 2; i++) {
                wg.add(1);
                weft::go([&] {
                    try {
                        std::byte b[4];
                        c.read(b);
                    } catch (const ClosedError& e) {
                        closed_errors++;
                        std::lock_guard<std::mutex> l(mu);
                        message = e.what();
                    }
                    wg.done();
                });
            }
            wg.add(1);
            bool accept_closed = false;
            weft::go([&] {
                try {
                    ln.accept();
                } catch (const ClosedError&) {
                    accept_closed = true;
                }
                wg.done();
            });
            wait_for_io_waiters(2);  // a reader and the accept; the other reader queues
            std::string expect = "read tcp4 " + c.local_addr().to_string() + "->" + c.remote_addr().to_string() +
                                 ": use of closed network connection";
            c.close();  // returns once the readers are out
            CHECK(c.fd() == -1);
            ln.close();
            wg.wait();
            CHECK(closed_errors.load() == 2);
            CHECK(message == expect);
            CHECK(accept_closed);
            // Operations after close throw the same error.
            std::byte b[1];
            CHECK_THROWS_AS(c.read(b), ClosedError);
            CHECK_THROWS_AS(c.write(std::string_view("x")), ClosedError);
            CHECK_THROWS_AS(c.set_deadline(weft::Clock::now()), ClosedError);
            // The peer sees end of stream.
            CHECK(s.read(b) == 0);
        });
    }
}

TEST_CASE("close wakes a writer blocked on a full socket buffer") {
    run_checked(2, [] {
        Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
        Conn c = weft::net::dial("tcp4", dial_target(ln));
        Conn s = ln.accept();
        int small = 4096;
        setsockopt(c.fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
        weft::WaitGroup wg;
        wg.add(1);
        std::string error;
        weft::go([&] {
            std::vector<std::byte> chunk(1 << 20);
            try {
                for (int i = 0; i < 1000; i++) c.write_all(chunk);  // s never reads
            } catch (const ClosedError& e) {
                error = e.what();
            }
            wg.done();
        });
        wait_for_io_waiters(1);
        c.close();
        wg.wait();
        CHECK(contains(error, "write tcp4 "));
        CHECK(contains(error, ": use of closed network connection"));
    });
}

TEST_CASE("dial to a closed port is ECONNREFUSED") {
    run_checked(2, [] {
        int port;
        {
            Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
            port = ln.addr().port();
        }
        std::string addr = "127.0.0.1:" + std::to_string(port);
        try {
            weft::net::dial("tcp4", addr);
            FAIL("dial to a closed port succeeded");
        } catch (const std::system_error& e) {
            CHECK(e.code().value() == ECONNREFUSED);
            CHECK(std::string(e.what()) == "dial tcp4 " + addr + ": Connection refused");
        }
        try {
            weft::net::dial("unix", temp_socket_path("nobody"));
            FAIL("dial to a missing unix socket succeeded");
        } catch (const std::system_error& e) {
            CHECK(e.code().value() == ENOENT);
        }
    });
}

TEST_CASE("dial timeout against a listener whose backlog is full") {
    // Linux drops a SYN when the accept queue is full, so the client waits
    // in SYN_SENT (retrying after 1 s) and the dial timeout fires first.
    run_checked(2, [] {
        Listener ln = weft::net::listen("tcp4", "127.0.0.1:0", {.backlog = 1});
        std::vector<Conn> queued;
        bool timed_out = false;
        for (int i = 0; i < 16 && !timed_out; i++) {
            auto t0 = SteadyClock::now();
            try {
                queued.push_back(weft::net::dial("tcp4", dial_target(ln), 150ms));
            } catch (const TimeoutError& e) {
                timed_out = true;
                CHECK(std::string(e.what()) == "dial tcp4 " + dial_target(ln) + ": i/o timeout");
                CHECK(SteadyClock::now() - t0 >= 150ms);
                CHECK(SteadyClock::now() - t0 < 5s);
            }
        }
        MESSAGE(queued.size() << " dials got through before the queue was full");
        CHECK(timed_out);
        // A very short timeout: connects or times out, never hangs or leaks.
        Listener open = weft::net::listen("tcp4", "127.0.0.1:0");
        try {
            Conn c = weft::net::dial("tcp4", dial_target(open), 1ns);
        } catch (const TimeoutError&) {
        }
    });
}

TEST_CASE("malformed addresses are invalid_argument with precise messages") {
    auto msg = [](auto&& f) -> std::string {
        try {
            f();
        } catch (const std::invalid_argument& e) {
            return e.what();
        }
        return "no invalid_argument";
    };
    run_checked(1, [&] {
        CHECK(msg([] { weft::net::listen("tcp", "127.0.0.1"); }) == "listen tcp: '127.0.0.1' has no port");
        CHECK(msg([] { weft::net::dial("tcp", "127.0.0.1:"); }) == "dial tcp: '127.0.0.1:' has no port");
        CHECK(msg([] { weft::net::listen("udp", ":0"); }) == "listen udp: udp is a datagram network (use listen_packet)");
        CHECK(msg([] { weft::net::listen("sctp", ":0"); }) ==
              "listen sctp: unknown network 'sctp' (use tcp, tcp4, tcp6 or unix)");
        CHECK(msg([] { weft::net::dial("sctp", ":1"); }) ==
              "dial sctp: unknown network 'sctp' (use tcp, tcp4, tcp6, unix, udp, udp4 or udp6)");
        CHECK(msg([] { weft::net::listen_packet("tcp", ":0"); }) ==
              "listen_packet tcp: tcp is a stream network (use listen)");
        CHECK(msg([] { weft::net::listen_packet("unix", "/tmp/x"); }) ==
              "listen_packet unix: unix is a stream network (use listen)");
        CHECK(msg([] { weft::net::dial("tcp", "::1:80"); }) ==
              "dial tcp: '::1:80' has too many colons (write IPv6 addresses in brackets: [::1]:80)");
        CHECK(msg([] { weft::net::dial("tcp", "[::1:80"); }) == "dial tcp: '[::1:80' is missing ']'");
        CHECK(msg([] { weft::net::dial("tcp", "127.0.0.1:70000"); }) ==
              "dial tcp: port 70000 in '127.0.0.1:70000' is out of range (0-65535)");
        CHECK(msg([] { weft::net::dial("tcp", "127.0.0.1:http"); }) ==
              "dial tcp: port 'http' in '127.0.0.1:http' is not a number (service names are not resolved)");
        CHECK(msg([] { weft::net::dial("tcp4", "[::1]:80"); }) == "dial tcp4: '::1' in '[::1]:80' is not an IPv4 address");
        CHECK(msg([] { weft::net::listen("unix", ""); }) == "listen unix: empty socket path");
        CHECK(contains(msg([] { weft::net::listen("unix", std::string(200, 'a')); }), "is too long (200 bytes, at most 107)"));
    });
}

TEST_CASE("a fiber blocked on a socket costs no CPU") {
    run_checked(2, [] {
        Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
        Conn c = weft::net::dial("tcp4", dial_target(ln));
        Conn s = ln.accept();
        weft::WaitGroup wg;
        wg.add(1);
        weft::go([&] {
            std::byte b[1];
            CHECK(c.read(b) == 1);
            wg.done();
        });
        wait_for_io_waiters(1);
        double cpu0 = weft::suite::cpu_seconds();
        // The main fiber sleeps too: every P is idle, one M sleeps in epoll.
        weft::sleep(300ms);
        double used = weft::suite::cpu_seconds() - cpu0;
        CHECK(used < 0.1);
        s.write_all(std::string_view("!"));
        wg.wait();
    });
}

TEST_CASE("accept survives EMFILE: backs off, reports when it begins and when it ends, keeps serving") {
    auto r = weft::suite::run_in_child([] {
        // Unbuffered, so whatever was printed survives an abort.
        std::setvbuf(stdout, nullptr, _IONBF, 0);
        // stderr to a file, so the test can wait for the report instead of guessing.
        StderrToFile log;
        weft::run(weft::Options{.procs = 2}, [&log] {
            Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
            std::string target = dial_target(ln);
            try {  // the listener outlives the handler: see the catch
                // Connected (in the listener's queue) before the table is
                // closed to new descriptors, and accepted only after.
                Conn c1 = weft::net::dial("tcp4", target);
                DescriptorsExhausted exhausted;
                weft::WaitGroup served;
                served.add(2);
                weft::go([&] {
                    for (int i = 0; i < 2; i++) {
                        Conn c = ln.accept();
                        weft::go([&, c = std::move(c)]() mutable {
                            echo(c);
                            served.done();
                        });
                    }
                });
                // The server hits EMFILE and backs off (bounded wait for its report).
                bool reported = weft::suite::wait_until([&] {
                    weft::sleep(20ms);
                    return contains(log.contents(), "too many open files");
                }, 30s);
                std::printf("reported=%d\n", reported ? 1 : 0);
                exhausted.restore();
                c1.set_deadline(weft::Clock::now() + 10s);
                c1.write_all(std::string_view("ping1"));
                std::printf("echo1=%s\n", read_string(c1, 5).c_str());
                Conn c2 = weft::net::dial("tcp4", target);
                c2.set_deadline(weft::Clock::now() + 10s);
                c2.write_all(std::string_view("ping2"));
                std::printf("echo2=%s\n", read_string(c2, 5).c_str());
                c1.close();
                c2.close();
                served.wait();
                std::printf("stderr<<%s>>\n", log.contents().c_str());
            } catch (const std::exception& e) {
                // Before the listener's destructor wakes the accept fiber with
                // "use of closed network connection", say what main saw.
                std::printf("main failed: %s\n", e.what());
                // What holds descriptors now (for a failure's report)?
                std::printf("descriptors:");
                for (int fd = 0; fd < 4096; fd++) {
                    char path[64], target[256];
                    std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
                    ssize_t n = readlink(path, target, sizeof target - 1);
                    if (n <= 0) continue;
                    target[n] = 0;
                    if (std::string(target) != "/dev/null") std::printf(" %d->%s", fd, target);
                }
                std::printf("\n");
                std::_Exit(3);
            }
        });
    }, 60);
    INFO(r.err);
    INFO(r.out);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "echo1=ping1"));
    CHECK(contains(r.out, "echo2=ping2"));
    CHECK(contains(r.out, "reported=1"));
    size_t reports = 0;
    for (size_t pos = 0; (pos = r.out.find("too many open files", pos)) != std::string::npos; pos++) reports++;
    CHECK(reports == 1);  // one episode, freed as soon as it was reported (a reminder comes only after 10 s)
    CHECK(contains(r.out, "weft: accept tcp4 127.0.0.1:"));
    // Not silent once it is over either: the end, with the episode's size.
    CHECK(contains(r.out, ": accepting again, after "));
    CHECK(contains(r.out, " refused attempts over "));
}

TEST_CASE("accept out of descriptors for longer than 10 s: a reminder, not silence") {
    auto r = weft::suite::run_in_child([] {
        std::setvbuf(stdout, nullptr, _IONBF, 0);
        StderrToFile log;
        weft::run(weft::Options{.procs = 2}, [&log] {
            Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
            std::string target = dial_target(ln);
            // As above: connected before the table is closed, accepted after.
            Conn c1 = weft::net::dial("tcp4", target);
            DescriptorsExhausted exhausted;
            weft::WaitGroup served;
            served.add(1);
            weft::go([&] {
                Conn c = ln.accept();
                echo(c);
                served.done();
            });
            // Wait (bounded) for the reminder the accept loop owes us.
            bool reminded = weft::suite::wait_until([&] {
                weft::sleep(100ms);
                return contains(log.contents(), "still too many open files: ");
            }, 40s);
            exhausted.restore();
            c1.set_deadline(weft::Clock::now() + 10s);
            c1.write_all(std::string_view("ping"));
            std::printf("echo=%s reminded=%d\n", read_string(c1, 4).c_str(), reminded ? 1 : 0);
            c1.close();
            served.wait();
            std::string all = log.contents();
            std::printf("reports=%zu ended=%d\n",
                        static_cast<size_t>(std::count_if(all.begin(), all.end(), [](char ch) { return ch == '\n'; })),
                        contains(all, "accepting again, after ") ? 1 : 0);
        });
    }, 90);
    INFO(r.out);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "echo=ping reminded=1"));
    CHECK(contains(r.out, "ended=1"));
}

TEST_CASE("a fiber waiting on a socket wakes while every P stays busy") {
    // One P kept busy by a yielding fiber: find_runnable never gets to its
    // netpoll step, so only sysmon's poll (once lastpoll is 10 ms stale) can
    // wake the reader. Without it the reader waits for the hog to give up.
    run_checked(1, [] {
        Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
        Conn c = weft::net::dial("tcp4", dial_target(ln));
        Conn s = ln.accept();
        std::atomic<bool> stop{false};
        std::atomic<int> done{0};
        auto give_up = SteadyClock::now() + 5s;
        weft::go([&] {
            while (!stop.load() && SteadyClock::now() < give_up) weft::yield();
            done++;
        });
        std::thread writer([fd = s.fd()] {
            std::this_thread::sleep_for(50ms);
            (void)::send(fd, "x", 1, MSG_NOSIGNAL);
        });
        auto t0 = SteadyClock::now();
        CHECK(read_string(c, 1) == "x");
        auto waited = SteadyClock::now() - t0;
        stop = true;
        writer.join();
        while (done.load() < 1) weft::yield();
        CHECK(waited < 1s);
    });
}

namespace {

// The kSysmonPolled hook: marks that sysmon's poll took a fiber, then holds
// sysmon there (its thread sleeps) long enough for every M to go idle.
std::atomic<bool> g_sysmon_took{false};

void hold_sysmon_poll(const weft::base::HookEvent& e) {
    if (e.point != weft::base::HookPoint::kSysmonPolled || e.arg == 0) return;
    if (g_sysmon_took.exchange(true)) return;
    std::this_thread::sleep_for(300ms);
}

}  // namespace

TEST_CASE("a fiber taken by sysmon's poll is no deadlock while every M goes idle") {
    // netpoll.cpp N4. One P, held by a fiber that spins without a safe
    // point, so only sysmon polls; the main fiber waits on a socket a plain
    // thread writes to. Sysmon's poll takes the main fiber and the hook
    // holds sysmon before it queues it. The spinner ends, and its M finds
    // nothing to run: with the fiber still counted as an IO waiter it
    // blocks in netpoll, and the fiber runs once sysmon queues it; had the
    // poll already uncounted it, the M would go idle as the last one and
    // checkdead would see no waiter, no queued fiber, no running M and
    // call it a deadlock (as 2 in 40 TSan runs of this suite did).
    auto r = weft::suite::run_in_child(
        [] {
            std::setvbuf(stdout, nullptr, _IONBF, 0);
            weft::run(weft::Options{.procs = 1}, [] {
                Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
                Conn c = weft::net::dial("tcp4", dial_target(ln));
                Conn s = ln.accept();
                weft::base::g_test_hook.store(&hold_sysmon_poll, std::memory_order_release);
                auto give_up = SteadyClock::now() + 20s;
                weft::go([give_up] {
                    // First yield until the main fiber is parked in its read:
                    // sysmon may have flagged main for preemption (it ran 10
                    // ms on a loaded machine) and main then yields to us at
                    // read's entry. Spinning at once left main queued behind
                    // a fiber that never yields, the writer never saw a
                    // waiter, and after 20 s main read without sysmon.
                    while (weft::sched::netpoll_waiters() != 1 && SteadyClock::now() < give_up) weft::yield();
                    while (!g_sysmon_took.load() && SteadyClock::now() < give_up) {
                    }  // no safe point: never gives its P up
                });
                std::thread writer([fd = s.fd(), give_up] {
                    while (weft::sched::netpoll_waiters() != 1 && SteadyClock::now() < give_up)
                        std::this_thread::sleep_for(1ms);
                    // Only sysmon may poll: an M that gave its P up earlier
                    // (to the spinner's M) may be blocked in netpoll
                    // (lastpoll == 0), and would take the event itself while
                    // sysmon skips its poll. Break it out: it finds no P
                    // and stops, leaving the poll to sysmon.
                    while (weft::sched::sched_state().lastpoll.load() == 0 && SteadyClock::now() < give_up) {
                        weft::sched::netpoll_break();
                        std::this_thread::sleep_for(1ms);
                    }
                    (void)::send(fd, "x", 1, MSG_NOSIGNAL);
                });
                std::string got = read_string(c, 1);  // parks: the spinner gets the P
                writer.join();
                weft::base::g_test_hook.store(nullptr, std::memory_order_release);
                std::printf("read '%s', sysmon took it: %d\n", got.c_str(), g_sysmon_took.load() ? 1 : 0);
            });
        },
        60);
    INFO("child stderr: " << r.err);
    INFO("child stdout: " << r.out);
    CHECK(r.exit_code == 0);
    CHECK(!contains(r.err, "deadlock"));
    CHECK(contains(r.out, "read 'x', sysmon took it: 1"));
}

TEST_CASE("the main fiber returning while fibers wait on sockets ends the run cleanly") {
    // run.hpp: fibers alive when the main fiber returns are abandoned, as
    // in Go: none of their destructors run, not even those of what their
    // entry closure captured. One fiber is parked in read on an idle
    // accepted connection; another owns the peer Conn through its closure
    // and waits on a channel; the Listener dies as the main fiber returns.
    // Destroying the abandoned closure at shutdown closed the peer Conn
    // without a P ("ready: called without a P") or parked outside a fiber
    // ("semacquire called outside a fiber"). A second run must work after.
    auto r = weft::suite::run_in_child(
        [] {
            std::setvbuf(stdout, nullptr, _IONBF, 0);
            for (int round = 0; round < 20; ++round) {
                for (int procs : {1, 2}) {
                    weft::run(weft::Options{.procs = procs}, [] {
                        Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
                        Conn client = weft::net::dial("tcp4", dial_target(ln));
                        Conn server = ln.accept();
                        weft::Chan<int> never;
                        weft::go([server = std::move(server)]() mutable {
                            std::byte buf[64];
                            (void)server.read(buf);  // nobody writes
                        });
                        weft::go([client = std::move(client), never]() mutable {
                            (void)never.recv();  // nobody sends
                            client.close();
                        });
                        wait_for_io_waiters(1);
                    });
                }
            }
            std::printf("runs ended: %d\n", weft::run([] { return 7; }));
        },
        120);
    INFO("child stderr: " << r.err);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "runs ended: 7"));
}

TEST_CASE("a Listener or Conn closed by one fiber may be destroyed by the fiber it woke") {
    // Go's shutdown idiom: the owner closes, the accept (or read) loop
    // returns on the closed error and its fiber destroys the object while
    // close() may still be finishing in the owner. close() used to go on
    // using the object after waking the blocked fiber: poll_close on freed
    // memory ("poll_close without poll_unblock") within 20,000 tries.
    // Bounded in time, not only in count: the race needs the two fibers on
    // two Ps, and a loaded machine runs fewer tries.
    for (int procs : {1, 2}) {
        run_checked(procs, [procs] {
            auto until = SteadyClock::now() + 2s;
            int tries = 0;
            for (; tries < 20000 && (tries < 200 || SteadyClock::now() < until); ++tries) {
                // Abstract Unix sockets: bind(2) of a TCP port 0 takes ms
                // once many ports are in TIME_WAIT.
                std::string name = "@weft-close-destroy-" + std::to_string(getpid()) + "-" + std::to_string(tries);
                auto* ln = new Listener(weft::net::listen("unix", name));
                Conn client = weft::net::dial("unix", name);
                auto* server = new Conn(ln->accept());
                weft::Chan<int> done(2);
                weft::go([ln, done]() mutable {
                    try {
                        (void)ln->accept();
                    } catch (const ClosedError&) {
                    }
                    delete ln;
                    done.send(1);
                });
                weft::go([server, done]() mutable {
                    std::byte buf[8];
                    try {
                        (void)server->read(buf);
                    } catch (const ClosedError&) {
                    }
                    delete server;
                    done.send(2);
                });
                if (tries % 2 == 1) weft::yield();  // sometimes close before they park
                ln->close();
                server->close();
                CHECK(done.recv().value() + done.recv().value() == 3);
            }
            MESSAGE(procs << " Ps: " << tries << " tries");
        });
    }
}
