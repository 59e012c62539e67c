// Fiber backtraces: every dump shows each fiber's stack (sched/backtrace.hpp).
#include <doctest/doctest.h>

#include <atomic>
#include <csignal>
#include <memory>
#include <stdexcept>
#include <string>
#include <unistd.h>

#include <weft/weft.hpp>
#include "runtime/base/symbolize.hpp"
#include "sched/backtrace.hpp"
#include "sched/fiber.hpp"
#include "sched/g.hpp"
#include "support/death.hpp"
#include "support/sched_hooks.hpp"
#include "support/test_util.hpp"

using namespace weft::suite;

// Named, out-of-line, with external linkage: the dump must show them by name.
namespace bt_test {
std::atomic<bool> g_stop_spinning{false};

__attribute__((noinline)) void level5_parks_here(weft::Chan<int>& c) {
    c.recv();
    asm volatile("");  // keep the call a call, not a tail jump
}
__attribute__((noinline)) void level4(weft::Chan<int>& c) { level5_parks_here(c); asm volatile(""); }
__attribute__((noinline)) void level3(weft::Chan<int>& c) { level4(c); asm volatile(""); }
__attribute__((noinline)) void level2(weft::Chan<int>& c) { level3(c); asm volatile(""); }
__attribute__((noinline)) void level1(weft::Chan<int>& c) { level2(c); asm volatile(""); }

// Runs without a safe point until told to stop. Not instrumented by TSan,
// so that the signal lands in this function, not in TSan's runtime, whose
// frames the walk may not get through.
__attribute__((noinline, no_sanitize("thread"))) void spins_on_another_m(std::atomic<bool>& running) {
    running = true;
    while (!g_stop_spinning.load(std::memory_order_relaxed)) asm volatile("" ::: "memory");
    asm volatile("");
}

__attribute__((noinline)) void sleeps_in_a_blocking_call(std::atomic<bool>& inside) {
    weft::blocking([&] {
        inside = true;
        while (!g_stop_spinning.load()) usleep(1000);
    });
    asm volatile("");
}

// As spins_on_another_m, with its own flags (this one runs in the test
// process itself, whose globals children forked later inherit).
__attribute__((noinline, no_sanitize("thread"))) void spins_until(std::atomic<bool>& running, std::atomic<bool>& stop) {
    running = true;
    while (!stop.load(std::memory_order_relaxed)) asm volatile("" ::: "memory");
    asm volatile("");
}

// Asleep in a blocking call with SIGURG blocked: its thread can take no
// walk's signal until `stop`.
__attribute__((noinline)) void sleeps_deaf(std::atomic<bool>& inside, std::atomic<bool>& stop) {
    weft::blocking([&] {
        sigset_t urg, old;
        sigemptyset(&urg);
        sigaddset(&urg, SIGURG);
        pthread_sigmask(SIG_BLOCK, &urg, &old);
        inside = true;
        while (!stop.load()) usleep(1000);
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
    });
    asm volatile("");
}

__attribute__((noinline)) void quits_from_here() {
    raise(SIGQUIT);
    asm volatile("");
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winfinite-recursion"
__attribute__((noinline)) int recurses_forever(int depth) {
    volatile char pad[512];
    pad[0] = static_cast<char>(depth);
    return recurses_forever(depth + 1) + pad[0];
}
#pragma GCC diagnostic pop
}  // namespace bt_test

namespace {

weft::sched::GStatus status_of(const std::atomic<weft::sched::G*>& g) {
    weft::sched::G* x = g.load();
    return x ? weft::sched::without_scan(x->status.load()) : weft::sched::GStatus::kIdle;
}

// From a fiber: starts one that parks five calls deep on c
// (bt_test::level1, then a send on *done once woken, if given) and waits
// until it has parked.
weft::sched::G* park_five_deep(weft::Chan<int>& c, weft::Chan<int>* done = nullptr) {
    std::atomic<weft::sched::G*> g{nullptr};
    weft::go([&g, &c, done] {
        g = weft::sched::current_g();
        bt_test::level1(c);
        if (done) done->send(1);
    });
    wait_until([&] { return status_of(g) == weft::sched::GStatus::kWaiting; });
    return g.load();
}

// The dump's section for one fiber: from its header to the next one.
std::string section(const std::string& dump, const std::string& header) {
    size_t at = dump.find(header);
    if (at == std::string::npos) return "";
    size_t end = dump.find("\nfiber ", at + 1);
    return dump.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

}  // namespace

TEST_CASE("the SIGQUIT dump shows a parked fiber's stack, five calls deep, innermost first") {
    auto r = run_in_child([] {
        weft::run(weft::Options{.procs = 2}, [] {
            weft::Chan<int> c;
            park_five_deep(c);
            raise(SIGQUIT);
        });
    });
    INFO(r.err);
    CHECK(r.exit_code == 2);
    std::string s = section(r.err, "[chan receive");
    REQUIRE(!s.empty());
    size_t at5 = s.find("bt_test::level5_parks_here(");
    size_t at4 = s.find("bt_test::level4(");
    size_t at1 = s.find("bt_test::level1(");
    CHECK(at5 != std::string::npos);
    CHECK(at4 > at5);
    CHECK(s.find("bt_test::level3(") > at4);
    CHECK(at1 != std::string::npos);
    CHECK(at1 > s.find("bt_test::level2("));
    // Source lines, and the runtime's parking frames folded above them.
    CHECK(contains(s, "backtrace_test.cpp:"));
    CHECK(s.find("runtime frame") < at5);
    CHECK(!contains(s, "weft::sched::park"));
}

TEST_CASE("the dump walks a fiber running on another M on that M's thread") {
    auto r = run_in_child([] {
        weft::run(weft::Options{.procs = 2}, [] {
            std::atomic<bool> running{false};
            weft::go([&] { bt_test::spins_on_another_m(running); });
            wait_until([&] { return running.load(); });
            raise(SIGQUIT);
        });
    });
    INFO(r.err);
    CHECK(r.exit_code == 2);
    std::string s = section(r.err, "fiber 2 [running]");
    REQUIRE(!s.empty());
    CHECK(contains(s, "\ton M "));
    CHECK(contains(s, "bt_test::spins_on_another_m("));
}

TEST_CASE("the dump walks a fiber in a blocking call on its thread") {
    auto r = run_in_child([] {
        weft::run(weft::Options{.procs = 2}, [] {
            std::atomic<bool> inside{false};
            weft::go([&] { bt_test::sleeps_in_a_blocking_call(inside); });
            wait_until([&] { return inside.load(); });
            raise(SIGQUIT);
        });
    });
    INFO(r.err);
    CHECK(r.exit_code == 2);
    std::string s = section(r.err, "fiber 2 [syscall]");
    REQUIRE(!s.empty());
    CHECK(contains(s, "bt_test::sleeps_in_a_blocking_call("));
}

TEST_CASE("a fiber interrupted inside glibc (no frame pointers) still shows its callers") {
    // raise() runs glibc code built without frame pointers: the frames
    // between the signal and the caller are recovered from the unwind
    // tables (symbolize.hpp's fix_interrupted_frames).
    auto r = run_in_child([] { weft::run(weft::Options{.procs = 1}, [] { bt_test::quits_from_here(); }); });
    INFO(r.err);
    CHECK(r.exit_code == 2);
    std::string s = section(r.err, "fiber 1 [running]");
    REQUIRE(!s.empty());
    CHECK(contains(s, "(this thread)"));
    CHECK(contains(s, "\tbt_test::quits_from_here()\n"));
}

TEST_CASE("a stack overflow's dump walks the dying fiber from the faulting frame") {
    auto r = run_in_child([] {
        weft::run(weft::Options{.procs = 1}, [] {
            weft::go([] { bt_test::recurses_forever(0); });
            weft::suite::park_forever();
        });
    });
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "fatal error: fiber stack overflow"));
    std::string s = section(r.err, "fiber 2 [running]");
    REQUIRE(!s.empty());
    CHECK(contains(s, "(this thread)"));
    // The faulting frame itself comes first: no runtime frames (the
    // signal handler's, the dump's) above it.
    CHECK(contains(s, "(this thread)\n\tbt_test::recurses_forever(int)\n"));
    CHECK(contains(s, "(more frames)"));
}

