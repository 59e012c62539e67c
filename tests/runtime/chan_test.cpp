// Channels: ordering, buffering, close, try ops, element lifetimes, stress.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <weft/chan.hpp>
#include <weft/clock.hpp>
#include <weft/weft.hpp>
#include "sched/sanitizers.hpp"
#include "sched/timers.hpp"
#include "support/death.hpp"
#include "support/test_util.hpp"

namespace {

constexpr int kScale = weft::sched::kSanitized ? 10 : 1;

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// An element that counts live objects and catches use-after-destroy and
// double destruction.
struct Tracked {
    static constexpr uint32_t kAlive = 0xa11e;
    static constexpr uint32_t kDead = 0xdead;
    static inline std::atomic<int> live{0};
    static inline std::atomic<int> errors{0};

    int v;
    uint32_t magic;

    explicit Tracked(int x) : v(x), magic(kAlive) { live++; }
    Tracked(Tracked&& o) noexcept : v(o.v), magic(kAlive) {
        if (o.magic != kAlive) errors++;
        o.v = -1;
        live++;
    }
    Tracked& operator=(Tracked&& o) noexcept {
        if (o.magic != kAlive || magic != kAlive) errors++;
        v = o.v;
        o.v = -1;
        return *this;
    }
    ~Tracked() {
        if (magic != kAlive) errors++;
        magic = kDead;
        live--;
    }
};

void reset_tracked() {
    Tracked::live = 0;
    Tracked::errors = 0;
}

// Lets every other runnable fiber run (enough at procs=1 for fibers just
// spawned to reach their blocking point).
void settle() {
    for (int i = 0; i < 8; i++) weft::yield();
}

}  // namespace

TEST_CASE("unbuffered: values arrive in send order") {
    for (int procs : {1, 2, 4}) {
        CAPTURE(procs);
        std::vector<int> got;
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::Chan<int> ch;
            weft::go([ch]() mutable {
                for (int i = 0; i < 1000; i++) ch.send(i);
                ch.close();
            });
            while (auto v = ch.recv()) got.push_back(*v);
        });
        REQUIRE(got.size() == 1000);
        for (int i = 0; i < 1000; i++) REQUIRE(got[i] == i);
    }
}

TEST_CASE("unbuffered: blocked senders and receivers are served first come, first served") {
    weft::run(weft::Options{.procs = 1}, [] {
        weft::Chan<int> ch;
        for (int i = 0; i < 4; i++) {
            weft::go([ch, i]() mutable { ch.send(i); });
            settle();  // sender i is now queued behind senders 0..i-1
        }
        for (int i = 0; i < 4; i++) CHECK(ch.recv() == i);

        weft::Chan<int> order(4);
        for (int i = 0; i < 4; i++) {
            weft::go([ch, order, i]() mutable {
                ch.recv();
                order.send(i);
            });
            settle();
        }
        for (int i = 0; i < 4; i++) {
            ch.send(100 + i);
            settle();
        }
        for (int i = 0; i < 4; i++) CHECK(order.recv() == i);
    });
}

TEST_CASE("buffered: FIFO, len and cap") {
    weft::run(weft::Options{.procs = 1}, [] {
        weft::Chan<int> unbuf;
        CHECK(unbuf.cap() == 0);
        CHECK(unbuf.len() == 0);

        weft::Chan<int> ch(3);
        CHECK(ch.cap() == 3);
        CHECK(ch.len() == 0);
        for (int round = 0; round < 3; round++) {  // wraps the ring
            ch.send(10 * round + 1);
            ch.send(10 * round + 2);
            CHECK(ch.len() == 2);
            ch.send(10 * round + 3);
            CHECK(ch.len() == 3);
            CHECK(ch.recv() == 10 * round + 1);
            CHECK(ch.len() == 2);
            CHECK(ch.recv() == 10 * round + 2);
            CHECK(ch.recv() == 10 * round + 3);
            CHECK(ch.len() == 0);
        }
        CHECK(ch.cap() == 3);
    });
}

