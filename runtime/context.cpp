// context.cpp — weft::Context (see context.hpp), as Go's context package.
//
// Owns: the tree of Nodes. A Node is a value node (key, value) or a cancel
// node (a CancelSet, a done channel, maybe a deadline timer). Each node
// names its canceller: itself for a cancel node, else the nearest cancel
// ancestor, or null when nothing above can be cancelled (background).
//
// Invariants:
//   CX1. A cancel node whose canceller-parent exists has its in_parent hook
//       on that parent's set from construction until it is cancelled or
//       destroyed, so a parent's cancel reaches it (CancelSet CS2), and
//       ~Node removes it before the node's memory goes (CS3).
//   CX2. A node's set is cancelled before its done channel closes: a fiber
//       that sees done closed finds err() set, and so do its descendants.
//   CX3. The deadline timer's callback only cancels; ~Node stops the timer,
//       which waits for a callback in flight (timers.hpp T4), so the
//       callback never sees a freed node.
//   CX4. A child's deadline is min(its own, its parent's); a child whose own
//       deadline is not earlier than its parent's gets no timer: the
//       parent's cancel reaches it with deadline_exceeded (CX1).
//
// Rejected: a fiber per context waiting on the parent's done (Go before
// 1.7 for foreign contexts: a fiber and a channel per child, and leaks when
// nobody cancels); children in a map under the parent's lock, cancelled
// while holding it (nests two locks of one rank, cancel.cpp).
#include <weft/context.hpp>

#include <algorithm>

#include <weft/net.hpp>
#include <weft/select.hpp>
#include <weft/time.hpp>
#include <weft/clock.hpp>
#include "sched/call_context.hpp"
#include "sched/cancel.hpp"
#include "sched/fiber.hpp"
#include "sched/timers.hpp"
#include "syscall/net_fd.hpp"

namespace weft {

struct Context::Node {
    struct InParent : sched::CancelHook {
        const Node* node = nullptr;
    };

    std::shared_ptr<const Node> parent;
    const Node* canceller = nullptr;  // see the file comment
    // A value node's.
    const void* key = nullptr;
    std::shared_ptr<const void> value;
    // A cancel node's (canceller == this).
    mutable sched::CancelSet set;
    mutable InParent in_parent;             // CX1
    const Node* parent_canceller = nullptr;  // whose set in_parent is on
    mutable std::optional<Chan<Done>> done;
    TimePoint deadline{};  // CX4; the epoch: none
    mutable sched::Timer timer;
    bool timer_armed = false;

    Node() = default;
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;
    ~Node() {
        if (canceller != this) return;
        if (timer_armed) sched::timer_stop(&timer);  // CX3
        if (parent_canceller != nullptr) parent_canceller->set.remove(&in_parent);  // CX1
    }

