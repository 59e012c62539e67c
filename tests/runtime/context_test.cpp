// weft::Context and weft::ErrGroup through the public API: the tree's
// semantics, cancellation reaching fibers blocked in select, sleep,
// WaitGroup::wait, a socket read and accept, and nothing left behind.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include <weft/weft.hpp>
#include "support/test_util.hpp"

using namespace std::chrono_literals;

namespace {

bool done_now(const weft::Context& c) {
    bool closed = false;
    weft::select(weft::recv_case(c.done(), [&](std::optional<weft::Context::Done> v) { closed = !v; }),
                 weft::default_case());
    return closed;
}

const weft::ContextKey<std::string> kUser;
const weft::ContextKey<int> kAttempt;

}  // namespace

TEST_CASE("context: background is never done; cancel ends a child and its descendants, never its parent") {
    weft::run([] {
        weft::Context bg;
        CHECK(!bg.err());
        CHECK(!done_now(bg));
        CHECK(bg.done() == nullptr);  // nil, as Go's Background().Done()
        CHECK(weft::with_value(bg, kUser, std::string("x")).done() == nullptr);
        CHECK(!bg.deadline());
        CHECK_NOTHROW(bg.check());

        auto [parent, cancel_parent] = weft::with_cancel(bg);
        auto [child, cancel_child] = weft::with_cancel(parent);
        weft::Context valued = weft::with_value(child, kUser, std::string("ann"));
        auto [grandchild, cancel_grandchild] = weft::with_cancel(valued);

        cancel_child();
        CHECK(child.err() == weft::ContextErrc::canceled);
        CHECK(done_now(child));
        CHECK(grandchild.err() == weft::ContextErrc::canceled);  // through the value node
        CHECK(valued.err() == weft::ContextErrc::canceled);
        CHECK(done_now(valued));
        CHECK(!parent.err());
        CHECK(!done_now(parent));
        cancel_child();  // again: nothing

        // A child of a cancelled context is done from the start.
        auto [late, cancel_late] = weft::with_cancel(child);
        CHECK(late.err() == weft::ContextErrc::canceled);
        CHECK(done_now(late));

        // The reason compares as the portable condition.
        CHECK(child.err() == std::errc::operation_canceled);
        try {
            child.check("work");
            FAIL("check() did not throw");
        } catch (const weft::ContextError& e) {
            CHECK(std::string(e.what()) == "work: context canceled");
            CHECK(e.code() == weft::ContextErrc::canceled);
        }
        cancel_parent();
        CHECK(parent.err() == weft::ContextErrc::canceled);
        (void)cancel_grandchild;
        (void)cancel_late;
    });
}

TEST_CASE("context: values are found up the tree, the nearest first") {
    weft::run([] {
        weft::Context a = weft::with_value(weft::Context(), kUser, std::string("ann"));
        auto [b, cancel] = weft::with_cancel(a);
        weft::Context c = weft::with_value(b, kAttempt, 3);
        weft::Context d = weft::with_value(c, kUser, std::string("bob"));
        REQUIRE(c.value(kUser) != nullptr);
        CHECK(*c.value(kUser) == "ann");
        CHECK(*d.value(kUser) == "bob");
        CHECK(*d.value(kAttempt) == 3);
        CHECK(a.value(kAttempt) == nullptr);
        CHECK(weft::Context().value(kUser) == nullptr);
        cancel();
    });
}

