// W8's HTTP server core (examples/common/http_server.*, server.*), run
// in-process on loopback with raw-socket clients. Expected answers are
// spelled out byte for byte here, independently of the server's table.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <csignal>
#include <dirent.h>
#include <fstream>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <weft/net.hpp>
#include <weft/weft.hpp>
#include "common/http_server.hpp"
#include "common/server.hpp"
#include "support/pki.hpp"
#include "support/test_util.hpp"

using namespace std::chrono_literals;

namespace {

const std::string kHello =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
const std::string kHelloClose =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, World!";
const std::string kHelloKeep10 =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\nHello, World!";
const std::string kNotFound =
    "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nNot Found\n";
const std::string kBadMethod =
    "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Type: text/plain\r\nContent-Length: 19\r\n\r\n"
    "Method Not Allowed\n";
// HEAD: GET's header, Content-Length and all, and no body.
const std::string kHelloHead = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n";
const std::string kNotFoundHead = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n";
const std::string kBadRequest =
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"
    "Bad Request\n";
const std::string kHeaderTooLarge =
    "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\nContent-Length: 32\r\n"
    "Connection: close\r\n\r\nRequest Header Fields Too Large\n";

const std::string kUnavailable =
    "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n"
    "Connection: close\r\n\r\nService Unavailable\n";

const std::string kGet = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

// An HTTP server on 127.0.0.1:<ephemeral>, serving in its own fiber.
struct HttpFixture {
    std::shared_ptr<ex::HttpCounters> counters = std::make_shared<ex::HttpCounters>();
    std::shared_ptr<ex::Server> srv;
    weft::Chan<ex::ServerStats> done{1};
    std::string addr;

    explicit HttpFixture(ex::HttpOptions ho = {}, ex::ServerOptions so = {}) {
        auto c = counters;
        srv = std::make_shared<ex::Server>(weft::net::listen("tcp", "127.0.0.1:0"),
                                           [c, ho](ex::Session& s) { ex::serve_http(s, ho, *c); }, so);
        addr = srv->addr().to_string();
        weft::go([s = srv, d = done]() mutable { d.send(s->serve()); });
    }
    ex::ServerStats stop() {
        srv->shutdown();
        return *done.recv();
    }
};

weft::net::Conn connect(const std::string& addr) {
    weft::net::Conn c = weft::net::dial("tcp", addr, 5s);
    c.set_deadline(weft::Clock::now() + 20s);  // every test read and write is bounded
    return c;
}

void send(weft::net::Conn& c, std::string_view s) { c.write_all(std::as_bytes(std::span(s))); }

// Reads exactly n bytes (fewer if the peer closes first).
std::string read_n(weft::net::Conn& c, size_t n) {
    std::string s(n, '\0');
    size_t got = 0;
    while (got < n) {
        size_t k = c.read(std::as_writable_bytes(std::span(s)).subspan(got));
        if (k == 0) break;
        got += k;
    }
    s.resize(got);
    return s;
}

// Reads until the peer closes (bounded by the connection's deadline).
std::string read_to_eof(weft::net::Conn& c) {
    std::string s;
    std::byte buf[4096];
    for (size_t k; (k = c.read(buf)) > 0;) s.append(reinterpret_cast<const char*>(buf), k);
    return s;
}

// One request, one answer of the expected length, on an open connection.
std::string roundtrip(weft::net::Conn& c, std::string_view req, size_t answer_len) {
    send(c, req);
    return read_n(c, answer_len);
}

// Runs body against a fresh server at procs 2, then checks that the server
// ended cleanly and that no descriptor leaked.
template <class F>
void with_server(F body, ex::HttpOptions ho = {}, ex::ServerOptions so = {}) {
    weft::run(weft::Options{.procs = 2}, [&] {
        const int fds = weft::suite::open_fd_count();
        {
            HttpFixture f(ho, so);
            body(f);
            ex::ServerStats st = f.stop();
            CHECK(st.forced == 0);
            CHECK(st.abandoned == 0);
        }
        CHECK(weft::suite::open_fd_count() == fds);
    });
}

}  // namespace

