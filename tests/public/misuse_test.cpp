// Runtime calls made where they must not be (call_context.hpp): inside
// weft::blocking, on a plain thread, in a destructor the collector runs,
// while no run is active. Each one is a fatal error naming the call and
// the rule, never a crash, a hang or silence; and the calls the headers
// allow in those places work there. Through the public API, as a user's
// program makes the calls; besides the child-process runner, the tests
// only read a fiber's status to know it has parked (parked_fiber below).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <weft/weft.hpp>
#include "sched/fiber.hpp"
#include "support/death.hpp"
#include "support/test_util.hpp"

using namespace std::chrono_literals;

namespace {

using Body = std::function<void()>;

// A fiber that will park: it records itself, and parked() waits (bounded,
// yielding) until it is parked, so a wake-up after it finds a waiter.
class ParkedFiber {
public:
    void mark() { g_.store(weft::sched::current_g()); }
    bool parked() const {
        return weft::suite::wait_until([this] {
            weft::sched::G* g = g_.load();
            return g != nullptr && g->status.load() == weft::sched::GStatus::kWaiting;
        });
    }

private:
    std::atomic<weft::sched::G*> g_{nullptr};
};

bool has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// The calls, each made once in a context; what they need is made inside.
struct Call {
    const char* api;  // as the message names it
    Body body;
};

std::vector<Call> calls_needing_a_fiber() {
    return {
        {"weft::yield", [] { weft::yield(); }},
        {"weft::sleep", [] { weft::sleep(1ms); }},
        {"Chan::send",
         [] {
             weft::Chan<int> c(1);
             c.send(1);  // room in the buffer: it would not block
         }},
        {"Chan::recv",
         [] {
             weft::Chan<int> c(1);
             (void)c.recv();  // the check comes before the wait
         }},
        {"weft::select",
         [] {
             weft::Chan<int> c(1);
             weft::select(weft::recv_case(c), weft::default_case());
         }},
        {"net::listen", [] { (void)weft::net::listen("tcp4", "127.0.0.1:0"); }},
        {"gc::make<int>", [] { (void)weft::gc::make<int>(); }},
        {"weft::sleep", [] { weft::sleep(1ms, weft::Context()); }},
    };
}

// Calls that do not block, allowed in fibers (and collector-run
// destructors) but not inside weft::blocking or off the runtime.
std::vector<Call> calls_needing_the_runtime() {
    return {
        {"Chan::try_send",
         [] {
             weft::Chan<int> c(1);
             int one = 1;
             (void)c.try_send(one);
         }},
        {"Chan::try_recv",
         [] {
             int v = 0;
             weft::Chan<int> c(1);
             (void)c.try_recv(v);
         }},
        {"Chan::close",
         [] {
             weft::Chan<int> c(1);
             c.close();
         }},
        {"weft::Timer", [] { weft::Timer t(1s); }},
        {"weft::Ticker", [] { weft::Ticker t(1s); }},
        {"weft::after", [] { (void)weft::after(1s); }},
        {"weft::after_func", [] { weft::after_func(1s, [] {}); }},
        {"weft::with_deadline", [] { (void)weft::with_timeout(weft::Context(), 1s); }},
    };
}

// Only inside weft::blocking is each of these a misuse.
constexpr const char* kNested = "weft::blocking (or a weft::sys, File, read_file or write_file call)";

std::vector<Call> calls_forbidden_in_blocking() {
    return {
        {"weft::preempt_point", [] { weft::preempt_point(); }},
        {"weft::go", [] { weft::go([] {}); }},
        {"Mutex::lock", [] { weft::Mutex().lock(); }},
        {"RWMutex::rlock", [] { weft::RWMutex().rlock(); }},
        {"RWMutex::lock", [] { weft::RWMutex().lock(); }},
        {"WaitGroup::wait", [] { weft::WaitGroup().wait(); }},
        {"Once::call", [] { weft::Once().call([] {}); }},
        {"Semaphore::acquire", [] { weft::Semaphore(1).acquire(); }},
        {"FiberLocal",
         [] {
             static weft::FiberLocal<int> local;
             local.get() = 1;
         }},
        {"gc::collect", [] { weft::gc::collect(); }},
        {kNested, [] { weft::blocking([] {}); }},
        {kNested, [] { weft::sys::nanosleep(1us); }},
        {kNested, [] { (void)weft::read_file("/proc/self/stat"); }},
    };
}

// Runs body in a child and checks it died with `message` (exit status 2).
void expect_fatal(const Body& body, const std::string& message) {
    auto r = weft::suite::run_in_child(body, 60);
    INFO("expected: " << message);
    INFO("child stderr: " << r.err.substr(0, 600));
    CHECK(r.exit_code == 2);
    CHECK(r.signal == 0);
    CHECK(has(r.err, "fatal error: " + message));
}

Body inside_blocking(Body call) {
    return [call] {
        weft::run(weft::Options{.procs = 2}, [&] { weft::blocking([&] { call(); }); });
    };
}

Body on_plain_thread(Body call) {
    return [call] {
        weft::run(weft::Options{.procs = 2}, [&] {
            std::thread t(call);
            weft::blocking([&] { t.join(); });
        });
    };
}

// A GC object whose destructor makes the call; made on a fiber that ends,
// so the collect() that follows finds it unreachable and runs it.
Body* g_in_destructor = nullptr;
struct CallsInDestructor {
    int64_t pad = 0;
    ~CallsInDestructor() { (*g_in_destructor)(); }
};

Body in_destructor(Body call) {
    return [call] {
        Body copy = call;
        g_in_destructor = &copy;
        weft::run(weft::Options{.procs = 2}, [] {
            weft::WaitGroup wg;
            wg.add(1);
            weft::go([&] {
                (void)weft::gc::make<CallsInDestructor>();
                wg.done();
            });
            wg.wait();
            weft::gc::collect();
            weft::gc::collect();
        });
    };
}

constexpr const char* kInBlocking = " called inside weft::blocking: the function given to weft::blocking runs without "
                                    "a P and must not use the runtime";
constexpr const char* kOnPlainThread = " called on a plain thread, not in a fiber";
constexpr const char* kInDestructor = " called in a destructor run by the collector: such a destructor must not "
                                      "block, yield, allocate GC objects or collect";
constexpr const char* kNoRun = " called while no weft::run is active";

}  // namespace

