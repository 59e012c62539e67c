// errgroup.hpp — weft::ErrGroup, fibers working on parts of one task
// (Go's golang.org/x/sync/errgroup).
//
//   weft::ErrGroup g(ctx);              // g.context(): ctx, cancelled at the first failure
//   g.set_limit(8);                     // optional: at most 8 fibers at once
//   for (auto& url : urls)
//       g.go([&, url](const weft::Context& c) { fetch(c, url); });  // or a callable taking nothing
//   g.wait();                           // rethrows the first exception
//
// Semantics:
//  - go(f) runs f in a new fiber; f takes nothing or a const Context&
//    (then it gets context()). An exception escaping f is the group's
//    failure: the first one is kept, the group's context is cancelled
//    (ContextErrc::canceled) so the others can stop early, and later ones
//    are dropped.
//  - wait() returns once every f has returned, cancels the group's
//    context, and rethrows the first exception if there was one.
//  - set_limit(n): with n > 0, go() parks while n fibers of the group run;
//    try_go() returns false instead. n <= 0: no limit (the default).
//    Changing the limit while fibers of the group run throws
//    std::logic_error, as Go's SetLimit panics.
//  - The group must outlive its fibers: call wait() before it is
//    destroyed (destroying it with fibers running is fatal).
//  - After wait() returned, the group may be used again (a new round)
//    only if it has no context: a cancelled context stays cancelled.
//
// Contexts: from a fiber. Not copyable or movable.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <source_location>
#include <type_traits>
#include <utility>

#include <weft/context.hpp>
#include <weft/run.hpp>
#include <weft/sync/mutex.hpp>
#include <weft/sync/semaphore.hpp>
#include <weft/sync/waitgroup.hpp>

namespace weft {

class ErrGroup {
public:
    ErrGroup() = default;  // context() is background(), never cancelled
    explicit ErrGroup(const Context& parent) {
        auto [c, cancel] = with_cancel(parent);
        ctx_ = std::move(c);
        cancel_ = std::move(cancel);
    }
    ~ErrGroup();
    ErrGroup(const ErrGroup&) = delete;
    ErrGroup& operator=(const ErrGroup&) = delete;

    const Context& context() const { return ctx_; }

    void set_limit(int64_t n);

    template <class F>
    void go(F&& f, const std::source_location& site = std::source_location::current()) {
        if (limit_) limit_->acquire();
        spawn(std::forward<F>(f), site);
    }
    template <class F>
    bool try_go(F&& f, const std::source_location& site = std::source_location::current()) {
        if (limit_ && !limit_->try_acquire()) return false;
        spawn(std::forward<F>(f), site);
        return true;
    }

    void wait();

private:
    template <class F>
    void spawn(F&& f, const std::source_location& site) {
        static_assert(std::is_invocable_v<std::decay_t<F>&> || std::is_invocable_v<std::decay_t<F>&, const Context&>,
                      "ErrGroup::go: the callable takes nothing or a const weft::Context&");
        // Relaxed: the fiber started below (go() publishes it) is what
        // lowers it, with release (errgroup.cpp E1).
        running_.fetch_add(1, std::memory_order_relaxed);
        wg_.add(1);
        weft::go(
            [this, f = std::forward<F>(f)]() mutable {
                try {
                    if constexpr (std::is_invocable_v<std::decay_t<F>&, const Context&>) f(ctx_);
                    else f();
                } catch (...) {
                    fail(std::current_exception());
                }
                finish();
            },
            site);
    }
    void fail(std::exception_ptr e);
    void finish();

    WaitGroup wg_;
    Context ctx_;
    CancelFunc cancel_;
    Mutex mu_;
    std::exception_ptr first_;  // guarded by mu_
    std::unique_ptr<Semaphore> limit_;
    std::atomic<int64_t> running_{0};  // fibers started and not finished, for the checks
};

}  // namespace weft