TEST_CASE("buffered: a receiver takes the head and a blocked sender's value joins the tail") {
    weft::run(weft::Options{.procs = 1}, [] {
        weft::Chan<int> ch(2);
        weft::WaitGroup senders;
        senders.add(2);
        ch.send(1);
        ch.send(2);
        weft::go([ch, &senders]() mutable {
            ch.send(3);
            senders.done();
        });
        settle();
        weft::go([ch, &senders]() mutable {
            ch.send(4);
            senders.done();
        });
        settle();
        CHECK(ch.len() == 2);
        CHECK(ch.recv() == 1);
        CHECK(ch.len() == 2);  // 3 moved into the ring
        CHECK(ch.recv() == 2);
        CHECK(ch.recv() == 3);
        CHECK(ch.recv() == 4);
        CHECK(ch.len() == 0);
        senders.wait();
    });
}

TEST_CASE("buffered: values arrive in order across procs") {
    for (int procs : {1, 2, 4}) {
        CAPTURE(procs);
        int bad = 0, n = 0;
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::Chan<int> ch(7);
            weft::go([ch]() mutable {
                for (int i = 0; i < 5000; i++) ch.send(i);
                ch.close();
            });
            for (int v : ch) bad += v != n++;
        });
        CHECK(n == 5000);
        CHECK(bad == 0);
    }
}

TEST_CASE("range-for receives until closed and drained") {
    weft::run(weft::Options{.procs = 2}, [] {
        weft::Chan<int> ch(5);
        for (int i = 0; i < 5; i++) ch.send(i);
        ch.close();
        CHECK(ch.len() == 5);  // buffered values survive close
        std::vector<int> got;
        for (int v : ch) got.push_back(v);
        CHECK(got == std::vector<int>{0, 1, 2, 3, 4});
        for (int v : ch) got.push_back(v);  // closed and empty: no iteration
        CHECK(got.size() == 5);

        weft::Chan<std::string> words;
        weft::go([words]() mutable {
            for (const char* w : {"a", "bb", "ccc"}) words.send(w);
            words.close();
        });
        std::string all;
        for (std::string w : words) all += w + ",";
        CHECK(all == "a,bb,ccc,");
    });
}

TEST_CASE("handles: copies share one channel, == compares identity") {
    weft::run(weft::Options{.procs = 1}, [] {
        weft::Chan<int> a(1);
        weft::Chan<int> b = a;
        weft::Chan<int> c(1);
        CHECK(a == b);
        CHECK_FALSE(a == c);
        a.send(7);
        CHECK(b.len() == 1);
        CHECK(b.recv() == 7);
        c = b;
        CHECK(c == a);
        weft::Chan<int> d = std::move(c);
        CHECK(d == a);
        d.send(8);
        CHECK(a.recv() == 8);
    });
}

TEST_CASE("move-only elements (unique_ptr)") {
    for (int procs : {1, 2}) {
        CAPTURE(procs);
        weft::run(weft::Options{.procs = procs}, [] {
            weft::Chan<std::unique_ptr<int>> unbuf;
            weft::go([unbuf]() mutable {
                for (int i = 0; i < 10; i++) unbuf.send(std::make_unique<int>(i));
                unbuf.close();
            });
            int sum = 0;
            for (std::unique_ptr<int> p : unbuf) {
                REQUIRE(p != nullptr);
                sum += *p;
            }
            CHECK(sum == 45);

            weft::Chan<std::unique_ptr<int>> buf(2);
            auto p = std::make_unique<int>(5);
            CHECK(buf.try_send(p));
            CHECK(p == nullptr);  // moved-from
            buf.send(std::make_unique<int>(6));
            auto q = std::make_unique<int>(7);
            CHECK_FALSE(buf.try_send(q));  // full
            CHECK(q != nullptr);           // untouched
            std::unique_ptr<int> out;
            CHECK(buf.try_recv(out) == weft::RecvStatus::kOk);
            CHECK(*out == 5);
            auto r = buf.recv();
            REQUIRE(r.has_value());
            CHECK(**r == 6);
        });
    }
}

