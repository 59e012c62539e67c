// Boost.Beast on weft (runtime/beast.hpp): Beast's synchronous HTTP and
// WebSocket API over weft::beast::Stream, plain and TLS, in-process; and
// examples/beast_server driven by real clients: curl and Python's
// websockets (Debian's python3-websockets, under /usr/bin/python3).
#include <doctest/doctest.h>

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

#include <weft/beast.hpp>
#include <weft/weft.hpp>
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/test_util.hpp"

namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using namespace std::chrono_literals;
using weft::suite::contains;
using weft::suite::Process;
using weft::suite::run_command;

namespace {

// A CA and a server certificate for localhost and 127.0.0.1 (once).
struct Certs {
    weft::suite::TestPki made;
    std::string dir = made.dir(), ca = made.path("ca.crt"), crt = made.path("server.crt"), key = made.path("server.key");
    Certs() { made.leaf("server", "localhost", weft::suite::kLocalhostSan); }
};

const Certs& certs() {
    static Certs* c = new Certs;
    return *c;
}

// An HTTP exchange with Beast's whole-message API on both ends: the
// server answers each request's body in reverse until the client closes.
template <class Conn>
void serve_reversed(weft::beast::Stream<Conn>& s) {
    boost::beast::flat_buffer buf;
    for (;;) {
        http::request<http::string_body> req;
        boost::beast::error_code ec;
        http::read(s, buf, req, ec);
        if (ec == http::error::end_of_stream) return;
        REQUIRE_MESSAGE(!ec, ec.message());
        http::response<http::string_body> res{http::status::ok, req.version()};
        res.body() = std::string(req.body().rbegin(), req.body().rend());
        res.prepare_payload();
        http::write(s, res);
    }
}

template <class Conn>
void exchange(weft::beast::Stream<Conn>& s) {
    boost::beast::flat_buffer buf;
    for (std::string body : {std::string("abc"), std::string(100000, 'x') + "y"}) {
        http::request<http::string_body> req{http::verb::post, "/", 11};
        req.set(http::field::host, "localhost");
        req.body() = body;
        req.prepare_payload();
        http::write(s, req);
        http::response<http::string_body> res;
        http::read(s, buf, res);
        CHECK(res.result() == http::status::ok);
        CHECK(res.body() == std::string(body.rbegin(), body.rend()));
    }
}

// The port of a server's "listening on http(s)://HOST:PORT/ with" line
// ("" if it exits first, or takes longer than 30 s).
std::string wait_port(Process& p) {
    std::string port;
    weft::suite::wait_until(
        [&] {
            weft::sleep(10ms);
            std::string out = p.output();
            size_t at = out.find("listening on ");
            size_t end = at == std::string::npos ? at : out.find("/ with", at);
            if (end != std::string::npos) port = out.substr(out.rfind(':', end) + 1, end - out.rfind(':', end) - 1);
            return !port.empty() || p.exited();
        },
        30s);
    return port;
}

}  // namespace

TEST_CASE("beast: http::read and http::write with whole messages over a weft::net::Conn, and over TLS") {
    (void)certs();
    weft::run(weft::Options{.procs = 2}, [] {
        // Plain.
        {
            weft::net::Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
            weft::WaitGroup wg;
            wg.add(1);
            weft::go([&] {
                weft::suite::DoneOnExit done(wg);
                weft::beast::Stream<weft::net::Conn> s(ln.accept());
                serve_reversed(s);
            });
            weft::beast::Stream<weft::net::Conn> c(weft::net::dial("tcp", ln.addr().to_string()));
            exchange(c);
            c.conn().close();
            wg.wait();
        }
        // TLS.
        weft::tls::Config scfg;
        scfg.certificate_files(certs().crt, certs().key);
        weft::tls::Listener ln = weft::tls::listen("tcp4", "127.0.0.1:0", scfg);
        weft::WaitGroup wg;
        wg.add(1);
        weft::go([&] {
            weft::suite::DoneOnExit done(wg);
            weft::beast::Stream<weft::tls::Conn> s(ln.accept());
            serve_reversed(s);
        });
        weft::tls::Config ccfg;
        ccfg.root_ca_file(certs().ca);
        weft::beast::Stream<weft::tls::Conn> c(
            weft::tls::dial("tcp", "localhost:" + std::to_string(ln.addr().port()), ccfg));
        exchange(c);
        c.conn().close();  // close_notify: the server's http::read ends with end_of_stream
        wg.wait();
    });
}

TEST_CASE("beast: a deadline that passes fails Beast's call with timed_out; end of stream is eof") {
    weft::run(weft::Options{.procs = 2}, [] {
        weft::net::Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
        weft::beast::Stream<weft::net::Conn> c(weft::net::dial("tcp", ln.addr().to_string()));
        weft::net::Conn server = ln.accept();
        c.conn().set_read_deadline(weft::Clock::now() + 50ms);
        boost::beast::flat_buffer buf;
        http::response<http::string_body> res;
        boost::beast::error_code ec;
        http::read(c, buf, res, ec);
        CHECK(ec == boost::asio::error::timed_out);
        c.conn().set_read_deadline(weft::TimePoint{});
        server.close();
        char b[1];
        c.read_some(boost::asio::buffer(b), ec);
        CHECK(ec == boost::asio::error::eof);
        // The throwing overload rethrows weft's own exception, message and all.
        c.conn().close();
        CHECK_THROWS_AS(c.read_some(boost::asio::buffer(b)), weft::net::ClosedError);
    });
}

