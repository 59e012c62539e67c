// The syscall-return race (issue 5), replayed step by step with the test
// hooks (runtime/base/test_hooks.hpp):
//   1. the collector stops the world, collecting every P;
//   2. a fiber back from a system call stores a pointer to X, without a P,
//      through the write barrier, which starts shading X;
//   3. the shade marks X but has not queued it yet;
//   4. the collector reaches X by another path, finds it marked, skips it;
//   5. the collector completes;
//   6. the delayed shade queues X, too late;
//   7. objects reachable only through X are freed.
// In weft the code between the kernel's return and exitsyscall's taking a
// P back is the rest of a weft::blocking callable and exitsyscall itself;
// a barrier there is fatal ("write barrier without P"), so the replay dies
// at step 2. The build option fault_late_shade puts the old behaviour back
// (gc/barrier.cpp); scripts/test.sh runs these tests in such a build too,
// where they pass only if checkmark (at step 5) or poison (after step 7)
// catches the lost object: the replay is shown able to fail.
//
// Also: a fiber whose call returns while the world is stopped waits for
// the start before it runs again; and a barrier on an M that holds a P
// holds up a stop-the-world until its shade is queued (which is why the
// P is what makes the barrier safe).
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <stdexcept>
#include <string>
#include <thread>

#include <weft/blocking.hpp>
#include <weft/testing.hpp>
#include <weft/weft.hpp>
#include "gc/phase.hpp"
#include "hold_collector.hpp"
#include "runtime/base/test_hooks.hpp"
#include "sched/collector_support.hpp"
#include "sched/sanitizers.hpp"
#include "sched/syscall.hpp"
#include "support/death.hpp"
#include "support/test_util.hpp"
#include "test_nodes.hpp"

using namespace gctest;  // NOLINT: Node, keep, on_fresh_fiber
using namespace std::chrono_literals;
using weft::base::HookEvent;
using weft::base::HookPoint;
using weft::gc::detail::Phase;
using weft::suite::contains;

