// heap.hpp — spans, the per-P caches and the central lists (as Go's mspan,
// mcache, mcentral). Private to gc/.
//
// A span is a run of pages holding objects of one size class and one type
// (or one large object). Objects have no header: the span's type is theirs
// (TypeInfo: trace, destroy, name), and the markers read it from the page
// type table (mark_bitmap.hpp). Spans of one (type, span class) pair share
// a central; a P caches one span per pair it allocates (MCache: a small
// set-associative table). It carries one bitmap, one bit per slot:
//   alloc_bits  slots allocated as of the last sweep (its mark bits then).
// The mark bits of the current cycle are the heap's (mark_bitmap.hpp),
// found from an object's address without the span.
// Slots below freeindex were handed out since the last sweep, so
//   allocated(i) = i < freeindex || alloc_bits[i]
// (as Go's freeindex/allocBits). The allocator walks alloc_bits from
// freeindex through a 64-bit inverted window (alloc_cache).
//
// Sweep generations (as Go's sweepgen; g = heap.sweepgen, +2 per cycle):
//   span.sweepgen == g - 2   needs sweeping
//   span.sweepgen == g - 1   being swept (owned by the sweeper)
//   span.sweepgen == g       swept, usable
// Only a span that is swept and in nobody's cache may be given to a cache;
// caches are flushed with the world stopped at cycle start and at mark
// termination, so every cached span was swept this generation.
//
// Invariants
//   H1 owner: a span in a P's cache is written (freeindex, alloc_cache,
//      allocated count) only by that P's M; a span being swept only by its
//      sweeper; otherwise only under its central's lock.
//   H2 a Span struct, once made, is never freed (kept on a free list when
//      its pages go back), so a Span* found through the span map stays a
//      Span; its state says whether it is in use.
//   H3 marking starts only when every span is swept (finish_sweep), so a
//      slot's allocated() is exact while marking: conservative scans never
//      resurrect a free or unswept slot.
//   H4 a span's type and central are set when it is set up and stay until
//      its pages go back; every object allocated in it is of that type
//      (the cache entry it came from is keyed by the type).
//   H5 a Central struct, once made, is never freed; the table finding it
//      by (type, span class) only grows (central_for).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <weft/internal/lock.hpp>
#include <weft/internal/size_class.hpp>
#include <weft/internal/type_info.hpp>
#include "gc/mark_bitmap.hpp"
#include "gc/page_heap.hpp"

namespace weft::gc::detail {

enum class SpanState : uint8_t { kFree, kInUse };

struct Central;

// Layout: the first cache line holds what markers and scanners on any
// thread read (bounds, slot geometry, state, bitmap pointers) and is written
// only when the span is set up, swept or freed; the owner's per-allocation
// fields start on the next line. Sharing a line, every allocation would
// make the other threads' markers miss on the span.
struct alignas(64) Span {
    uintptr_t base = 0;
    size_t npages = 0;
    uint32_t elemsize = 0;  // slot size (the whole span for a large object)
    uint32_t nelems = 0;
    uint64_t recip = 0;     // slot index = (addr - base) * recip >> 48
    uint8_t spc = 0;        // span class: size class * 2 + noscan; kLargeSpc for large
    bool noscan = false;
    bool large = false;
    std::atomic<SpanState> state{SpanState::kFree};
    std::atomic<uint32_t> sweepgen{0};
    const TypeInfo* type = nullptr;  // of every object here (H4)

    // The alloc bitmap, nwords words. Words are atomic so that scanners
    // (load) on other threads race cleanly with the sweeper.
    uint32_t nwords = 0;
    std::atomic<uint64_t>* alloc_bits = nullptr;

    // -- allocation (H1)
    // Release store by the owner after it zeroed the slot; acquire load by
    // conservative scanners (they then may trace it).
    alignas(64) std::atomic<uint32_t> freeindex{0};
    uint64_t alloc_cache = 0;  // ~alloc_bits word, shifted to freeindex
    uint32_t allocated = 0;    // slots in use (alloc_bits + handed out)
    bool needzero = false;     // free slots may hold old bytes
    bool in_cache = false;
    // Slots whose constructor threw (constructor_threw): nothing to destroy
    // there. Made (nwords words) on the first throw in a span whose type has
    // a destructor; a sweep clears a dead slot's bit; dropped when the
    // struct is set up for new pages.
    std::atomic<std::atomic<uint64_t>*> threw_bits{nullptr};

    // -- central list links (under the central's lock)
    Span* next = nullptr;
    Span* prev = nullptr;
    int8_t list = -1;  // which list of its central, -1 none
    Central* central = nullptr;  // of (type, spc), Heap::large for a large span (H4)

