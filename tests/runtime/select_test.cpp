// select: readiness, default, fairness, exact wake-ups, closed channels,
// duplicate channels, value lifetimes, select{}.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <weft/chan.hpp>
#include <weft/select.hpp>
#include <weft/weft.hpp>
#include "sched/fiber.hpp"
#include "sched/sanitizers.hpp"
#include "support/death.hpp"
#include "support/test_util.hpp"

namespace {

constexpr int kScale = weft::sched::kSanitized ? 10 : 1;

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

void settle() {
    for (int i = 0; i < 8; i++) weft::yield();
}

// Counts live objects; catches double destruction.
struct Tracked {
    static constexpr uint32_t kAlive = 0xa11e;
    static inline std::atomic<int> live{0};
    static inline std::atomic<int> errors{0};
    int v;
    uint32_t magic = kAlive;
    explicit Tracked(int x) : v(x) { live++; }
    Tracked(Tracked&& o) noexcept : v(o.v) {
        if (o.magic != kAlive) errors++;
        live++;
    }
    ~Tracked() {
        if (magic != kAlive) errors++;
        magic = 0;
        live--;
    }
};

}  // namespace

TEST_CASE("select: the ready case runs, with its value, and its index is returned") {
    weft::run(weft::Options{.procs = 1}, [] {
        weft::Chan<int> a(1), b(1), out(1);
        b.send(5);
        int got = 0;
        int i = weft::select(
            weft::recv_case(a, [&](std::optional<int>) { FAIL("a is empty"); }),
            weft::recv_case(b, [&](std::optional<int> v) { got = v.value_or(-1); }),
            weft::default_case([] { FAIL("b was ready"); }));
        CHECK(i == 1);
        CHECK(got == 5);

        bool sent = false;
        i = weft::select(weft::recv_case(a), weft::send_case(out, 9, [&] { sent = true; }));
        CHECK(i == 1);
        CHECK(sent);
        CHECK(out.recv() == 9);

        // Default in the middle keeps its argument index.
        bool dflt = false;
        i = weft::select(weft::recv_case(a), weft::default_case([&] { dflt = true; }), weft::recv_case(b));
        CHECK(i == 1);
        CHECK(dflt);

        // Only a default.
        CHECK(weft::select(weft::default_case()) == 0);
    });
}

TEST_CASE("select with default never blocks") {
    weft::run(weft::Options{.procs = 2}, [] {
        weft::Chan<int> a, b(1);
        b.send(0);  // b full: a send case on it would block
        int defaults = 0;
        for (int n = 0; n < 1000; n++)
            defaults += weft::select(weft::recv_case(a), weft::send_case(a, 1), weft::send_case(b, 2),
                                     weft::default_case()) == 3;
        CHECK(defaults == 1000);
        CHECK(b.len() == 1);
    });
}

TEST_CASE("select: a blocking case completes with a plain partner") {
    for (int procs : {1, 2, 4}) {
        CAPTURE(procs);
        weft::run(weft::Options{.procs = procs}, [] {
            weft::Chan<int> a, b;
            // Plain send wakes a blocked select recv.
            weft::go([b]() mutable { b.send(11); });
            int got = 0;
            int i = weft::select(weft::recv_case(a), weft::recv_case(b, [&](std::optional<int> v) { got = *v; }));
            CHECK(i == 1);
            CHECK(got == 11);
            // Plain recv takes a blocked select send's value straight from it.
            weft::Chan<int> result(1);
            weft::go([a, result]() mutable { result.send(*a.recv()); });
            i = weft::select(weft::send_case(a, 12), weft::recv_case(b));
            CHECK(i == 0);
            CHECK(result.recv() == 12);
        });
    }
}

TEST_CASE("select: full buffer, the receiver takes the head and the select's value joins the tail") {
    weft::run(weft::Options{.procs = 1}, [] {
        weft::Chan<int> ch(2);
        ch.send(1);
        ch.send(2);
        weft::Chan<int> other;
        weft::Chan<int> done(1);
        weft::go([ch, other, done]() mutable { done.send(weft::select(weft::send_case(ch, 3), weft::recv_case(other))); });
        settle();
        CHECK(ch.recv() == 1);
        CHECK(done.recv() == 0);
        CHECK(ch.recv() == 2);
        CHECK(ch.recv() == 3);
    });
}