TEST_CASE("fiber_backtrace walks a parked fiber from its saved context") {
    weft::run(weft::Options{.procs = 1}, [] {
        weft::Chan<int> c, done;
        weft::sched::G* g = park_five_deep(c, &done);
        weft::base::Frames f;
        int64_t on_m = -1;
        REQUIRE(weft::sched::fiber_backtrace(g, f, nullptr, 0, &on_m) == weft::sched::WalkResult::kOk);
        CHECK(on_m == -1);
        CHECK(f.n >= 6);
        int found = 0;
        for (int i = 0; i < f.n; i++) {
            weft::base::Symbol s;
            if (weft::base::symbolize(f.pc[i] - 1, s) && std::string(s.function).find("bt_test::level") == 0) found++;
        }
        weft::base::symbolize_close();
        CHECK(found == 5);
        c.send(1);
        done.recv();
    });
}

// Whether f holds a frame of a function whose name begins with `prefix`,
// once the frames a frame-pointer walk cannot see are recovered from the
// unwind tables, as a dump does (a walk interrupted in a callee that has
// not set up its frame yet, such as an out-of-line atomic load in a
// sanitizer build, skips its caller).
bool has_frame(weft::base::Frames& f, const std::string& prefix) {
    weft::base::unwind_by_tables(f);
    bool found = false;
    for (int i = 0; i < f.n; i++) {
        weft::base::Symbol s;
        if (weft::base::symbolize(f.pc[i] - 1, s) && std::string(s.function).starts_with(prefix)) found = true;
    }
    weft::base::symbolize_close();
    return found;
}

// f's frames, one function name per line (a failure's report).
std::string frames_text(weft::base::Frames& f) {
    weft::base::unwind_by_tables(f);
    std::string out;
    for (int i = 0; i < f.n; i++) {
        weft::base::Symbol s;
        out += weft::base::symbolize(f.pc[i] - 1, s) ? std::string(s.function) : std::string("?");
        out += "\n";
    }
    weft::base::symbolize_close();
    return out;
}

