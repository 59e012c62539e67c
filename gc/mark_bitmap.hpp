// mark_bitmap.hpp — the heap's mark bits and page classes, both found from
// an address alone (weft::gc::detail; private to gc/).
//
// What it owns: three side tables over the whole heap reservation, each a
// NORESERVE mapping that the kernel backs only where it is written.
//   mark bits    one bit per 8-byte granule; an object's mark bit is the
//                bit of its slot's first granule (the object's first word).
//   page classes one byte per heap page: 0 when no in-use span holds the
//                page, else the span's class + 1 (kLargeSpc + 1 for a large
//                object's span).
//   page types   one TypeInfo pointer per heap page: the type of every
//                object of the span holding the page (spans hold one type,
//                heap.hpp), null where no in-use span is. Objects have no
//                header: this is where a marker about to trace an object
//                finds its trace function.
//
// Why: shading a reference (the marker's inner loop, every child of every
// object) used to find the span through the span map, read the span's
// header for its geometry and state, then its separately allocated mark
// bitmap: three dependent loads from three places, each a likely cache miss
// on a fragmented heap, and together most of the marker's time. Here a
// reference's mark bit is at an address computed from the reference, and
// the only other table it reads (the page classes, 1 byte per 8 KiB page:
// 140 KB for a 1.1 GB heap) stays in the L2 cache. The span is needed only
// for a large object newly marked (its size) and for conservative words
// (is the slot allocated?).
//
// Invariants
//   B1 the mark bits of a page that no in-use span holds are all zero. An
//      in-use span's bits are set by marking and stay until its sweep,
//      which reads them into its alloc bits and clears its whole range; a
//      cycle abandoned at shutdown clears every in-use span's range
//      (collector.cpp on_stop). A span set up on pages therefore starts
//      with every slot unmarked (checked in debug builds).
//   B2 only slot starts are ever marked (a Member holds an object start,
//      checked in debug builds; conservative words are mapped to their
//      slot first). A stray bit inside a slot is read as that slot's.
//   B3 a page's class and type are written when its span is set up, before
//      any object of the span is allocated, and cleared before its pages go
//      back to the page heap (by a sweep: no marker runs then). A marker
//      reads only the entries themselves, never the span through it, so relaxed
//      loads and stores suffice: a reference it shades reached it through
//      a Member's release store and acquire load (member.hpp), made after
//      the object's allocation and so after the class store. (Acquire and
//      release here cost TSan a sync object per page: RSS that the
//      scavenger test saw outweigh what it released.)
//
// Costs: the mark bits are 1/64 of the heap in use (the per-span bitmaps
// were 1 bit per slot: 1/256 for 32-byte slots), the page classes 1/8192,
// the page types 1/1024 (an 8-byte header on every object cost 1/3 of a
// 24-byte slot).
// Sweeping packs a span's bits into slot order (collect). Against the
// per-span bitmaps marking got shorter and mutators faster (the commit that
// made the change has the alternated figures).
//
// Tried before and rejected: bitmaps inline in the span header (no change:
// the span header is still one dependent miss per child); prefetching the
// span of each child ahead of its shade (slower: the prefetch queue cost
// more than the misses it hid).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <weft/internal/type_info.hpp>
#include "gc/page_heap.hpp"

namespace weft::gc::detail {

class MarkBitmap {
public:
    static constexpr size_t kGranuleShift = 3;  // 8-byte granules
    // Maps the two tables for a heap reserved at [base, base + reserved);
    // fatal if address space cannot be had. Never unmapped (the heap lives
    // for the process).
    MarkBitmap(uintptr_t base, size_t reserved);
    MarkBitmap(const MarkBitmap&) = delete;
    MarkBitmap& operator=(const MarkBitmap&) = delete;