TEST_CASE("context: a deadline ends it with deadline_exceeded; children never outlive a parent's deadline") {
    weft::run(weft::Options{.procs = 2}, [] {
        auto t0 = weft::Clock::now();
        auto [ctx, cancel] = weft::with_timeout(weft::Context(), 50ms);
        REQUIRE(ctx.deadline());
        auto [later, cancel_later] = weft::with_timeout(ctx, 1h);  // capped by the parent
        CHECK(*later.deadline() == *ctx.deadline());
        auto [sooner, cancel_sooner] = weft::with_timeout(ctx, 10ms);
        CHECK(*sooner.deadline() < *ctx.deadline());

        auto got = ctx.done().recv();  // a fiber blocked on done() wakes
        CHECK(!got);
        CHECK(weft::Clock::now() - t0 >= 50ms);
        CHECK(ctx.err() == weft::ContextErrc::deadline_exceeded);
        CHECK(ctx.err() == std::errc::timed_out);
        CHECK(later.err() == weft::ContextErrc::deadline_exceeded);  // the parent's reason
        CHECK(sooner.err() == weft::ContextErrc::deadline_exceeded);
        cancel();  // after the deadline: the reason stays
        CHECK(ctx.err() == weft::ContextErrc::deadline_exceeded);

        auto [past, cancel_past] = weft::with_deadline(weft::Context(), weft::Clock::now() - 1s);
        CHECK(past.err() == weft::ContextErrc::deadline_exceeded);
        CHECK(done_now(past));
        (void)cancel_later;
        (void)cancel_sooner;
        (void)cancel_past;
    });
}

TEST_CASE("context: dropped contexts leave no timer and no hook behind") {
    weft::run([] {
        const uint64_t timers = weft::metrics().sched.timers;
        auto [parent, cancel] = weft::with_cancel(weft::Context());
        for (int i = 0; i < 10000; i++) {
            auto [c, cc] = weft::with_timeout(parent, 1h);
            auto [d, dc] = weft::with_cancel(c);
            (void)dc;
            (void)cc;
        }
        CHECK(weft::metrics().sched.timers == timers);
        // Had a child stayed hooked on the parent, its freed hook would be
        // run here (ASan: use after free; debug: a corrupt list).
        cancel();
        CHECK(parent.err() == weft::ContextErrc::canceled);
    });
}

TEST_CASE("context: cancellation reaches fibers blocked in select, sleep, WaitGroup::wait and a child's done") {
    weft::run(weft::Options{.procs = 2}, [] {
        auto [ctx, cancel] = weft::with_cancel(weft::Context());
        auto [child, cancel_child] = weft::with_cancel(ctx);
        weft::WaitGroup never;  // its counter never reaches zero
        never.add(1);
        weft::Chan<int> never_sent;
        weft::Chan<std::string> ended(4);
        weft::go([c = ctx, ended, never_sent]() mutable {
            weft::select(weft::recv_case(never_sent), weft::recv_case(c.done()));
            ended.send("select");
        });
        weft::go([c = ctx, ended]() mutable {
            try {
                weft::sleep(1h, c);
                ended.send("sleep returned");
            } catch (const weft::ContextError& e) {
                ended.send(e.what());
            }
        });
        weft::go([c = ctx, ended, &never]() mutable {
            try {
                never.wait(c);
                ended.send("wait returned");
            } catch (const weft::ContextError& e) {
                ended.send(e.what());
            }
        });
        weft::go([c = child, ended]() mutable {
            c.done().recv();
            ended.send("child");
        });
        // Every one of them blocked before the cancel: a bounded wait.
        CHECK(weft::suite::wait_until([] { return weft::metrics().fibers.waiting >= 4; }));
        cancel();
        std::vector<std::string> got;
        for (int i = 0; i < 4; i++) got.push_back(*ended.recv());
        std::sort(got.begin(), got.end());
        CHECK(got == std::vector<std::string>{"WaitGroup::wait: context canceled", "child", "select",
                                              "sleep: context canceled"});
        // The cancelled wait left the group as it was: done() releases a
        // new waiter, and the group is reusable.
        never.done();
        never.wait();
        never.add(1);
        never.done();
        never.wait();
        (void)cancel_child;
    });
}

