// UDP on the netpoller (syscall/packet.hpp): listen_packet, PacketConn's
// read_from/write_to, dial("udp") as a connected Conn, deadlines, close,
// IPv4 and IPv6, truncation and empty datagrams.
#include <doctest/doctest.h>

#include <chrono>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>

#include <weft/weft.hpp>
#include "sched/netpoll.hpp"
#include "support/test_util.hpp"

using namespace std::chrono_literals;
using weft::net::Addr;
using weft::net::Conn;
using weft::net::PacketConn;

namespace {

template <class F>
void run_checked(int procs, F&& body) {
    int before = weft::suite::open_fd_count();
    weft::run(weft::Options{.procs = procs}, [&] {
        body();
        CHECK(weft::suite::wait_until([] { return weft::sched::netpoll_waiters() == 0; }));
    });
    CHECK(weft::suite::open_fd_count() == before);
}

std::string read_string(PacketConn& pc, Addr& from, size_t cap = 2048) {
    std::string s(cap, '\0');
    size_t n = pc.read_from(std::as_writable_bytes(std::span<char>(s.data(), s.size())), from);
    s.resize(n);
    return s;
}

std::string read_string(Conn& c, size_t cap = 2048) {
    std::string s(cap, '\0');
    size_t n = c.read(s.data(), s.size());
    s.resize(n);
    return s;
}

// A server fiber answering each datagram with "echo:" + its bytes, to its
// sender, until `n` are answered.
void serve_echo(PacketConn& server, int n, weft::WaitGroup& done) {
    done.add(1);
    weft::go([&server, n, &done] {
        for (int i = 0; i < n; i++) {
            Addr from;
            std::string got = read_string(server, from);
            server.write_to("echo:" + got, from);
        }
        done.done();
    });
}

}  // namespace

TEST_CASE("udp4: a request and its answer between a dialed Conn and a PacketConn") {
    for (int procs : {1, 2}) {
        run_checked(procs, [] {
            PacketConn server = weft::net::listen_packet("udp4", "127.0.0.1:0");
            Addr at = server.local_addr();
            CHECK(at.family() == Addr::Family::kIPv4);
            CHECK(at.port() != 0);
            weft::WaitGroup done;
            serve_echo(server, 3, done);
            Conn c = weft::net::dial("udp", at.to_string());
            CHECK(c.remote_addr() == at);
            for (const char* msg : {"one", "two", "three"}) {
                CHECK(c.write(std::string_view(msg)) == std::string_view(msg).size());
                CHECK(read_string(c) == std::string("echo:") + msg);
            }
            done.wait();
        });
    }
}

TEST_CASE("udp: the sender's address comes with each datagram, and answers reach each sender") {
    run_checked(2, [] {
        PacketConn server = weft::net::listen_packet("udp4", "127.0.0.1:0");
        PacketConn a = weft::net::listen_packet("udp4", "127.0.0.1:0");
        PacketConn b = weft::net::listen_packet("udp4", "127.0.0.1:0");
        weft::WaitGroup done;
        serve_echo(server, 2, done);
        a.write_to("from a", server.local_addr());
        b.write_to("from b", server.local_addr());
        Addr fa, fb;
        CHECK(read_string(a, fa) == "echo:from a");
        CHECK(read_string(b, fb) == "echo:from b");
        CHECK(fa == server.local_addr());
        CHECK(fb == server.local_addr());
        done.wait();
    });
}

TEST_CASE("udp6 and the dual-stack udp wildcard: IPv6 peers, and IPv4 peers seen as IPv4") {
    if (!weft::suite::have_ipv6_loopback()) {
        MESSAGE("skipped: ::1 is not available on this host");
        return;
    }
    run_checked(2, [] {
        PacketConn server = weft::net::listen_packet("udp6", "[::1]:0");
        CHECK(server.local_addr().to_string() == "[::1]:" + std::to_string(server.local_addr().port()));
        weft::WaitGroup done;
        serve_echo(server, 1, done);
        Conn c = weft::net::dial("udp6", server.local_addr().to_string());
        c.write(std::string_view("six"));
        CHECK(read_string(c) == "echo:six");
        done.wait();

        // "udp" on ":0" listens on IPv6 and IPv4; an IPv4 sender shows as
        // IPv4, and write_to answers it there.
        PacketConn dual = weft::net::listen_packet("udp", ":0");
        CHECK(dual.local_addr().family() == Addr::Family::kIPv6);
        PacketConn v4 = weft::net::listen_packet("udp4", "127.0.0.1:0");
        v4.write_to("four", Addr::ipv4({127, 0, 0, 1}, static_cast<uint16_t>(dual.local_addr().port())));
        Addr from;
        CHECK(read_string(dual, from) == "four");
        CHECK(from == v4.local_addr());  // "127.0.0.1:port", not "[::ffff:127.0.0.1]:port"
        dual.write_to("back", from);
        CHECK(read_string(v4, from) == "back");
        serve_echo(dual, 1, done);
        Conn c6 = weft::net::dial("udp", "[::1]:" + std::to_string(dual.local_addr().port()));
        c6.write(std::string_view("six again"));
        CHECK(read_string(c6) == "echo:six again");
        done.wait();
    });
}