namespace {

#if defined(WEFT_FAULT_LATE_SHADE)
constexpr bool kFaultLateShade = true;
#else
constexpr bool kFaultLateShade = false;
#endif

// -- what the hook does, set by each test before it installs the hook
std::atomic<const void*> g_hold_shade_of{nullptr};  // hold the barrier shading this object...
std::atomic<bool> g_shade_held{false}, g_shade_release{false};  // ...between marking and queueing
std::atomic<uint64_t> g_watch_fiber{0};  // the fiber whose exitsyscall is observed
std::atomic<int> g_before_p{0}, g_after_p{0};
std::atomic<bool> g_before_p_world_stopped{false};
std::atomic<int> g_after_p_phase{-1};

void hook(const HookEvent& e) {
    if (hold_at_phase(e)) return;
    switch (e.point) {
        case HookPoint::kBarrierMarked:
            if (e.obj == nullptr || e.obj != g_hold_shade_of.load()) return;
            g_hold_shade_of = nullptr;
            g_shade_held = true;
            // The OS thread waits (with or without a P, it cannot park).
            while (!g_shade_release.load()) std::this_thread::sleep_for(50us);
            return;
        case HookPoint::kExitSyscallBeforeP:
            if (g_watch_fiber.load() == 0 || weft::fiber_id() != g_watch_fiber.load()) return;
            g_before_p_world_stopped = weft::sched::world_stopping();
            g_before_p.fetch_add(1);
            return;
        case HookPoint::kExitSyscallAfterP:
            if (g_watch_fiber.load() == 0 || weft::fiber_id() != g_watch_fiber.load()) return;
            g_after_p_phase = static_cast<int>(weft::gc::detail::phase());
            g_after_p.fetch_add(1);
            return;
        default:
            return;
    }
}

struct HookScope {
    HookScope() {
        reset_hold();
        g_shade_held = g_shade_release = false;
        g_before_p = g_after_p = 0;
        weft::base::g_test_hook.store(&hook, std::memory_order_release);
    }
    ~HookScope() {
        weft::base::g_test_hook.store(nullptr, std::memory_order_release);
        clear_hold();
        g_hold_shade_of = nullptr;
        g_watch_fiber = 0;
    }
};


struct Pipe {
    int fd[2] = {-1, -1};
    Pipe() { REQUIRE(::pipe(fd) == 0); }
    ~Pipe() {
        ::close(fd[0]);
        ::close(fd[1]);
    }
    void wake() const { REQUIRE(::write(fd[1], "x", 1) == 1); }
};

enum class Verifier { kCheckmark, kPoison };

// The seven steps in a child process; returns its stderr. It dies of the
// runtime's fatal (exit status 2), or exits 4 when X was marked too early
// to replay (the caller tries again).
std::string replay_once(Verifier v) {
    auto r = weft::suite::run_in_child([v] {
        setenv("WEFT_DEBUG", v == Verifier::kCheckmark ? "gccheckmark=1" : "gcpoison=1", 1);
        weft::run({.procs = 2}, [] {
            static gc::Root<Node> holder, other;
            holder = gc::make<Node>();
            on_fresh_fiber([] {  // X, and Y only X refers to
                Node* x = gc::make<Node>(1);
                x->left = gc::make<Node>(2);
                other = x;  // the collector's other path to X
            });
            gc::collect();  // all four are old: white in the next cycle
            Pipe pipe;
            HookScope hooks;
            // (On a fiber that ends: X's address must not linger on this
            // stack, whose scan would shade and trace X early.)
            on_fresh_fiber([] { g_hold_shade_of = other.get(); });
            HeldCycle cycle(Phase::kMark);  // barrier on; roots not shaded yet
            weft::WaitGroup returned;
            returned.add(1);
            weft::go([&] {
                Node* x = other.get();
                weft::blocking([&] {
                    char c;
                    (void)::read(pipe.fd[0], &c, 1);  // the system call
                    holder->right = x;                // step 2: no P on this M
                });
                returned.done();
            });
            pipe.wake();
            // Real code: the child has died of "write barrier without P".
            auto until = std::chrono::steady_clock::now() + 10s;
            while (!g_shade_held.load() && std::chrono::steady_clock::now() < until)
                weft::sleep(50us);  // step 3: X marked, not queued
            if (!g_shade_held.load()) {
                // X was marked before the store (a stale copy of its address
                // found by the conservative stack scan): nothing to replay.
                std::fprintf(stderr, "replay: X marked early; again\n");
                std::fflush(stderr);
                std::_Exit(4);
            }
            std::fprintf(stderr, "replay: step 3, X marked by a barrier without a P\n");
            cycle.release();  // steps 1, 4, 5: termination stops the world, X is skipped
            std::fprintf(stderr, "replay: step 5, the cycle completed\n");
            g_shade_release = true;  // step 6
            returned.wait();
            Node* y = other->left.get();  // step 7: Y was swept (gcpoison: the load is fatal)
            std::fprintf(stderr, "replay: Y survived (%lld)\n", static_cast<long long>(y ? y->value : -1));
        });
    });
    INFO(r.err);
    CHECK((r.exit_code == 2 || (r.exit_code == 4 && contains(r.err, "replay: X marked early"))));
    return r.err;
}

// replay_once, again while X was marked early (rare; at most 5 times).
std::string replay_seven_steps(Verifier v) {
    std::string err;
    for (int i = 0; i < 5; ++i) {
        err = replay_once(v);
        if (!contains(err, "replay: X marked early")) break;
    }
    return err;
}

}  // namespace

TEST_CASE("the seven steps: a fiber back from a system call stores through the barrier without a P") {
    if (!weft::base::kTestHooks) return;
    for (Verifier v : {Verifier::kCheckmark, Verifier::kPoison}) {
        std::string err = replay_seven_steps(v);
        if (!kFaultLateShade) {
            // The real barrier: step 2 is fatal, nothing is marked.
            CHECK(contains(err, "write barrier without P (M "));
            CHECK(contains(err, "phase GCmark"));
            CHECK_FALSE(contains(err, "replay: step 3"));
        } else if (v == Verifier::kCheckmark) {
            // The fault: X marked, skipped, Y unmarked; checkmark says so at step 5.
            CHECK(contains(err, "replay: step 3"));
            CHECK(contains(err, "gccheckmark: object "));
            CHECK(contains(err, "is reachable but was not marked"));
            CHECK_FALSE(contains(err, "replay: step 5"));
        } else {
            // Without checkmark the cycle completes and frees Y; its next
            // use through a Member is caught.
            CHECK(contains(err, "replay: step 5"));
            CHECK(contains(err, "gcpoison: use of freed object"));
            CHECK_FALSE(contains(err, "replay: Y survived"));
        }
    }
}

