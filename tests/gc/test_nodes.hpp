// test_nodes.hpp — what the collector tests share: the binary-tree node
// they build graphs from (with a live counter for exact destructor counts),
// running code on a fiber that ends, cycles back to back, the process RSS.
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <unistd.h>

#include <weft/weft.hpp>

namespace gctest {

namespace gc = weft::gc;

// Constructed minus destroyed Nodes. Tests take a baseline after a collect()
// (earlier tests' garbage is gone then) and compare deltas.
inline std::atomic<int64_t> g_live{0};

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

// A complete tree of 2^(depth+1) - 1 nodes.
inline Node* build(int depth) {
    auto* n = gc::make<Node>(depth);
    if (depth > 0) {
        n->left = build(depth - 1);
        n->right = build(depth - 1);
    }
    return n;
}

inline int64_t count(const Node* n) { return n ? 1 + count(n->left.get()) + count(n->right.get()) : 0; }

// Keeps p observable to the conservative scan (not optimised away).
template <class T>
void keep(T* p) {
    asm volatile("" : : "r"(p) : "memory");
}

// A Node's address kept where the conservative stack scan cannot see it
// (xor-ed), so only the references a test makes keep the Node alive.
inline constexpr uintptr_t kHide = 0x5a5a5a5a5a5a5a5aULL;
inline uintptr_t hide(const Node* n) { return reinterpret_cast<uintptr_t>(n) ^ kHide; }
inline Node* reveal(uintptr_t h) { return reinterpret_cast<Node*>(h ^ kHide); }

// Runs f on a new fiber and waits: whatever it leaves on its stack dies
// with it, so destructor counts taken afterwards are exact (the stack scan
// is conservative).
template <class F>
void on_fresh_fiber(F f) {
    weft::WaitGroup wg;
    wg.add(1);
    weft::go([&] {
        f();
        wg.done();
    });
    wg.wait();
}

// Runs collections back to back for at least min_time and min_cycles
// cycles (sanitizer builds and loaded machines cycle slowly), at most 10 s.
// Returns how many ran.
inline uint64_t collect_back_to_back(std::chrono::milliseconds min_time, uint64_t min_cycles) {
    auto now = std::chrono::steady_clock::now;
    auto until = now() + min_time, limit = now() + std::chrono::seconds(10);
    uint64_t cycles = 0;
    while ((now() < until || cycles < min_cycles) && now() < limit) {
        gc::collect();
        ++cycles;
    }
    return cycles;
}

// The process's resident set, in bytes.
inline size_t rss_bytes() {
    FILE* f = std::fopen("/proc/self/statm", "r");
    REQUIRE(f != nullptr);
    unsigned long size = 0, resident = 0;
    int got = std::fscanf(f, "%lu %lu", &size, &resident);
    std::fclose(f);
    REQUIRE(got == 2);
    return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace gctest