TEST_CASE("select: fairness among ready cases") {
    weft::run(weft::Options{.procs = 1}, [] {
        weft::Chan<int> a(1), b(1);
        a.send(0);
        b.send(0);
        constexpr int kRounds = 10000;
        int picks[2] = {0, 0};
        for (int n = 0; n < kRounds; n++) {
            int i = weft::select(weft::recv_case(a), weft::recv_case(b));
            picks[i]++;
            (i == 0 ? a : b).send(0);  // both stay ready
        }
        CAPTURE(picks[0]);
        CHECK(picks[0] + picks[1] == kRounds);
        CHECK(picks[0] > kRounds * 40 / 100);
        CHECK(picks[0] < kRounds * 60 / 100);

        // Three send cases: each within [25%, 42%] of 9000.
        weft::Chan<int> x(1), y(1), z(1);
        int sends[3] = {0, 0, 0};
        weft::Chan<int>* chans[3] = {&x, &y, &z};
        for (int n = 0; n < 9000; n++) {
            int i = weft::select(weft::send_case(x, 0), weft::send_case(y, 0), weft::send_case(z, 0));
            sends[i]++;
            chans[i]->recv();
        }
        for (int s : sends) {
            CHECK(s > 9000 * 25 / 100);
            CHECK(s < 9000 * 42 / 100);
        }
    });
}

TEST_CASE("select: a blocked select is woken exactly once when two channels become ready together") {
    for (int procs : {1, 2, 4}) {
        CAPTURE(procs);
        const int kPerProducer = 5000 / kScale;
        std::vector<int> seen(2 * kPerProducer, 0);
        int total = 0;
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::Chan<int> a, b;
            weft::Chan<int> done(2);
            // Two producers race to hand a value to the one selecting fiber.
            weft::go([a, done, kPerProducer]() mutable {
                for (int i = 0; i < kPerProducer; i++) a.send(i);
                done.send(0);
            });
            weft::go([b, done, kPerProducer]() mutable {
                for (int i = 0; i < kPerProducer; i++) b.send(kPerProducer + i);
                done.send(0);
            });
            while (total < 2 * kPerProducer) {
                int v = -1;
                weft::select(weft::recv_case(a, [&](std::optional<int> x) { v = *x; }),
                             weft::recv_case(b, [&](std::optional<int> x) { v = *x; }));
                REQUIRE(v >= 0);
                seen[v]++;
                total++;
            }
            done.recv();
            done.recv();
            // Nothing left over: both producers finished with every value taken.
            int x = 0;
            CHECK(a.try_recv(x) == weft::RecvStatus::kEmpty);
            CHECK(b.try_recv(x) == weft::RecvStatus::kEmpty);
        });
        int wrong = 0;
        for (int s : seen) wrong += s != 1;
        CHECK(wrong == 0);
    }
}

TEST_CASE("select stress: selecting senders and receivers on shared channels, every value once") {
    for (int procs : {2, 4}) {
        CAPTURE(procs);
        constexpr int kSenders = 4;
        constexpr int kReceivers = 4;
        const int per_sender = 4000 / kScale;
        std::vector<std::atomic<int>> seen(kSenders * per_sender);
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::Chan<int> a, b(4);
            weft::Chan<int> quit;
            weft::Chan<int> done(kSenders + kReceivers);
            for (int s = 0; s < kSenders; s++)
                weft::go([=]() mutable {
                    for (int i = 0; i < per_sender; i++) {
                        int v = s * per_sender + i;
                        weft::select(weft::send_case(a, v), weft::send_case(b, v));
                    }
                    done.send(0);
                });
            for (int r = 0; r < kReceivers; r++)
                weft::go([&, a, b, quit, done]() mutable {
                    bool running = true;
                    while (running) {
                        weft::select(weft::recv_case(a, [&](std::optional<int> v) { seen[*v]++; }),
                                     weft::recv_case(b, [&](std::optional<int> v) { seen[*v]++; }),
                                     weft::recv_case(quit, [&](std::optional<int>) { running = false; }));
                    }
                    done.send(0);
                });
            for (int s = 0; s < kSenders; s++) done.recv();
            // Senders are done, but b may still hold values: drain before quitting.
            while (b.len() > 0) weft::yield();
            quit.close();
            for (int r = 0; r < kReceivers; r++) done.recv();
            CHECK(b.len() == 0);
        });
        int wrong = 0;
        for (auto& s : seen) wrong += s.load() != 1;
        CHECK(wrong == 0);
    }
}