TEST_CASE("context: WaitGroup::wait(ctx) racing the last done() either returns or throws, and the group stays sound") {
    weft::run(weft::Options{.procs = 2}, [] {
        const auto until = weft::Clock::now() + 2s;
        int rounds = 0, returned = 0, cancelled = 0;
        while (weft::Clock::now() < until || rounds < 50) {
            weft::WaitGroup wg;
            auto [ctx, cancel] = weft::with_cancel(weft::Context());
            wg.add(1);
            weft::WaitGroup helpers;
            helpers.add(2);
            weft::go([&wg, &helpers] {
                wg.done();
                helpers.done();
            });
            weft::go([&helpers, cancel = cancel] {
                cancel();
                helpers.done();
            });
            try {
                wg.wait(ctx);
                returned++;
            } catch (const weft::ContextError&) {
                cancelled++;
            }
            helpers.wait();
            wg.wait();  // the group is zero either way
            wg.add(1);  // and a new round works (fatal if a unit was left banked or a waiter counted)
            weft::go([&wg] { wg.done(); });
            wg.wait();
            rounds++;
            if (rounds > 100000) break;
        }
        CHECK(returned + cancelled == rounds);
        MESSAGE(rounds << " rounds: " << returned << " returned, " << cancelled << " cancelled");
    });
}

TEST_CASE("context: a bound connection's read and a bound listener's accept end with ContextError, then work again") {
    weft::run(weft::Options{.procs = 2}, [] {
        weft::net::Listener ln = weft::net::listen("tcp", "127.0.0.1:0");
        const std::string addr = ln.addr().to_string();
        weft::net::Conn client = weft::net::dial("tcp", addr, weft::Context());
        weft::net::Conn server = ln.accept();
        {
            auto [ctx, cancel] = weft::with_cancel(weft::Context());
            weft::Chan<std::string> got(1);
            weft::go([&server, c = ctx, got]() mutable {
                std::string result;
                {
                    weft::ContextBinding bound(server, c);
                    std::byte buf[16];
                    try {
                        server.read(buf);
                        result = "read returned";
                    } catch (const weft::ContextError& e) {
                        result = e.what();
                    }
                }  // unbound before main reads the connection again
                got.send(result);
            });
            CHECK(weft::suite::wait_until([] { return weft::metrics().sched.netpoll_waiters >= 1; }));
            cancel();
            std::string what = "(no answer in 20 s)";
            weft::Timer bound(20s);
            weft::select(weft::recv_case(got, [&](std::optional<std::string> v) { what = *v; }),
                         weft::recv_case(bound.chan()));
            CHECK(what.starts_with("read tcp "));
            CHECK(what.ends_with(": context canceled"));
        }
        // Unbound: the connection is as before.
        const std::string hello = "hello";
        client.write_all(std::as_bytes(std::span(hello)));
        std::byte buf[16];
        CHECK(server.read(buf) == hello.size());

        // A deadline, and an accept.
        {
            auto [ctx, cancel] = weft::with_timeout(weft::Context(), 30ms);
            weft::ContextBinding bound(ln, ctx);
            CHECK_THROWS_WITH_AS(ln.accept(), doctest::Contains("context deadline exceeded"), weft::ContextError);
            // A write on an already-done context fails at once.
            weft::ContextBinding bound_client(client, ctx);
            CHECK_THROWS_AS(client.write_all(std::as_bytes(std::span(hello))), weft::ContextError);
            (void)cancel;
        }
        client.write_all(std::as_bytes(std::span(hello)));
        CHECK(server.read(buf) == hello.size());

        // dial with a done context fails without dialling.
        auto [dead, cancel_dead] = weft::with_cancel(weft::Context());
        cancel_dead();
        CHECK_THROWS_AS(weft::net::dial("tcp", addr, dead), weft::ContextError);
    });
}

TEST_CASE("errgroup: the first exception is rethrown by wait(), and cancels the others' context") {
    weft::run(weft::Options{.procs = 2}, [] {
        weft::ErrGroup g(weft::Context{});
        std::atomic<int> stopped{0};
        for (int i = 0; i < 8; i++) {
            g.go([&stopped](const weft::Context& c) {
                try {
                    weft::sleep(1h, c);
                } catch (const weft::ContextError&) {
                    stopped++;
                    throw;  // a later failure: dropped
                }
            });
        }
        g.go([] { throw std::runtime_error("part 9 failed"); });
        CHECK_THROWS_WITH_AS(g.wait(), "part 9 failed", std::runtime_error);
        CHECK(stopped.load() == 8);
        CHECK(g.context().err() == weft::ContextErrc::canceled);

        weft::ErrGroup ok;  // no context; success: wait() returns
        std::atomic<int> ran{0};
        for (int i = 0; i < 100; i++) ok.go([&ran] { ran++; });
        ok.wait();
        CHECK(ran.load() == 100);
    });
}