    // Bytes of each object's slot: the class size, or the whole span for a
    // large object.
    size_t object_bytes() const { return large ? npages * kPageSize : elemsize; }
    uint32_t index_of(uintptr_t addr) const {
        return large ? 0 : static_cast<uint32_t>(((addr - base) * recip) >> 48);
    }
    uintptr_t slot_addr(uint32_t i) const { return base + static_cast<uintptr_t>(i) * elemsize; }
    bool is_allocated(uint32_t i) const {
        // Acquire: pairs with the owner's release of freeindex (header written).
        if (i < freeindex.load(std::memory_order_acquire)) return true;
        // Relaxed: alloc_bits change only in sweep, never while marking (H3).
        return (alloc_bits[i / 64].load(std::memory_order_relaxed) >> (i % 64)) & 1;
    }
    // Slot i's mark bit (mark_bitmap.hpp; defined below, after heap()).
    bool is_marked(uint32_t i) const;
    // Sets it; true if this call set it (white -> grey).
    bool try_mark(uint32_t i);
};

struct SpanList {
    Span* head = nullptr;
    Span* tail = nullptr;
};

// The spans of one (type, span class) pair that are in no cache (as Go's
// mcentral, one per class there); the large objects' spans, of every type,
// share one (Heap::large).
struct Central {
    base::Lock lock{base::LockRank::kMCentral};
    SpanList partial;  // list 0: had free slots when last put here
    SpanList full;     // list 1: had none (or a large object's span)
    const TypeInfo* type = nullptr;
    uint32_t spc = 0;
};

// A P's current span for one (type, span class) pair.
struct CacheEntry {
    const TypeInfo* type = nullptr;  // null: an unused way
    uint32_t spc = 0;
    Span* span = nullptr;         // null until the first refill (and after mcache_release)
    Central* central = nullptr;   // found once, kept (H5)
};

// The cache's table: kCacheSets sets of kCacheWays entries, least recently
// refilled last in its set. The fast path looks at way 0 of the pair's set
// only; a refill finds the pair among the ways and moves it to way 0, or
// evicts way kCacheWays - 1 (its span back to its central).
inline constexpr size_t kCacheWays = 4;
inline constexpr size_t kCacheSets = 64;
inline size_t cache_set(const TypeInfo* type, uint32_t spc) {
    // TypeInfos are statics spread through the binary's data: a
    // multiplicative hash of the address takes the well-mixed high bits.
    uint64_t k = (reinterpret_cast<uintptr_t>(type) ^ spc) * 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(k >> 58) % kCacheSets;
}

// A P's allocation cache (P::ext[kExtCache]).
struct MCache {
    CacheEntry entries[kCacheSets * kCacheWays];
    // Bytes allocated through this cache since it was last added to the
    // heap's total_alloc (at mcache_release): keeps the fast path local.
    int64_t local_alloc = 0;
    // Mark-assist debt in bytes of allocation (collector.cpp).
    int64_t assist_debt = 0;
    // Proportional-sweep debt in pages (collector.cpp, GCsweep).
    double sweep_debt = 0;
    // Stack-scan debt in fibers (stack_scan.hpp, GCscan).
    double stack_scan_debt = 0;
};

// Large spans live on a central of their own (Heap::large, its full
// list), never seen by a cache refill.
inline constexpr size_t kLargeSpc = kNumClasses * 2;

inline constexpr int kExtCache = 0;  // P::ext slots the collector owns
inline constexpr int kExtWork = 1;

// Span structs mapped from the OS at once (heap.cpp span_struct_locked).
inline constexpr size_t kSpanSlab = 512;

// The whole heap (global, lives for the process).
struct Heap {
    PageHeap pages;
    // Its fields (where the tables are) are read by every shade and never
    // written: on a line of its own (alignas, and the member after it too).
    alignas(64) MarkBitmap marks;
    alignas(64) Central large;  // every large object's span
    alignas(64) std::atomic<uint32_t> sweepgen{2};

    base::Lock lock{base::LockRank::kMHeap};  // making Span and Central structs, the free Span list
    std::atomic<size_t> nspans{0};            // Span structs ever made (span_at, H2)
    Span* free_spans = nullptr;               // Span structs with no pages (linked by next)
    Span* span_slab = nullptr;                // where the next new Span struct goes (its slab's rest)
    size_t span_slab_left = 0;                // Span structs left in that slab
    // The centrals by (type, span class): open addressing, kCentralSlots
    // slots mapped NORESERVE; read without the lock (acquire), filled under
    // it (H5).
    std::atomic<Central*>* centrals = nullptr;
    size_t ncentrals = 0;                     // under lock
    Central* central_slab = nullptr;          // as span_slab
    size_t central_slab_left = 0;