TEST_CASE("a fiber whose system call returns while the world is stopped waits for the start") {
    if (!weft::base::kTestHooks) return;
    weft::suite::ScopedEnv env("WEFT_DEBUG", "gccheckmark=1");
    weft::run({.procs = 2}, [] {
        static gc::Root<Node> holder;
        static Pipe* pipe;
        holder = gc::make<Node>();
        Pipe p;
        pipe = &p;
        HookScope hooks;
        weft::WaitGroup returned;
        returned.add(1);
        static std::atomic<uint64_t> id{0};
        static std::atomic<bool> in_call{false};
        weft::go([&] {
            id = weft::fiber_id();
            g_watch_fiber = id.load();
            weft::blocking([&] {
                in_call = true;
                char c;
                (void)::read(pipe->fd[0], &c, 1);
            });
            holder->left = gc::make<Node>(5);  // a barriered store, with a P again
            returned.done();
        });
        while (!in_call.load()) weft::sleep(50us);
        static std::atomic<bool> waited_stopped{false};
        g_hold_phase = static_cast<int>(Phase::kMarkTermination);
        g_stw_action = [] {
            // World stopped: the call returns now.
            pipe->wake();
            auto until = std::chrono::steady_clock::now() + 10s;
            while (g_before_p.load() == 0 && std::chrono::steady_clock::now() < until)
                std::this_thread::sleep_for(50us);
            // It must not get a P back while the world is stopped.
            std::this_thread::sleep_for(20ms);
            waited_stopped = g_before_p.load() == 1 && g_after_p.load() == 0;
        };
        gc::collect();
        returned.wait();
        CHECK(waited_stopped.load());
        CHECK(g_before_p.load() == 1);
        CHECK(g_before_p_world_stopped.load());
        CHECK(g_after_p.load() == 1);
        CHECK(g_after_p_phase.load() != static_cast<int>(Phase::kMarkTermination));
        gc::collect();  // checkmark agrees
        CHECK(holder->left->value == 5);
        holder = nullptr;
    });
}

TEST_CASE("a barrier held between marking and queueing, on an M with a P, holds up the stop-the-world") {
    if (!weft::base::kTestHooks) return;
    weft::suite::ScopedEnv env("WEFT_DEBUG", "gccheckmark=1");
    weft::run({.procs = 2}, [] {
        static gc::Root<Node> holder, keep;
        static uintptr_t x_hidden;
        // One attempt; false if X was marked before the store (a stale
        // copy of its address found by the conservative stack scan): then
        // the barrier has nothing to hold, and the test tries a new X.
        auto attempt = [&] {
            holder = gc::make<Node>();
            on_fresh_fiber([] {  // X and its child: white in the next cycle, found only through the store
                Node* x = gc::make<Node>(1);
                x->left = gc::make<Node>(2);
                x_hidden = hide(x);
                keep = x;
            });
            // X survives this cycle (kept), then nothing refers to it: the
            // store below is its only way to be marked. Without the keep,
            // this cycle freed X and the store shaded a free slot (the
            // sweep's check that a marked slot was allocated caught it).
            gc::collect();
            // (On a fiber that ends, as X's making: the Root's old value
            // must not linger on this stack, found by the scan.)
            on_fresh_fiber([] { keep = nullptr; });
            HookScope hooks;
            on_fresh_fiber([] { g_hold_shade_of = reveal(x_hidden); });
            HeldCycle cycle(Phase::kMark);
            weft::WaitGroup stored;
            stored.add(1);
            weft::go([&] {
                holder->left = reveal(x_hidden);  // held inside the barrier
                stored.done();
            });
            auto until = std::chrono::steady_clock::now() + 5s;
            while (!g_shade_held.load() && std::chrono::steady_clock::now() < until) weft::sleep(50us);
            if (!g_shade_held.load()) {
                cycle.release();
                stored.wait();
                return false;
            }
            g_collector_release = true;  // marking may end: termination needs every P, this one too
            // A plain thread ends the hold: a stop-the-world in progress lets
            // no fiber run.
            static std::atomic<bool> still_marking{false}, stop_pending{false};
            std::thread releaser([] {
                // Wait for the collector's termination attempt to stop the world...
                auto until = std::chrono::steady_clock::now() + 10s;
                while (!weft::sched::world_stopping() && std::chrono::steady_clock::now() < until)
                    std::this_thread::sleep_for(100us);
                stop_pending = weft::sched::world_stopping();
                std::this_thread::sleep_for(20ms);
                // ...which cannot complete: the held M keeps its P.
                still_marking = weft::gc::detail::phase() == Phase::kMark && weft::sched::world_stopping();
                g_shade_release = true;  // X queued; its child traced before termination
            });
            stored.wait();
            cycle.wg.wait();
            releaser.join();
            CHECK(stop_pending.load());
            CHECK(still_marking.load());
            CHECK(holder->left->left->value == 2);  // checkmark ran at termination and passed
            return true;
        };
        bool held = false;
        for (int i = 0; i < 5 && !held; ++i) held = attempt();
#if defined(WEFT_ASAN)
        // Under ASan, X's address stays in fake stack frames that the
        // conservative scan reaches from the main fiber's stack, so X is
        // often marked before the store in every attempt (while X was freed
        // by the first collect, as this test once did by mistake, those
        // copies pointed to a free slot and were ignored). The other builds
        // check the hold.
        if (!held) MESSAGE("ASan: X was marked early by the stack scan in every attempt; hold not checked");
#else
        CHECK(held);
#endif
        holder = nullptr;
    });
}

