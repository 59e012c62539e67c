// context.hpp — weft::Context, Go's context: cancellation, deadlines and
// request-scoped values that flow down a tree of calls and fibers.
//
//   void handle(weft::net::Conn& conn, const weft::Context& parent) {
//       auto [ctx, cancel] = weft::with_timeout(parent, 5s);
//       weft::ContextBinding bound(conn, ctx);  // conn's calls end with ctx
//       weft::go([ctx] { work(ctx); });          // a Context is a cheap handle
//       weft::select(weft::recv_case(ctx.done(), [](auto) {}),
//                    weft::recv_case(results, [](auto r) { ... }));
//   }   // cancel's last copy gone: nothing is cancelled (call cancel() for that)
//
// Semantics are Go's:
//  - background() is never done and has no deadline or values; a
//    default-constructed Context is background().
//  - with_cancel(parent) gives a child and a CancelFunc; the child is done
//    when the CancelFunc is called or when the parent is done, whichever
//    comes first, and err() says which: ContextErrc::canceled or
//    ContextErrc::deadline_exceeded (the parent's reason is inherited).
//  - with_deadline(parent, t) / with_timeout(parent, d) also end the child
//    at t (deadline_exceeded); a child's deadline is never later than its
//    parent's. A deadline already past gives a context done at once.
//  - done() is a channel closed when the context is done: a recv_case on it
//    in a select is ready from then on (background's is nil: never ready).
//  - Cancelling a parent cancels every descendant, before its own done
//    channel closes; cancelling a child does not touch the parent.
//  - with_value(parent, key, v) gives a child that carries v under key;
//    value(key) searches the child, then its ancestors.
//  - Dropping a context or CancelFunc cancels nothing and leaks nothing:
//    when the last handle of a child goes, its timer is stopped and it
//    leaves its parent. (Go's vet asks you to call cancel; here it frees.)
//
// Blocking calls bound to a context throw weft::ContextError (a
// std::system_error whose code() is the ContextErrc) when it ends first:
// sleep(d, ctx), WaitGroup::wait(ctx), net::dial(..., ctx), and every
// blocking call of a Conn or Listener while a ContextBinding holds it.
// select with a recv_case on ctx.done() is the general form.
//
// Contexts: making a context with a deadline, and the calls above, from a
// fiber; err(), done(), value(), deadline() and CancelFunc from a fiber or
// the scheduler's timer callbacks. A CancelFunc may be called any number of
// times; the first call wins.
#pragma once

#include <memory>
#include <optional>
#include <system_error>
#include <utility>

#include <weft/chan.hpp>
#include <weft/clock.hpp>
#include <weft/context_error.hpp>

namespace weft {

namespace net {
class Conn;
class Listener;
}  // namespace net

namespace sched {
class CancelSet;
}  // namespace sched

class Context;

// A typed key for Context values: compare by identity, so make each one a
// static or global object.
//   static const weft::ContextKey<std::string> kRequestId;
template <class T>
class ContextKey {
public:
    constexpr ContextKey() = default;
    ContextKey(const ContextKey&) = delete;
    ContextKey& operator=(const ContextKey&) = delete;
};

class Context {
public:
    struct Done {};  // what done() carries: nothing, it is only ever closed

    Context() = default;  // background()
    static Context background() { return {}; }

    // Closed once the context is done. For contexts that can never end
    // (background() and values over it) a nil channel, never ready, as
    // Go's Background().Done().
    const Chan<Done>& done() const;
    // {} while live; else ContextErrc::canceled or deadline_exceeded.
    std::error_code err() const;
    bool is_done() const { return static_cast<bool>(err()); }
    // Throws ContextError("<what>: context ...") if done.
    void check(const char* what = "context") const;
    // The time it ends by itself, if any (its own or an ancestor's).
    std::optional<TimePoint> deadline() const;
    // The value under key here or in an ancestor, or null.
    template <class T>
    const T* value(const ContextKey<T>& key) const {
        return static_cast<const T*>(find_value(&key));
    }

    struct Node;  // internal: the tree (context.cpp)

private:
    friend struct detail_context_access;
    template <class T, class V>
    friend Context with_value(const Context&, const ContextKey<T>&, V&&);
    explicit Context(std::shared_ptr<const Node> n) : node_(std::move(n)) {}
    const void* find_value(const void* key) const;
    static Context add_value(const Context& parent, const void* key, std::shared_ptr<const void> v);
    friend class CancelFunc;
    friend std::pair<Context, class CancelFunc> with_deadline(const Context&, TimePoint);
    friend std::pair<Context, class CancelFunc> with_cancel(const Context&);

    std::shared_ptr<const Node> node_;  // null: background
};

// Cancels its context (ContextErrc::canceled) when called; later calls, and
// calls after the context is done, do nothing. Copyable.
class CancelFunc {
public:
    CancelFunc() = default;  // cancels nothing
    void operator()() const;

private:
    friend std::pair<Context, CancelFunc> with_deadline(const Context&, TimePoint);
    friend std::pair<Context, CancelFunc> with_cancel(const Context&);
    explicit CancelFunc(std::shared_ptr<const Context::Node> n) : node_(std::move(n)) {}
    std::shared_ptr<const Context::Node> node_;
};

std::pair<Context, CancelFunc> with_cancel(const Context& parent);
std::pair<Context, CancelFunc> with_deadline(const Context& parent, TimePoint deadline);
inline std::pair<Context, CancelFunc> with_timeout(const Context& parent, Duration d) {
    return with_deadline(parent, Clock::now() + d);
}

template <class T, class V>
Context with_value(const Context& parent, const ContextKey<T>& key, V&& v) {
    return Context::add_value(parent, &key, std::make_shared<const T>(std::forward<V>(v)));
}

// Blocks the calling fiber for d, or until ctx is done: then throws
// ContextError("sleep: context ...").
void sleep(Duration d, const Context& ctx);

// While it lives, the blocking calls of the connection or listener
// (read, write, accept, and those already waiting) end with ContextError
// once ctx is done, or at once if it already is; it then stays so until
// the binding goes. Bindings of one object do not nest: a later one
// replaces this one, and destroying either leaves the object unbound.
// Deadlines keep working alongside. The object must outlive the binding:
// declare the binding after it. From a fiber.
class ContextBinding {
public:
    ContextBinding(net::Conn& c, const Context& ctx);
    ContextBinding(net::Listener& l, const Context& ctx);
    ~ContextBinding();
    ContextBinding(const ContextBinding&) = delete;
    ContextBinding& operator=(const ContextBinding&) = delete;

private:
    net::Conn* conn_ = nullptr;
    net::Listener* listener_ = nullptr;
    Context ctx_;  // keeps the cancel set alive while bound
};

namespace net {
// dial (net.hpp), ended by ctx: its deadline bounds the connect, and its
// cancellation ends it with ContextError.
Conn dial(std::string_view network, std::string_view address, const Context& ctx);
}  // namespace net

// Internal: the cancel set a blocking call hangs its hook on (null for
// contexts that can never be cancelled).
struct detail_context_access {
    static sched::CancelSet* cancel_set(const Context& c);
};

}  // namespace weft