TEST_CASE("beast: websocket::stream over weft — handshake, text and binary messages, close") {
    weft::run(weft::Options{.procs = 2}, [] {
        weft::net::Listener ln = weft::net::listen("tcp4", "127.0.0.1:0");
        weft::WaitGroup wg;
        wg.add(1);
        weft::go([&] {
            weft::suite::DoneOnExit done(wg);
            websocket::stream<weft::beast::Stream<weft::net::Conn>> ws(ln.accept());
            ws.accept();
            boost::beast::flat_buffer buf;
            for (;;) {
                boost::beast::error_code ec;
                ws.read(buf, ec);
                if (ec == websocket::error::closed) break;
                REQUIRE_MESSAGE(!ec, ec.message());
                ws.text(ws.got_text());
                ws.write(buf.data());
                buf.consume(buf.size());
            }
        });
        websocket::stream<weft::beast::Stream<weft::net::Conn>> ws(weft::net::dial("tcp", ln.addr().to_string()));
        ws.handshake("localhost", "/");
        boost::beast::flat_buffer buf;
        ws.text(true);
        ws.write(boost::asio::buffer(std::string("hello")));
        ws.read(buf);
        CHECK(ws.got_text());
        CHECK(boost::beast::buffers_to_string(buf.data()) == "hello");
        buf.consume(buf.size());
        ws.binary(true);
        std::string big(70000, '\x01');
        ws.write(boost::asio::buffer(big));
        ws.read(buf);
        CHECK_FALSE(ws.got_text());
        CHECK(boost::beast::buffers_to_string(buf.data()) == big);
        ws.close(websocket::close_code::normal);
        wg.wait();
    });
}

TEST_CASE("examples/beast_server with real clients: curl (routes, keep-alive, HTTPS) and Python websockets (ws, wss)") {
    (void)certs();
    weft::run(weft::Options{.procs = 2}, [] {
        Process plain(std::string(WEFT_BEAST_SERVER) + " --procs 1 --addr 127.0.0.1:0");
        Process tls(std::string(WEFT_BEAST_SERVER) + " --procs 1 --addr 127.0.0.1:0 --tls-cert " + certs().crt +
                    " --tls-key " + certs().key);
        std::string p = wait_port(plain), t = wait_port(tls);
        REQUIRE_MESSAGE(!p.empty(), plain.output());
        REQUIRE_MESSAGE(!t.empty(), tls.output());
        std::string base = "http://127.0.0.1:" + p;
        auto curl = [](const std::string& args) {
            return weft::blocking([&] { return run_command("curl -sS --max-time 20 " + args); });
        };
        auto r = curl(base + "/ " + base + "/ -w ' connects=%{num_connects}'");
        CHECK_MESSAGE(contains(r.out, "Hello from Beast on weft\n connects=1Hello from Beast on weft\n connects=0"), r.out);
        r = curl("-X POST --data-binary 'make me loud' " + base + "/upper");
        CHECK(r.out == "MAKE ME LOUD");
        r = curl("-o /dev/null -w '%{http_code} ' " + base + "/nope --next -sS -o /dev/null -w '%{http_code} ' -X POST " + base + "/");
        CHECK(r.out == "404 405 ");
        r = curl("--cacert " + certs().ca + " https://localhost:" + t + "/");
        CHECK_MESSAGE(r.out == "Hello from Beast on weft\n", r.out);

        const std::string client =
            "import asyncio, ssl, sys, websockets\n"
            "async def main(url, ca):\n"
            "    ctx = ssl.create_default_context(cafile=ca) if url.startswith('wss') else None\n"
            "    async with websockets.connect(url, ssl=ctx) as ws:\n"
            "        await ws.send('hello over websocket')\n"
            "        print('text:', await ws.recv())\n"
            "        await ws.send(bytes(range(256)) * 300)\n"
            "        r = await ws.recv()\n"
            "        print('binary:', type(r).__name__, len(r), r == bytes(range(256)) * 300)\n"
            "asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))\n";
        std::string script = certs().dir + "/ws_client.py";
        std::ofstream(script) << client;
        for (const std::string& url : {"ws://127.0.0.1:" + p + "/ws", "wss://localhost:" + t + "/ws"}) {
            auto w = weft::blocking(
                [&] { return run_command("timeout 30 /usr/bin/python3 " + script + " " + url + " " + certs().ca); });
            const std::string what = url + ": " + w.out;
            CHECK_MESSAGE(w.status == 0, what);
            CHECK_MESSAGE(contains(w.out, "text: hello over websocket\nbinary: bytes 76800 True"), what);
        }
        CHECK(plain.stop() == 0);
        CHECK(tls.stop() == 0);
        CHECK(contains(plain.output(), "beast_server: stopped by Terminated"));
    });
}