TEST_CASE("select: the same channel in several cases") {
    for (int procs : {1, 2}) {
        CAPTURE(procs);
        weft::run(weft::Options{.procs = procs}, [] {
            // Two recv cases on one channel: exactly one fires per value.
            weft::Chan<int> ch;
            weft::WaitGroup partners;
            partners.add(3);
            weft::go([ch, &partners]() mutable {
                for (int i = 0; i < 100; i++) ch.send(i);
                partners.done();
            });
            int sum = 0;
            for (int n = 0; n < 100; n++) {
                int got = -1;
                weft::select(weft::recv_case(ch, [&](std::optional<int> v) { got = *v; }),
                             weft::recv_case(ch, [&](std::optional<int> v) { got = *v; }));
                REQUIRE(got == n);
                sum += got;
            }
            CHECK(sum == 4950);

            // Send and recv on one unbuffered channel: pairs with a partner
            // doing either operation, never with itself.
            weft::Chan<int> u;
            weft::Chan<int> got(1);
            weft::go([u, got, &partners]() mutable {
                got.send(*u.recv());
                partners.done();
            });
            int i = weft::select(weft::send_case(u, 21), weft::recv_case(u));
            CHECK(i == 0);
            CHECK(got.recv() == 21);
            weft::go([u, &partners]() mutable {
                u.send(22);
                partners.done();
            });
            int r = 0;
            i = weft::select(weft::send_case(u, 23), weft::recv_case(u, [&](std::optional<int> v) { r = *v; }));
            CHECK(i == 1);
            CHECK(r == 22);
            partners.wait();
        });
    }
}

TEST_CASE("select: cases on one channel are chosen at random when the partner comes after the select parked") {
    // Go's TestPseudoRandomSend, and its receive twin. Pass 2 queues the
    // select's waiters in lock order; among cases on one channel that
    // order must be the random poll order, not argument order, or the
    // partner arriving later always meets the first case (200 of 200).
    // The partner waits for the selecting fiber to be parked, so pass 1
    // never sees it. A fair pick fails the bounds below with a
    // probability under 1e-40.
    static constexpr int kRounds = 400;
    for (int procs : {1, 2}) {
        CAPTURE(procs);
        weft::run(weft::Options{.procs = procs}, [] {
            for (bool sends : {true, false}) {
                weft::Chan<int> c;
                std::atomic<weft::sched::G*> selector{nullptr};
                int picks[2] = {0, 0};
                weft::WaitGroup wg;
                wg.add(1);
                weft::go([&, c, sends]() mutable {
                    selector.store(weft::sched::current_g());
                    for (int n = 0; n < kRounds; n++) {
                        int i = sends ? weft::select(weft::send_case(c, 0), weft::send_case(c, 1))
                                      : weft::select(weft::recv_case(c), weft::recv_case(c));
                        picks[i]++;
                    }
                    wg.done();
                });
                int values[2] = {0, 0};
                for (int n = 0; n < kRounds; n++) {
                    REQUIRE(weft::suite::wait_until([&] {
                        weft::sched::G* g = selector.load();
                        return g != nullptr && g->status.load() == weft::sched::GStatus::kWaiting;
                    }));
                    if (sends) {
                        values[*c.recv()]++;
                    } else {
                        c.send(n);
                    }
                }
                wg.wait();
                // After the last park: doctest's captures are per thread.
                CAPTURE(sends);
                CAPTURE(picks[0]);
                CHECK(picks[0] + picks[1] == kRounds);
                CHECK(picks[0] > kRounds / 4);
                CHECK(picks[1] > kRounds / 4);
                if (sends) {  // the value sent is the chosen case's
                    CHECK(values[0] == picks[0]);
                    CHECK(values[1] == picks[1]);
                }
            }
        });
    }
}

