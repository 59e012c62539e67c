// sweep.cpp — freeing the unmarked (as Go's mgcsweep.go).
//
// After mark termination advances heap.sweepgen by 2, every span needs a
// sweep (heap.hpp). Spans are swept exactly once per cycle by whoever wins
// the sweepgen CAS (g-2 -> g-1): an allocating fiber that wants the span
// (lazy, heap.cpp cache_span), the collector fiber's background loop, or
// finish_sweep before the next cycle (heap.hpp H3).
//
// Sweeping a span:
//   1. every slot allocated (freeindex / alloc_bits) but not marked is dead:
//      run its destructor (the span's type's; outside every lock) unless its
//      constructor threw, poison it under gcpoison;
//   2. the mark bits become the alloc bits and are cleared (mark_bitmap.hpp
//      B1); freeindex restarts at 0. A marked slot that was not allocated
//      is fatal (marked_free_slot): only a reference to a freed object can
//      have marked it;
//   3. publish sweepgen = g (release);
//   4. unless the caller keeps it: an empty span goes back to the page
//      heap, any other moves to the tail of its central's partial or full
//      list.
// Destructors must not touch other GC objects (they may already be freed in
// this very sweep) nor allocate; debug builds catch a Member load from a
// destructor.
#include <algorithm>
#include <cstring>

#include "gc/collector.hpp"
#include "gc/heap.hpp"
#include "gc/poison.hpp"
#include "runtime/base/backoff.hpp"
#include "runtime/base/check.hpp"
#include "runtime/base/fatal.hpp"