TEST_CASE("httpd: GET / answers exactly the expected status line, headers and body") {
    with_server([](HttpFixture& f) {
        weft::net::Conn c = connect(f.addr);
        CHECK(roundtrip(c, kGet, kHello.size()) == kHello);
        // A query string is ignored; the connection stays open.
        CHECK(roundtrip(c, "GET /?x=1 HTTP/1.1\r\nHost: t\r\n\r\n", kHello.size()) == kHello);
        c.shutdown_write();
        CHECK(read_to_eof(c).empty());  // nothing more was sent
        CHECK(f.counters->requests.load() == 2);
    });
}

TEST_CASE("httpd: keep-alive, 100 requests on one connection") {
    with_server([](HttpFixture& f) {
        weft::net::Conn c = connect(f.addr);
        int ok = 0;
        for (int i = 0; i < 100; ++i) ok += roundtrip(c, kGet, kHello.size()) == kHello;
        CHECK(ok == 100);
        c.close();
    });
}

TEST_CASE("httpd: 10 pipelined requests in one write get 10 answers in order") {
    with_server([](HttpFixture& f) {
        weft::net::Conn c = connect(f.addr);
        std::string reqs, want;
        for (int i = 0; i < 10; ++i) {
            if (i % 3 == 0) {
                reqs += kGet;
                want += kHello;
            } else if (i % 3 == 1) {
                reqs += "GET /nope/" + std::to_string(i) + " HTTP/1.1\r\nHost: t\r\n\r\n";
                want += kNotFound;
            } else {
                reqs += "DELETE / HTTP/1.1\r\nHost: t\r\n\r\n";
                want += kBadMethod;
            }
        }
        CHECK(roundtrip(c, reqs, want.size()) == want);
        // The connection is still usable afterwards.
        CHECK(roundtrip(c, kGet, kHello.size()) == kHello);
    });
}

