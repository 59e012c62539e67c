// echo.hpp — the echo server's connection handler and the load-generating
// client, shared by examples/echo and its test.
//
//   ex::EchoCounters counters;              // outlives the server
//   auto srv = std::make_shared<ex::Server>(weft::net::listen("tcp", addr),
//       [&counters](ex::Session& s) { ex::serve_echo(s, {}, counters); });
//
//   ex::EchoClientResult r = ex::run_echo_client(
//       {.addr = "127.0.0.1:7000", .conns = 2000, .bytes = 65536});
//
// Call both from fibers.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "common/server.hpp"

namespace ex {

struct EchoCounters {
    std::atomic<int64_t> bytes{0};  // echoed; statistics only: relaxed
};

struct EchoOptions {
    // A connection that sends nothing for this long is closed.
    weft::Duration idle_timeout = std::chrono::seconds(60);
    // An echo write must progress within this: a peer that sends but never
    // reads is closed once the socket buffers fill (TimeoutError, counted
    // in ServerStats::errors).
    weft::Duration write_timeout = std::chrono::seconds(30);
};

// Echoes what the peer sends until it closes its side (EOF) or is idle for
// idle_timeout, then returns (the Server closes the connection). Throws
// std::system_error on a reset, a write to a peer that has gone, or a
// write that cannot progress within write_timeout.
void serve_echo(Session& s, const EchoOptions& opts, EchoCounters& counters);

struct EchoClientOptions {
    std::string addr = "127.0.0.1:7000";
    int64_t conns = 2000;   // connections, open at the same time, one fiber each
    int64_t bytes = 65536;  // per connection and round
    double seconds = 0;     // 0: one round per connection; else rounds until this much time has passed
    int64_t chunk = 16384;  // written, then read back and checked, at a time
    weft::Duration timeout = std::chrono::seconds(60);  // each connection's dial, and each chunk's round trip
};

struct EchoClientResult {
    int64_t conns_ok = 0;      // connections that completed every round, every byte matching
    int64_t conns_failed = 0;  // a dial, read or write failed, or a timeout
    int64_t mismatches = 0;    // connections that read back a byte they had not sent
    int64_t bytes = 0;         // sent and read back intact, over all connections
    double wall_ms = 0;
    std::string first_error;   // empty if none
};

// Opens opts.conns connections at once, each sending pseudo-random data in
// chunks and checking that every byte comes back unchanged, then closing.
EchoClientResult run_echo_client(const EchoClientOptions& opts);

}  // namespace ex