TEST_CASE("udp: a datagram longer than the buffer is cut and says so; an empty one reads as 0") {
    run_checked(1, [] {
        PacketConn server = weft::net::listen_packet("udp4", "127.0.0.1:0");
        PacketConn client = weft::net::listen_packet("udp4", "127.0.0.1:0");
        client.write_to(std::string(100, 'x'), server.local_addr());
        client.write_to(std::string_view(""), server.local_addr());
        client.write_to("after", server.local_addr());
        std::byte buf[10];
        Addr from;
        bool truncated = false;
        CHECK(server.read_from(buf, from, &truncated) == 10);
        CHECK(truncated);
        CHECK(server.read_from(buf, from, &truncated) == 0);  // the empty datagram: not an end of stream
        CHECK_FALSE(truncated);
        CHECK(from == client.local_addr());
        CHECK(read_string(server, from) == "after");  // the cut datagram's rest was dropped, not read here
    });
}

TEST_CASE("udp deadlines: a read past its deadline times out, and works again once the deadline moves") {
    run_checked(2, [] {
        PacketConn pc = weft::net::listen_packet("udp4", "127.0.0.1:0");
        pc.set_read_deadline(weft::Clock::now() + 50ms);
        Addr from;
        std::byte buf[16];
        CHECK_THROWS_AS(pc.read_from(buf, from), weft::net::TimeoutError);
        try {
            pc.read_from(buf, from);
            FAIL("no timeout");
        } catch (const weft::net::TimeoutError& e) {
            CHECK(std::string(e.what()) == "read udp4 " + pc.local_addr().to_string() + ": i/o timeout");
        }
        pc.set_read_deadline(weft::TimePoint{});
        PacketConn other = weft::net::listen_packet("udp4", "127.0.0.1:0");
        other.write_to("late", pc.local_addr());
        CHECK(read_string(pc, from) == "late");

        // A dialed Conn's read deadline, the same way.
        Conn c = weft::net::dial("udp4", pc.local_addr().to_string());
        c.set_read_deadline(weft::Clock::now() + 50ms);
        CHECK_THROWS_AS(c.read(buf), weft::net::TimeoutError);
    });
}

TEST_CASE("udp: close wakes a fiber blocked in read_from with ClosedError; later calls fail the same way") {
    run_checked(2, [] {
        PacketConn pc = weft::net::listen_packet("udp4", "127.0.0.1:0");
        weft::Chan<std::string> got(1);
        weft::go([&pc, got] {
            Addr from;
            std::byte buf[16];
            try {
                pc.read_from(buf, from);
                got.send("returned");
            } catch (const weft::net::ClosedError& e) {
                got.send(e.what());
            }
        });
        REQUIRE(weft::suite::wait_until([] { return weft::sched::netpoll_waiters() == 1; }));
        pc.close();
        std::string what = *got.recv();
        CHECK(what.find("use of closed network connection") != std::string::npos);
        CHECK_THROWS_AS(pc.write_to("x", Addr::ipv4({127, 0, 0, 1}, 9)), weft::net::ClosedError);
        PacketConn empty;
        Addr from;
        std::byte buf[1];
        CHECK_THROWS_AS(empty.read_from(buf, from), weft::net::ClosedError);
        CHECK_FALSE(empty);
    });
}

TEST_CASE("udp: a connected socket learns of a closed port (ECONNREFUSED); bad destinations are refused clearly") {
    run_checked(1, [] {
        // A port nobody listens on: bind one, note it, close it.
        Addr gone;
        {
            PacketConn p = weft::net::listen_packet("udp4", "127.0.0.1:0");
            gone = p.local_addr();
        }
        Conn c = weft::net::dial("udp4", gone.to_string());
        c.write(std::string_view("anyone?"));
        std::byte buf[16];
        try {
            c.set_read_deadline(weft::Clock::now() + 10s);  // a failure shows as a timeout, not a hang
            c.read(buf);
            FAIL("read returned");
        } catch (const std::system_error& e) {
            CHECK(e.code() == std::errc::connection_refused);
        }
        PacketConn pc = weft::net::listen_packet("udp4", "127.0.0.1:0");
        CHECK_THROWS_WITH_AS(pc.write_to("x", Addr::unix_path("/tmp/nope")),
                             ("write udp4 " + pc.local_addr().to_string() + ": '/tmp/nope' is not an IP address").c_str(),
                             std::invalid_argument);
        CHECK_THROWS_AS(weft::net::listen_packet("udp4", "127.0.0.1"), std::invalid_argument);
    });
}
