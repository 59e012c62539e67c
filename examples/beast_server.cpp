// beast_server — Boost.Beast's synchronous HTTP and WebSocket API on weft
// fibers (weft::beast::Stream, <weft/beast.hpp>): a fiber per connection,
// written as blocking code, plain or over TLS.
//
//   beast_server [--addr HOST:PORT] [--tls-cert FILE --tls-key FILE] [--procs N]
//
// Routes:
//   GET  /         200 "Hello from Beast on weft\n"
//   GET  /fibers   200 the number of fibers running (weft::num_fibers())
//   POST /upper    200 the request body in upper case
//   GET  /ws       a WebSocket (Upgrade: websocket) that echoes each
//                  message, text or binary, until the client closes
//   other paths    404; other methods on a route: 405
// Keep-alive as the request asks. A connection idle for 60 s is closed.
// Runs until SIGINT or SIGTERM.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <fmt/core.h>
#include <memory>
#include <string>

#include <weft/beast.hpp>
#include <weft/weft.hpp>
#include "common/flags.hpp"
#include "common/run.hpp"
#include "common/server.hpp"

namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using namespace std::chrono_literals;

namespace {

constexpr auto kIdle = 60s;

http::response<http::string_body> answer(const http::request<http::string_body>& req, http::status st,
                                         std::string body) {
    http::response<http::string_body> res{st, req.version()};
    res.set(http::field::content_type, "text/plain");
    res.keep_alive(req.keep_alive());
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

// The route's answer; GET /ws is taken before this.
http::response<http::string_body> route(const http::request<http::string_body>& req) {
    auto only = [&](http::verb v) { return req.method() == v; };
    std::string target(req.target());
    if (target == "/") {
        if (!only(http::verb::get)) return answer(req, http::status::method_not_allowed, "GET only\n");
        return answer(req, http::status::ok, "Hello from Beast on weft\n");
    }
    if (target == "/fibers") {
        if (!only(http::verb::get)) return answer(req, http::status::method_not_allowed, "GET only\n");
        return answer(req, http::status::ok, fmt::format("{}\n", weft::num_fibers()));
    }
    if (target == "/upper") {
        if (!only(http::verb::post)) return answer(req, http::status::method_not_allowed, "POST only\n");
        std::string body = req.body();
        for (char& c : body) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return answer(req, http::status::ok, std::move(body));
    }
    return answer(req, http::status::not_found, "no such page\n");
}

// A WebSocket on the connection whose upgrade request is `req`: echoes
// until the client closes.
template <class Conn>
void websocket_echo(weft::beast::Stream<Conn>&& stream, http::request<http::string_body>& req) {
    websocket::stream<weft::beast::Stream<Conn>> ws(std::move(stream));
    ws.accept(req);
    boost::beast::flat_buffer buf;
    for (;;) {
        ws.next_layer().conn().set_read_deadline(weft::Clock::now() + kIdle);
        boost::beast::error_code ec;
        ws.read(buf, ec);
        if (ec == websocket::error::closed) return;  // the client's close, answered
        if (ec) throw boost::system::system_error(ec);
        ws.text(ws.got_text());
        ws.write(buf.data());
        buf.consume(buf.size());
    }
}

// One connection: requests until the client closes or asks to; a
// WebSocket upgrade hands the connection to websocket_echo.
template <class Conn>
void serve(Conn c) {
    weft::beast::Stream<Conn> stream(std::move(c));
    boost::beast::flat_buffer buf;
    try {
        for (;;) {
            stream.conn().set_read_deadline(weft::Clock::now() + kIdle);
            http::request<http::string_body> req;
            boost::beast::error_code ec;
            http::read(stream, buf, req, ec);
            if (ec == http::error::end_of_stream) return;
            if (ec) throw boost::system::system_error(ec);
            if (websocket::is_upgrade(req) && req.target() == "/ws") {
                websocket_echo(std::move(stream), req);
                return;
            }
            http::response<http::string_body> res = route(req);
            http::write(stream, res);
            if (!res.keep_alive()) break;
        }
        stream.conn().close();
    } catch (const std::exception& e) {  // a reset, a deadline, a bad request, a TLS failure
        fmt::print(stderr, "beast_server: {}\n", e.what());
    }
}

// Accepts until the listener is closed, a fiber per connection.
template <class Listener>
void accept_loop(Listener& ln) {
    for (;;) {
        auto c = ln.accept();
        weft::go([c = std::move(c)]() mutable { serve(std::move(c)); });
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string addr = ex::take_string_flag("beast_server", argc, argv, "addr", "127.0.0.1:8080");
    std::string cert = ex::take_string_flag("beast_server", argc, argv, "tls-cert", "");
    std::string key = ex::take_string_flag("beast_server", argc, argv, "tls-key", "");
    int64_t procs = 0;
    ex::Flags flags("beast_server",
                    "Boost.Beast's HTTP and WebSocket API on weft fibers: GET /, GET /fibers, POST /upper, GET /ws.\n"
                    "  --addr HOST:PORT: where to listen (default 127.0.0.1:8080).\n"
                    "  --tls-cert FILE --tls-key FILE: serve HTTPS and WSS with this PEM certificate chain and key.");
    flags.add_procs(&procs);
    flags.parse(argc, argv);
    if (cert.empty() != key.empty()) {
        fmt::print(stderr, "beast_server: --tls-cert and --tls-key go together (try --help)\n");
        return 2;
    }
    weft::tls::Config tls;
    if (!cert.empty()) {
        try {
            tls.certificate_files(cert, key);
        } catch (const weft::tls::Error& e) {
            fmt::print(stderr, "beast_server: {}\n", e.what());
            return 2;
        }
    }
    weft::block_stop_signals();
    return ex::run("beast_server", procs, [&]() -> int {
        weft::net::Listener ln;
        try {
            ln = weft::net::listen("tcp", addr);
        } catch (const std::exception& e) {
            fmt::print(stderr, "beast_server: --addr {}: {}\n", addr, e.what());
            return 2;
        }
        weft::StopSignals stop;
        bool https = !cert.empty();
        fmt::print("beast_server: listening on {}://{}/ with {} Ps; SIGINT or SIGTERM stops\n", https ? "https" : "http",
                   ln.addr().to_string(), weft::procs());
        std::fflush(stdout);
        try {
            if (https) {
                weft::tls::Listener tln(std::move(ln), tls);
                weft::ContextBinding bound(tln.raw(), stop.context());  // accept() ends at SIGINT/SIGTERM
                accept_loop(tln);
            } else {
                weft::ContextBinding bound(ln, stop.context());
                accept_loop(ln);
            }
        } catch (const weft::ContextError&) {
        }
        fmt::print("beast_server: stopped by {}\n", strsignal(stop.signal()));
        return 0;
    });
}
