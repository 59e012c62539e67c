// waitgroup.hpp — weft::WaitGroup, waiting for a set of fibers to finish
// (Go's sync.WaitGroup).
//
//   weft::WaitGroup wg;
//   for (auto& job : jobs) {
//       wg.add(1);
//       weft::go([&wg, job] { run(job); wg.done(); });
//   }
//   wg.wait();
//
// A counter: add(n) raises it, done() lowers it by one, wait() parks until
// it is zero. The design essay is in waitgroup.cpp.
//
// Contract:
//  - Call from a fiber (wait() outside a fiber is fatal when it would block).
//  - add() with a positive delta that starts from zero must happen before
//    the wait() it is meant to hold up; typically add() before go(), done()
//    at the fiber's end. Calls made before done() happen before the return
//    of the wait() it releases.
//  - wait() on a zero counter returns at once. Any number of fibers may
//    wait; all are released together.
//  - Reuse: the group may be used for a new round (add again) once every
//    wait() of the previous round has returned.
//  - Misuse is fatal, as Go's panics: a counter below zero ("sync: negative
//    WaitGroup counter"); add() racing with a wait() that is releasing
//    ("sync: WaitGroup misuse: Add called concurrently with Wait"); a new
//    round started before the last wait() returned ("sync: WaitGroup is
//    reused before previous Wait has returned"). These are detected where
//    the state word shows them, not always.
//  - add() of a delta outside the 32-bit counter's range throws
//    std::invalid_argument.
//  - Lifetime: the fiber whose wait() returned may destroy the group at
//    once, even while the done() that released it is still returning,
//    provided no other fiber is inside wait() and none will use it again.
//  - Constant-initialisable; neither copyable nor movable.
#pragma once

#include <atomic>
#include <cstdint>

#include <weft/clock.hpp>
#include <weft/internal/sema.hpp>

namespace weft {

class Context;

class WaitGroup {
public:
    constexpr WaitGroup() = default;
    WaitGroup(const WaitGroup&) = delete;
    WaitGroup& operator=(const WaitGroup&) = delete;

    // Adds delta (which may be negative) to the counter; at zero, releases
    // every waiter.
    void add(int64_t delta);
    // add(-1).
    void done() { add(-1); }
    // Parks the calling fiber until the counter is zero. A preemption point.
    void wait();
    // As wait(), but ends early when ctx is done: throws ContextError
    // ("WaitGroup::wait: context canceled", or "... deadline exceeded"),
    // leaving the group as if this wait() had never been called. If the
    // counter reaches zero as ctx ends, either may win.
    void wait(const Context& ctx);
    // As wait(), for at most d: true if the counter reached zero, false if
    // d passed first (the group is then as if this call had not been made).
    bool wait_for(Duration d);

private:
    // High 32 bits: the counter (signed); low 32 bits: fibers in wait().
    std::atomic<uint64_t> state_{0};
    sched::Sema sema_;
};

}  // namespace weft