TEST_CASE("element destructors: exact counts, buffered leftovers destroyed with the channel") {
    reset_tracked();
    weft::run(weft::Options{.procs = 2}, [] {
        {
            weft::Chan<Tracked> ch(4);
            ch.send(Tracked(1));
            ch.send(Tracked(2));
            ch.send(Tracked(3));
            CHECK(Tracked::live == 3);
            auto v = ch.recv();
            CHECK(v->v == 1);
            CHECK(Tracked::live == 3);  // 2 buffered + v
        }  // the channel dies with 2 and 3 inside
        CHECK(Tracked::live == 0);

        weft::Chan<int> done(1);  // each sender's temporaries are gone once it reports
        {
            weft::Chan<Tracked> ch;  // unbuffered handoffs
            weft::go([ch, done]() mutable {
                for (int i = 0; i < 100; i++) ch.send(Tracked(i));
                ch.close();
                done.send(0);
            });
            int n = 0;
            for (Tracked t : ch) n += t.v == n;
            CHECK(n == 100);
            done.recv();
        }
        {
            weft::Chan<Tracked> ch(2);  // wrap + full-buffer handoff
            weft::go([ch, done]() mutable {
                for (int i = 0; i < 50; i++) ch.send(Tracked(i));
                done.send(0);
            });
            for (int i = 0; i < 48; i++) CHECK(ch.recv()->v == i);
            Tracked out(-5);
            weft::RecvStatus st;
            while ((st = ch.try_recv(out)) == weft::RecvStatus::kEmpty) weft::yield();
            CHECK(st == weft::RecvStatus::kOk);
            CHECK(out.v == 48);
            done.recv();  // 49 is in the ring now
            Tracked t(99);
            CHECK(ch.try_send(t));
            CHECK(ch.len() == 2);
        }  // 49 and 99 die with the channel, whichever handle (ours, the sender's) goes last
    });
    CHECK(Tracked::live == 0);
    CHECK(Tracked::errors == 0);
}

TEST_CASE("close wakes every blocked receiver with nullopt") {
    for (int procs : {1, 2, 4}) {
        CAPTURE(procs);
        constexpr int kReceivers = 8;
        int nullopts = 0;
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::Chan<int> ch;
            weft::Chan<bool> results(kReceivers);
            for (int i = 0; i < kReceivers; i++)
                weft::go([ch, results]() mutable { results.send(!ch.recv().has_value()); });
            settle();
            ch.close();
            for (int i = 0; i < kReceivers; i++) nullopts += *results.recv();
        });
        CHECK(nullopts == kReceivers);
    }
}

TEST_CASE("close wakes every blocked sender, which throws ChannelClosed") {
    for (int procs : {1, 2, 4}) {
        CAPTURE(procs);
        constexpr int kSenders = 8;
        std::atomic<int> threw{0};
        std::atomic<int> bad_message{0};
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::Chan<int> ch;
            weft::Chan<int> done(kSenders);
            for (int i = 0; i < kSenders; i++)
                weft::go([&, ch, done, i]() mutable {
                    try {
                        ch.send(i);
                    } catch (const weft::ChannelClosed& e) {
                        threw++;
                        if (std::string(e.what()) != "send on closed channel") bad_message++;
                    }
                    done.send(i);
                });
            settle();
            ch.close();
            for (int i = 0; i < kSenders; i++) done.recv();
        });
        CHECK(threw == kSenders);
        CHECK(bad_message == 0);
    }
}

TEST_CASE("blocked buffered sender is woken by close; buffered values stay receivable") {
    weft::run(weft::Options{.procs = 1}, [] {
        weft::Chan<int> ch(1);
        ch.send(1);
        weft::Chan<std::string> err(1);
        weft::go([ch, err]() mutable {
            try {
                ch.send(2);
                err.send("sent");
            } catch (const weft::ChannelClosed& e) {
                err.send(e.what());
            }
        });
        settle();
        ch.close();
        CHECK(err.recv() == "send on closed channel");
        CHECK(ch.recv() == 1);
        CHECK(ch.recv() == std::nullopt);
    });
}

TEST_CASE("send on closed, close of closed: ChannelClosed with Go's messages") {
    weft::run(weft::Options{.procs = 1}, [] {
        weft::Chan<int> ch(2);
        ch.close();
        try {
            ch.send(1);
            FAIL("send on a closed channel did not throw");
        } catch (const weft::ChannelClosed& e) {
            CHECK(std::string(e.what()) == "send on closed channel");
        }
        int v = 3;
        try {
            ch.try_send(v);
            FAIL("try_send on a closed channel did not throw");
        } catch (const weft::ChannelClosed& e) {
            CHECK(std::string(e.what()) == "send on closed channel");
        }
        try {
            ch.close();
            FAIL("close of a closed channel did not throw");
        } catch (const weft::ChannelClosed& e) {
            CHECK(std::string(e.what()) == "close of closed channel");
        }
        CHECK(ch.recv() == std::nullopt);
        CHECK(ch.recv() == std::nullopt);  // stays closed
        static_assert(std::is_base_of_v<std::logic_error, weft::ChannelClosed>);
    });
}

