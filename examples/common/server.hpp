// server.hpp — the accept loop, connection registry and graceful shutdown
// that the echo and HTTP servers share.
//
//   auto srv = std::make_shared<ex::Server>(weft::net::listen("tcp", addr),
//                                           [](ex::Session& s) { handle(s); });
//   weft::go([srv, done = stop.chan()] { done.recv(); srv->shutdown(); });
//   ex::ServerStats st = srv->serve();    // until shutdown(), then drains
//
// One fiber per connection runs the handler; when the handler returns (or
// throws std::system_error: a reset, a timeout) the connection is closed.
// The design is in server.cpp.
//
// Contexts: everything from fibers. serve() from one fiber, once;
// shutdown() from any fiber, any number of times; Session from the
// connection's own fiber (begin_idle/end_idle/stopping only).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <weft/net.hpp>
#include <weft/time.hpp>

namespace ex {

class Session;

struct ServerOptions {
    // After shutdown(), how long serve() waits for connections to end by
    // themselves before forcing the rest closed (shutdown(2) both ways).
    weft::Duration grace = std::chrono::seconds(5);
    // After forcing, how much longer serve() waits; connections still open
    // then are abandoned (counted in ServerStats::abandoned).
    weft::Duration force_wait = std::chrono::seconds(1);
    // Connections served at once. A connection accepted beyond it is
    // refused (see refuse) and closed, so a flood of clients never runs the
    // process out of descriptors. 0: serve() derives it from RLIMIT_NOFILE
    // as it starts: the soft limit less a reserve of max(32, limit/8) for
    // everything else the process opens.
    int64_t max_connections = 0;
    // How a connection over the cap is told so (HTTP: a 503), in a fiber of
    // its own, with the connection's deadline refuse_timeout ahead; the
    // connection is closed when it returns. At most min(cap, 32)/2
    // refusals run at once; the rest, and every one when refuse is empty,
    // are closed at once.
    std::function<void(Session&)> refuse;
    weft::Duration refuse_timeout = std::chrono::seconds(1);
};

struct ServerStats {
    int64_t connections = 0;  // accepted
    int64_t errors = 0;       // handlers ended by std::system_error (reset, timeout)
    int64_t forced = 0;       // still open when the grace period ended
    int64_t abandoned = 0;    // still open after forcing
    int64_t accept_errors = 0;
    int64_t refused = 0;  // over max_connections: refused or closed at once
};

class Server;

// One accepted connection, as its handler sees it.
class Session {
public:
    weft::net::Conn& conn() { return conn_; }

    // For request/response protocols, around the read that waits for the
    // next request (nothing of a request buffered). begin_idle() returns
    // false if the server is shutting down: return (the connection is
    // closed) instead of reading. Between the two calls, shutdown() may end
    // the read early: it returns 0, as at EOF.
    bool begin_idle();
    void end_idle() { idle_.store(false, std::memory_order_relaxed); }  // only this fiber reads it back
    // True once shutdown() has been called.
    bool stopping() const;

    explicit Session(weft::net::Conn c, Server* srv, bool refused = false)
        : conn_(std::move(c)), srv_(srv), refused_(refused) {}

private:
    friend class Server;
    weft::net::Conn conn_;
    Server* srv_;
    const bool refused_;  // run by ServerOptions::refuse, not the handler
    std::atomic<bool> idle_{false};
};

using Handler = std::function<void(Session&)>;

class Server : public std::enable_shared_from_this<Server> {
public:
    Server(weft::net::Listener ln, Handler handler, ServerOptions opts = {});
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    weft::net::Addr addr() const { return addr_; }

    // Accepts until shutdown(), starting a fiber per connection; then waits
    // for the connections (see ServerOptions) and returns. The Server must
    // be owned by a std::shared_ptr: connection fibers keep it alive.
    ServerStats serve();

    // Stops accepting (closes the listener, which wakes serve()) and ends
    // the reads of idle sessions. Idempotent.
    void shutdown();

    bool stopping() const { return stopping_.load(); }
    // Connections open now (refusals in progress included).
    int64_t active() const;
    // The cap serve() applies (ServerOptions::max_connections, or what it
    // derived); 0 before serve() starts.
    int64_t max_connections() const { return max_connections_.load(std::memory_order_relaxed); }

private:
    friend class Session;
    void run_session(std::unique_ptr<Session> s);
    // Unregisters, closes and frees s, under the registry lock (SV1, SV4).
    void remove(std::unique_ptr<Session> s);
    // Waits until no session is registered or d has passed; true if none.
    bool wait_drained(weft::Duration d);

    struct State;
    std::unique_ptr<State> st_;
    weft::net::Addr addr_;
    Handler handler_;
    ServerOptions opts_;
    std::atomic<bool> stopping_{false};
    std::atomic<int64_t> max_connections_{0};  // for max_connections() only: relaxed
};

// The --addr flag the servers take. flags.hpp has integer and bool flags
// only, so this takes `--addr VALUE` / `--addr=VALUE` out of argv before
// ex::Flags::parse sees it (a missing value is the same usage error, status
// 2). Returns def if absent.
std::string take_string_flag(const char* program, int& argc, char** argv, const char* name, std::string def);

// Raises the soft RLIMIT_NOFILE to the hard limit (thousands of sockets).
void raise_fd_limit();

}  // namespace ex