    // -- mark bits; slot must lie in the reservation and be 8-byte aligned.
    bool is_marked(uintptr_t slot) const {
        size_t g = granule(slot);
        // Relaxed: a stale 0 only makes a marker try the RMW itself; after
        // marking, readers are ordered by the stopped world.
        return (word(g).load(std::memory_order_relaxed) >> (g % 64)) & 1;
    }
    // Sets the bit; true if this call set it (white -> grey).
    bool try_mark(uintptr_t slot) {
        size_t g = granule(slot);
        uint64_t bit = uint64_t{1} << (g % 64);
        std::atomic_ref<uint64_t> w = word(g);
        if (w.load(std::memory_order_relaxed) & bit) return false;
        // Relaxed: the bit decides only who queues the object; the object's
        // contents are ordered by how the marker found it (member.hpp).
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
        // One lock bts, not the compare-exchange loop the compiler makes of
        // fetch_or when the old bit is wanted. A locked RMW is at least
        // relaxed; TSan builds keep fetch_or so the access stays visible.
        bool was_set;
        asm volatile("lock btsq %2, %0"
                     : "+m"(words_[g / 64]), "=@ccc"(was_set)
                     : "r"(static_cast<uint64_t>(g % 64))
                     : "memory");
        return !was_set;
#else
        return (w.fetch_or(bit, std::memory_order_relaxed) & bit) == 0;
#endif
    }
    // Clears the bit. Relaxed: only a large span's sweeper calls it, while
    // no marker runs (B1); the span's sweepgen release publishes it.
    void clear(uintptr_t slot) {
        size_t g = granule(slot);
        word(g).fetch_and(~(uint64_t{1} << (g % 64)), std::memory_order_relaxed);
    }
    // The marked slots of a small span at [base, base + bytes) with slots
    // of elemsize bytes, as a bitmap of slot indexes: bit i of out (nwords
    // words, cleared first) for slot i. A power-of-two size packs each
    // word's slot bits with shifts and masks; others pick each slot's bit
    // where its 64-slot stretch has any set.
    void collect(uintptr_t base, size_t bytes, uint32_t elemsize, uint64_t* out, uint32_t nwords) const;
    // Clears every bit of [lo, lo + bytes); both multiples of 512 (a page
    // range is). Relaxed stores: only the range's owner (its sweeper, or
    // the stopped world) may call this while no marker runs.
    void clear_range(uintptr_t lo, size_t bytes);
    // Makes the table pages under [lo, lo + bytes) writable before anything
    // reads them (same alignment as clear_range), changing no bit. Called at
    // span set-up: a table page first read is mapped to the kernel's shared
    // zero page, and the first write after that replaces it with a TLB
    // shootdown across every CPU, inside the first marking over a new heap
    // range, where it stalls mutator operations for milliseconds; written
    // first, it is a plain anonymous fault.
    void prepare_range(uintptr_t lo, size_t bytes);
    // Any bit set in [lo, lo + bytes) (same alignment as clear_range); for
    // debug checks on a span not yet published (relaxed loads: its set-up
    // is this thread's own).
    bool any_in_range(uintptr_t lo, size_t bytes) const;

    // -- page classes
    // The class byte of addr's page (B3: relaxed); 0 when addr is outside
    // the reservation or in no in-use span.
    uint8_t page_class(uintptr_t addr) const {
        uintptr_t off = addr - base_;
        if (off >= reserved_) return 0;
        return std::atomic_ref<uint8_t>(page_class_[off >> kPageShift]).load(std::memory_order_relaxed);
    }
    // The type of the objects on addr's page (B3: relaxed); addr must lie
    // in an in-use span (a marker's object, a swept slot).
    const TypeInfo* page_type(uintptr_t addr) const {
        return std::atomic_ref<const TypeInfo*>(page_type_[(addr - base_) >> kPageShift])
            .load(std::memory_order_relaxed);
    }
    // Starts loading page_type(addr)'s entry into the cache.
    void prefetch_page_type(uintptr_t addr) const { __builtin_prefetch(&page_type_[(addr - base_) >> kPageShift]); }
    // Every page of [addr, addr + npages pages) gets class cls and type t
    // (relaxed, B3); (0, null) when the pages leave their span.
    void set_pages(uintptr_t addr, size_t npages, uint8_t cls, const TypeInfo* t);

private:
    size_t granule(uintptr_t slot) const { return (slot - base_) >> kGranuleShift; }
    size_t first_word(uintptr_t lo) const { return granule(lo) / 64; }  // lo: a range's word-aligned start
    std::atomic_ref<uint64_t> word(size_t g) const { return std::atomic_ref<uint64_t>(words_[g / 64]); }

    uintptr_t base_;
    size_t reserved_;
    uint64_t* words_;      // reserved / 512 words
    uint8_t* page_class_;  // reserved / kPageSize bytes
    const TypeInfo** page_type_;  // reserved / kPageSize pointers
};

}  // namespace weft::gc::detail