TEST_CASE("a walk waits past its bound while the walked fiber's thread is runnable (BT3)") {
    weft::run(weft::Options{.procs = 2}, [] {
        std::atomic<bool> running{false}, stop{false};
        std::atomic<weft::sched::G*> g{nullptr};
        weft::WaitGroup wg;
        wg.add(1);
        weft::go([&] {
            g = weft::sched::current_g();
            bt_test::spins_until(running, stop);
            wg.done();
        });
        REQUIRE(wait_until([&] { return running.load(); }));
        // A bound of 0: the answer can only come in the wait for a thread
        // the kernel has running (a thread on a loaded machine may wait
        // longer than any bound for a CPU).
        weft::base::Frames f;
        auto copy = std::make_unique<weft::base::StackCopy>();  // 64 KiB: not on a fiber's stack
        int64_t on_m = -1;
        weft::sched::WalkResult r = weft::sched::fiber_backtrace(g, f, copy.get(), 0, &on_m);
        stop = true;
        wg.wait();
        REQUIRE(r == weft::sched::WalkResult::kOk);
        CHECK(on_m >= 0);
        CHECK_MESSAGE(has_frame(f, "bt_test::spins_until("), frames_text(f));
    });
}

TEST_CASE("a walk gives up on a thread that cannot take its signal, and the M answers the next walk (BT3)") {
    weft::run(weft::Options{.procs = 2}, [] {
        std::atomic<bool> inside{false}, stop_deaf{false}, running{false}, stop{false};
        std::atomic<weft::sched::G*> g{nullptr};
        weft::WaitGroup wg;
        wg.add(1);
        weft::go([&] {
            g = weft::sched::current_g();
            bt_test::sleeps_deaf(inside, stop_deaf);
            bt_test::spins_until(running, stop);
            wg.done();
        });
        REQUIRE(wait_until([&] { return inside.load(); }));
        weft::base::Frames f;
        auto copy = std::make_unique<weft::base::StackCopy>();  // 64 KiB: not on a fiber's stack
        int64_t on_m = -1;
        // Asleep with the signal blocked: not runnable, so the bound holds.
        CHECK(weft::sched::fiber_backtrace(g, f, nullptr, 50'000'000, &on_m) == weft::sched::WalkResult::kNoAnswer);
        CHECK(f.n == 0);
        // The request was taken back: once the signal is unblocked (and
        // delivered, finding nothing) the same M answers a new walk.
        stop_deaf = true;
        REQUIRE(wait_until([&] { return running.load(); }));
        weft::sched::WalkResult r = weft::sched::fiber_backtrace(g, f, copy.get(), 0, &on_m);
        stop = true;
        wg.wait();
        REQUIRE(r == weft::sched::WalkResult::kOk);
        CHECK_MESSAGE(has_frame(f, "bt_test::spins_until("), frames_text(f));
    });
}

TEST_CASE("WEFT_DEBUG=symbolize=0 prints modules and offsets only") {
    auto r = run_in_child([] {
        ScopedEnv env("WEFT_DEBUG", "symbolize=0");
        weft::run(weft::Options{.procs = 1}, [] {
            weft::Chan<int> c;
            park_five_deep(c);
            raise(SIGQUIT);
        });
    });
    INFO(r.err);
    CHECK(r.exit_code == 2);
    std::string s = section(r.err, "[chan receive");
    REQUIRE(!s.empty());
    CHECK(!contains(s, "bt_test::"));
    CHECK(contains(s, "test_sched+0x"));
}

TEST_CASE("WEFT_DEBUG=symbolize takes 0 or 1") {
    ScopedEnv env("WEFT_DEBUG", "symbolize=yes");
    try {
        weft::run([] {});
        FAIL("no error");
    } catch (const std::invalid_argument& e) {
        CHECK(contains(e.what(), "WEFT_DEBUG: symbolize"));
    }
}

TEST_CASE("a fatal error on a fiber with the smallest stack still dumps every stack") {
    auto r = run_in_child([] {
        weft::run(weft::Options{.procs = 1, .stack_size = 16 * 1024}, [] {
            weft::Chan<int> c;
            park_five_deep(c);
            throw std::runtime_error("thrown by the main fiber");
        });
    });
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "fatal error: uncaught exception in fiber 1: thrown by the main fiber"));
    CHECK(contains(section(r.err, "[chan receive"), "bt_test::level5_parks_here("));
    CHECK(!contains(r.err, "stack overflow"));
}

TEST_CASE("naming frames holds the modules' files open until symbolize_close") {
    weft::base::symbolize_close();
    int before = weft::suite::open_fd_count();
    weft::base::Symbol s;
    REQUIRE(weft::base::symbolize(reinterpret_cast<uintptr_t>(&bt_test::level1) + 1, s));
    CHECK(std::string(s.function) == "bt_test::level1(weft::Chan<int>&)");
    CHECK(weft::suite::open_fd_count() > before);
    weft::base::symbolize_close();
    CHECK(weft::suite::open_fd_count() == before);
}