    // CX2. from_parent: called by the parent's cancel, which has taken
    // in_parent off its list already.
    void cancel(int err, bool from_parent) const {
        if (!set.cancel(err)) return;
        done->close();
        if (!from_parent && parent_canceller != nullptr) parent_canceller->set.remove(&in_parent);
    }
};

namespace {

// background()'s done channel: nil, as Go's (allocates nothing).
const Chan<Context::Done> kNeverDone(nullptr);

const Context::Node* canceller_of(const std::shared_ptr<const Context::Node>& n) {
    return n == nullptr ? nullptr : n->canceller;
}

// A new cancel node under parent, with deadline d (the epoch: none).
std::shared_ptr<Context::Node> make_cancel_node(const std::shared_ptr<const Context::Node>& parent, TimePoint d) {
    auto n = std::make_shared<Context::Node>();
    n->parent = parent;
    n->canceller = n.get();
    n->done.emplace();
    n->deadline = d;
    n->parent_canceller = canceller_of(parent);
    if (n->parent_canceller != nullptr) {
        n->in_parent.node = n.get();
        n->in_parent.fn = [](sched::CancelHook* h, int err) {
            static_cast<Context::Node::InParent*>(h)->node->cancel(err, true);
        };
        if (!n->parent_canceller->set.add(&n->in_parent)) {  // the parent is done already
            n->cancel(n->parent_canceller->set.err(), true);
        }
    }
    return n;
}

}  // namespace

sched::CancelSet* detail_context_access::cancel_set(const Context& c) {
    const Context::Node* k = canceller_of(c.node_);
    return k == nullptr ? nullptr : &k->set;
}

const Chan<Context::Done>& Context::done() const {
    const Node* k = canceller_of(node_);
    return k == nullptr ? kNeverDone : *k->done;
}

std::error_code Context::err() const {
    const Node* k = canceller_of(node_);
    int e = k == nullptr ? 0 : k->set.err();
    if (e == 0) return {};
    return make_error_code(static_cast<ContextErrc>(e));
}

void Context::check(const char* what) const {
    if (std::error_code e = err()) throw ContextError(e, what);
}

std::optional<TimePoint> Context::deadline() const {
    const Node* k = canceller_of(node_);
    if (k == nullptr || k->deadline == TimePoint{}) return std::nullopt;
    return k->deadline;
}

const void* Context::find_value(const void* key) const {
    for (const Node* n = node_.get(); n != nullptr; n = n->parent.get())
        if (n->key == key) return n->value.get();
    return nullptr;
}

Context Context::add_value(const Context& parent, const void* key, std::shared_ptr<const void> v) {
    auto n = std::make_shared<Node>();
    n->parent = parent.node_;
    n->canceller = canceller_of(parent.node_);
    n->key = key;
    n->value = std::move(v);
    return Context(std::move(n));
}

void CancelFunc::operator()() const {
    if (node_ != nullptr) node_->cancel(static_cast<int>(ContextErrc::canceled), false);
}

std::pair<Context, CancelFunc> with_cancel(const Context& parent) {
    std::optional<TimePoint> pd = parent.deadline();
    std::shared_ptr<const Context::Node> n = make_cancel_node(parent.node_, pd ? *pd : TimePoint{});
    return {Context(n), CancelFunc(n)};
}

std::pair<Context, CancelFunc> with_deadline(const Context& parent, TimePoint d) {
    sched::require_runtime_thread("weft::with_deadline");  // it arms a timer on this thread's P
    std::optional<TimePoint> pd = parent.deadline();
    if (pd && *pd <= d) return with_cancel(parent);  // CX4
    std::shared_ptr<Context::Node> n = make_cancel_node(parent.node_, d);
    const int64_t when = d.time_since_epoch().count();
    if (n->set.err() == 0) {
        if (when <= base::nanotime()) {
            n->cancel(static_cast<int>(ContextErrc::deadline_exceeded), false);
        } else {
            n->timer.when = when;
            n->timer.fn = [](void* arg) {  // on g0 (CX3)
                static_cast<const Context::Node*>(arg)->cancel(static_cast<int>(ContextErrc::deadline_exceeded), false);
            };
            n->timer.arg = n.get();
            n->timer_armed = true;
            sched::timer_add(&n->timer);
        }
    }
    std::shared_ptr<const Context::Node> cn = std::move(n);
    return {Context(cn), CancelFunc(cn)};
}

void sleep(Duration d, const Context& ctx) {
    sched::require_fiber("weft::sleep");
    if (detail_context_access::cancel_set(ctx) == nullptr) {
        sleep(d);
        return;
    }
    ctx.check("sleep");
    if (d <= Duration::zero()) {
        sleep(d);
        return;
    }
    Timer t(d);
    bool ended = false;
    select(recv_case(t.chan()), recv_case(ctx.done(), [&](std::optional<Context::Done>) { ended = true; }));
    if (ended) ctx.check("sleep");
}

ContextBinding::ContextBinding(net::Conn& c, const Context& ctx) : conn_(&c), ctx_(ctx) {
    if (!c.fd_) throw net::ClosedError("bind to a context");
    c.fd_->bind_cancel(detail_context_access::cancel_set(ctx_));
}

ContextBinding::ContextBinding(net::Listener& l, const Context& ctx) : listener_(&l), ctx_(ctx) {
    if (!l.fd_) throw net::ClosedError("bind to a context");
    l.fd_->bind_cancel(detail_context_access::cancel_set(ctx_));
}

ContextBinding::~ContextBinding() {
    // The object may have been closed (then unbound already) or moved
    // from (its NetFd went with it, or was closed by the move).
    if (conn_ != nullptr && conn_->fd_) conn_->fd_->bind_cancel(nullptr);
    if (listener_ != nullptr && listener_->fd_) listener_->fd_->bind_cancel(nullptr);
}

namespace net {

Conn dial(std::string_view network, std::string_view address, const Context& ctx) {
    sched::CancelSet* set = detail_context_access::cancel_set(ctx);
    if (set != nullptr && set->err() != 0)
        throw ContextError(ctx.err(), "dial " + std::string(network) + " " + std::string(address));
    // The context's deadline timer cancels the set: no timeout of our own.
    return dial_impl(network, address, Duration::zero(), set);
}

}  // namespace net

}  // namespace weft