namespace {
// The stress graph: kSlots chains of Nodes; each link's value is one less
// than its parent's, so a walk checks every node it reads (and a freed
// node's load is fatal under gcpoison).
struct Slots {
    gc::Vector<Node> chains;
    void trace(gc::Visitor& v) const { chains.trace(v); }
};
constexpr size_t kSlots = 64;
constexpr int kChainCap = 8;  // a chain is cut below this depth

enum class Call { kGetpid, kNanosleep, kPipe };

// One real system call through weft::blocking (the fiber leaves its P and
// takes one back, racing whatever the collector does meanwhile).
void make_call(Call c, const Pipe& p) {
    switch (c) {
        case Call::kGetpid:
            (void)weft::blocking([] { return ::getpid(); });
            return;
        case Call::kNanosleep:
            (void)weft::blocking([] {
                timespec zero{0, 0};
                return ::nanosleep(&zero, nullptr);
            });
            return;
        case Call::kPipe: {
            char c = 'x';
            // (No doctest assertion: this runs on fibers, on any thread.)
            if (weft::blocking([&] { return ::write(p.fd[1], &c, 1); }) != 1 ||
                weft::blocking([&] { return ::read(p.fd[0], &c, 1); }) != 1) {
                std::perror("stress: pipe");
                std::abort();
            }
            return;
        }
    }
}

// Walks a chain, checking the values; false if any link is wrong.
bool chain_ok(const Node* n) {
    for (int d = 0; n && d <= kChainCap; ++d) {
        const Node* next = n->left.get();
        if (next && next->value != n->value - 1) return false;
        n = next;
    }
    return true;
}
}  // namespace