TEST_CASE("errgroup: set_limit bounds the fibers running at once; try_go refuses when full") {
    weft::run(weft::Options{.procs = 2}, [] {
        weft::ErrGroup g;
        g.set_limit(3);
        std::atomic<int> now{0}, most{0};
        weft::Chan<int> gate;
        for (int i = 0; i < 3; i++) {
            g.go([&, gate]() mutable {
                int n = ++now;
                int m = most.load();
                while (n > m && !most.compare_exchange_weak(m, n)) {
                }
                gate.recv();
                --now;
            });
        }
        CHECK(weft::suite::wait_until([&] { return now.load() == 3; }));
        CHECK(!g.try_go([] {}));  // three hold the gate
        CHECK_THROWS_AS(g.set_limit(5), std::logic_error);
        weft::Chan<int> spawned(1);
        weft::go([&g, &now, &most, spawned]() mutable {  // a fourth parks in go() until one ends
            g.go([&] {
                int n = ++now;
                int m = most.load();
                while (n > m && !most.compare_exchange_weak(m, n)) {
                }
                --now;
            });
            spawned.send(1);
        });
        for (int i = 0; i < 3; i++) gate.send(i);
        spawned.recv();
        g.wait();
        CHECK(most.load() == 3);
        CHECK(g.try_go([] {}));
        g.wait();
    });
}

TEST_CASE("context: a dial stuck in connect ends at the context's deadline, or at its cancel") {
    weft::run(weft::Options{.procs = 2}, [] {
        // A listener that never accepts, with the smallest backlog: once its
        // queue is full the kernel drops further SYNs and connects hang.
        weft::net::Listener ln = weft::net::listen("tcp", "127.0.0.1:0", {.backlog = 1});
        const std::string addr = ln.addr().to_string();
        std::vector<weft::net::Conn> queued;
        std::string timed_out;
        for (int i = 0; i < 16 && timed_out.empty(); i++) {
            auto [ctx, cancel] = weft::with_timeout(weft::Context(), 300ms);
            try {
                queued.push_back(weft::net::dial("tcp", addr, ctx));
            } catch (const weft::ContextError& e) {
                CHECK(e.code() == weft::ContextErrc::deadline_exceeded);
                timed_out = e.what();
            }
        }
        CHECK(timed_out.starts_with("dial tcp "));
        CHECK(timed_out.ends_with(": context deadline exceeded"));

        auto [ctx, cancel] = weft::with_cancel(weft::Context());
        weft::Chan<std::string> got(1);
        weft::go([addr, c = ctx, got]() mutable {
            try {
                (void)weft::net::dial("tcp", addr, c);
                got.send("dialled");
            } catch (const weft::ContextError& e) {
                got.send(e.what());
            }
        });
        CHECK(weft::suite::wait_until([] { return weft::metrics().sched.netpoll_waiters >= 1; }));
        cancel();
        CHECK((*got.recv()).ends_with(": context canceled"));
    });
}

TEST_CASE("WaitGroup::wait_for: false once the time passes, true when the counter reaches zero") {
    weft::run(weft::Options{.procs = 2}, [] {
        weft::WaitGroup wg;
        wg.add(1);
        auto t0 = weft::Clock::now();
        CHECK(!wg.wait_for(30ms));
        CHECK(weft::Clock::now() - t0 >= 30ms);
        weft::go([&wg] { wg.done(); });
        CHECK(wg.wait_for(1h));
        CHECK(wg.wait_for(0s));  // zero already: at once
    });
}
