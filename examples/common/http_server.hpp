// http_server.hpp — W8's HTTP/1.1 connection handler, shared by
// examples/httpd and its test.
//
//   ex::HttpCounters counters;                 // outlives the server
//   auto srv = std::make_shared<ex::Server>(weft::net::listen("tcp", addr),
//       [&counters](ex::Session& s) { ex::serve_http(s, {}, counters); },
//       ex::ServerOptions{.refuse = ex::refuse_http});
//
// What it answers (docs/BENCHMARKS.md, W8):
//   GET / (a query string is ignored)  200, text/plain, "Hello, World!"
//   GET of any other path              404
//   HEAD                               GET's answer without its body
//   any other method                   405, with Allow: GET, HEAD
//   a malformed request                400, then the connection is closed
//   a header block over max_header     431, then closed
//   a body over max_body               413, then closed
//   HTTP/1.1 without Host, or with two 400, then closed
//   Transfer-Encoding whose last coding is not chunked, or with
//   Content-Length (request smuggling)  400, then closed
// Keep-alive follows the request (HTTP/1.1 unless "Connection: close";
// HTTP/1.0 only with "Connection: keep-alive", echoed back). Pipelined
// requests are answered in order, all the answers to one read in one write.
// A request body (on GET or anything else) is read and discarded.
// A connection idle for idle_timeout is closed without an answer; so is
// one whose request header is not complete header_timeout after it began,
// and one whose answers cannot be written within write_timeout.
// Over the server's connection cap (ServerOptions::max_connections),
// refuse_http answers 503 with "Retry-After: 1" and closes.
//
// Parsing is Boost.Beast's basic_parser (header-only, Debian's
// libboost1.74-dev), driven over a per-connection buffer; nothing is
// allocated per request.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include <weft/time.hpp>
#include <weft/tls.hpp>
#include "common/server.hpp"

namespace ex {

struct HttpOptions {
    weft::Duration idle_timeout = std::chrono::seconds(60);
    // A request's header must be complete this long after its first byte
    // (Go's ReadHeaderTimeout): reads do not extend it, so a client that
    // sends a byte a second cannot hold a connection (slowloris).
    weft::Duration header_timeout = std::chrono::seconds(10);
    // A write of answers must progress within this (Go's WriteTimeout, but
    // per write): a client that never reads is closed once the socket
    // buffers are full, separately from the idle deadline.
    weft::Duration write_timeout = std::chrono::seconds(30);
    // Requests answered per connection; the last one's answer says
    // "Connection: close". 0: no cap.
    uint64_t max_requests = 0;
    uint32_t max_header = 8192;  // request line and header fields, bytes
    uint64_t max_body = 1 << 20;
    // HTTPS: the connections speak TLS with this configuration (it must
    // outlive the server). The handshake runs under the header deadline.
    const weft::tls::Config* tls = nullptr;
};

struct HttpCounters {  // statistics only: relaxed
    std::atomic<int64_t> requests{0};      // answered, any status
    std::atomic<int64_t> bad_requests{0};  // answered 4xx and closed (400, 413, 431)
};

// Serves one connection until the peer closes, a request asks to close, a
// bad request, the idle timeout, or the server's shutdown. Throws
// std::system_error on a reset (the Server counts it).
void serve_http(Session& s, const HttpOptions& opts, HttpCounters& counters);

// ServerOptions::refuse for HTTP: a 503 and a lingering close. For HTTPS
// (`tls` given: [&cfg](ex::Session& s) { ex::refuse_http(s, &cfg); }) the
// connection is closed at once: the 503 would cost a TLS handshake, more
// CPU than a refusal may spend while connections flood in.
void refuse_http(Session& s, const weft::tls::Config* tls = nullptr);

}  // namespace ex
