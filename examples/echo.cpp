// echo.cpp — a TCP echo server, and a load-generating client for it.
//
// Server (default): listens on --addr, one fiber per connection echoing
// until the peer closes (examples/common/echo.cpp, serve_echo). SIGINT or
// SIGTERM: stop accepting, close the listener, give open connections
// --grace-ms to finish, force the rest closed, and exit 0 with a JSON line
// (connections served, bytes echoed). A second signal exits at once.
//
// Client (--client): opens --conns connections to --addr at the same time,
// one fiber each; each sends --bytes of pseudo-random data in chunks and
// checks every byte that comes back (--seconds N: repeats that for N
// seconds). Exits 1 if any byte differs or any connection fails. Meant
// for loopback.
//
//   echo --procs 2 &
//   echo --client --conns 2000 --bytes 65536
//
// JSON (server): workload, mode, procs, connections, bytes, errors, forced,
//                abandoned, wall_ms, peak_rss_kb.
// JSON (client): workload, mode, procs, conns, conns_failed, mismatches,
//                bytes, wall_ms, mb_per_s, peak_rss_kb.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fmt/core.h>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

#include <weft/net.hpp>
#include <weft/weft.hpp>
#include "common/echo.hpp"
#include "common/flags.hpp"
#include "common/json_line.hpp"
#include "common/rss.hpp"
#include "common/run.hpp"
#include "common/server.hpp"
#include "common/stopwatch.hpp"

namespace {

int server_main(const std::string& addr, int64_t procs, int64_t grace_ms, ex::EchoOptions eopts, int64_t max_conns) {
    weft::block_stop_signals();
    return ex::run("echo", procs, [addr, grace_ms, eopts, max_conns]() -> int {
        weft::net::Listener ln;
        try {
            ln = weft::net::listen("tcp", addr);
        } catch (const std::exception& e) {  // a bad address (invalid_argument) or a bind error (system_error)
            fmt::print(stderr, "echo: --addr {}: {}\n", addr, e.what());
            return 2;
        }
        auto counters = std::make_shared<ex::EchoCounters>();
        auto srv = std::make_shared<ex::Server>(
            std::move(ln), [counters, eopts](ex::Session& s) { ex::serve_echo(s, eopts, *counters); },
            ex::ServerOptions{.grace = std::chrono::milliseconds(grace_ms), .max_connections = max_conns});
        weft::StopSignals stop;
        weft::go([srv, ctx = stop.context()] {
            ctx.done().recv();
            srv->shutdown();
        });
        fmt::print("echo: listening on {} with {} Ps; SIGINT or SIGTERM stops\n", srv->addr().to_string(),
                   weft::procs());
        std::fflush(stdout);

        ex::Stopwatch sw;
        ex::ServerStats st = srv->serve();
        double wall_ms = sw.elapsed_ms();
        int64_t bytes = counters->bytes.load();
        fmt::print("echo: stopped by {}; served {} connections, echoed {} bytes ({} ended by an error, {} forced "
                   "closed after {} ms, {} abandoned)\n",
                   stop.signal() ? strsignal(stop.signal()) : "shutdown", st.connections, bytes, st.errors, st.forced,
                   grace_ms, st.abandoned);
        ex::JsonLine("echo")
            .add_string("mode", "server")
            .add("procs", weft::procs())
            .add("connections", st.connections)
            .add("bytes", bytes)
            .add("errors", st.errors)
            .add("forced", st.forced)
            .add("abandoned", st.abandoned)
            .add("wall_ms", wall_ms)
            .add("peak_rss_kb", ex::peak_rss_kb())
            .print();
        return 0;
    });
}

int client_main(const ex::EchoClientOptions& opts, int64_t procs) {
    return ex::run("echo", procs, [opts]() -> int {
        ex::EchoClientResult r = ex::run_echo_client(opts);
        double mb_per_s = static_cast<double>(r.bytes) / 1e6 / (r.wall_ms / 1e3);
        fmt::print("echo: {} connections to {} on {} Ps: {} ok, {} failed, {} with wrong bytes; {} bytes echoed and "
                   "checked in {:.1f} ms ({:.1f} MB/s)\n",
                   opts.conns, opts.addr, weft::procs(), r.conns_ok, r.conns_failed, r.mismatches, r.bytes, r.wall_ms,
                   mb_per_s);
        bool failed = r.conns_failed > 0 || r.mismatches > 0;
        if (failed) fmt::print(stderr, "echo: FAILED: {}\n", r.first_error);
        ex::JsonLine("echo")
            .add_string("mode", "client")
            .add("procs", weft::procs())
            .add("conns", opts.conns)
            .add("conns_failed", r.conns_failed)
            .add("mismatches", r.mismatches)
            .add("bytes", r.bytes)
            .add("wall_ms", r.wall_ms)
            .add("mb_per_s", mb_per_s)
            .add("peak_rss_kb", ex::peak_rss_kb())
            .print();
        return failed ? 1 : 0;
    });
}

}  // namespace

int main(int argc, char** argv) {
    std::string addr = ex::take_string_flag("echo", argc, argv, "addr", "127.0.0.1:7000");
    int64_t procs = 0, conns = 2000, bytes = 65536, seconds = 0, grace_ms = 5000;
    int64_t idle_s = 60, write_timeout_ms = 30'000, max_conns = 0;
    bool client = false;
    ex::Flags flags("echo",
                    "TCP echo server; with --client, a client opening --conns connections at once and checking\n"
                    "  every echoed byte. --addr HOST:PORT: listen on / connect to (default 127.0.0.1:7000).");
    flags.add_bool("client", &client, "run the load-generating client instead of the server");
    flags.add_int("conns", &conns, 1, 100'000, "client: connections, all open at once");
    flags.add_int("bytes", &bytes, 1, int64_t{1} << 32, "client: bytes each connection sends per round");
    flags.add_int("seconds", &seconds, 0, 86'400, "client: repeat rounds for this long (0: one round)");
    flags.add_int("grace-ms", &grace_ms, 0, 3'600'000, "server: on a stop signal, wait this long for connections");
    flags.add_int("idle", &idle_s, 1, 86'400, "server: seconds before a connection that sends nothing is closed");
    flags.add_int("write-timeout-ms", &write_timeout_ms, 1, 3'600'000,
                  "server: an echo write must progress within this (a peer that never reads is closed)");
    flags.add_int("max-conns", &max_conns, 0, int64_t{1} << 30,
                  "server: connections served at once, beyond it closed (0: the descriptor limit less a reserve)");
    flags.add_procs(&procs);
    flags.parse(argc, argv);
    ex::raise_fd_limit();

    if (!client)
        return server_main(addr, procs, grace_ms,
                           ex::EchoOptions{.idle_timeout = std::chrono::seconds(idle_s),
                                           .write_timeout = std::chrono::milliseconds(write_timeout_ms)},
                           max_conns);
    ex::EchoClientOptions opts;
    opts.addr = addr;
    opts.conns = conns;
    opts.bytes = bytes;
    opts.seconds = static_cast<double>(seconds);
    return client_main(opts, procs);
}
