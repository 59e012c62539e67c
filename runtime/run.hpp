// run.hpp — starting the runtime and spawning fibers.
//
//   int weft::run(fn)            run fn as the main fiber; its int result (or
//   int weft::run(options, fn)   0 for void) is returned once it finishes.
//   void weft::go(fn)            start a fiber running fn().
//   weft::Spawner                lets a plain thread start fibers later.
//   void weft::yield()           let other fibers run.
//   void weft::preempt_point()   yield only if the scheduler asked to.
//   uint64_t weft::num_fibers()  fibers alive now (Go's NumGoroutine).
//
// Semantics, as Go's:
//  - When the main fiber returns, run() returns; fibers still alive are
//    abandoned: they never run again and nothing they own is destroyed
//    (no destructor of their stack frames, of the captures of the callable
//    given to go(), or of their FiberLocal values runs), so what they own
//    stays allocated. Sockets they hold stay open.
//  - An exception escaping any fiber ends the process: "fatal error:
//    uncaught exception in fiber N: <what()>", then a dump of every fiber,
//    exit status 2.
//  - When every fiber is blocked and nothing can wake one (no timer, no
//    fd): "fatal error: all fibers are asleep - deadlock!" and the dump.
//  - Preemption is cooperative: a fiber yields at runtime calls (channel and
//    sync operations, sleeps, go(), yield/preempt_point). A loop that makes
//    none holds its thread; sysmon flags it after 10 ms so it yields at its
//    next preempt_point().
//  - Fibers migrate between OS threads at every switch: do not keep
//    pointers to thread_local variables (or errno's address) across a
//    runtime call; use weft::FiberLocal for per-fiber state.
//
// run() may be called again after it returns, but not while one is running
// (fatal). Capture by value in go(): the spawning frame may be gone before
// the fiber runs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <source_location>
#include <type_traits>
#include <utility>

#include <weft/internal/closure.hpp>

namespace weft {

struct Options {
    // Number of Ps, the fibers that can run in parallel (GOMAXPROCS).
    // 0: WEFT_PROCS if set, else the CPUs this process may run on.
    int procs = 0;
    // Bytes of each fiber stack (committed lazily). 0: WEFT_STACK_SIZE if
    // set, else 256 KiB.
    size_t stack_size = 0;
    // The stall detector reports, on stderr with its stack, a fiber that
    // has run this long (CPU time) without reaching a safe point: a fiber
    // that keeps its P's other fibers waiting. 0 turns it off. -1:
    // WEFT_DEBUG=stalldetect=MS if set, else 500 ms (5 s in a build with
    // ASan or TSan, where the same code takes 5-15 times the CPU).
    std::chrono::milliseconds stall_threshold{-1};
};

namespace detail {
// Resolves options against the environment; throws std::invalid_argument
// on a bad WEFT_* value. `site`: where run() was called, the main fiber's
// creation site in dumps and traces.
void run_impl(const Options& opts, sched::Closure main, const std::source_location& site);
void go_impl(sched::Closure fn, const std::source_location& site);
}  // namespace detail

template <class F>
int run(const Options& opts, F&& fn, const std::source_location& site = std::source_location::current()) {
    int code = 0;
    if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
        detail::run_impl(opts, sched::Closure([f = std::forward<F>(fn)]() mutable { f(); }), site);
    } else {
        detail::run_impl(opts, sched::Closure([f = std::forward<F>(fn), &code]() mutable { code = static_cast<int>(f()); }),
                         site);
    }
    return code;
}

template <class F>
int run(F&& fn, const std::source_location& site = std::source_location::current()) {
    return run(Options{}, std::forward<F>(fn), site);
}

// Starts a fiber. Callable from a fiber, or from any thread while run() is
// active. From a fiber it is a preemption point (so do not hold a
// std::mutex across it): a fiber that has run its time slice yields here,
// and so does one that has started over a thousand fibers since it last
// ran while its P's run queue is full. `site` is recorded for fiber dumps.
// A plain thread that calls it while every fiber may be waiting for what
// it starts must hold a Spawner: otherwise nothing tells the runtime that
// the thread is still coming, and once every fiber is blocked it reports
// "all fibers are asleep - deadlock!".
template <class F>
void go(F&& fn, const std::source_location& site = std::source_location::current()) {
    static_assert(std::is_invocable_v<std::decay_t<F>&>, "weft::go takes a callable with no arguments");
    detail::go_impl(sched::Closure(std::forward<F>(fn)), site);
}

// A plain thread's standing to start fibers (as a cgo callback's extra M
// in Go). While any Spawner of the running run exists, the runtime does
// not take "every fiber is blocked" for a deadlock: a thread holding one
// may still start a fiber that wakes the others. Make it in a fiber,
// before the fibers start waiting, and move it to the thread:
//
//   weft::Spawner spawner;                         // in a fiber
//   std::thread t([s = std::move(spawner), ch]() mutable {
//       auto v = wait_for_the_device();            // plain blocking code
//       s.go([ch, v]() mutable { ch.send(v); });   // wakes the waiting fiber
//   });                                            // ~Spawner: no longer counted
//   int v = *ch.recv();
//
// When the last one is destroyed, the deadlock check runs again, so a
// thread that drops its Spawner without starting anything still leaves a
// real deadlock reported. Move-only. Throws std::logic_error if no run()
// is active. A Spawner must not outlive its run for long: once the run
// has ended, go() starts nothing and returns false, and the destructor
// does nothing.
class Spawner {
public:
    Spawner();
    ~Spawner();
    Spawner(Spawner&& other) noexcept;
    Spawner& operator=(Spawner&& other) noexcept;
    Spawner(const Spawner&) = delete;
    Spawner& operator=(const Spawner&) = delete;

    // Starts a fiber running fn, from any thread; false (fn is destroyed,
    // not run) if this Spawner's run has ended or it is empty (moved from).
    template <class F>
    bool go(F&& fn, const std::source_location& site = std::source_location::current()) {
        static_assert(std::is_invocable_v<std::decay_t<F>&>, "Spawner::go takes a callable with no arguments");
        sched::Closure c(std::forward<F>(fn));
        return go_impl(c, site);
    }
    // Stops counting this Spawner now (as the destructor does).
    void reset() noexcept;

private:
    bool go_impl(sched::Closure& fn, const std::source_location& site);
    uint64_t run_ = 0;  // the run it belongs to; 0 when empty
};

// From a fiber: lets other runnable fibers run first. On a plain thread it
// yields the thread (sched_yield). Fatal inside weft::blocking and in a
// destructor run by the collector.
void yield();
// From a fiber: yields if sysmon or stop-the-world has asked it to. Cheap
// (a few loads); put it in long loops that make no other runtime call.
// Does nothing on a plain thread or in a collector-run destructor; fatal
// inside weft::blocking.
void preempt_point();
// The running fiber's id (1 for the main fiber), 0 outside fibers.
uint64_t fiber_id();
// Ps of the running runtime (0 when none runs).
int procs();
// Fibers that exist now (Go's runtime.NumGoroutine): started and not yet
// ended, the main fiber and blocked ones included, the runtime's own (the
// collector's) not. Exact unless fibers start or end while it counts (it
// sums per-P counts); 0 when no run is active. From anywhere.
uint64_t num_fibers();

}  // namespace weft
