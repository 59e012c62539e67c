// httpd.cpp — W8: an HTTP/1.1 keep-alive server answering GET / with
// "Hello, World!" (docs/BENCHMARKS.md, W8).
//
// One fiber per connection runs examples/common/http_server.cpp's
// serve_http: Boost.Beast's parser over a per-connection buffer, pipelined
// requests answered in order with one write per read, pre-built answers,
// idle connections closed after --idle seconds.
//
// Runs until SIGINT or SIGTERM; then it closes the listener, closes idle
// connections, lets busy ones finish (up to --grace-ms, then forces them),
// and prints its JSON line. A second signal exits at once. Measured as:
//
//   taskset -c 0 httpd --procs 1 &
//   taskset -c 1 wrk -t1 -c100 -d10s --latency http://127.0.0.1:8080/
//   kill -INT %1
//
// JSON: workload, procs, requests, connections, bad_requests, errors,
//       user_s, sys_s, cpu_s, requests_per_cpu_s (requests / (user + sys)
//       CPU seconds of the whole process, docs/BENCHMARKS.md's efficiency
//       figure), wall_ms, peak_rss_kb. requests_per_s and p99 come from wrk.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fmt/core.h>
#include <memory>
#include <stdexcept>
#include <string>
#include <sys/resource.h>

#include <weft/net.hpp>
#include <weft/weft.hpp>
#include "common/flags.hpp"
#include "common/http_server.hpp"
#include "common/json_line.hpp"
#include "common/rss.hpp"
#include "common/run.hpp"
#include "common/server.hpp"
#include "common/stopwatch.hpp"

namespace {

double seconds_of(const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; }

}  // namespace

int main(int argc, char** argv) {
    std::string addr = ex::take_string_flag("httpd", argc, argv, "addr", "127.0.0.1:8080");
    std::string tls_cert = ex::take_string_flag("httpd", argc, argv, "tls-cert", "");
    std::string tls_key = ex::take_string_flag("httpd", argc, argv, "tls-key", "");
    int64_t procs = 0, idle_timeout_s = 60, header_timeout_ms = 10'000, write_timeout_ms = 30'000, grace_ms = 5000;
    int64_t max_conns = 0, max_requests = 0;
    ex::Flags flags("httpd",
                    "W8: HTTP/1.1 server answering GET / with 'Hello, World!' until SIGINT/SIGTERM.\n"
                    "  --addr HOST:PORT: where to listen (default 127.0.0.1:8080).\n"
                    "  --tls-cert FILE --tls-key FILE: serve HTTPS with this PEM certificate chain and key.");
    flags.add_int("idle", &idle_timeout_s, 1, 86'400, "seconds before an idle connection is closed");
    flags.add_int("header-timeout-ms", &header_timeout_ms, 1, 3'600'000,
                  "a request's header must be complete this long after its first byte");
    flags.add_int("write-timeout-ms", &write_timeout_ms, 1, 3'600'000,
                  "a write of answers must progress within this (a client that never reads is closed)");
    flags.add_int("max-conns", &max_conns, 0, int64_t{1} << 30,
                  "connections served at once, beyond it 503 (0: the descriptor limit less a reserve)");
    flags.add_int("max-requests", &max_requests, 0, int64_t{1} << 62,
                  "requests per connection, the last answered with Connection: close (0: no cap)");
    flags.add_int("grace-ms", &grace_ms, 0, 3'600'000, "on a stop signal, wait this long for busy connections");
    flags.add_procs(&procs);
    flags.parse(argc, argv);
    if (tls_cert.empty() != tls_key.empty()) {
        fmt::print(stderr, "httpd: --tls-cert and --tls-key go together (try --help)\n");
        return 2;
    }
    auto tls = std::make_shared<weft::tls::Config>();
    if (!tls_cert.empty()) {
        try {
            tls->certificate_files(tls_cert, tls_key);
        } catch (const weft::tls::Error& e) {
            fmt::print(stderr, "httpd: {}\n", e.what());
            return 2;
        }
    }
    ex::raise_fd_limit();
    weft::block_stop_signals();

    return ex::run("httpd", procs, [=, https = !tls_cert.empty()]() -> int {
        weft::net::Listener ln;
        try {
            ln = weft::net::listen("tcp", addr);
        } catch (const std::exception& e) {  // a bad address (invalid_argument) or a bind error (system_error)
            fmt::print(stderr, "httpd: --addr {}: {}\n", addr, e.what());
            return 2;
        }
        auto counters = std::make_shared<ex::HttpCounters>();
        ex::HttpOptions hopts{.idle_timeout = std::chrono::seconds(idle_timeout_s),
                              .header_timeout = std::chrono::milliseconds(header_timeout_ms),
                              .write_timeout = std::chrono::milliseconds(write_timeout_ms),
                              .max_requests = static_cast<uint64_t>(max_requests),
                              .tls = https ? tls.get() : nullptr};
        auto srv = std::make_shared<ex::Server>(
            std::move(ln), [counters, hopts, tls](ex::Session& s) { ex::serve_http(s, hopts, *counters); },
            ex::ServerOptions{.grace = std::chrono::milliseconds(grace_ms),
                              .max_connections = max_conns,
                              .refuse = [tls = hopts.tls](ex::Session& s) { ex::refuse_http(s, tls); }});
        weft::StopSignals stop;
        weft::go([srv, ctx = stop.context()] {
            ctx.done().recv();
            srv->shutdown();
        });
        fmt::print("httpd: listening on {}://{}/ with {} Ps; SIGINT or SIGTERM stops\n", https ? "https" : "http",
                   srv->addr().to_string(), weft::procs());
        std::fflush(stdout);

        ex::Stopwatch sw;
        ex::ServerStats st = srv->serve();
        double wall_ms = sw.elapsed_ms();
        rusage ru{};
        getrusage(RUSAGE_SELF, &ru);
        double user_s = seconds_of(ru.ru_utime), sys_s = seconds_of(ru.ru_stime), cpu_s = user_s + sys_s;
        int64_t requests = counters->requests.load();
        double per_cpu_s = cpu_s > 0 ? static_cast<double>(requests) / cpu_s : 0.0;
        fmt::print("httpd: stopped by {}; {} requests on {} connections ({} bad, {} ended by an error, {} forced "
                   "closed, {} abandoned, {} refused over the cap of {}); {:.2f} CPU s (user {:.2f}, sys {:.2f}): "
                   "{:.0f} requests per CPU second\n",
                   stop.signal() ? strsignal(stop.signal()) : "shutdown", requests, st.connections,
                   counters->bad_requests.load(), st.errors, st.forced, st.abandoned, st.refused,
                   srv->max_connections(), cpu_s, user_s, sys_s, per_cpu_s);
        ex::JsonLine("httpd")
            .add("procs", weft::procs())
            .add("requests", requests)
            .add("connections", st.connections)
            .add("bad_requests", counters->bad_requests.load())
            .add("errors", st.errors)
            .add("refused", st.refused)
            .add("user_s", user_s)
            .add("sys_s", sys_s)
            .add("cpu_s", cpu_s)
            .add("requests_per_cpu_s", per_cpu_s, 0)
            .add("wall_ms", wall_ms)
            .add("peak_rss_kb", ex::peak_rss_kb())
            .print();
        return 0;
    });
}