TEST_CASE("try_send / try_recv on open, full, empty and closed channels") {
    weft::run(weft::Options{.procs = 1}, [] {
        int out = -1;
        // Unbuffered, nobody waiting: both would block.
        weft::Chan<int> u;
        int v = 1;
        CHECK_FALSE(u.try_send(v));
        CHECK(u.try_recv(out) == weft::RecvStatus::kEmpty);
        CHECK(out == -1);
        // Unbuffered with a blocked receiver / sender: both proceed.
        weft::Chan<int> got(1);
        weft::go([u, got]() mutable { got.send(*u.recv()); });
        settle();
        v = 42;
        CHECK(u.try_send(v));
        CHECK(got.recv() == 42);
        weft::Chan<int> sent(1);
        weft::go([u, sent]() mutable {
            u.send(43);
            sent.send(1);
        });
        settle();
        CHECK(u.try_recv(out) == weft::RecvStatus::kOk);
        CHECK(out == 43);
        sent.recv();

        // Buffered: empty, partly full, full.
        weft::Chan<int> b(2);
        CHECK(b.try_recv(out) == weft::RecvStatus::kEmpty);
        v = 1;
        CHECK(b.try_send(v));
        v = 2;
        CHECK(b.try_send(v));
        v = 3;
        CHECK_FALSE(b.try_send(v));
        CHECK(b.len() == 2);
        CHECK(b.try_recv(out) == weft::RecvStatus::kOk);
        CHECK(out == 1);
        // Closed with a value left, then drained.
        b.close();
        CHECK(b.try_recv(out) == weft::RecvStatus::kOk);
        CHECK(out == 2);
        CHECK(b.try_recv(out) == weft::RecvStatus::kClosed);
        CHECK(out == 2);
        CHECK_THROWS_AS(b.try_send(v), weft::ChannelClosed);
        u.close();
        CHECK(u.try_recv(out) == weft::RecvStatus::kClosed);
    });
}

namespace {
// A timer whose callback (on g0, holding a P) uses the non-blocking paths.
struct TimerOps {
    weft::sched::Timer t;
    weft::Chan<int>* ch;
    weft::Chan<int>* done;
    std::atomic<bool> sent{false};  // periodic firings may run on different Ms
    weft::RecvStatus st = weft::RecvStatus::kOk;
};
}  // namespace

TEST_CASE("try_send, try_recv and close work from a timer callback on g0") {
    for (int procs : {1, 2}) {
        CAPTURE(procs);
        weft::run(weft::Options{.procs = procs}, [] {
            weft::Chan<int> ch;
            weft::Chan<int> done;
            TimerOps ops{{}, &ch, &done};
            ops.t.when = weft::base::nanotime() + 1'000'000;
            ops.t.period = 1'000'000;
            ops.t.arg = &ops;
            ops.t.fn = [](void* arg) {
                auto* o = static_cast<TimerOps*>(arg);
                if (o->sent.load()) return;
                int v = 7;
                // Handed to the main fiber waiting in recv. Until it waits
                // there (a loaded machine may take longer than a period),
                // the unbuffered send finds no receiver: the next firing
                // tries again.
                if (!o->ch->try_send(v)) return;
                int out = 0;
                o->st = o->done->try_recv(out);
                o->done->close();
                o->sent.store(true);
            };
            weft::sched::timer_add(&ops.t);
            CHECK(ch.recv() == 7);               // handed over from g0
            CHECK(done.recv() == std::nullopt);  // closed from g0
            weft::sched::timer_stop(&ops.t);
            CHECK(ops.sent.load());
            CHECK(ops.st == weft::RecvStatus::kEmpty);
        });
    }
}