    // -- sweeping
    std::atomic<size_t> sweep_cursor{0};  // next span_at index for sweep_one
    std::atomic<int32_t> sweepers{0};     // sweep_one calls in flight

    // -- accounting (bytes). heap_live: marked at the last mark termination
    // plus what was allocated since (counted at cache refill and for large
    // objects); the pacer's input. All counters use relaxed RMWs: they are
    // statistics and pacing hints that order nothing; the exact values the
    // cycle needs are read with the world stopped.
    std::atomic<int64_t> heap_live{0};
    std::atomic<int64_t> heap_marked{0};
    std::atomic<uint64_t> total_alloc{0};  // bytes, since start
    std::atomic<uint64_t> total_freed{0};
    std::atomic<uint64_t> objects_freed{0};

    explicit Heap(size_t reserve);
};

// Set once, by heap_first_use (release); never destroyed.
extern std::atomic<Heap*> g_heap;
Heap& heap_first_use();
// The heap, created on first use (inline: every shade looks it up).
inline Heap& heap() {
    // Acquire: pairs with heap_first_use's release, so the Heap is built.
    Heap* h = g_heap.load(std::memory_order_acquire);
    return h != nullptr ? *h : heap_first_use();
}

// gc::make or a container's allocation on a thread without a P; gc::make
// on g0 or in a collector-run destructor (call_context.hpp). Fatal.
[[noreturn]] void alloc_without_p();
[[noreturn]] void make_misuse(const char* type);
// The slots of the centrals' table: at most 3/4 of them are ever used
// (central_for fails beyond, naming the limit).
inline constexpr size_t kCentralSlots = size_t{1} << 18;
// The central of (type, spc), made on first use (H5).
Central* central_for(const TypeInfo* type, uint32_t spc);
// Small allocation slow path: refills c's span for (type, spc), moves the
// pair to way 0 of its set, and allocates there; *span is the span.
void* alloc_refill(MCache* c, const TypeInfo* type, uint32_t spc, Span** span);
// A large object of `bytes`.
void* alloc_large(size_t bytes, bool noscan, const TypeInfo* type);
// Returns every span of c to its central list (world stopped, or the P is
// being torn down); counts its local allocation.
void mcache_release(MCache* c);

// The span holding addr, if addr is inside an in-use span.
inline Span* span_of(uintptr_t addr) {
    auto* s = static_cast<Span*>(heap().pages.owner_of(addr));
    // Acquire: pairs with the release store of state when the span was set
    // up, so its fields are visible.
    if (s == nullptr || s->state.load(std::memory_order_acquire) != SpanState::kInUse) return nullptr;
    return s;
}

inline bool Span::is_marked(uint32_t i) const { return heap().marks.is_marked(slot_addr(i)); }
inline bool Span::try_mark(uint32_t i) { return heap().marks.try_mark(slot_addr(i)); }

// Sets the bit of slot i of s in s->threw_bits (made on first use).
void note_constructor_threw(Span* s, uint32_t i);

// A page class byte (mark_bitmap.hpp) for span class spc.
inline uint8_t page_class_of(size_t spc) { return static_cast<uint8_t>(spc + 1); }
static_assert(kLargeSpc + 1 <= 255, "span classes must fit the page class byte");

// The i-th span ever made (i < heap().nspans), lock-free.
Span* span_at(size_t i);
// The first free slot at or after freeindex, window reloaded; nelems if
// full (owner only, H1).
uint32_t next_free_slow_from_start(Span* s);
// Back to the page heap (its last object was swept away).
void free_span(Span* s);
// A large span's last step of sweeping: off its central list (takes the
// central lock).
void central_unlink(Span* s);
// The background sweeper's last step for small span s, swept for
// generation sg: publish sweepgen = sg and put s at the tail of its list,
// or unlink and free it if `empty`. One step under the central lock, so a
// refill (cache_span, which takes a swept span off the list the moment it
// sees sweepgen == sg) cannot take s between the two. Returns !empty.
bool central_file_swept(Span* s, uint32_t sg, bool empty);

// -- sweeping (sweep.cpp)
// Sweeps one span not yet swept this generation; false when none is left.
// Returns the pages swept (a span's), 0 when none is left.
size_t sweep_one();
// Sweeps s, which the caller took with the sweepgen CAS (g-2 -> g-1).
// Returns true if s is still in use (not freed to the page heap);
// `preserve`: the caller keeps s (a cache refill), so do not put it on a
// central list or free it.
bool sweep_span(Span* s, bool preserve);
// Sweeps everything left (the start of a cycle: H3).
void finish_sweep();
bool sweep_done();

}  // namespace weft::gc::detail