TEST_CASE("select: closed channels") {
    for (int procs : {1, 2}) {
        CAPTURE(procs);
        weft::run(weft::Options{.procs = procs}, [] {
            weft::Chan<int> open_ch, closed_ch(1);
            closed_ch.close();
            // A recv case on a closed channel is ready and gets nullopt.
            bool was_null = false;
            int i = weft::select(weft::recv_case(open_ch),
                                 weft::recv_case(closed_ch, [&](std::optional<int> v) { was_null = !v; }));
            CHECK(i == 1);
            CHECK(was_null);
            // A send case on a closed channel throws out of select.
            try {
                weft::select(weft::recv_case(open_ch), weft::send_case(closed_ch, 1));
                FAIL("select sent on a closed channel");
            } catch (const weft::ChannelClosed& e) {
                CHECK(std::string(e.what()) == "send on closed channel");
            }

            // Closing wakes a blocked select: recv case with nullopt...
            weft::Chan<int> c1;
            weft::Chan<int> res(1);
            weft::go([c1, open_ch, res]() mutable {
                int r = -1;
                weft::select(weft::recv_case(open_ch), weft::recv_case(c1, [&](std::optional<int> v) {
                                 r = v ? 1 : 0;
                             }));
                res.send(r);
            });
            settle();
            c1.close();
            CHECK(res.recv() == 0);
            // ... and a send case with ChannelClosed.
            weft::Chan<int> c2;
            weft::Chan<std::string> err(1);
            weft::go([c2, open_ch, err]() mutable {
                try {
                    weft::select(weft::recv_case(open_ch), weft::send_case(c2, 5));
                    err.send("no throw");
                } catch (const weft::ChannelClosed& e) {
                    err.send(e.what());
                }
            });
            settle();
            c2.close();
            CHECK(err.recv() == "send on closed channel");
        });
    }
}

TEST_CASE("select: values of losing send cases are destroyed, received values once") {
    Tracked::live = 0;
    Tracked::errors = 0;
    weft::run(weft::Options{.procs = 2}, [] {
        weft::Chan<Tracked> full(1), empty(1), ready(1);
        full.send(Tracked(0));
        ready.send(Tracked(1));
        for (int n = 0; n < 100; n++) {
            int got = -1;
            int i = weft::select(weft::send_case(full, Tracked(10)),  // blocked: loses
                                 weft::recv_case(ready, [&](std::optional<Tracked> t) { got = t->v; }),
                                 weft::recv_case(empty));
            CHECK(i == 1);
            CHECK(got == 1);
            ready.send(Tracked(1));
        }
        CHECK(Tracked::live == 2);  // one in full, one in ready
        // A blocked select whose send case loses to a recv case.
        weft::Chan<Tracked> unbuf;
        weft::Chan<int> sender_done(1);
        weft::go([unbuf, sender_done]() mutable {
            unbuf.send(Tracked(7));
            sender_done.send(0);  // its moved-from temporary is gone by now
        });
        int got = 0;
        weft::select(weft::send_case(full, Tracked(11)),
                     weft::recv_case(unbuf, [&](std::optional<Tracked> t) { got = t->v; }));
        CHECK(got == 7);
        sender_done.recv();
        // Received with no callback: destroyed by select.
        weft::select(weft::recv_case(ready), weft::send_case(full, Tracked(12)));
        CHECK(Tracked::live == 1);
    });
    CHECK(Tracked::live == 0);
    CHECK(Tracked::errors == 0);
}