TEST_CASE("stress: many producers and consumers, every value accounted for") {
    for (size_t cap : {size_t{0}, size_t{1}, size_t{16}}) {
        CAPTURE(cap);
        constexpr int kProducers = 8;
        constexpr int kConsumers = 8;
        const int per_producer = 4000 / kScale;
        std::vector<std::atomic<int>> seen(kProducers * per_producer);
        std::atomic<int64_t> sum{0};
        auto start = std::chrono::steady_clock::now();
        weft::run(weft::Options{.procs = 4}, [&] {
            weft::Chan<int> ch(cap);
            weft::Chan<int> producers_done(kProducers);
            weft::Chan<int> consumers_done(kConsumers);
            for (int p = 0; p < kProducers; p++)
                weft::go([=]() mutable {
                    for (int i = 0; i < per_producer; i++) ch.send(p * per_producer + i);
                    producers_done.send(p);
                });
            for (int c = 0; c < kConsumers; c++)
                weft::go([&, ch, consumers_done, c]() mutable {
                    for (int v : ch) {
                        seen[v]++;
                        sum += v;
                    }
                    consumers_done.send(c);
                });
            for (int p = 0; p < kProducers; p++) producers_done.recv();
            ch.close();
            for (int c = 0; c < kConsumers; c++) consumers_done.recv();
        });
        auto elapsed = std::chrono::steady_clock::now() - start;
        int wrong = 0;
        for (auto& s : seen) wrong += s.load() != 1;
        CHECK(wrong == 0);
        int64_t n = kProducers * per_producer;
        CHECK(sum == n * (n - 1) / 2);
        MESSAGE("elapsed: " << std::chrono::duration<double>(elapsed).count() << " s");
    }
}

TEST_CASE("ping-pong over two unbuffered channels (benchmark, procs=1)") {
    const int kRounds = 200000 / kScale;
    int64_t ns = 0;
    int last = -1;
    weft::run(weft::Options{.procs = 1}, [&] {
        weft::Chan<int> ping;
        weft::Chan<int> pong;
        weft::Chan<int> done;
        weft::go([ping, pong, done]() mutable {
            while (auto v = ping.recv()) pong.send(*v + 1);
            done.send(1);
        });
        for (int i = 0; i < 1000; i++) {  // warm up
            ping.send(i);
            last = *pong.recv();
        }
        auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < kRounds; i++) {
            ping.send(i);
            last = *pong.recv();
        }
        ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
        ping.close();
        done.recv();
    });
    CHECK(last == kRounds);  // the last round sent kRounds - 1
    MESSAGE("ping-pong round trip: " << ns / kRounds << " ns");
}

TEST_CASE("deadlock: the only fiber blocked in recv ends the process") {
    auto r = weft::suite::run_in_child([] {
        weft::run(weft::Options{.procs = 1}, [] {
            weft::Chan<int> ch;
            ch.recv();
        });
    });
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "fatal error: all fibers are asleep - deadlock!"));
    CHECK(contains(r.err, "chan receive"));
}

TEST_CASE("deadlock: blocked senders show as chan send") {
    auto r = weft::suite::run_in_child([] {
        weft::run(weft::Options{.procs = 2}, [] {
            weft::Chan<int> ch(1);
            ch.send(1);
            ch.send(2);
        });
    });
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "fatal error: all fibers are asleep - deadlock!"));
    CHECK(contains(r.err, "chan send"));
}

// ---------------------------------------------------------------- nil channels

TEST_CASE("nil channel: nullptr, assignment, comparison; Chan() stays a live channel") {
    weft::run(weft::Options{.procs = 1}, [] {
        weft::Chan<int> nil(nullptr);
        CHECK(nil == nullptr);
        CHECK(nil.len() == 0);
        CHECK(nil.cap() == 0);
        weft::Chan<int> also_nil = nullptr;
        CHECK(nil == also_nil);  // two nil handles compare equal

        weft::Chan<int> live;  // Chan() is unbuffered and live, not nil
        CHECK(live != nullptr);
        weft::Chan<int> zero(0);  // Chan(0) too
        CHECK(zero != nullptr);
        CHECK(zero.cap() == 0);
        weft::Chan<int> copy = live;
        live = nullptr;
        CHECK(live == nullptr);
        CHECK(copy != nullptr);  // the channel lives on in the copy
        weft::Chan<int> moved = std::move(copy);
        CHECK(copy == nullptr);  // a moved-from handle is nil
        CHECK(moved != nullptr);
        live = moved;  // a nil handle can be pointed at a channel again
        CHECK(live == moved);
        weft::go([moved]() mutable { moved.send(5); });
        CHECK(live.recv() == 5);
    });
}

