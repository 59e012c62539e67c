// barrier.hpp — the write barrier's inline fast path (weft::gc::detail).
//
// Dijkstra insertion barrier, as docs/DESIGN.md: while the collector marks, every
// store of a reference into the heap (Member, Root, GC containers, channel
// buffers) first shades the stored object. The fast path is one relaxed
// load of a global flag; the slow path (barrier.cpp) checks that the M holds
// a P (fatal "write barrier without P"), honours the per-M inwb guard and
// shades unconditionally.
#pragma once

#include <atomic>

namespace weft::gc::detail {

// On in GCmark and GCmarktermination only. Relaxed: it changes only with
// the world stopped, and start_the_world orders the change before any M
// runs a fiber again.
extern std::atomic<bool> g_barrier_on;

void barrier_slow(const void* obj);
// Shades every word of [p, p+n) that points into the heap (conservative),
// for values copied by the runtime (channel elements, closures).
void barrier_range_slow(const void* p, size_t n);

inline void write_barrier(const void* obj) {
    if (g_barrier_on.load(std::memory_order_relaxed)) [[unlikely]]
        barrier_slow(obj);
}

inline void write_barrier_range(const void* p, size_t n) {
    if (g_barrier_on.load(std::memory_order_relaxed)) [[unlikely]]
        barrier_range_slow(p, n);
}

// Set by gcpoison=1: Member loads check their target (poison.cpp).
extern std::atomic<bool> g_checked_loads;
void check_load(const void* obj);

}  // namespace weft::gc::detail
