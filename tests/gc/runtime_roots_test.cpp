// Roots the runtime holds for the program: values buffered in channels,
// values handed to a parked receiver, closures of pending timers.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>

#include <weft/weft.hpp>
#include "support/test_util.hpp"
#include "test_nodes.hpp"

using namespace gctest;  // NOLINT: Node, build, count, keep, g_live
using namespace std::chrono_literals;

namespace {

struct Pair {
    Node* node;
    int64_t expect;
};

}  // namespace

TEST_CASE("values in a channel's buffer keep their objects alive; receiving and dropping them frees them") {
    weft::run({.procs = 2}, [] {
        weft::Chan<Node*> ch(16);
        gc::collect();
        int64_t base = g_live.load();
        on_fresh_fiber([&] {
            for (int i = 0; i < 8; ++i) ch.send(build(5));  // 63 nodes each, only in the ring
        });
        for (int i = 0; i < 4; ++i) gc::collect();
        CHECK(g_live.load() - base == 8 * 63);
        int64_t total = 0;
        on_fresh_fiber([&] {
            for (int i = 0; i < 8; ++i) total += count(ch.recv().value());
        });
        CHECK(total == 8 * 63);
        gc::collect();
        CHECK(g_live.load() == base);
    });
}

TEST_CASE("a struct element and a wrapped-around ring are scanned") {
    weft::run({.procs = 1}, [] {
        weft::Chan<Pair> ch(3);
        gc::collect();
        int64_t base = g_live.load();
        on_fresh_fiber([&] {
            // Advance the ring so the live slots wrap: [2], [0], [1].
            ch.send(Pair{nullptr, 0});
            ch.send(Pair{nullptr, 0});
            (void)ch.recv();
            (void)ch.recv();
            for (int d = 3; d < 6; ++d) ch.send(Pair{build(d), (int64_t{2} << d) - 1});
        });
        for (int i = 0; i < 3; ++i) gc::collect();
        CHECK(g_live.load() - base == 15 + 31 + 63);
        on_fresh_fiber([&] {
            for (int i = 0; i < 3; ++i) {
                Pair p = ch.recv().value();
                CHECK(count(p.node) == p.expect);
            }
        });
        gc::collect();
        CHECK(g_live.load() == base);
    });
}

TEST_CASE("a timer's pending closure keeps its captures alive until it fires") {
    weft::run({.procs = 2}, [] {
        gc::collect();
        int64_t base = g_live.load();
        weft::Chan<int64_t> result(1);
        on_fresh_fiber([&] {
            Node* n = build(6);  // 127 nodes, captured only by the closure
            weft::after_func(300ms, [n, &result] { result.send(count(n)); });
        });
        for (int i = 0; i < 4; ++i) gc::collect();
        CHECK(g_live.load() - base == 127);
        CHECK(result.recv().value() == 127);
        gc::collect();
        CHECK(g_live.load() == base);
    });
}

TEST_CASE("values in flight through channels while cycles run back to back (checkmark on)") {
    // Producers hand fresh trees to consumers over unbuffered channels
    // (straight onto a parked receiver's stack) and buffered ones (through
    // the ring), while the collector runs cycles back to back and verifies
    // each marking. A value the collector misses is reported by checkmark,
    // or shows as a wrong count once its nodes are freed and reused.
    weft::suite::ScopedEnv env("WEFT_DEBUG", "gccheckmark=1");
    weft::run({.procs = 2}, [] {
        std::atomic<bool> stop{false};
        std::atomic<int64_t> received{0}, bad{0};
        weft::WaitGroup wg;
        weft::Chan<Node*> unbuffered;
        weft::Chan<Node*> buffered(8);
        for (weft::Chan<Node*>* ch : {&unbuffered, &buffered}) {
            wg.add(2);
            weft::go([&, ch] {
                uint64_t r = 0x9E3779B97F4A7C15ULL;
                while (!stop.load(std::memory_order_relaxed)) {
                    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
                    ch->send(build(static_cast<int>(r % 5)));
                }
                ch->close();
                wg.done();
            });
            weft::go([&, ch] {
                while (auto n = ch->recv()) {
                    weft::sleep(std::chrono::microseconds(50));  // let the ring fill and marking proceed
                    int64_t c = count(*n);
                    int64_t d = (*n)->value;
                    if (c != (int64_t{2} << d) - 1) bad.fetch_add(1);
                    received.fetch_add(1);
                }
                wg.done();
            });
        }
        uint64_t cycles = collect_back_to_back(600ms, 4);
        stop = true;
        wg.wait();
        CHECK(bad.load() == 0);
        CHECK(received.load() > 100);
        CHECK(cycles > 3);
        MESSAGE("values received: " << received.load() << ", cycles: " << cycles);
    });
}