TEST_CASE("select: move-only values") {
    weft::run(weft::Options{.procs = 1}, [] {
        weft::Chan<std::unique_ptr<int>> ch(1);
        int i = weft::select(weft::send_case(ch, std::make_unique<int>(4)), weft::default_case());
        CHECK(i == 0);
        std::unique_ptr<int> out;
        weft::select(weft::recv_case(ch, [&](std::optional<std::unique_ptr<int>> v) { out = std::move(*v); }));
        REQUIRE(out != nullptr);
        CHECK(*out == 4);
    });
}

TEST_CASE("select with no cases blocks forever: a deadlock when nothing else runs") {
    auto r = weft::suite::run_in_child([] { weft::run(weft::Options{.procs = 1}, [] { weft::select(); }); });
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "fatal error: all fibers are asleep - deadlock!"));
    CHECK(contains(r.err, "select (no cases)"));
}

TEST_CASE("deadlock in a blocking select shows as select") {
    auto r = weft::suite::run_in_child([] {
        weft::run(weft::Options{.procs = 2}, [] {
            weft::Chan<int> a, b;
            weft::select(weft::recv_case(a), weft::send_case(b, 1));
        });
    });
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "fatal error: all fibers are asleep - deadlock!"));
    CHECK(contains(r.err, "[select"));
}

// ---------------------------------------------------------------- nil channels

TEST_CASE("select: a case on a nil channel is never chosen") {
    weft::run(weft::Options{.procs = 1}, [] {
        weft::Chan<int> nil(nullptr);
        weft::Chan<int> ready(1);
        int other = 0;
        for (int n = 0; n < 1000; n++) {
            ready.send(n);
            // The nil cases come first and last: with them in the poll
            // order, about two thirds of the rounds would pick one.
            int i = weft::select(weft::recv_case(nil, [](std::optional<int>) { FAIL("nil recv chosen"); }),
                                 weft::recv_case(ready), weft::send_case(nil, 1, [] { FAIL("nil send chosen"); }));
            other += i == 1;
        }
        CHECK(other == 1000);
        // With a default: nil cases are never ready, the default runs.
        int defaults = 0;
        for (int n = 0; n < 1000; n++)
            defaults += weft::select(weft::recv_case(nil), weft::send_case(nil, 2), weft::default_case()) == 2;
        CHECK(defaults == 1000);
    });
}

TEST_CASE("select: a blocked select with a nil case is woken through its live case") {
    for (int procs : {1, 2}) {
        CAPTURE(procs);
        weft::run(weft::Options{.procs = procs}, [] {
            weft::Chan<int> nil(nullptr), live;
            weft::go([live]() mutable { live.send(3); });
            int got = 0;
            int i = weft::select(weft::send_case(nil, 1), weft::recv_case(live, [&](std::optional<int> v) { got = *v; }),
                                 weft::recv_case(nil));
            CHECK(i == 1);
            CHECK(got == 3);
        });
    }
}

TEST_CASE("select: switching cases off by setting their channels to nullptr (Go's merge idiom)") {
    for (int procs : {1, 2, 4}) {
        CAPTURE(procs);
        weft::run(weft::Options{.procs = procs}, [] {
            weft::Chan<int> a(4), b;
            weft::go([a]() mutable {
                for (int i = 0; i < 100; i++) a.send(i);
                a.close();
            });
            weft::go([b]() mutable {
                for (int i = 100; i < 300; i++) b.send(i);
                b.close();
            });
            // Receive from both until both are closed; a closed one is set
            // to nil so that select stops choosing it (it would be ready
            // for ever, receiving nullopt).
            long sum = 0;
            int got = 0, closed_seen = 0;
            // Bounded: 302 rounds do it; a case left on would spin here.
            for (int round = 0; (a != nullptr || b != nullptr) && round < 10000; round++) {
                weft::select(weft::recv_case(a,
                                             [&](std::optional<int> v) {
                                                 if (!v) {
                                                     closed_seen++;
                                                     a = nullptr;
                                                     return;
                                                 }
                                                 sum += *v;
                                                 got++;
                                             }),
                             weft::recv_case(b, [&](std::optional<int> v) {
                                 if (!v) {
                                     closed_seen++;
                                     b = nullptr;
                                     return;
                                 }
                                 sum += *v;
                                 got++;
                             }));
            }
            CHECK(got == 300);
            CHECK(sum == 299L * 300 / 2);
            CHECK(closed_seen == 2);  // each closed channel seen once, then off
        });
    }
}

