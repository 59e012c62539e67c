// alloc.hpp — allocation's inline fast path (weft::gc::detail).
//
// From a fiber only (the caller's P owns the cache, heap.hpp H1):
//   1. header + object rounded to a size class; larger ones: alloc_large;
//   2. the next free slot of the P's span for that class (alloc_cache);
//   3. zero the object if the span may hold old bytes, write the header;
//   4. publish the slot to scanners (release store of freeindex);
//   5. while marking, the object is born black (mark bit set, not queued);
//   6. otherwise refill (alloc_refill): sweep/reuse/grow a span, pay the
//      mark-assist or sweep debt, maybe start a cycle;
//   7. a refill (and a large allocation) owes a safe point, which the
//      caller takes once the object is constructed (gc::make does): a fiber
//      that allocates without ever blocking still yields to the collector
//      (a cycle it triggered, a stop-the-world) every span's worth of
//      allocation. Never inside allocate(): a stack scan there would find
//      the header of an object whose constructor has not run, and the
//      collector would trace it while the constructor writes it.
#pragma once

#include <cstring>

#include "gc/heap.hpp"
#include "gc/mark.hpp"
#include "gc/phase.hpp"
#include "sched/collector_support.hpp"

namespace weft::gc::detail {

[[noreturn]] void alloc_without_p();
// Step 7 (collector.cpp): yields if the fiber was asked to.
void refill_safe_point();

// Slot index of the next free slot in s, or s->nelems (owner only, H1).
inline uint32_t next_free_fast(Span* s) {
    uint64_t c = s->alloc_cache;
    if (c == 0) return s->nelems;
    // Relaxed: the owner is the only writer of freeindex.
    uint32_t fi = s->freeindex.load(std::memory_order_relaxed);
    auto tz = static_cast<uint32_t>(__builtin_ctzll(c));
    uint32_t idx = fi + tz;
    if (idx >= s->nelems) return s->nelems;
    s->alloc_cache = tz == 63 ? 0 : c >> (tz + 1);
    return idx;
}

// *safe_point_owed (if given) is set when step 7 applies. *g_out (if
// given) is the calling fiber, null when the P runs none (g0 code).
inline void* allocate(size_t size, const TypeInfo* type, bool noscan, bool* safe_point_owed = nullptr,
                      sched::G** g_out = nullptr) {
    size_t bytes = size + kHeaderSize;
    sched::P* p = g_out ? sched::current_p_and_g(g_out) : sched::current_p();
    if (p == nullptr) [[unlikely]]
        alloc_without_p();
    auto* c = static_cast<MCache*>(p->ext[kExtCache]);
    uintptr_t slot;
    if (bytes <= kMaxSmallSize) [[likely]] {
        size_t spc = size_to_class(bytes) * 2 + (noscan ? 1 : 0);
        Span* s = c->alloc[spc];
        uint32_t idx = s ? next_free_fast(s) : 0;
        bool refilled = false;
        if (s == nullptr || idx >= s->nelems) [[unlikely]] {
            slot = reinterpret_cast<uintptr_t>(alloc_refill(c, spc));
            s = c->alloc[spc];
            idx = s->index_of(slot);
            refilled = true;
        } else {
            slot = s->slot_addr(idx);
        }
        // Only the object's bytes: nothing reads a slot past the size it
        // was asked for, and for gc::make the size is a constant, so this
        // is a few stores rather than a call.
        if (s->needzero) std::memset(reinterpret_cast<void*>(slot + kHeaderSize), 0, (size + 7) & ~size_t{7});
        // Relaxed header store, ordered before the release of freeindex.
        reinterpret_cast<ObjectHeader*>(slot)->type.store(type, std::memory_order_relaxed);
        if (type->destroy != nullptr) [[unlikely]]
            s->has_destructors = true;
        s->freeindex.store(idx + 1, std::memory_order_release);
        s->allocated++;
        c->local_alloc += s->elemsize;
        if (phase_is_marking()) [[unlikely]]
            mark_new_object(static_cast<GCWork*>(p->ext[kExtWork]), s, slot);
        if (refilled && safe_point_owed) [[unlikely]]
            *safe_point_owed = true;
    } else {
        slot = reinterpret_cast<uintptr_t>(alloc_large(bytes, noscan));
        reinterpret_cast<ObjectHeader*>(slot)->type.store(type, std::memory_order_relaxed);
        if (safe_point_owed) *safe_point_owed = true;
    }
    return object_of(slot);
}

}  // namespace weft::gc::detail