TEST_CASE("misuse inside weft::blocking: every runtime call is fatal, naming itself and the rule") {
    for (auto list : {calls_needing_a_fiber(), calls_needing_the_runtime(), calls_forbidden_in_blocking()}) {
        for (const Call& c : list) {
            std::string api = c.api;
            CAPTURE(api);
            // The allocator sees the missing P first, for every GC allocation.
            if (api == "gc::make<int>") api = "gc::make (or a gc::Vector or gc::HashMap insert)";
            expect_fatal(inside_blocking(c.body), api + kInBlocking);
        }
    }
}

TEST_CASE("misuse inside weft::blocking: waking a parked fiber is fatal before anything moves") {
    // A fiber waits for the Mutex; the blocking function unlocks it.
    expect_fatal(
        [] {
            weft::run(weft::Options{.procs = 2}, [] {
                weft::Mutex mu;
                mu.lock();
                ParkedFiber waiter;
                weft::go([&] {
                    waiter.mark();
                    mu.lock();
                });
                if (!waiter.parked()) std::_Exit(3);  // never parked: not the case under test
                weft::blocking([&] { mu.unlock(); });
            });
        },
        std::string("waking a fiber (a channel operation, an unlock, a signal or a release)") + kInBlocking);
}

TEST_CASE("misuse on a plain thread: calls that need a fiber or the runtime are fatal, naming themselves") {
    for (auto list : {calls_needing_a_fiber(), calls_needing_the_runtime()}) {
        for (const Call& c : list) {
            std::string api = c.api;
            CAPTURE(api);
            if (api == "weft::yield") continue;  // a plain thread's yield is sched_yield (run.hpp)
            if (api == "gc::make<int>") {
                expect_fatal(on_plain_thread(c.body), "gc: allocation outside a fiber");
                continue;
            }
            expect_fatal(on_plain_thread(c.body), api + kOnPlainThread);
        }
    }
}

TEST_CASE("misuse on a plain thread: a lock that would block is fatal, naming the call") {
    expect_fatal(
        [] {
            weft::run(weft::Options{.procs = 2}, [] {
                weft::Mutex mu;
                mu.lock();
                std::thread t([&] { mu.lock(); });
                weft::blocking([&] { t.join(); });
            });
        },
        "sync: Mutex::lock called outside a fiber (it would block the thread)");
}