TEST_CASE("select whose cases are all nil blocks forever, like select with no cases") {
    auto r = weft::suite::run_in_child([] {
        weft::run(weft::Options{.procs = 1}, [] {
            weft::Chan<int> nil(nullptr);
            // With a default it returns at once.
            if (weft::select(weft::recv_case(nil), weft::send_case(nil, 1), weft::default_case()) != 2)
                std::printf("default not taken\n");
            weft::select(weft::recv_case(nil), weft::send_case(nil, 1));
        });
    });
    CHECK(r.exit_code == 2);
    CHECK_FALSE(contains(r.out, "default not taken"));
    CHECK(contains(r.err, "fatal error: all fibers are asleep - deadlock!"));
    CHECK(contains(r.err, "[select (no cases)"));
}

// ---------------------------------------------------------------- case channels

TEST_CASE("select: recv_case on a temporary channel (weft::after) holds it for the select") {
    weft::run(weft::Options{.procs = 2}, [] {
        weft::Chan<int> never;
        auto t0 = weft::Clock::now();
        weft::TimePoint fired{};
        int i = weft::select(weft::recv_case(never),
                             weft::recv_case(weft::after(std::chrono::milliseconds(2)),
                                             [&](std::optional<weft::TimePoint> t) { fired = t.value(); }));
        CHECK(i == 1);
        CHECK(fired - t0 >= std::chrono::milliseconds(2));
    });
}

TEST_CASE("select: a case built from a temporary handle keeps its channel alive") {
    weft::run(weft::Options{.procs = 1}, [] {
        Tracked::live = 0;
        Tracked::errors = 0;
        {
            weft::Chan<Tracked> ch(1);
            ch.send(Tracked(4));
            // The case now holds the only handle; the channel, with the
            // value buffered in it, must live as long as the case does.
            auto c = weft::recv_case(std::move(ch), [](std::optional<Tracked> t) { CHECK(t.value().v == 4); });
            CHECK(ch == nullptr);
            CHECK(Tracked::live == 1);  // still buffered
            CHECK(weft::select(c) == 0);
            CHECK(Tracked::live == 0);  // received and destroyed by the callback

            weft::Chan<Tracked> out(1);
            weft::Chan<Tracked> keep = out;
            auto s = weft::send_case(std::move(out), Tracked(5));
            keep = nullptr;  // the case's handle is the last one
            CHECK(weft::select(s) == 0);
            CHECK(Tracked::live == 2);  // buffered in the channel the case holds, plus the case's moved-from value
        }
        CHECK(Tracked::live == 0);  // the channel went with the send case
        CHECK(Tracked::errors == 0);
    });
}

TEST_CASE("select: cases on const handles") {
    weft::run(weft::Options{.procs = 1}, [] {
        const weft::Chan<int> in(1), out(1);
        const weft::Chan<int>& in_ref = in;
        in_ref.send(8);
        int got = 0;
        CHECK(weft::select(weft::recv_case(in_ref, [&](std::optional<int> v) { got = *v; })) == 0);
        CHECK(got == 8);
        CHECK(weft::select(weft::send_case(out, 9), weft::recv_case(in_ref)) == 0);
        CHECK(out.recv() == 9);
    });
}

// ---------------------------------------------------------------- select over a span of SelectCase

