// alloc.cpp — the allocation entry's fast path (alloc.hpp); the refill and
// large allocations behind it are heap.cpp's.
#include <weft/internal/alloc.hpp>

#include <cstring>

#include "gc/heap.hpp"
#include "gc/mark.hpp"
#include "gc/phase.hpp"
#include "gc/stack_scan.hpp"
#include "runtime/base/check.hpp"
#include "sched/call_context.hpp"
#include "sched/collector_support.hpp"
#include "sched/fiber.hpp"
#include "sched/m.hpp"
#include "sched/sched.hpp"

namespace weft::gc::detail {

namespace {

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

// Only the object's bytes: nothing reads a slot past the size it was
// asked for. Most objects are a few words: stores, not a libc call.
inline void zero_object(uintptr_t obj, size_t size) {
    auto* w = reinterpret_cast<uint64_t*>(obj);
    switch ((size + 7) / 8) {
        case 4: w[3] = 0; [[fallthrough]];
        case 3: w[2] = 0; [[fallthrough]];
        case 2: w[1] = 0; [[fallthrough]];
        case 1: w[0] = 0; [[fallthrough]];
        case 0: return;
        default: std::memset(w, 0, (size + 7) & ~size_t{7});
    }
}

// Step 3 for slot idx of span s in cache c of P p: zeroed, published to
// scanners, counted; born black while marking.
inline void* publish_slot(sched::P* p, MCache* c, Span* s, uint32_t idx, uintptr_t slot, size_t size) {
    WEFT_DCHECK(s->type != nullptr, "allocation: a span without a type (heap.hpp H4)");
    if (s->needzero) zero_object(slot, size);
    s->freeindex.store(idx + 1, std::memory_order_release);
    s->allocated++;
    c->local_alloc += s->elemsize;
    if (phase_is_marking()) [[unlikely]]
        mark_new_object(static_cast<GCWork*>(p->ext[kExtWork]), s, slot);
    return reinterpret_cast<void*>(slot);
}

// Steps 3-4 when the cached span is full or there is none, and large
// objects: both owe the safe point (step 5). Out of line, so the fast
// path saves no registers for the calls made here.
__attribute__((noinline)) void* allocate_slow(sched::P* p, size_t size, uint32_t spc, const TypeInfo* type,
                                              bool noscan) {
    if (spc == kLargeObject) return alloc_large(size, noscan, type);
    auto* c = static_cast<MCache*>(p->ext[kExtCache]);
    Span* s = nullptr;
    auto slot = reinterpret_cast<uintptr_t>(alloc_refill(c, type, spc, &s));
    // The caller read its M inline, and p and c are that M's: a refill that
    // parked and resumed on another thread would leave them another M's.
    // getm() is not inlined, so it reads this thread's M afresh.
    WEFT_DCHECK(sched::getm()->p == p, "allocation: a cache refill switched fibers");
    WEFT_DCHECK(s->type == type, "allocation: a refill gave a span of another type (heap.hpp H4)");
    return publish_slot(p, c, s, s->index_of(slot), slot, size);
}

// Steps 1-4 of alloc.hpp on P p's cache. Sets *safe_point_owed when step
// 5 applies.
inline void* allocate_on(sched::P* p, size_t size, uint32_t spc, const TypeInfo* type, bool noscan,
                         bool* safe_point_owed) {
    if (spc != kLargeObject) [[likely]] {
        auto* c = static_cast<MCache*>(p->ext[kExtCache]);
        // Way 0 of the pair's set: the span it allocated from last.
        const CacheEntry& e = c->entries[cache_set(type, spc) * kCacheWays];
        Span* s = e.span;
        if (e.type == type && e.spc == spc && s != nullptr) [[likely]] {
            uint32_t idx = next_free_fast(s);
            if (idx < s->nelems) [[likely]]
                return publish_slot(p, c, s, idx, s->slot_addr(idx), size);
        }
    }
    *safe_point_owed = true;
    return allocate_slow(p, size, spc, type, noscan);
}

}  // namespace

// Both entries read the M inline (sched::getm_without_switch): nothing in
// an allocation switches fibers, the refill included (allocate_slow checks
// it in debug builds); the safe point a refill owes is taken by gc::make
// after the entry returns.
MakeSlot allocate_for_make(size_t size, uint32_t spc, const TypeInfo* type, bool noscan) {
    sched::M* m = sched::getm_without_switch();
    sched::P* p = m != nullptr ? m->p : nullptr;
    if (p == nullptr) [[unlikely]]
        alloc_without_p();
    // Relaxed: this M's own store.
    sched::G* g = m->curg.load(std::memory_order_relaxed);
    if (g == nullptr || g->in_gc_destructor != 0) [[unlikely]]
        make_misuse(type->name);
    bool owed = false;
    void* mem = allocate_on(p, size, spc, type, noscan, &owed);
    if (owed) [[unlikely]]
        g->gc_constructing |= kSafePointOwed;
    return {mem, &g->gc_constructing};
}

void* allocate(size_t size, const TypeInfo* type, bool noscan) {
    sched::M* m = sched::getm_without_switch();
    sched::P* p = m != nullptr ? m->p : nullptr;
    if (p == nullptr) [[unlikely]]
        alloc_without_p();
    bool owed = false;  // a container's array takes no safe point (vector.hpp)
    return allocate_on(p, size, span_class_for(size, noscan), type, noscan, &owed);
}

void take_owed_safe_point(uint32_t* constructing) {
    *constructing = 0;
    scan_self_if_due();
    sched::G* g = sched::current_g();
    // Relaxed: as G::preempt says, a late observation only delays the yield.
    if (g && g->preempt.load(std::memory_order_relaxed)) sched::preempt_check("gc::make");
}

}  // namespace weft::gc::detail
