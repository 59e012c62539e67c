// The echo server's core (examples/common/echo.*, server.*) and weft::StopSignals, run
// in-process on loopback.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdint>
#include <dirent.h>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <unistd.h>

#include <weft/net.hpp>
#include <weft/weft.hpp>
#include "common/echo.hpp"
#include "common/server.hpp"
#include "sched/sanitizers.hpp"
#include "support/death.hpp"
#include "support/test_util.hpp"

using namespace std::chrono_literals;

namespace {

// An echo server on 127.0.0.1:<ephemeral>, serving in its own fiber.
struct EchoFixture {
    std::shared_ptr<ex::EchoCounters> counters = std::make_shared<ex::EchoCounters>();
    std::shared_ptr<ex::Server> srv;
    weft::Chan<ex::ServerStats> done{1};
    std::string addr;

    explicit EchoFixture(ex::ServerOptions so = {}, bool corrupt = false, ex::EchoOptions eo = {}) {
        auto c = counters;
        ex::Handler h = [c, eo](ex::Session& s) { ex::serve_echo(s, eo, *c); };
        if (corrupt) {
            // Echoes, but flips one bit of the 1000th byte: the client must notice.
            h = [c](ex::Session& s) {
                std::byte buf[4096];
                int64_t seen = 0;
                for (;;) {
                    size_t n = s.conn().read(buf);
                    if (n == 0) return;
                    if (seen <= 999 && seen + static_cast<int64_t>(n) > 999) buf[999 - seen] ^= std::byte{1};
                    seen += static_cast<int64_t>(n);
                    s.conn().write_all(std::span(buf, n));
                }
            };
        }
        srv = std::make_shared<ex::Server>(weft::net::listen("tcp", "127.0.0.1:0"), std::move(h), so);
        addr = srv->addr().to_string();
        weft::go([s = srv, d = done]() mutable { d.send(s->serve()); });
    }
    ex::ServerStats stop() {
        srv->shutdown();
        return *done.recv();
    }
};

}  // namespace

TEST_CASE("echo: concurrent connections, every byte checked (procs 2)") {
    const int64_t conns = weft::sched::kSanitized ? 100 : 500;
    const int64_t bytes = 65536;
    weft::run(weft::Options{.procs = 2}, [&] {
        const int fds = weft::suite::open_fd_count();
        {
            EchoFixture f;
            ex::EchoClientOptions o;
            o.addr = f.addr;
            o.conns = conns;
            o.bytes = bytes;
            o.timeout = 30s;
            ex::EchoClientResult r = ex::run_echo_client(o);
            CHECK_MESSAGE(r.first_error.empty(), r.first_error);
            CHECK(r.mismatches == 0);
            CHECK(r.conns_failed == 0);
            CHECK(r.conns_ok == conns);
            CHECK(r.bytes == conns * bytes);
            ex::ServerStats st = f.stop();
            CHECK(st.connections == conns);
            CHECK(st.forced == 0);
            CHECK(st.errors == 0);
            CHECK(f.counters->bytes.load() == conns * bytes);
        }
        CHECK(weft::suite::open_fd_count() == fds);
    });
}

TEST_CASE("echo: the client reports a corrupted byte") {
    weft::run(weft::Options{.procs = 2}, [&] {
        const int fds = weft::suite::open_fd_count();
        {
            EchoFixture f({}, /*corrupt=*/true);
            ex::EchoClientOptions o;
            o.addr = f.addr;
            o.conns = 3;
            o.bytes = 5000;
            o.chunk = 4096;
            o.timeout = 10s;
            ex::EchoClientResult r = ex::run_echo_client(o);
            CHECK(r.mismatches == 3);
            CHECK(r.conns_ok == 0);
            CHECK(r.first_error.find("byte 999 came back as") != std::string::npos);
            f.stop();
        }
        CHECK(weft::suite::open_fd_count() == fds);
    });
}

TEST_CASE("echo: the client reports a refused connection") {
    weft::run(weft::Options{.procs = 1}, [&] {
        std::string addr;
        {
            weft::net::Listener ln = weft::net::listen("tcp", "127.0.0.1:0");
            addr = ln.addr().to_string();
        }  // closed: nobody listens there now
        ex::EchoClientOptions o;
        o.addr = addr;
        o.conns = 2;
        o.bytes = 100;
        o.timeout = 5s;
        ex::EchoClientResult r = ex::run_echo_client(o);
        CHECK(r.conns_failed == 2);
        CHECK(r.conns_ok == 0);
        CHECK(!r.first_error.empty());
    });
}

TEST_CASE("echo: shutdown waits for open connections, then forces them after the grace period") {
    weft::run(weft::Options{.procs = 2}, [&] {
        const int fds = weft::suite::open_fd_count();
        {
            EchoFixture f(ex::ServerOptions{.grace = 200ms, .force_wait = 2s});
            weft::net::Conn c = weft::net::dial("tcp", f.addr, 5s);
            c.set_deadline(weft::Clock::now() + 10s);
            const std::string msg = "hello";
            c.write_all(std::as_bytes(std::span(msg)));
            std::byte buf[16];
            size_t got = 0;
            while (got < msg.size()) got += c.read(std::span(buf).subspan(got));
            CHECK(std::string(reinterpret_cast<const char*>(buf), got) == msg);

            auto t0 = weft::Clock::now();
            ex::ServerStats st = f.stop();  // the client keeps its connection open
            auto took = weft::Clock::now() - t0;
            CHECK(took >= 190ms);
            CHECK(took < 2s);
            CHECK(st.connections == 1);
            CHECK(st.forced == 1);
            CHECK(st.abandoned == 0);
            CHECK(c.read(buf) == 0);  // forced: the client sees EOF
            // The listener is closed: nobody accepts any more.
            CHECK_THROWS_AS(weft::net::dial("tcp", f.addr, 2s), std::system_error);
        }
        CHECK(weft::suite::open_fd_count() == fds);
    });
}

