// server.cpp — the accept loop and graceful shutdown (see server.hpp), as
// Go's net/http Server.Serve and Server.Shutdown, simplified.
//
// Owns: the listener, the registry of open sessions, the shutdown state.
//
// Invariants:
//   SV1. A session is in the registry from just after accept() until its
//       handler has returned; its Conn is closed under the registry lock as
//       it leaves. shutdown() and the forcing step touch a Conn only under
//       that lock and only while it is registered, so they never act on a
//       closed (or reused) descriptor.
//   SV2. Once stopping_ is set and the registry is empty, `drained` holds a
//       token (the last remove() or shutdown() itself puts it there).
//   SV3. A session blocked in its idle read is woken by shutdown(): the
//       handler stores idle_ = true, then loads stopping_; shutdown() stores
//       stopping_ = true, then loads every idle_ (all seq_cst). Whichever
//       store comes second, its load sees the other's: the handler either
//       sees stopping_ and does not read, or shutdown() sees idle_ and
//       shut(2)s the read side, so the read returns 0.
//   SV4. A session is freed before its removal can put the token: once
//       serve() has drained, no Session (nor its descriptor) is left for the
//       fiber that ran it to free. That fiber may still be finishing when
//       weft::run returns, and a fiber alive then is abandoned without
//       unwinding.
//   SV5. serving + refusing == sessions.size() (all under mu); serving never
//       exceeds the cap, refusing never exceeds max_refusing. So the
//       descriptors held for connections stay below cap + max_refusing + 1
//       (the one just accepted), which the cap's reserve leaves room for.
//
// Shutdown, in steps:
//   1. shutdown() sets stopping_, closes the listener (serve()'s accept()
//      throws, and serve() leaves its loop) and shuts the read side of
//      every idle session (SV3). Busy sessions finish the request in hand.
//   2. serve() waits up to opts.grace for the registry to empty (SV2).
//   3. Then it forces the rest: shutdown(2) both ways, so blocked reads see
//      EOF and blocked writes fail (EPIPE); and waits up to opts.force_wait.
//   4. Sessions still open are abandoned and counted; their fibers keep the
//      Server alive (they hold a shared_ptr) until they end, if ever.
//
// Rejected: a WaitGroup for the connections (WaitGroup::wait_for could
// bound the wait, but the registry is needed anyway, to force the rest
// closed, and its emptiness is the same signal); closing busy connections
// at once (a request being answered would lose its response); at the cap, not accepting until a connection ends
// (Go's netutil.LimitListener: new clients wait unanswered in the backlog,
// behind the very clients that hold the server, and the backlog fills).
#include "common/server.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fmt/core.h>
#include <mutex>
#include <optional>
#include <string_view>
#include <sys/resource.h>
#include <unordered_set>
#include <utility>

#include <weft/chan.hpp>
#include <weft/run.hpp>
#include <weft/select.hpp>
#include <weft/sync/mutex.hpp>

namespace ex {

struct Server::State {
    weft::net::Listener ln;
    weft::Mutex mu;
    std::unordered_set<Session*> sessions;  // guarded by mu (SV1)
    int64_t serving = 0, refusing = 0;      // guarded by mu (SV5)
    weft::Chan<int> drained{1};             // SV2
    std::atomic<int64_t> connections{0}, errors{0}, accept_errors{0}, refused{0};  // statistics only: relaxed
};

namespace {

constexpr int64_t kMinReserve = 32;

// ServerOptions::max_connections' default: the descriptor limit less a
// reserve for the listener, the poller, files and whatever else.
int64_t derived_cap() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return int64_t{1} << 20;
    auto limit = static_cast<int64_t>(rl.rlim_cur);
    return std::max<int64_t>(1, limit - std::max(kMinReserve, limit / 8));
}

}  // namespace

bool Session::begin_idle() {
    idle_.store(true);              // SV3: seq_cst store, then load
    return !srv_->stopping_.load();
}

// Relaxed: a hint for the handler's next answer; the wake-up protocol (SV3)
// is begin_idle's.
bool Session::stopping() const { return srv_->stopping_.load(std::memory_order_relaxed); }

Server::Server(weft::net::Listener ln, Handler handler, ServerOptions opts)
    : st_(std::make_unique<State>()), handler_(std::move(handler)), opts_(opts) {
    addr_ = ln.addr();
    st_->ln = std::move(ln);
}

Server::~Server() = default;

int64_t Server::active() const {
    std::lock_guard g(st_->mu);
    return static_cast<int64_t>(st_->sessions.size());
}