TEST_CASE("nil channel: try ops are never ready, close throws Go's message") {
    weft::run(weft::Options{.procs = 1}, [] {
        weft::Chan<int> nil(nullptr);
        int v = 1, out = -1;
        for (int i = 0; i < 100; i++) {
            CHECK_FALSE(nil.try_send(v));
            CHECK(nil.try_recv(out) == weft::RecvStatus::kEmpty);
        }
        CHECK(v == 1);  // untouched
        CHECK(out == -1);
        try {
            nil.close();
            FAIL("close of a nil channel did not throw");
        } catch (const weft::ChannelClosed& e) {
            CHECK(std::string(e.what()) == "close of nil channel");
        }
        // Still nil and still never ready after the failed close.
        CHECK(nil == nullptr);
        CHECK(nil.try_recv(out) == weft::RecvStatus::kEmpty);
    });
}

TEST_CASE("nil channel: send and recv park their fiber for good, named in metrics") {
    // The blocked fibers can never be woken, so the run happens in a child
    // (its leak check lists them when main returns).
    auto r = weft::suite::run_in_child([] {
        weft::run(weft::Options{.procs = 2}, [] {
            weft::Chan<int> nil(nullptr);
            weft::Chan<int> live(1);
            std::atomic<int> after{0};
            weft::go([nil, &after]() mutable {
                nil.send(1);
                after++;
            });
            weft::go([nil, &after]() mutable {
                (void)nil.recv();
                after++;
            });
            weft::go([nil, &after]() mutable {
                for (int v : nil) (void)v;
                after++;
            });
            // Wait for all three to be parked for the nil-channel reasons.
            auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
            for (;;) {
                weft::Metrics m = weft::metrics();
                if (m.waiting("chan send (nil chan)") == 1 && m.waiting("chan receive (nil chan)") == 2) break;
                if (std::chrono::steady_clock::now() > deadline) {
                    std::printf("never parked\n");
                    return;
                }
                weft::yield();
            }
            // Other fibers and channels go on working meanwhile.
            live.send(7);
            std::printf("live %d, after %d\n", *live.recv(), after.load());
        });
    });
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "live 7, after 0"));
}

TEST_CASE("deadlock: fibers blocked on nil channels show their reason") {
    auto r = weft::suite::run_in_child([] {
        weft::run(weft::Options{.procs = 2}, [] {
            weft::Chan<int> nil = nullptr;
            weft::go([nil]() mutable { nil.send(1); });
            (void)nil.recv();
        });
    });
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "fatal error: all fibers are asleep - deadlock!"));
    CHECK(contains(r.err, "[chan receive (nil chan)"));
    CHECK(contains(r.err, "[chan send (nil chan)"));
}

TEST_CASE("handles: every operation works through a const handle and a non-mutable by-value capture") {
    weft::run(weft::Options{.procs = 2}, [] {
        const weft::Chan<int> ch(2);
        const weft::Chan<int> done;
        weft::go([ch, done] {  // no `mutable`: the captures are const
            ch.send(1);
            int v = 2;
            CHECK(ch.try_send(v));
            ch.close();
            done.send(0);
        });
        done.recv();
        const weft::Chan<int>& ref = ch;
        int out = 0;
        CHECK(ref.try_recv(out) == weft::RecvStatus::kOk);
        CHECK(out == 1);
        std::vector<int> rest;
        for (int v : ref) rest.push_back(v);
        CHECK(rest == std::vector<int>{2});
        CHECK(ref.recv() == std::nullopt);
        CHECK_THROWS_AS(ref.close(), weft::ChannelClosed);
    });
}

TEST_CASE("drain (Timer and Ticker's stop) drops buffered values and lets a blocked sender in") {
    weft::run(weft::Options{.procs = 2}, [] {
        reset_tracked();
        weft::Chan<Tracked> ch(2);
        ch.send(Tracked(1));
        ch.send(Tracked(2));
        std::atomic<bool> sent{false};
        weft::go([ch, &sent] {
            ch.send(Tracked(3));  // the ring is full: waits
            sent = true;
        });
        REQUIRE(weft::suite::wait_until([&] { return weft::metrics().waiting("chan send") == 1; }));
        weft::detail::ChanCore* core = weft::detail::ChanAccess::core(ch);
        CHECK(core->drain());
        REQUIRE(weft::suite::wait_until([&] { return sent.load(); }));
        CHECK(ch.len() == 1);  // only the waiting sender's value
        CHECK(ch.recv()->v == 3);
        CHECK_FALSE(core->drain());  // nothing buffered
    });
    CHECK(Tracked::live == 0);
    CHECK(Tracked::errors == 0);
}