TEST_CASE("dynamic select: cases of different element types, the chosen index, values, default") {
    weft::run(weft::Options{.procs = 1}, [] {
        weft::Chan<int> ints(1);
        weft::Chan<std::string> strings(1);
        weft::Chan<std::unique_ptr<int>> out(1);
        std::string got_s;
        std::vector<weft::SelectCase> cases;
        cases.emplace_back(weft::recv_case(ints, [](std::optional<int>) { FAIL("ints is empty"); }));
        cases.emplace_back(weft::recv_case(strings, [&](std::optional<std::string> s) { got_s = s.value(); }));
        cases.emplace_back(weft::default_case([] { FAIL("strings was ready"); }));
        strings.send("hello");
        CHECK_FALSE(cases[1].is_default());
        CHECK(cases[2].is_default());
        CHECK(weft::select(cases) == 1);
        CHECK(got_s == "hello");

        // Nothing ready: the default, at its own index.
        bool dflt = false;
        std::vector<weft::SelectCase> idle;
        idle.emplace_back(weft::recv_case(ints));
        idle.emplace_back(weft::default_case([&] { dflt = true; }));
        idle.emplace_back(weft::recv_case(strings));
        CHECK(weft::select(idle) == 1);
        CHECK(dflt);
        // A channel case after the default keeps its own index.
        strings.send("again");
        got_s.clear();
        idle[2] = weft::recv_case(strings, [&](std::optional<std::string> s) { got_s = s.value(); });
        CHECK(weft::select(idle) == 2);
        CHECK(got_s == "again");

        // A send case with a move-only value, and a temporary channel.
        std::vector<weft::SelectCase> sends;
        bool sent = false;
        sends.emplace_back(weft::recv_case(weft::Chan<int>()));
        sends.emplace_back(weft::send_case(out, std::make_unique<int>(6), [&] { sent = true; }));
        CHECK(weft::select(sends) == 1);
        CHECK(sent);
        CHECK(**out.recv() == 6);

        // Only a default; an empty set of cases with a default-only span.
        std::vector<weft::SelectCase> only;
        only.emplace_back(weft::default_case());
        CHECK(weft::select(only) == 0);
    });
}

TEST_CASE("dynamic select: closed channels, nil channels, misuse") {
    weft::run(weft::Options{.procs = 1}, [] {
        weft::Chan<int> closed(1), nil(nullptr);
        closed.close();
        bool saw_nullopt = false;
        std::vector<weft::SelectCase> cases;
        cases.emplace_back(weft::recv_case(nil, [](std::optional<int>) { FAIL("nil chosen"); }));
        cases.emplace_back(weft::recv_case(closed, [&](std::optional<int> v) { saw_nullopt = !v.has_value(); }));
        cases.emplace_back(weft::send_case(nil, 1, [] { FAIL("nil chosen"); }));
        for (int n = 0; n < 200; n++) {
            saw_nullopt = false;
            CHECK(weft::select(cases) == 1);  // the same cases, selected again
            CHECK(saw_nullopt);
        }

        std::vector<weft::SelectCase> send_closed;
        send_closed.emplace_back(weft::send_case(closed, 2));
        CHECK_THROWS_WITH_AS(weft::select(send_closed), "send on closed channel", weft::ChannelClosed);

        std::vector<weft::SelectCase> two_defaults;
        two_defaults.emplace_back(weft::default_case());
        two_defaults.emplace_back(weft::recv_case(closed, [](std::optional<int>) { FAIL("ran despite the error"); }));
        two_defaults.emplace_back(weft::default_case());
        CHECK_THROWS_WITH_AS(weft::select(two_defaults), "weft::select: more than one default_case (cases 0 and 2)",
                             std::invalid_argument);

        std::vector<weft::SelectCase> moved;
        moved.emplace_back(weft::recv_case(closed));
        weft::SelectCase taken = std::move(moved[0]);
        CHECK_THROWS_WITH_AS(weft::select(moved), "weft::select: case 0 is empty (moved from)", std::invalid_argument);
        std::vector<weft::SelectCase> all_nil;
        all_nil.emplace_back(weft::recv_case(nil));
        all_nil.emplace_back(weft::default_case());
        CHECK(weft::select(all_nil) == 1);  // nil never ready: the default
    });
}