ServerStats Server::serve() {
    std::shared_ptr<Server> self = shared_from_this();
    const int64_t cap = opts_.max_connections > 0 ? opts_.max_connections : derived_cap();
    max_connections_.store(cap, std::memory_order_relaxed);
    // Half the smallest reserve (or of the cap, when the user set one below it).
    const int64_t max_refusing = opts_.refuse ? std::max<int64_t>(1, std::min(cap, kMinReserve) / 2) : 0;
    weft::Duration backoff{};
    while (!stopping_.load()) {
        weft::net::Conn c;
        try {
            c = st_->ln.accept();
            backoff = {};
        } catch (const weft::net::ClosedError&) {
            shutdown();  // step 1 (a no-op if it caused this); closed elsewhere, it shuts down all the same
            break;
        } catch (const std::system_error& e) {
            if (stopping_.load()) break;
            // Listener::accept rides out EMFILE and friends itself; back off on
            // anything else as Go's Serve does (5 ms doubling to 1 s).
            int64_t n = st_->accept_errors.fetch_add(1, std::memory_order_relaxed);
            if (n < 10) fmt::print(stderr, "accept: {}; retrying\n", e.what());
            backoff = backoff == weft::Duration{} ? std::chrono::milliseconds(5)
                                                  : std::min<weft::Duration>(backoff * 2, std::chrono::seconds(1));
            weft::sleep(backoff);
            continue;
        }
        bool refuse;
        std::unique_ptr<Session> s;
        {
            std::lock_guard g(st_->mu);
            if (stopping_.load()) break;  // too late: c is closed as it goes
            refuse = st_->serving >= cap;
            if (refuse && st_->refusing >= max_refusing) {
                st_->refused.fetch_add(1, std::memory_order_relaxed);
                continue;  // over the cap, refusals busy: c is closed at once
            }
            (refuse ? st_->refusing : st_->serving)++;  // SV5
            s = std::make_unique<Session>(std::move(c), this, refuse);
            st_->sessions.insert(s.get());  // SV1
        }
        if (refuse) {
            st_->refused.fetch_add(1, std::memory_order_relaxed);
        } else {
            st_->connections.fetch_add(1, std::memory_order_relaxed);
        }
        weft::go([self, s = std::move(s)]() mutable { self->run_session(std::move(s)); });
    }

    ServerStats stats;
    if (!wait_drained(opts_.grace)) {  // step 2
        std::lock_guard g(st_->mu);     // step 3
        stats.forced = static_cast<int64_t>(st_->sessions.size());
        for (Session* s : st_->sessions) {
            try {
                s->conn_.shutdown_read();
                s->conn_.shutdown_write();
            } catch (const std::system_error&) {  // not connected any more: nothing to force
            }
        }
    }
    if (stats.forced > 0 && !wait_drained(opts_.force_wait)) stats.abandoned = active();  // step 4
    stats.connections = st_->connections.load(std::memory_order_relaxed);
    stats.errors = st_->errors.load(std::memory_order_relaxed);
    stats.accept_errors = st_->accept_errors.load(std::memory_order_relaxed);
    stats.refused = st_->refused.load(std::memory_order_relaxed);
    return stats;
}

void Server::shutdown() {
    if (stopping_.exchange(true)) return;  // step 1
    try {
        st_->ln.close();
    } catch (const std::system_error& e) {
        fmt::print(stderr, "closing the listener: {}\n", e.what());
    }
    std::lock_guard g(st_->mu);
    for (Session* s : st_->sessions) {
        if (!s->idle_.load()) continue;  // SV3
        try {
            s->conn_.shutdown_read();
        } catch (const std::system_error&) {  // already disconnected: its read ends anyway
        }
    }
    int token = 0;
    if (st_->sessions.empty()) st_->drained.try_send(token);  // SV2
}

void Server::run_session(std::unique_ptr<Session> s) {
    try {
        if (s->refused_) {
            s->conn_.set_deadline(weft::Clock::now() + opts_.refuse_timeout);
            opts_.refuse(*s);
        } else {
            handler_(*s);
        }
    } catch (const std::system_error&) {  // a reset peer, a deadline: this connection's end only
        if (!s->refused_) st_->errors.fetch_add(1, std::memory_order_relaxed);
    }
    remove(std::move(s));
}

void Server::remove(std::unique_ptr<Session> s) {
    std::lock_guard g(st_->mu);
    st_->sessions.erase(s.get());
    (s->refused_ ? st_->refusing : st_->serving)--;  // SV5
    // SV1: closed under the lock, so shutdown() never sees a closed Conn; and
    // before the token, so once serve() returns every descriptor is closed.
    try {
        s->conn_.close();
    } catch (const std::system_error&) {
    }
    s.reset();  // SV4
    int token = 0;
    if (stopping_.load() && st_->sessions.empty()) st_->drained.try_send(token);  // SV2
}

bool Server::wait_drained(weft::Duration d) {
    auto deadline = weft::Clock::now() + d;
    for (;;) {
        if (active() == 0) return true;
        auto left = deadline - weft::Clock::now();
        if (left <= weft::Duration::zero()) return false;
        // A Timer, not weft::after: it is stopped and freed on return even
        // if run() ends before it would have fired.
        weft::Timer timeout(left);
        weft::select(weft::recv_case(st_->drained, [](std::optional<int>) {}),
                     weft::recv_case(timeout.chan(), [](std::optional<weft::TimePoint>) {}));
    }
}

std::string take_string_flag(const char* program, int& argc, char** argv, const char* name, std::string def) {
    std::string flag = std::string("--") + name;
    std::string value = std::move(def);
    int out = 1;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == flag) {
            if (i + 1 >= argc) {
                fmt::print(stderr, "{}: {}: missing value (try --help)\n", program, flag);
                std::exit(2);
            }
            value = argv[++i];
        } else if (arg.size() > flag.size() && arg.substr(0, flag.size()) == flag && arg[flag.size()] == '=') {
            value = std::string(arg.substr(flag.size() + 1));
        } else {
            argv[out++] = argv[i];
        }
    }
    argc = out;
    argv[argc] = nullptr;
    return value;
}

void raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);  // best effort: the old limit still works for small runs
}

}  // namespace ex