TEST_CASE("echo: shutdown with no connections returns at once") {
    weft::run(weft::Options{.procs = 2}, [&] {
        EchoFixture f(ex::ServerOptions{.grace = 10s});
        auto t0 = weft::Clock::now();
        ex::ServerStats st = f.stop();
        CHECK(weft::Clock::now() - t0 < 1s);
        CHECK(st.connections == 0);
        CHECK(st.forced == 0);
    });
}

TEST_CASE("signals: SIGTERM cancels StopSignals' context and a server shuts down; a second one exits at once") {
    // In a child: SIGINT/SIGTERM stay blocked for the child's life only.
    auto r = weft::suite::run_in_child([] {
        weft::block_stop_signals();
        int code = weft::run(weft::Options{.procs = 2}, []() -> int {
            weft::StopSignals stop;
            EchoFixture f;
            weft::go([srv = f.srv, ctx = stop.context()] {
                ctx.done().recv();
                srv->shutdown();
            });
            kill(getpid(), SIGTERM);  // process-directed: stays pending until the watcher reads it
            // Only the signal path can stop the server; give it 5 s.
            bool served = false;
            weft::Timer timeout(5s);
            weft::select(weft::recv_case(f.done, [&](std::optional<ex::ServerStats> st) { served = st.has_value(); }),
                         weft::recv_case(timeout.chan(), [](std::optional<weft::TimePoint>) {}));
            if (!served || stop.signal() != SIGTERM) return 3;
            if (stop.context().err() != weft::ContextErrc::canceled) return 5;
            std::printf("stopped by %d\n", stop.signal());
            std::fflush(stdout);
            return 0;
        });
        if (code != 0) _exit(code);
        // The second signal: the watcher ends the process, 128 + SIGTERM.
        weft::run(weft::Options{.procs = 1}, [] {
            weft::StopSignals stop;
            kill(getpid(), SIGTERM);
            stop.context().done().recv();  // nothing else can wake the program: not a deadlock (signals.cpp SG3)
            kill(getpid(), SIGTERM);
            weft::sleep(10s);
        });
        _exit(4);
    }, 30);
    CHECK(r.out.find("stopped by 15") != std::string::npos);
    CHECK_MESSAGE(r.exit_code == 128 + SIGTERM, r.err);
    CHECK(r.err.find("again: exiting") != std::string::npos);
}

TEST_CASE("signals: StopSignals without block_stop_signals, or two at once, is a usage error; a parent's end reaches it") {
    weft::run(weft::Options{.procs = 1}, [] {
        CHECK_THROWS_WITH_AS(weft::StopSignals(),
                             "weft::StopSignals: call weft::block_stop_signals() in main() before weft::run",
                             std::logic_error);
    });
    auto r = weft::suite::run_in_child([] {
        weft::block_stop_signals();
        int code = weft::run([]() -> int {
            auto [parent, cancel] = weft::with_cancel(weft::Context());
            weft::StopSignals stop(parent);
            try {
                weft::StopSignals second;
                return 3;
            } catch (const std::logic_error& e) {
                std::printf("%s\n", e.what());
            }
            cancel();
            if (stop.context().err() != weft::ContextErrc::canceled || stop.signal() != 0) return 4;
            return 0;
        });
        std::fflush(stdout);
        _exit(code);
    }, 30);
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find("weft::StopSignals: another StopSignals is watching (one at a time)") != std::string::npos);
}

TEST_CASE("echo: a connection that sends nothing is closed at idle_timeout; one that never reads, at write_timeout") {
    weft::run(weft::Options{.procs = 2}, [&] {
        const int fds = weft::suite::open_fd_count();
        {
            EchoFixture f({}, false, ex::EchoOptions{.idle_timeout = 300ms, .write_timeout = 300ms});
            // Idle: one echo, then silence; the server closes (an EOF here).
            weft::net::Conn idle = weft::net::dial("tcp", f.addr, 5s);
            idle.set_deadline(weft::Clock::now() + 20s);
            const std::string ping = "ping";
            idle.write_all(std::as_bytes(std::span(ping)));
            std::byte buf[64];
            size_t got = 0;
            while (got < ping.size()) got += idle.read(std::span(buf).subspan(got));
            CHECK(idle.read(buf) == 0);
            idle.close();

            // Never reading: its echoes fill both socket buffers, the server's
            // write blocks and times out. Writing goes on until the server's
            // close fails it.
            weft::net::Conn hog = weft::net::dial("tcp", f.addr, 5s);
            hog.set_deadline(weft::Clock::now() + 20s);
            std::vector<std::byte> chunk(16384, std::byte{'x'});
            bool failed = false;
            try {
                for (;;) hog.write_all(chunk);
            } catch (const weft::net::TimeoutError&) {  // our 20 s: the server never closed
            } catch (const std::system_error&) {
                failed = true;  // EPIPE or a reset: the server closed it
            }
            CHECK(failed);
            hog.close();
            CHECK(weft::suite::wait_until([&] { return f.srv->active() == 0; }));
            ex::ServerStats st = f.stop();
            CHECK(st.connections == 2);
            CHECK(st.errors == 1);  // the write timeout; the idle close is not an error
        }
        CHECK(weft::suite::open_fd_count() == fds);
    });
}