TEST_CASE("dynamic select: fairness among ready cases, few and many") {
    weft::run(weft::Options{.procs = 1}, [] {
        // Two ready cases of different types: each within [40%, 60%].
        weft::Chan<int> a(1);
        weft::Chan<std::string> b(1);
        a.send(0);
        b.send("x");
        std::vector<weft::SelectCase> two;
        two.emplace_back(weft::recv_case(a));
        two.emplace_back(weft::recv_case(b));
        constexpr int kRounds = 10000;
        int picks[2] = {0, 0};
        for (int n = 0; n < kRounds; n++) {
            int i = weft::select(two);
            picks[i]++;
            if (i == 0) a.send(0);
            else b.send("x");
        }
        CAPTURE(picks[0]);
        CHECK(picks[0] + picks[1] == kRounds);
        CHECK(picks[0] > kRounds * 40 / 100);
        CHECK(picks[0] < kRounds * 60 / 100);

        // 100 ready cases (past the on-stack size and the insertion sort):
        // each picked 200 times on average; a fair pick stays within
        // [100, 300] (7 standard deviations) and misses none.
        constexpr int kN = 100, kManyRounds = 20000;
        std::vector<weft::Chan<int>> chans;
        std::vector<weft::SelectCase> many;
        for (int k = 0; k < kN; k++) {
            chans.emplace_back(1);
            chans.back().send(k);
        }
        int last = -1;
        for (int k = 0; k < kN; k++) many.emplace_back(weft::recv_case(chans[k], [&](std::optional<int> v) { last = *v; }));
        std::vector<int> counts(kN, 0);
        for (int n = 0; n < kManyRounds; n++) {
            int i = weft::select(many);
            REQUIRE(last == i);  // the chosen case's own channel's value
            counts[i]++;
            chans[i].send(i);
        }
        int lo = *std::min_element(counts.begin(), counts.end());
        int hi = *std::max_element(counts.begin(), counts.end());
        CAPTURE(lo);
        CAPTURE(hi);
        CHECK(lo >= 100);
        CHECK(hi <= 300);
    });
}

TEST_CASE("dynamic select: a blocked select is woken by a partner, fairly among many cases on one channel") {
    // As the TestPseudoRandomSend test above, with 40 cases on one channel
    // (the stable sort's path): the partner arrives after the select
    // parked, so it meets the waiters in lock order, which must keep the
    // random poll order. In argument order case 0 would win every round.
    static constexpr int kCases = 40, kRounds = 2000;
    for (int procs : {1, 2}) {
        CAPTURE(procs);
        weft::run(weft::Options{.procs = procs}, [] {
            weft::Chan<int> c;
            std::atomic<weft::sched::G*> selector{nullptr};
            std::vector<int> picks(kCases, 0);
            weft::WaitGroup wg;
            wg.add(1);
            weft::go([&, c] {
                selector.store(weft::sched::current_g());
                std::vector<weft::SelectCase> cases;
                weft::Chan<int> never;
                cases.emplace_back(weft::recv_case(never));
                for (int k = 0; k < kCases; k++) cases.emplace_back(weft::recv_case(c));
                for (int n = 0; n < kRounds; n++) picks[weft::select(cases) - 1]++;
                wg.done();
            });
            for (int n = 0; n < kRounds; n++) {
                REQUIRE(weft::suite::wait_until([&] {
                    weft::sched::G* g = selector.load();
                    return g != nullptr && g->status.load() == weft::sched::GStatus::kWaiting;
                }));
                c.send(n);
            }
            wg.wait();
            // Each case 50 times on average; P(a fair pick misses one) < 1e-20.
            int lo = *std::min_element(picks.begin(), picks.end());
            CAPTURE(lo);
            CHECK(lo > 0);
            CHECK(picks[0] < kRounds / 4);
        });
    }
}

TEST_CASE("dynamic select with no cases blocks forever") {
    auto r = weft::suite::run_in_child([] {
        weft::run(weft::Options{.procs = 1}, [] {
            std::vector<weft::SelectCase> none;
            weft::select(none);
        });
    });
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "fatal error: all fibers are asleep - deadlock!"));
    CHECK(contains(r.err, "[select (no cases)"));
}