TEST_CASE("httpd: 404 for other paths, 405 for other methods") {
    with_server([](HttpFixture& f) {
        weft::net::Conn c = connect(f.addr);
        CHECK(roundtrip(c, "GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n", kNotFound.size()) == kNotFound);
        CHECK(roundtrip(c, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", kBadMethod.size()) ==
              kBadMethod);
        CHECK(roundtrip(c, "BREW / HTTP/1.1\r\nHost: t\r\n\r\n", kBadMethod.size()) == kBadMethod);
        // A chunked body is framed by its chunks: read whole, then answered.
        CHECK(roundtrip(c, "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                        kBadMethod.size()) == kBadMethod);
        CHECK(roundtrip(c, kGet, kHello.size()) == kHello);  // still open after all of them
    });
}

TEST_CASE("httpd: HEAD gets GET's header without a body, and the connection goes on") {
    with_server([](HttpFixture& f) {
        weft::net::Conn c = connect(f.addr);
        // Each answer is followed by a GET's: a HEAD answer that carried a
        // body would shift every byte after it.
        send(c, "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n" + kGet);
        CHECK(read_n(c, kHelloHead.size() + kHello.size()) == kHelloHead + kHello);
        send(c, "HEAD /missing HTTP/1.1\r\nHost: t\r\n\r\n" + kGet);
        CHECK(read_n(c, kNotFoundHead.size() + kHello.size()) == kNotFoundHead + kHello);
        CHECK(f.counters->requests.load() == 4);
    });
}

TEST_CASE("httpd: a request whose length cannot be known is refused, never read as the next request") {
    // RFC 9112 6.3 and 3.2. The first is the outside robustness run's: it
    // got two answers (405, then 404 for the smuggled request).
    const std::vector<std::string> smuggling = {
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"
        "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    };
    with_server([&](HttpFixture& f) {
        for (const std::string& req : smuggling) {
            weft::net::Conn c = connect(f.addr);
            send(c, req);
            // The answers until the server closes; a server that kept the
            // connection open (it took the rest for a next request) shows
            // its answers here after 5 s, not as a test that hangs.
            c.set_read_deadline(weft::Clock::now() + 5s);
            std::string got;
            try {
                std::byte buf[4096];
                for (size_t k; (k = c.read(buf)) > 0;) got.append(reinterpret_cast<const char*>(buf), k);
            } catch (const weft::net::TimeoutError&) {
                got += "(still open)";
            }
            CHECK_MESSAGE(got == kBadRequest, req);  // one answer, 400, then closed
        }
        CHECK(f.counters->bad_requests.load() == static_cast<int64_t>(smuggling.size()));
    });
}

TEST_CASE("httpd: a malformed request gets 400 and a close; another connection keeps working") {
    const std::vector<std::string> bad = {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: t\r\nthis is not a header line\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",  // HTTP/1.1 without Host
        "GET / HTTP/1.1 trailing\r\nHost: t\r\n\r\n",
        "GET / HTTP/9.9\r\nHost: t\r\n\r\n",
    };
    with_server([&](HttpFixture& f) {
        weft::net::Conn good = connect(f.addr);
        for (const std::string& req : bad) {
            // No CAPTURE/INFO/CHECK_MESSAGE around a blocking call in a fiber:
            // doctest keeps those scopes in a thread_local, and the fiber may
            // resume on another thread.
            CHECK(roundtrip(good, kGet, kHello.size()) == kHello);
            weft::net::Conn c = connect(f.addr);
            send(c, req);
            std::string got = read_to_eof(c);
            CHECK_MESSAGE(got == kBadRequest, req);  // the answer, then EOF: closed
            CHECK(roundtrip(good, kGet, kHello.size()) == kHello);
        }
        CHECK(f.counters->bad_requests.load() == static_cast<int64_t>(bad.size()));
    });
}

TEST_CASE("httpd: requests after a bad one in the same write are not answered") {
    with_server([](HttpFixture& f) {
        weft::net::Conn c = connect(f.addr);
        send(c, kGet + "GARBAGE\r\n\r\n" + kGet);
        CHECK(read_to_eof(c) == kHello + kBadRequest);
    });
}

TEST_CASE("httpd: an oversized header block gets 431 and a close") {
    with_server([](HttpFixture& f) {
        weft::net::Conn good = connect(f.addr);
        weft::net::Conn c = connect(f.addr);
        send(c, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n");
        CHECK(read_to_eof(c) == kHeaderTooLarge);
        // Many small fields adding up to more than 8 KiB, too.
        weft::net::Conn c2 = connect(f.addr);
        std::string req = "GET / HTTP/1.1\r\nHost: t\r\n";
        for (int i = 0; i < 600; ++i) req += "X-F" + std::to_string(i) + ": 0123456789\r\n";
        send(c2, req + "\r\n");
        CHECK(read_to_eof(c2) == kHeaderTooLarge);
        // Just under the limit is fine.
        std::string ok = "GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(7000, 'b') + "\r\n\r\n";
        CHECK(roundtrip(good, ok, kHello.size()) == kHello);
    });
}

TEST_CASE("httpd: Connection: close and HTTP/1.0 semantics") {
    with_server([](HttpFixture& f) {
        weft::net::Conn c = connect(f.addr);
        send(c, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" + kGet);
        CHECK(read_to_eof(c) == kHelloClose);  // the request after it is not answered

        weft::net::Conn c10 = connect(f.addr);
        send(c10, "GET / HTTP/1.0\r\n\r\n");
        CHECK(read_to_eof(c10) == kHelloClose);

        weft::net::Conn k10 = connect(f.addr);
        std::string req = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
        CHECK(roundtrip(k10, req, kHelloKeep10.size()) == kHelloKeep10);
        CHECK(roundtrip(k10, req, kHelloKeep10.size()) == kHelloKeep10);
    });
}

TEST_CASE("httpd: a body on GET is read and discarded; requests split across writes") {
    with_server([](HttpFixture& f) {
        weft::net::Conn c = connect(f.addr);
        send(c, "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello" + kGet);
        CHECK(read_n(c, 2 * kHello.size()) == kHello + kHello);
        // Chunked body.
        send(c, "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
        CHECK(read_n(c, kHello.size()) == kHello);
        // A request trickling in: a header in pieces, a body in pieces.
        const std::string req = "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789";
        for (size_t cut : {size_t{3}, size_t{20}, req.size() - 12, req.size() - 4}) {
            send(c, req.substr(0, cut));
            weft::sleep(5ms);
            send(c, req.substr(cut));
            std::string got = read_n(c, kHello.size());
            CHECK_MESSAGE(got == kHello, "cut at " << cut);
        }
        std::string bytewise = kGet;
        for (char ch : bytewise) send(c, std::string_view(&ch, 1));
        CHECK(read_n(c, kHello.size()) == kHello);
    });
}

TEST_CASE("httpd: an idle connection is closed after the idle timeout") {
    ex::HttpOptions ho;
    ho.idle_timeout = 300ms;
    with_server([](HttpFixture& f) {
        weft::net::Conn c = connect(f.addr);
        CHECK(roundtrip(c, kGet, kHello.size()) == kHello);
        auto t0 = weft::Clock::now();
        CHECK(read_to_eof(c).empty());  // the server closes it
        auto idle = weft::Clock::now() - t0;
        CHECK(idle >= 250ms);
        CHECK(idle < 5s);
    }, ho);
}

TEST_CASE("httpd: shutdown closes idle keep-alive connections at once") {
    weft::run(weft::Options{.procs = 2}, [&] {
        const int fds = weft::suite::open_fd_count();
        {
            HttpFixture f({}, ex::ServerOptions{.grace = 10s});
            std::vector<weft::net::Conn> conns;
            for (int i = 0; i < 20; ++i) {
                conns.push_back(connect(f.addr));
                CHECK(roundtrip(conns.back(), kGet, kHello.size()) == kHello);
            }
            auto t0 = weft::Clock::now();
            ex::ServerStats st = f.stop();
            CHECK(weft::Clock::now() - t0 < 2s);  // well before the grace period
            CHECK(st.connections == 20);
            CHECK(st.forced == 0);
            for (auto& c : conns) CHECK(read_to_eof(c).empty());
            CHECK(f.counters->requests.load() == 20);
        }
        CHECK(weft::suite::open_fd_count() == fds);
    });
}

TEST_CASE("httpd: shutdown lets a request in progress finish, answered with Connection: close") {
    weft::run(weft::Options{.procs = 2}, [&] {
        const int fds = weft::suite::open_fd_count();
        {
            HttpFixture f({}, ex::ServerOptions{.grace = 10s});
            weft::net::Conn c = connect(f.addr);
            send(c, "GET / HTTP/1.1\r\nHo");  // half a request: the session is busy, not idle
            weft::sleep(20ms);
            weft::Chan<ex::ServerStats> stopped(1);
            weft::go([&f, stopped]() mutable { stopped.send(f.stop()); });
            weft::sleep(20ms);
            CHECK(f.srv->stopping());
            send(c, "st: t\r\n\r\n" + kGet);  // the rest, and one more that must not be answered
            CHECK(read_to_eof(c) == kHelloClose);
            ex::ServerStats st = *stopped.recv();
            CHECK(st.forced == 0);
            CHECK(st.connections == 1);
        }
        CHECK(weft::suite::open_fd_count() == fds);
    });
}

TEST_CASE("httpd: many concurrent keep-alive clients (procs 2)") {
    constexpr int kClients = 50, kRequests = 200;
    with_server([](HttpFixture& f) {
        std::atomic<int> ok{0};
        weft::WaitGroup wg;
        wg.add(kClients);
        for (int i = 0; i < kClients; ++i) {
            weft::go([&ok, &wg, addr = f.addr] {
                {
                    weft::net::Conn c = connect(addr);
                    // Pipelines 4 at a time.
                    std::string four = kGet + kGet + kGet + kGet, want = kHello + kHello + kHello + kHello;
                    int n = 0;
                    for (int r = 0; r < kRequests / 4; ++r) n += roundtrip(c, four, want.size()) == want;
                    ok.fetch_add(n);
                }  // closed before done(): the fd count is checked after wait()
                wg.done();
            });
        }
        wg.wait();
        CHECK(ok.load() == kClients * kRequests / 4);
        CHECK(f.counters->requests.load() == kClients * kRequests);
    });
}

TEST_CASE("httpd with curl, a real client: HEAD then GET on one connection, and the smuggling request refused") {
    with_server([](HttpFixture& f) {
        std::string url = "http://" + f.addr + "/";
        // A real client on one connection (%{num_connects} 0 for the GET).
        // curl tolerates a body after a HEAD answer, so the byte-exact
        // check of HEAD is the raw-socket case above; this one is the
        // interoperation. Run as a blocking call, so that the server's
        // fibers keep running.
        auto both = weft::blocking([&] {
            return weft::suite::run_command("curl -sS --max-time 20 -I " + url +
                                            " --next -sS --max-time 20 -w ' connects=%{num_connects}' " + url);
        });
        CHECK_MESSAGE(both.status == 0, both.out);
        CHECK(weft::suite::contains(both.out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n"));
        CHECK(both.out.ends_with("\r\n\r\nHello, World! connects=0"));
        auto smuggled = weft::blocking([&] {
            return weft::suite::run_command("curl -sS --max-time 20 -o /dev/null -w '%{http_code}' -X POST "
                                            "-H 'Transfer-Encoding: gzip' --data-binary x " + url);
        });
        CHECK(smuggled.status == 0);
        CHECK(smuggled.out == "400");
        CHECK(f.counters->requests.load() == 3);
    });
}

TEST_CASE("httpd: a header sent a byte at a time is cut off at header_timeout, however often bytes come (slowloris)") {
    ex::HttpOptions ho;
    ho.header_timeout = 300ms;  // the idle timeout stays 60 s: each byte would re-arm that
    with_server(
        [](HttpFixture& f) {
            weft::net::Conn c = connect(f.addr);
            c.set_deadline(weft::Clock::now() + 60s);  // past the 20 s of dripping: a failure shows the answer
            weft::Chan<std::string> got(1);  // what the server sent before it closed
            weft::go([&c, got]() mutable {
                std::string s;
                try {
                    std::byte buf[512];
                    for (size_t k; (k = c.read(buf)) > 0;) s.append(reinterpret_cast<const char*>(buf), k);
                } catch (const std::system_error& e) {
                    // The server closing with our drip unread in its buffer
                    // sends a reset; any other failure (our deadline) is not
                    // a close.
                    s += e.code() == std::errc::connection_reset ? "(reset)" : std::string("(read failed: ") + e.what() + ")";
                }
                got.send(s);
            });
            // A byte every 10 ms for up to 20 s: 2000 bytes of header (under
            // the 8 KiB limit), far past 300 ms. Stops once the server has
            // closed (the reader is done) or a write fails.
            send(c, "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ");
            std::optional<std::string> answer;
            for (int i = 0; i < 2000 && !answer; i++) {
                try {
                    send(c, "a");
                } catch (const std::system_error&) {
                    break;  // the server's close reached us as a reset
                }
                weft::sleep(10ms);
                weft::select(weft::recv_case(got, [&](std::optional<std::string> v) { answer = *v; }),
                             weft::default_case([] {}));
            }
            if (!answer) {
                try {
                    send(c, "\r\n\r\n");  // the header, finished: a server that waited answers now
                } catch (const std::system_error&) {
                }
                answer = *got.recv();
            }
            // Closed with no answer, long before the header was done: an
            // end of stream or a reset, with no byte before it.
            CHECK_MESSAGE((*answer == "" || *answer == "(reset)"), *answer);
            c.close();
        },
        ho);
}

TEST_CASE("httpd: a client that sends requests but never reads is closed at write_timeout, apart from the idle deadline") {
    ex::HttpOptions ho;
    ho.write_timeout = 300ms;  // the idle timeout stays 60 s
    with_server(
        [](HttpFixture& f) {
            weft::net::Conn c = connect(f.addr);
            CHECK(roundtrip(c, kGet, kHello.size()) == kHello);  // registered: active() counts it
            REQUIRE(f.srv->active() == 1);
            // Pipelined requests, never read: the answers fill both socket
            // buffers, then the server's write blocks.
            std::string batch;
            for (int i = 0; i < 100; i++) batch += kGet;
            weft::Chan<int> writer_done(1);
            weft::go([&c, &batch, writer_done]() mutable {
                try {
                    for (;;) send(c, batch);
                } catch (const std::system_error&) {  // the server's close (a reset), or our 20 s deadline
                }
                writer_done.send(0);
            });
            CHECK(weft::suite::wait_until([&] { return f.srv->active() == 0; }, 30s));
            writer_done.recv();
            CHECK(f.counters->requests.load() > 100);  // it answered until the buffers were full
            c.close();
        },
        ho);
}

TEST_CASE("httpd: max_requests ends a connection, the last answer saying Connection: close") {
    ex::HttpOptions ho;
    ho.max_requests = 3;
    with_server(
        [](HttpFixture& f) {
            weft::net::Conn c = connect(f.addr);
            CHECK(roundtrip(c, kGet, kHello.size()) == kHello);
            CHECK(roundtrip(c, kGet, kHello.size()) == kHello);
            send(c, kGet);
            CHECK(read_to_eof(c) == kHelloClose);
            c.close();
        },
        ho);
}

TEST_CASE("httpd: over the connection cap a client gets 503 at once, and a slot freed serves again") {
    with_server(
        [](HttpFixture& f) {
            std::vector<weft::net::Conn> held;
            for (int i = 0; i < 3; i++) {
                held.push_back(connect(f.addr));
                CHECK(roundtrip(held.back(), kGet, kHello.size()) == kHello);
            }
            CHECK(f.srv->max_connections() == 3);
            weft::net::Conn over = connect(f.addr);
            send(over, kGet);
            CHECK(read_to_eof(over) == kUnavailable);
            over.close();
            held[0].close();
            CHECK(weft::suite::wait_until([&] { return f.srv->active() == 2; }));
            weft::net::Conn again = connect(f.addr);
            CHECK(roundtrip(again, kGet, kHello.size()) == kHello);
            again.close();
            held.clear();
        },
        {}, ex::ServerOptions{.max_connections = 3, .refuse = [](ex::Session& s) { ex::refuse_http(s); }});
}

TEST_CASE("httpd: over the cap with every refusal busy, a connection is closed at once; the stats count both") {
    weft::run(weft::Options{.procs = 2}, [&] {
        const int fds = weft::suite::open_fd_count();
        {
            // A refusal that holds its connection until the client closes it:
            // with a cap of 3, one refusal runs at a time (min(3, 32) / 2).
            ex::ServerOptions so{.max_connections = 3, .refuse_timeout = 60s};
            so.refuse = [](ex::Session& s) {
                std::byte buf[64];
                while (s.conn().read(buf) > 0) {
                }
            };
            HttpFixture f({}, so);
            std::vector<weft::net::Conn> held;
            for (int i = 0; i < 3; i++) {
                held.push_back(connect(f.addr));
                CHECK(roundtrip(held.back(), kGet, kHello.size()) == kHello);
            }
            held.push_back(connect(f.addr));  // refused, and its refusal holds
            CHECK(weft::suite::wait_until([&] { return f.srv->active() == 4; }));
            weft::net::Conn closed = connect(f.addr);
            std::string got;
            try {
                got = read_to_eof(closed);
            } catch (const std::system_error&) {  // a reset is as good as an EOF here
            }
            CHECK(got.empty());
            CHECK(f.srv->active() == 4);
            closed.close();
            held.clear();
            ex::ServerStats st = f.stop();
            CHECK(st.connections == 3);
            CHECK(st.refused == 2);
            CHECK(st.errors == 0);
        }
        CHECK(weft::suite::open_fd_count() == fds);
    });
}

namespace {

using weft::suite::slurp;

// examples/httpd as a user runs it, under `ulimit -n <nofile>`, its output
// in files; SIGTERM and reaped on destruction.
class HttpdProcess {
public:
    HttpdProcess(int nofile, const std::string& flags) {
        char tmpl[] = "/tmp/weft-httpd-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        dir_ = tmpl;
        std::string cmd = "ulimit -n " + std::to_string(nofile) + " && exec \"$0\" " + flags + " >" + out_path() +
                          " 2>" + err_path();
        const char* argv[] = {"sh", "-c", cmd.c_str(), WEFT_HTTPD, nullptr};
        REQUIRE(posix_spawnp(&pid_, "sh", nullptr, nullptr, const_cast<char**>(argv), environ) == 0);
    }
    ~HttpdProcess() {
        if (pid_ > 0) stop();
        std::remove(out_path().c_str());
        std::remove(err_path().c_str());
        rmdir(dir_.c_str());
    }
    std::string out_path() const { return dir_ + "/out"; }
    std::string err_path() const { return dir_ + "/err"; }

    // Its address, once it listens ("" if it exits or takes longer than 30 s).
    std::string wait_listening() {
        const std::string mark = "://";  // after "listening on http" or "https"
        std::string addr;
        weft::suite::wait_until(
            [&] {
                std::string out = slurp(out_path());
                size_t at = out.find("listening on ");
                at = at == std::string::npos ? at : out.find(mark, at);
                size_t end = at == std::string::npos ? at : out.find('/', at + mark.size());
                if (end != std::string::npos) addr = out.substr(at + mark.size(), end - at - mark.size());
                return !addr.empty() || waitpid(pid_, nullptr, WNOHANG) != 0;
            },
            30s);
        return addr;
    }
    // SIGTERM, then its exit status (-1 if it did not exit normally).
    int stop() {
        kill(pid_, SIGTERM);
        int status = 0;
        weft::suite::wait_until([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, 60s);
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

private:
    std::string dir_;
    pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("httpd under ulimit -n 256: 300 slowloris clients neither lock other clients out nor exhaust descriptors") {
    weft::run(weft::Options{.procs = 2}, [&] {
        // A cap of 224 (256 less a reserve of 32); headers must be in 3 s.
        HttpdProcess httpd(256, "--procs 1 --addr 127.0.0.1:0 --header-timeout-ms 3000");
        const std::string addr = httpd.wait_listening();
        REQUIRE(!addr.empty());

        // Each slowloris client sends a header's start, then a byte whenever
        // 200 ms pass with nothing from the server, until the server answers
        // or closes, for at most 60 s.
        constexpr int kSlow = 300;
        std::atomic<int> started{0}, ended{0}, unavailable{0}, answered_ok{0}, cut{0}, held{0};
        for (int i = 0; i < kSlow; i++) {
            weft::go([&] {
                try {
                    weft::net::Conn c = weft::net::dial("tcp", addr, 20s);
                    send(c, "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ");
                    started++;
                    const auto give_up = weft::Clock::now() + 60s;
                    std::byte buf[256];
                    for (;;) {
                        if (weft::Clock::now() > give_up) {
                            held++;
                            break;
                        }
                        c.set_read_deadline(weft::Clock::now() + 200ms);
                        try {
                            size_t n = c.read(buf);
                            std::string_view got(reinterpret_cast<const char*>(buf), n);
                            if (n == 0) {
                                cut++;  // closed without an answer: the header deadline
                            } else if (got.starts_with("HTTP/1.1 503 ")) {
                                unavailable++;  // over the cap
                            } else {
                                answered_ok++;  // never: the header is never complete
                            }
                            break;
                        } catch (const weft::net::TimeoutError&) {
                            send(c, "a");
                        }
                    }
                } catch (const std::system_error&) {
                    cut++;  // a reset: closed by the server
                }
                ended++;
            });
        }
        CHECK(weft::suite::wait_until([&] { return started.load() + ended.load() >= kSlow; }, 60s));

        // Probes meanwhile: each is answered, 200 or 503, or closed at once
        // (every refusal busy, for at most a second) — never left waiting.
        // Until 15 are answered, for at most 60 s.
        int probes_answered = 0;
        for (const auto until = weft::Clock::now() + 60s; probes_answered < 15 && weft::Clock::now() < until;) {
            std::string got;
            try {
                weft::net::Conn c = weft::net::dial("tcp", addr, 20s);
                c.set_deadline(weft::Clock::now() + 20s);
                send(c, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
                got = read_to_eof(c);
            } catch (const weft::net::TimeoutError& e) {
                FAIL_CHECK("a probe waited 20 s: " << e.what());
                break;
            } catch (const std::system_error&) {  // a reset: closed at once
            }
            if (got == kHelloClose || got == kUnavailable) probes_answered++;
            CHECK((got.empty() || got == kHelloClose || got == kUnavailable));
        }
        CHECK(probes_answered == 15);

        // Every slowloris client is let go within the header deadline;
        // none was answered as if its header were complete.
        CHECK(weft::suite::wait_until([&] { return ended.load() == kSlow; }, 90s));
        CHECK(held.load() == 0);
        CHECK(answered_ok.load() == 0);
        CHECK(cut.load() + unavailable.load() == kSlow);

        // Then a client is served as usual.
        weft::net::Conn c = weft::net::dial("tcp", addr, 20s);
        c.set_deadline(weft::Clock::now() + 20s);
        send(c, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        CHECK(read_to_eof(c) == kHelloClose);
        c.close();

        CHECK(httpd.stop() == 0);
        const std::string err = slurp(httpd.err_path()), out = slurp(httpd.out_path());
        CHECK_MESSAGE(err.empty(), err);  // no "too many open files", nothing at all
        CHECK_MESSAGE(weft::suite::contains(out, "refused over the cap of 224"), out);
    });
}

namespace {
// A CA and a server certificate for localhost and 127.0.0.1.
struct TestCerts {
    weft::suite::TestPki made;
    std::string dir = made.dir();
    TestCerts() { made.leaf("server", "localhost", weft::suite::kLocalhostSan); }
};
}  // namespace

TEST_CASE("https over the cap: the connection is closed at once, no handshake spent; the one within is served") {
    TestCerts certs;
    weft::tls::Config cfg;
    cfg.certificate_files(certs.dir + "/server.crt", certs.dir + "/server.key");
    ex::HttpOptions ho;
    ho.tls = &cfg;
    weft::run(weft::Options{.procs = 2}, [&] {
        HttpFixture f(ho, ex::ServerOptions{.max_connections = 1,
                                            .refuse = [&cfg](ex::Session& s) { ex::refuse_http(s, &cfg); }});
        weft::tls::Config ccfg;
        ccfg.root_ca_file(certs.dir + "/ca.crt");
        weft::tls::Conn held = weft::tls::dial("tcp", f.addr, ccfg);
        held.set_deadline(weft::Clock::now() + 20s);
        held.write_all(std::string_view("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
        std::string got(kHello.size(), '\0');
        CHECK(held.read_full(std::as_writable_bytes(std::span<char>(got.data(), got.size()))) == got.size());
        CHECK(got == kHello);
        // Over the cap of 1: closed before any handshake.
        CHECK_THROWS_AS(weft::tls::dial("tcp", f.addr, ccfg), std::system_error);
        held.close();
        ex::ServerStats st = f.stop();
        CHECK(st.connections == 1);
        CHECK(st.refused == 1);
    });
}

TEST_CASE("httpd over TLS (--tls-cert, --tls-key) with curl: keep-alive GETs and a HEAD, verified against a test CA") {
    TestCerts certs;
    const std::string dir = certs.dir;
    weft::run(weft::Options{.procs = 2}, [&] {
        HttpdProcess httpd(1024, "--procs 1 --addr 127.0.0.1:0 --tls-cert " + dir + "/server.crt --tls-key " + dir +
                                     "/server.key");
        const std::string addr = httpd.wait_listening();
        REQUIRE_MESSAGE(!addr.empty(), slurp(httpd.err_path()));
        CHECK(weft::suite::contains(slurp(httpd.out_path()), "listening on https://"));
        std::string port = addr.substr(addr.rfind(':') + 1);
        std::string url = "https://localhost:" + port + "/";
        auto r = weft::blocking([&] {
            return weft::suite::run_command("curl -sS --max-time 20 --cacert " + dir + "/ca.crt " + url + " " + url +
                                            " -w ' connects=%{num_connects}' --next -sS --max-time 20 --cacert " + dir +
                                            "/ca.crt -I " + url);
        });
        CHECK_MESSAGE(r.status == 0, r.out);
        // The second GET on the first connection (-w is per URL).
        CHECK_MESSAGE(weft::suite::contains(r.out, "Hello, World! connects=1Hello, World! connects=0"), r.out);
        CHECK(weft::suite::contains(r.out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n"));
        // Without the test CA, curl refuses the server: it really is TLS, verified.
        auto unverified = weft::blocking([&] { return weft::suite::run_command("curl -sS --max-time 20 " + url); });
        CHECK(unverified.status == 60);  // CURLE_PEER_FAILED_VERIFICATION
        CHECK(httpd.stop() == 0);
        std::string out = slurp(httpd.out_path());
        CHECK_MESSAGE(weft::suite::contains(out, "\"requests\": 3"), out);
    });
}

TEST_CASE("httpd: --tls-cert without --tls-key, and a key that does not load, are usage errors") {
    auto r = weft::suite::run_command(std::string(WEFT_HTTPD) + " --tls-cert /nonexistent.crt");
    CHECK(r.status == 2);
    CHECK(weft::suite::contains(r.out, "httpd: --tls-cert and --tls-key go together (try --help)"));
    r = weft::suite::run_command(std::string(WEFT_HTTPD) + " --tls-cert /nonexistent.crt --tls-key /nonexistent.key");
    CHECK(r.status == 2);
    CHECK(weft::suite::contains(r.out, "httpd: tls: certificate file /nonexistent.crt: No such file or directory"));
}
