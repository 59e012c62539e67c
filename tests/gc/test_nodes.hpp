// test_nodes.hpp — the binary-tree node the collector tests build graphs
// from, with a live counter for exact destructor counts.
#pragma once

#include <atomic>
#include <cstdint>

#include "runtime/weft.hpp"

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

}  // namespace gctest