TEST_CASE("stress: fibers store fresh objects right after real system calls while cycles run back to back") {
    weft::suite::ScopedEnv env("WEFT_DEBUG", "gccheckmark=1,gcpoison=1");
    weft::run({.procs = 2}, [] {
        constexpr int kFibers = 8;
        constexpr uint64_t kMinReturns = 1'000'000;
        constexpr uint64_t kMinCycles = 20;
        constexpr auto kMaxTime = 120s;  // a bound for slow sanitizer builds on a loaded machine
        static gc::Root<Slots> slots;
        on_fresh_fiber([] {
            slots = gc::make<Slots>();
            for (size_t i = 0; i < kSlots; ++i) slots->chains.push_back(gc::make<Node>(0));
        });
        weft::sched::SyscallStopStats stops0 = weft::sched::syscall_stop_stats();
        uint64_t cycles0 = gc::stats().cycles;
        std::atomic<uint64_t> returns{0};
        std::atomic<int> bad_chains{0};
        std::atomic<bool> stop{false};
        weft::WaitGroup wg;
        wg.add(kFibers + 1);
        for (int f = 0; f < kFibers; ++f) {
            weft::go([&, f] {
                Pipe pipe;
                uint64_t r = 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(f + 1), n = 0;
                while (!stop.load(std::memory_order_relaxed)) {
                    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
                    auto call = static_cast<Call>(r % 3);
                    make_call(call, pipe);
                    n += call == Call::kPipe ? 2 : 1;
                    // Right after the return: a fresh object stored into the
                    // shared graph (barriered), on top of a chain that may be
                    // cut (its tail becomes garbage).
                    size_t i = (r >> 8) % kSlots;
                    Node* top = slots->chains[i];
                    Node* fresh = gc::make<Node>(top->value + 1);
                    fresh->left = top;
                    if (top->value % kChainCap == kChainCap - 1) top->left = nullptr;
                    slots->chains.set(i, fresh);
                    if ((r & 255) == 0 && !chain_ok(slots->chains[(r >> 16) % kSlots])) bad_chains.fetch_add(1);
                    if ((n & 1023) == 0) {
                        returns.fetch_add(1024, std::memory_order_relaxed);
                        n -= 1024;
                    }
                }
                returns.fetch_add(n);
                wg.done();
            });
        }
        weft::go([&] {  // cycles back to back: every phase switch a stop of the world
            while (!stop.load(std::memory_order_relaxed)) gc::collect();
            wg.done();
        });
        auto start = std::chrono::steady_clock::now();
        while ((returns.load() < kMinReturns || gc::stats().cycles - cycles0 < kMinCycles) &&
               std::chrono::steady_clock::now() - start < kMaxTime)
            weft::sleep(20ms);
        stop = true;
        wg.wait();
        gc::collect();
        for (size_t i = 0; i < kSlots; ++i) CHECK(chain_ok(slots->chains[i]));
        weft::sched::SyscallStopStats stops = weft::sched::syscall_stop_stats();
        uint64_t cycles = gc::stats().cycles - cycles0;
        uint64_t stopped_in_call = stops.syscall_ps_stopped - stops0.syscall_ps_stopped;
        uint64_t returned_in_stop = stops.returns_during_stop - stops0.returns_during_stop;
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        MESSAGE("syscall returns: " << returns.load() << " in " << secs << " s; cycles: " << cycles
                                    << "; Ps stopped while their fiber was in a call: " << stopped_in_call
                                    << "; calls that returned while the world was stopping: " << returned_in_stop);
        std::fprintf(stderr,
                     "syscall-race stress: %llu syscall returns, %llu cycles, %llu Ps stopped mid-call, %llu returns "
                     "during a stop, %.1f s\n",
                     static_cast<unsigned long long>(returns.load()), static_cast<unsigned long long>(cycles),
                     static_cast<unsigned long long>(stopped_in_call),
                     static_cast<unsigned long long>(returned_in_stop), secs);
        CHECK(returns.load() >= kMinReturns);
        CHECK(cycles >= kMinCycles);
        CHECK(stopped_in_call > 0);
        CHECK(bad_chains.load() == 0);
        slots = nullptr;
    });
}

namespace {
gc::Root<Slots> g_user_slots;  // the user kit test's shared graph (in its child)

void make_user_slots() {
    g_user_slots = gc::make<Slots>();
    for (size_t i = 0; i < kSlots; ++i) g_user_slots->chains.push_back(gc::make<Node>(0));
}
}  // namespace