TEST_CASE("misuse while no run is active: fatal, naming the call") {
    for (auto list : {calls_needing_a_fiber(), calls_needing_the_runtime()}) {
        for (const Call& c : list) {
            std::string api = c.api;
            CAPTURE(api);
            if (api == "weft::yield" || api == "gc::make<int>") continue;  // sched_yield; gc::make's own message
            expect_fatal(c.body, api + kNoRun);
        }
    }
    expect_fatal([] { (void)weft::gc::make<int>(); }, "gc: allocation outside a fiber");
}

TEST_CASE("misuse in a destructor run by the collector: blocking, yielding, allocating and collecting are fatal") {
    std::vector<Call> calls = {
        {"weft::yield", [] { weft::yield(); }},
        {"weft::sleep", [] { weft::sleep(1ms); }},
        {"gc::make<int>", [] { (void)weft::gc::make<int>(); }},
        {"gc::collect", [] { weft::gc::collect(); }},
        {"Chan::recv",
         [] {
             weft::Chan<int> c;
             (void)c.recv();  // would block
         }},
        {"net::listen", [] { (void)weft::net::listen("tcp4", "127.0.0.1:0"); }},
    };
    for (const Call& c : calls) {
        CAPTURE(std::string(c.api));
        expect_fatal(in_destructor(c.body), std::string(c.api) + kInDestructor);
    }
}

TEST_CASE("what the headers allow in those places works there") {
    auto r = weft::suite::run_in_child([] {
        std::setvbuf(stdout, nullptr, _IONBF, 0);
        // In a collector-run destructor: calls that do not block.
        static std::atomic<int> sent{0};
        Body nonblocking = [] {
            weft::Chan<int> c(1);
            int one = 1;
            if (c.try_send(one)) sent++;
            weft::Mutex mu;
            mu.lock();
            mu.unlock();
        };
        in_destructor(nonblocking)();
        std::printf("destructor: sent %d\n", sent.load());
        weft::run(weft::Options{.procs = 2}, [] {
            // A plain thread unlocks a Mutex a fiber waits for, releases a
            // Semaphore and ends a WaitGroup's wait: the fibers wake.
            weft::Mutex mu;
            weft::Semaphore sem(1);
            sem.acquire();
            weft::WaitGroup wg;
            wg.add(1);
            mu.lock();
            weft::Chan<int> done(3);
            ParkedFiber waiters[3];
            weft::go([&, done]() mutable {
                waiters[0].mark();
                mu.lock();
                mu.unlock();
                done.send(1);
            });
            weft::go([&, done]() mutable {
                waiters[1].mark();
                sem.acquire();
                done.send(2);
            });
            weft::go([&, done]() mutable {
                waiters[2].mark();
                wg.wait();
                done.send(3);
            });
            // Each parked on what it waits for, so the plain thread's calls
            // below must wake them (the path under test).
            for (const ParkedFiber& w : waiters)
                if (!w.parked()) std::_Exit(3);
            // The Spawner tells the deadlock check the thread is coming.
            std::thread t([&, s = weft::Spawner()] {
                mu.unlock();
                sem.release();
                wg.done();
            });
            int sum = *done.recv() + *done.recv() + *done.recv();
            weft::blocking([&] { t.join(); });
            std::printf("plain thread woke: %d\n", sum);
        });
    });
    INFO("child stderr: " << r.err);
    CHECK(r.exit_code == 0);
    CHECK(has(r.out, "destructor: sent 1\n"));
    CHECK(has(r.out, "plain thread woke: 6\n"));
}

TEST_CASE("misuse: an ErrGroup destroyed while its fibers run is fatal; binding an empty Conn throws") {
    expect_fatal(
        [] {
            weft::run([] {
                weft::Chan<int> never;
                {
                    weft::ErrGroup g;
                    g.go([never]() mutable { (void)never.recv(); });
                }  // no wait()
            });
        },
        "errgroup: an ErrGroup destroyed while 1 of its fibers run (call wait() first)");
    weft::run([] {
        weft::net::Conn empty;
        CHECK_THROWS_WITH_AS(weft::ContextBinding(empty, weft::Context()),
                             "bind to a context: use of closed network connection", weft::net::ClosedError);
    });
}
