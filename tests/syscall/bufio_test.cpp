// weft::BufReader over real sockets (and a File): lines split across reads
// and buffer boundaries, "\r\n", the last line without "\n", delimiters,
// reads that drain the buffer first, the line-length limit, deadlines of the
// Conn under it.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <cstdio>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <sys/ioctl.h>
#include <unistd.h>
#include <vector>

#include <weft/bufio.hpp>
#include <weft/weft.hpp>
#include "sched/netpoll.hpp"
#include "support/test_util.hpp"

using namespace std::chrono_literals;
using weft::BufReader;
using weft::net::Conn;
using weft::net::Listener;

namespace {

// A connected pair on loopback: the test writes on `out`, reads `in`.
struct Pair {
    Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
    Conn out = weft::net::dial("tcp4", ln.addr().to_string());
    Conn in = ln.accept();
};

// Runs body as the main fiber; checks no descriptor leaked. A test that
// hangs (a read that never returns) aborts after 60 s, naming itself.
template <class F>
void run_checked(const char* name, int procs, F&& body) {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::thread watchdog([&] {
        std::unique_lock<std::mutex> l(mu);
        if (!cv.wait_for(l, std::chrono::seconds(60), [&] { return done; })) {
            std::fprintf(stderr, "bufio_test: '%s' did not finish in 60 s\n", name);
            std::abort();
        }
    });
    int before = weft::suite::open_fd_count();
    weft::run(weft::Options{.procs = procs}, [&] { body(); });
    CHECK(weft::suite::open_fd_count() == before);
    {
        std::lock_guard<std::mutex> l(mu);
        done = true;
    }
    cv.notify_one();
    watchdog.join();
}

std::string str(std::span<const std::byte> b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

// Bytes waiting in the socket's receive queue.
int readable(const Conn& c) {
    int n = 0;
    return ::ioctl(c.fd(), FIONREAD, &n) == 0 ? n : -1;
}

}  // namespace

TEST_CASE("BufReader::read_line: lines split across writes and buffer boundaries, \\r\\n, the last line") {
    for (int procs : {1, 2}) {
        CAPTURE(procs);
        run_checked("read_line", procs, [] {
            Pair p;
            weft::WaitGroup wg;
            wg.add(1);
            weft::go([&] {
                // Each piece is written once the reader waits in the poller
                // for more, so it meets each one in a read of its own.
                for (std::string_view piece : {"alpha\nbe", "ta\r\ngam", "ma-is-longer-than-sixteen-bytes\n", "\n",
                                               "\r\n", "last"}) {
                    REQUIRE(weft::suite::wait_until([] { return weft::sched::netpoll_waiters() == 1; }));
                    p.out.write_all(piece);
                }
                REQUIRE(weft::suite::wait_until([] { return weft::sched::netpoll_waiters() == 1; }));
                p.out.shutdown_write();
                wg.done();
            });
            BufReader in(p.in, 16);  // a small buffer: lines outgrow it
            std::vector<std::string> got;
            while (std::optional<std::string> line = in.read_line()) got.push_back(*line);
            CHECK(got == std::vector<std::string>{"alpha", "beta", "gamma-is-longer-than-sixteen-bytes", "", "",
                                                  "last"});
            CHECK_FALSE(in.read_line().has_value());  // stays at the end
            wg.wait();
        });
    }
}

TEST_CASE("BufReader::read_until keeps the delimiter; the end of the stream gives the rest, then nullopt") {
    run_checked("read_until", 1, [] {
        Pair p;
        p.out.write_all(std::string_view("k1=v1;k2=v2;tail"));
        p.out.shutdown_write();
        BufReader in(p.in);
        CHECK(in.read_until(';') == "k1=v1;");
        CHECK(in.read_until('=') == "k2=");
        CHECK(in.read_until(';') == "v2;");
        CHECK(in.read_until(';') == "tail");  // no delimiter before the end
        CHECK_FALSE(in.read_until(';').has_value());
        CHECK_FALSE(in.read_line().has_value());
    });
}

TEST_CASE("BufReader::read drains the buffer before reading the source; read_full spans both") {
    run_checked("read", 2, [] {
        Pair p;
        p.out.write_all(std::string_view("HEAD\nbody-"));
        REQUIRE(weft::suite::wait_until([&] { return readable(p.in) == 10; }));
        BufReader in(p.in);
        CHECK(in.read_line() == "HEAD");  // one read took all 10 bytes
        CHECK(in.buffered() == 5);
        std::byte small[3];
        CHECK(in.read(small) == 3);
        CHECK(str(small) == "bod");
        CHECK(in.buffered() == 2);
        // With more in the socket, read() still returns only what is
        // buffered, before anything newer.
        p.out.write_all(std::string_view("rest"));
        REQUIRE(weft::suite::wait_until([&] { return readable(p.in) == 4; }));
        std::byte buf[16];
        size_t n = in.read(buf);
        CHECK(str({buf, n}) == "y-");
        CHECK(in.buffered() == 0);
        CHECK(in.read_full(std::span(buf).first(4)) == 4);
        CHECK(str(std::span(buf).first(4)) == "rest");
        // A read at least the buffer's size with nothing buffered goes
        // straight to the source; the end of the stream is 0.
        p.out.write_all(std::string_view("direct"));
        p.out.shutdown_write();
        std::vector<std::byte> big(8192);
        std::string all;
        while (size_t m = in.read(big)) all += str({big.data(), m});
        CHECK(all == "direct");
        CHECK(in.read(big) == 0);
    });
}

TEST_CASE("BufReader: a line longer than max_line is an error, and the buffer stays bounded") {
    run_checked("max_line", 2, [] {
        constexpr size_t kMax = 100;
        Pair p;
        std::string ok_crlf(kMax, 'a'), ok_lf(kMax, 'b'), too_long(kMax + 1, 'c');
        weft::WaitGroup wg;
        wg.add(1);
        weft::go([&] {
            p.out.write_all(ok_crlf + "\r\n" + ok_lf + "\n" + too_long + "\n");
            // Then a megabyte with no line end at all.
            std::string mb(1 << 20, 'x');
            try {
                p.out.write_all(mb);
            } catch (const std::exception&) {
                // the reader closes first
            }
            wg.done();
        });
        BufReader in(p.in, 16, kMax);
        CHECK(in.read_line() == ok_crlf);  // exactly max_line, "\r\n" not counted
        CHECK(in.read_line() == ok_lf);
        CHECK_THROWS_WITH_AS(in.read_line(), "weft::BufReader: line longer than 100 bytes", std::length_error);
        // The bytes of that line are still there for read().
        std::string raw(kMax + 2, '\0');
        CHECK(in.read_full(std::as_writable_bytes(std::span(raw))) == kMax + 2);
        CHECK(raw == too_long + "\n");
        CHECK_THROWS_AS(in.read_line(), std::length_error);
        CHECK(in.buffered() <= kMax + 2);  // never the megabyte
        CHECK_THROWS_WITH_AS(in.read_until('\n'), "weft::BufReader: line longer than 100 bytes", std::length_error);
        p.in.close();
        wg.wait();
    });
}

TEST_CASE("BufReader: the Conn's read deadline applies, and a partial line survives the timeout") {
    run_checked("deadline", 2, [] {
        Pair p;
        BufReader in(p.in, 16);
        p.out.write_all(std::string_view("partial-line-longer-than-the-buffer"));
        auto t0 = weft::Clock::now();
        p.in.set_read_deadline(t0 + 20ms);
        CHECK_THROWS_AS(in.read_line(), weft::net::TimeoutError);
        CHECK(weft::Clock::now() - t0 >= 20ms);
        p.in.set_read_deadline(weft::TimePoint{});
        p.out.write_all(std::string_view("-end\nnext\n"));
        CHECK(in.read_line() == "partial-line-longer-than-the-buffer-end");
        CHECK(in.read_line() == "next");
    });
}

TEST_CASE("BufReader: many lines of random lengths, every byte in order") {
    for (int procs : {1, 2}) {
        CAPTURE(procs);
        run_checked("random lines", procs, [] {
            Pair p;
            constexpr int kLines = 3000;
            std::vector<std::string> sent;
            std::mt19937 rng(42);
            for (int i = 0; i < kLines; i++) {
                std::string s(rng() % 300, 'a');
                for (char& c : s) c = static_cast<char>('a' + rng() % 26);
                sent.push_back(std::move(s));
            }
            weft::WaitGroup wg;
            wg.add(1);
            weft::go([&] {
                std::string chunk;
                for (int i = 0; i < kLines; i++) {
                    chunk += sent[i] + (i % 3 == 0 ? "\r\n" : "\n");
                    if (chunk.size() > 700 || i == kLines - 1) {
                        p.out.write_all(chunk);
                        chunk.clear();
                    }
                }
                p.out.shutdown_write();
                wg.done();
            });
            BufReader in(p.in, 64, 1000);
            int i = 0, bad = 0;
            while (std::optional<std::string> line = in.read_line()) bad += i >= kLines || *line != sent[i++];
            CHECK(i == kLines);
            CHECK(bad == 0);
            wg.wait();
        });
    }
}

TEST_CASE("BufReader over a weft::File") {
    std::string path = "/tmp/weft-bufio-test-" + std::to_string(getpid());
    run_checked("File", 1, [&] {
        weft::write_file(path, "one\ntwo\r\n\nthree");
        weft::File f = weft::File::open(path);
        BufReader in(f, 16);
        std::vector<std::string> got;
        while (auto line = in.read_line()) got.push_back(*line);
        CHECK(got == std::vector<std::string>{"one", "two", "", "three"});
    });
    std::remove(path.c_str());
}