namespace weft::gc::detail {

namespace {

// The most alloc-bitmap words a small span has.
constexpr uint32_t kMaxSlotWords = [] {
    uint32_t m = 0;
    for (size_t c = 1; c < kNumClasses; ++c) m = std::max(m, (kClasses[c].nelems + 63) / 64);
    return m;
}();

// Whether slot i's constructor threw (clearing the note: the slot's next
// object starts afresh).
bool take_threw(Span* s, uint32_t i) {
    // Acquire: pairs with note_constructor_threw's CAS (the array's
    // contents); the bit itself is ordered by the stopped world since.
    auto* bits = s->threw_bits.load(std::memory_order_acquire);
    if (bits == nullptr) [[likely]]
        return false;
    uint64_t bit = uint64_t{1} << (i % 64);
    return (bits[i / 64].fetch_and(~bit, std::memory_order_relaxed) & bit) != 0;
}

void free_object(Span* s, uint32_t i, size_t size) {
    uintptr_t slot = s->slot_addr(i);
    if (s->type->destroy != nullptr && !take_threw(s, i)) {
        DestructorScope scope;
        s->type->destroy(reinterpret_cast<void*>(slot));
    }
    if (poison_enabled()) poison_slot(slot, size);
}

// A marked slot that was free all cycle: something shaded a reference to a
// freed object (a dangling Member, or a pointer kept hidden across the
// cycle that freed it). Made live, the slot would hold a dead object's
// bytes as if allocated.
[[noreturn]] void marked_free_slot(const Span* s, uint32_t i) {
    base::fatal("gc: sweep found slot %u of span %p (%u-byte slots) marked but not allocated: a reference to a "
                "freed object %p was stored or shaded this cycle",
                i, reinterpret_cast<void*>(s->base), s->elemsize, reinterpret_cast<void*>(s->slot_addr(i)));
}

}  // namespace

bool sweep_span(Span* s, bool preserve) {
    Heap& h = heap();
    uint32_t sg = h.sweepgen.load(std::memory_order_relaxed);
    WEFT_DCHECK(s->sweepgen.load() == sg - 1, "sweep_span: the span is not ours to sweep");
    if (s->large) {
        if (!s->is_marked(0)) {
            free_object(s, 0, s->npages * kPageSize);
            h.total_freed.fetch_add(s->npages * kPageSize, std::memory_order_relaxed);
            h.objects_freed.fetch_add(1, std::memory_order_relaxed);
            central_unlink(s);
            s->sweepgen.store(sg, std::memory_order_release);
            free_span(s);
            return false;
        }
        h.marks.clear(s->base);
        s->sweepgen.store(sg, std::memory_order_release);
        return true;
    }

    uint32_t fi = s->freeindex.load(std::memory_order_relaxed);
    // A dead slot is read only to run its destructor or to poison it
    // (only allocated slots are ever traced, and allocation zeroes them).
    const bool visit_dead = s->type->destroy != nullptr || poison_enabled();
    uint32_t nfreed = 0;
    uint32_t live = 0;
    const uint32_t nwords = (s->nelems + 63) / 64;
    uint64_t marks[kMaxSlotWords];
    h.marks.collect(s->base, s->npages * kPageSize, s->elemsize, marks, nwords);
    for (uint32_t w = 0; w < nwords; ++w) {
        uint64_t alloc = s->alloc_bits[w].load(std::memory_order_relaxed);
        if (fi >= (w + 1) * 64) alloc = ~uint64_t{0};
        else if (fi > w * 64) alloc |= (uint64_t{1} << (fi - w * 64)) - 1;
        uint32_t valid = s->nelems - w * 64;
        if (valid < 64) alloc &= (uint64_t{1} << valid) - 1;
        uint64_t mark = marks[w];
        if ((mark & ~alloc) != 0) [[unlikely]]
            marked_free_slot(s, w * 64 + static_cast<uint32_t>(__builtin_ctzll(mark & ~alloc)));
        // Relaxed: the sweeper owns s; the release of its sweepgen publishes it.
        s->alloc_bits[w].store(mark, std::memory_order_relaxed);
        uint64_t dead = alloc & ~mark;
        live += static_cast<uint32_t>(__builtin_popcountll(mark));
        if (!visit_dead) {
            nfreed += static_cast<uint32_t>(__builtin_popcountll(dead));
            continue;
        }
        while (dead) {
            auto bit = static_cast<uint32_t>(__builtin_ctzll(dead));
            dead &= dead - 1;
            free_object(s, w * 64 + bit, s->elemsize);
            ++nfreed;
        }
    }
    h.marks.clear_range(s->base, s->npages * kPageSize);
    s->freeindex.store(0, std::memory_order_relaxed);
    s->alloc_cache = ~s->alloc_bits[0].load(std::memory_order_relaxed);
    s->allocated = live;
    if (nfreed) {
        s->needzero = true;
        h.total_freed.fetch_add(uint64_t{nfreed} * s->elemsize, std::memory_order_relaxed);
        h.objects_freed.fetch_add(nfreed, std::memory_order_relaxed);
    }
    if (preserve) {
        // Release: the next owner (a marker via span_of) sees the bitmaps
        // as left here. The caller owns s: it is on no list.
        s->sweepgen.store(sg, std::memory_order_release);
        return true;
    }
    // With gcpoison an empty span stays with its class instead of going
    // back to the page heap, so a stale pointer still finds its poisoned
    // slot (until the slot itself is reused).
    return central_file_swept(s, sg, live == 0 && !poison_enabled());
}

size_t sweep_one() {
    Heap& h = heap();
    uint32_t sg = h.sweepgen.load(std::memory_order_acquire);
    h.sweepers.fetch_add(1);
    for (;;) {
        size_t i = h.sweep_cursor.fetch_add(1, std::memory_order_relaxed);
        if (i >= h.nspans.load(std::memory_order_acquire)) {
            h.sweepers.fetch_sub(1);
            return 0;
        }
        Span* s = span_at(i);
        if (s->state.load(std::memory_order_acquire) != SpanState::kInUse) continue;
        uint32_t g = s->sweepgen.load(std::memory_order_acquire);
        if (g != sg - 2 || !s->sweepgen.compare_exchange_strong(g, sg - 1)) continue;
        size_t npages = s->npages;  // before sweep_span may free s
        sweep_span(s, false);
        h.sweepers.fetch_sub(1);
        return npages;
    }
}

bool sweep_done() {
    Heap& h = heap();
    return h.sweep_cursor.load() >= h.nspans.load() && h.sweepers.load() == 0;
}

void finish_sweep() {
    while (sweep_one()) {
    }
    // Lazy sweeps by allocating fibers (cache_span) may still be running;
    // they take microseconds.
    base::Backoff backoff;
    while (heap().sweepers.load() != 0) backoff.pause();
}

}  // namespace weft::gc::detail