TEST_CASE("weft::testing::stress_gc passes correct code and reports a GC store made inside a system call bracket") {
    // Correct: the store comes right after the call returns.
    weft::testing::StressReport good = weft::testing::stress_gc(
        [](int i) {
            (void)weft::blocking([] { return ::getpid(); });
            Node* top = g_user_slots->chains[static_cast<size_t>(i) % kSlots];
            Node* fresh = gc::make<Node>(top->value + 1);
            fresh->left = top;
            if (top->value % kChainCap == kChainCap - 1) top->left = nullptr;
            g_user_slots->chains.set(static_cast<size_t>(i) % kSlots, fresh);
        },
        {.iterations = 20000, .fibers = 4, .setup = make_user_slots});
    INFO(good.child_stderr);
    CHECK(good.ok);
    CHECK(good.failure.empty());
    CHECK(good.iterations_done == 20000);
    CHECK(good.cycles >= 10);  // gcstress: 20000 small allocations alone would not start one
    CHECK(good.ps_stopped_in_call > 0);
    MESSAGE("correct code: " << good.iterations_done << " iterations, " << good.cycles << " cycles, "
                             << good.ps_stopped_in_call << " Ps stopped mid-call, " << good.returns_during_stop
                             << " returns during a stop");
    if (kFaultLateShade) return;  // there the store below is the injected bug, not a fatal
    // The bug: the store is made inside the bracket, without a P (into a
    // Node loaded before it: a load inside is a bug of its own, below).
    weft::testing::StressReport bad = weft::testing::stress_gc(
        [](int i) {
            Node* fresh = gc::make<Node>(i);
            Node* top = g_user_slots->chains[static_cast<size_t>(i) % kSlots];
            (void)weft::blocking([&] {
                int pid = ::getpid();
                top->right = fresh;
                return pid;
            });
        },
        {.iterations = 10'000'000, .fibers = 4, .setup = make_user_slots});
    INFO(bad.child_stderr);
    CHECK_FALSE(bad.ok);
    CHECK(contains(bad.failure, "fatal error: write barrier without P"));
    CHECK(bad.iterations_done == 0);  // the child died before reporting
    MESSAGE("the bug, reported: " << bad.failure);
}

TEST_CASE("a GC reference loaded inside weft::blocking is fatal in checked builds; plain data is not") {
    // blocking.hpp: f's frames are never scanned, so a reference f loads
    // can be freed under it. gcpoison turns the check on in every build.
    auto child = [](bool load_inside) {
        return weft::suite::run_in_child([load_inside] {
            std::setvbuf(stdout, nullptr, _IONBF, 0);
            setenv("WEFT_DEBUG", "gcpoison=1", 1);
            weft::run({.procs = 2}, [load_inside] {
                static gc::Root<Node> holder;
                holder = gc::make<Node>();
                holder->left = gc::make<Node>(7);
                Node* h = holder.get();
                Node* left = h->left.get();  // before the call: on a scanned frame
                int64_t v = load_inside ? weft::blocking([&] { return h->left->value; })
                                        : weft::blocking([&] { return left->value++; });
                std::printf("read %lld\n", static_cast<long long>(v));
            });
        });
    };
    weft::suite::DeathResult bad = child(true);
    INFO(bad.err);
    CHECK(bad.exit_code == 2);
    CHECK(contains(bad.err, "fatal error: gc: fiber "));
    CHECK(contains(bad.err, " loaded a Member (object 0x"));
    CHECK(contains(bad.err, "inside weft::blocking"));
    CHECK_FALSE(contains(bad.out, "read"));
    weft::suite::DeathResult good = child(false);
    INFO(good.err);
    CHECK(good.exit_code == 0);
    CHECK(contains(good.out, "read 7"));
    // stress_gc reports it too (its child runs with gcpoison), at once: no
    // collection has to be marking, unlike the store's fatal.
    weft::testing::StressReport r = weft::testing::stress_gc(
        [](int i) {
            (void)weft::blocking([&] { return g_user_slots->chains[static_cast<size_t>(i) % kSlots]->value; });
        },
        {.iterations = 1000, .fibers = 2, .setup = make_user_slots});
    INFO(r.child_stderr);
    CHECK_FALSE(r.ok);
    CHECK(contains(r.failure, "inside weft::blocking"));
}

TEST_CASE("weft::testing::stress_gc rejects bad options and being called inside weft::run") {
    CHECK_THROWS_AS(weft::testing::stress_gc([](int) {}, {.fibers = 0}), std::invalid_argument);
    CHECK_THROWS_AS(weft::testing::stress_gc([](int) {}, {.iterations = -1}), std::invalid_argument);
    bool threw = false;
    weft::run({.procs = 1}, [&] {
        try {
            (void)weft::testing::stress_gc([](int) {});
        } catch (const std::logic_error& e) {
            threw = contains(e.what(), "called inside weft::run");
        }
    });
    CHECK(threw);
}
