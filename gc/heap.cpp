// heap.cpp — spans, central lists, cache refills and large objects (as Go's
// mheap.go / mcentral.go / mcache.go). Layout and invariants: heap.hpp.
//
// Refill protocol (alloc_refill, as mcache.refill + mcentral.cacheSpan):
//   0. find the (type, span class) pair's entry among its set's ways, or
//      make one (evicting the set's least recently refilled entry, its
//      span back to its central), and move it to way 0;
//   1. the cached span may still have free slots past the current 64-slot
//      window: reload the window (next_free_slow);
//   2. else release it to its central list and take another from the
//      pair's central: first a partial span — swept ones as they are, unswept ones
//      swept first by the taker (sweepgen CAS g-2 -> g-1); then unswept
//      full spans, which sweeping may free up;
//   3. else grow: new pages from the page heap;
//   4. count the span's free capacity into heap_live, pay assist debt and
//      start a cycle if the heap reached its trigger (collector.cpp).
// Central lists keep unswept spans before swept ones (every span becomes
// unswept at once when sweepgen advances; swept spans are appended), so a
// scan from the head stops at the first swept full span. One refill sweeps
// at most kRefillSweepBudget spans (as Go's spanBudget) before it grows the
// heap instead: where the live data fills every span (a heap being built,
// a first cycle over it), an unbounded search swept the class's whole
// unswept list in one allocation, with its P held and no safe point: a
// stall that grows with the heap; the spans it leaves are the background
// sweeper's and the proportional sweep's.
#include "gc/heap.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>

#include "gc/collector.hpp"
#include "gc/phase.hpp"
#include "sched/call_context.hpp"
#include "sched/collector_support.hpp"
#include "sched/sanitizers.hpp"
#include "runtime/base/check.hpp"
#include "runtime/base/fatal.hpp"
#include "runtime/base/test_hooks.hpp"

namespace weft::gc::detail {

namespace {

constexpr size_t kDefaultReserve = size_t{64} << 30;
constexpr int kRefillSweepBudget = 100;  // spans one refill may sweep (see the top)
constexpr size_t kSpanChunk = 1 << 16;
constexpr size_t kMaxSpanChunks = 1 << 12;
std::atomic<Span**> g_span_chunks[kMaxSpanChunks];

void list_remove(SpanList& l, Span* s) {
    if (s->prev) s->prev->next = s->next;
    else l.head = s->next;
    if (s->next) s->next->prev = s->prev;
    else l.tail = s->prev;
    s->next = s->prev = nullptr;
    s->list = -1;
}

// Appends at the tail (swept spans go after unswept ones; see the top).
void list_append(SpanList& l, Span* s, int8_t which) {
    s->next = nullptr;
    s->prev = l.tail;
    s->list = which;
    if (l.tail) l.tail->next = s;
    else l.head = s;
    l.tail = s;
}

}  // namespace

// Read by every shade: on a line of read-mostly variables (barrier.cpp).
alignas(64) std::atomic<Heap*> g_heap{nullptr};

Heap& heap_first_use() {
    // Created on first use, never destroyed: objects may outlive any run().
    static Heap* h = [] {
        auto* made = new Heap(kDefaultReserve);
        g_heap.store(made, std::memory_order_release);
        return made;
    }();
    return *h;
}

Heap::Heap(size_t reserve) : pages(reserve), marks(pages.base(), pages.reserved_bytes()) {
    constexpr size_t kBytes = kCentralSlots * sizeof(std::atomic<Central*>);
    void* m = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) base::fatal("gc heap: cannot map %zu bytes for the central table: errno %d", kBytes, errno);
    centrals = static_cast<std::atomic<Central*>*>(m);
    large.spc = static_cast<uint32_t>(kLargeSpc);
}

namespace {

size_t central_slot(const TypeInfo* type, uint32_t spc) {
    uint64_t k = (reinterpret_cast<uintptr_t>(type) * 0x9E3779B97F4A7C15ull) ^ (uint64_t{spc} * 0xC2B2AE3D27D4EB4Full);
    return static_cast<size_t>(k >> 40) % kCentralSlots;
}

// The slot holding (type, spc)'s central, or the empty slot where it goes.
std::atomic<Central*>* central_probe(Heap& h, const TypeInfo* type, uint32_t spc) {
    for (size_t i = central_slot(type, spc);; i = (i + 1) % kCentralSlots) {
        // Acquire: pairs with the release in central_for, so a Central
        // found is built.
        Central* c = h.centrals[i].load(std::memory_order_acquire);
        if (c == nullptr || (c->type == type && c->spc == spc)) return &h.centrals[i];
    }
}

}  // namespace

Central* central_for(const TypeInfo* type, uint32_t spc) {
    Heap& h = heap();
    if (Central* c = central_probe(h, type, spc)->load(std::memory_order_acquire)) return c;
    base::LockGuard l(h.lock);
    std::atomic<Central*>* slot = central_probe(h, type, spc);
    // Made meanwhile? Relaxed: slots are written only under h.lock, which
    // orders this load after any store to it.
    if (Central* c = slot->load(std::memory_order_relaxed)) return c;
    if (h.ncentrals >= kCentralSlots / 4 * 3)
        base::fatal("gc heap: more than %zu (type, size class) pairs allocated (the last: %s, %u bytes)",
                    kCentralSlots / 4 * 3, type->name, kClasses[spc / 2].size);
    if (h.central_slab_left == 0) {
        // From the OS, as Span structs are (never freed, H5; no malloc on
        // the allocation path).
        constexpr size_t kPerSlab = 256;
        constexpr size_t kBytes = kPerSlab * sizeof(Central);
        void* m = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) base::fatal("gc heap: cannot map %zu bytes for centrals: errno %d", kBytes, errno);
        h.central_slab = static_cast<Central*>(m);
        h.central_slab_left = kPerSlab;
    }
    auto* c = ::new (h.central_slab++) Central;
    --h.central_slab_left;
    c->type = type;
    c->spc = spc;
    ++h.ncentrals;
    // Release: publishes the fields to central_probe's acquire.
    slot->store(c, std::memory_order_release);
    return c;
}

Span* span_at(size_t i) { return g_span_chunks[i / kSpanChunk].load(std::memory_order_acquire)[i % kSpanChunk]; }

namespace {

// A Span struct for a new run of pages (heap lock held): recycled or new,
// registered in the span table (span_at, H2).
Span* span_struct_locked(Heap& h) {
    if (Span* s = h.free_spans) {
        h.free_spans = s->next;
        s->next = nullptr;
        return s;
    }
    if (h.span_slab_left == 0) {
        // Span structs come in slabs from the OS (as Go's fixalloc), never
        // one by one from malloc: they are never freed (H2), and a malloc
        // here, on the allocation path, could run glibc's fastbin
        // consolidation, milliseconds inside one mutator operation.
        constexpr size_t kBytes = kSpanSlab * sizeof(Span);
        void* m = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) base::fatal("gc heap: cannot map %zu bytes for span structs: errno %d", kBytes, errno);
        // LeakSanitizer scans the slab: Spans point to their malloc'd
        // alloc bitmaps.
        WEFT_LSAN_ROOT_REGION(m, kBytes);
        h.span_slab = static_cast<Span*>(m);
        h.span_slab_left = kSpanSlab;
    }
    auto* s = ::new (h.span_slab++) Span;
    --h.span_slab_left;
    // Relaxed: nspans and the chunk table are written only under h.lock,
    // which we hold; readers use the release stores below.
    size_t i = h.nspans.load(std::memory_order_relaxed);
    if (i / kSpanChunk >= kMaxSpanChunks) base::fatal("gc heap: too many spans (%zu)", i);
    Span** chunk = g_span_chunks[i / kSpanChunk].load(std::memory_order_relaxed);
    if (chunk == nullptr) {
        chunk = new Span*[kSpanChunk]();
        g_span_chunks[i / kSpanChunk].store(chunk, std::memory_order_release);
    }
    chunk[i % kSpanChunk] = s;
    // Release: sweep_one reads nspans then the slot.
    h.nspans.store(i + 1, std::memory_order_release);
    return s;
}

// Relaxed stores in span set-up (here, grow, alloc_large): the span is not
// yet published; the release store of its state publishes them all. Its
// mark bits are already clear (mark_bitmap.hpp B1).
void size_bitmaps(Span* s, uint32_t nelems) {
    uint32_t nwords = (nelems + 63) / 64;
    if (nwords > s->nwords) {
        delete[] s->alloc_bits;
        s->alloc_bits = new std::atomic<uint64_t>[nwords];
        s->nwords = nwords;
    }
    for (uint32_t w = 0; w < s->nwords; ++w) s->alloc_bits[w].store(0, std::memory_order_relaxed);
    heap().marks.prepare_range(s->base, s->npages * kPageSize);
    WEFT_DCHECK(!heap().marks.any_in_range(s->base, s->npages * kPageSize),
                "gc heap: a new span's pages carry mark bits (mark_bitmap.hpp B1)");
}

// Publishes s, set up: to span_of (its state, then the span map) and to
// the markers (its pages' class, mark_bitmap.hpp B3).
void publish_span(Heap& h, Span* s) {
    // Release: publishes the fields above to span_of's acquire.
    s->state.store(SpanState::kInUse, std::memory_order_release);
    h.pages.set_owner(s->base, s->npages, s);
    h.marks.set_pages(s->base, s->npages, page_class_of(s->spc), s->type);
}

// A recycled Span struct drops its notes of constructors that threw: the
// sweeps that freed those slots cleared every bit, but the array was sized
// for the old span's slots (the struct is not yet published).
void reset_threw_bits(Span* s) {
    if (auto* t = s->threw_bits.load(std::memory_order_relaxed)) {
        s->threw_bits.store(nullptr, std::memory_order_relaxed);
        delete[] t;
    }
}

// A fresh span for central c's pair (small) with all slots free, swept,
// not on a list.
Span* grow(Central* c) {
    Heap& h = heap();
    const size_t spc = c->spc;
    const SizeClass& sc = kClasses[spc / 2];
    PageRun run = h.pages.alloc(sc.npages);
    Span* s;
    {
        base::LockGuard l(h.lock);
        s = span_struct_locked(h);
    }
    s->base = run.addr;
    s->npages = run.npages;
    s->elemsize = sc.size;
    s->nelems = sc.nelems;
    s->recip = sc.recip;
    s->spc = static_cast<uint8_t>(spc);
    s->noscan = spc & 1;
    s->large = false;
    s->type = c->type;
    s->central = c;
    reset_threw_bits(s);
    size_bitmaps(s, sc.nelems);
    s->freeindex.store(0, std::memory_order_relaxed);
    s->alloc_cache = ~uint64_t{0};
    s->allocated = 0;
    s->needzero = !run.zeroed;
    s->in_cache = false;
    s->sweepgen.store(h.sweepgen.load(std::memory_order_relaxed), std::memory_order_relaxed);
    publish_span(h, s);
    return s;
}

}  // namespace

// Returns a span's pages to the page heap (its last object was freed).
void free_span(Span* s) {
    Heap& h = heap();
    h.marks.set_pages(s->base, s->npages, 0, nullptr);
    h.pages.set_owner(s->base, s->npages, nullptr);
    s->state.store(SpanState::kFree, std::memory_order_release);
    h.pages.free(s->base, s->npages);
    base::LockGuard l(h.lock);
    s->next = h.free_spans;
    h.free_spans = s;
}

namespace {

// Moves s (swept, in no cache) to the right list of its central (lock held).
void central_put_locked(Central& c, Span* s) {
    if (s->allocated < s->nelems) list_append(c.partial, s, 0);
    else list_append(c.full, s, 1);
}

// As mcentral.cacheSpan: a swept span of central cp's pair with a free
// slot, owned by the caller; its window is positioned at the first free
// slot (returned in *idx).
Span* cache_span(Central* cp, uint32_t* idx) {
    Heap& h = heap();
    Central& c = *cp;
    uint32_t sg = h.sweepgen.load(std::memory_order_acquire);
    int budget = kRefillSweepBudget;
    auto done_searching = [&](Span* s) {
        base::test_hook(base::HookPoint::kRefillSwept, static_cast<uint64_t>(kRefillSweepBudget - budget), &c);
        return s;
    };
    c.lock.lock();
    for (int pass = 0; pass < 2 && budget > 0; ++pass) {
    retry:
        SpanList& head = pass == 0 ? c.partial : c.full;
        for (Span* s = head.head; s; s = s->next) {
            uint32_t g = s->sweepgen.load(std::memory_order_acquire);
            if (g == sg - 2 && s->sweepgen.compare_exchange_strong(g, sg - 1)) {
                list_remove(head, s);
                c.lock.unlock();
                h.sweepers.fetch_add(1);  // finish_sweep waits for lazy sweeps too
                sweep_span(s, /*preserve=*/true);
                h.sweepers.fetch_sub(1);
                --budget;
                if (s->allocated < s->nelems) {
                    *idx = next_free_slow_from_start(s);
                    return done_searching(s);
                }
                c.lock.lock();
                central_put_locked(c, s);
                if (budget == 0) break;
                goto retry;
            }
            if (g == sg - 1) continue;  // a background sweeper has it
            if (pass == 1) break;       // swept full spans: the rest are too
            list_remove(head, s);
            c.lock.unlock();
            *idx = next_free_slow_from_start(s);
            WEFT_CHECK(*idx < s->nelems, "cache_span: a partial span has no free slot");
            return done_searching(s);
        }
    }
    c.lock.unlock();
    Span* s = grow(cp);
    *idx = 0;
    s->alloc_cache = ~uint64_t{0} >> 1;
    return done_searching(s);
}

}  // namespace

uint32_t next_free_slow_from_start(Span* s) {
    // Relaxed: the span is ours (H1) and freeindex only moves forward under
    // its owner; scanners acquire it.
    uint32_t fi = s->freeindex.load(std::memory_order_relaxed);
    for (uint32_t i = fi / 64; i * 64 < s->nelems; ++i) {
        uint64_t free_bits = ~s->alloc_bits[i].load(std::memory_order_relaxed);
        if (i == fi / 64 && fi % 64 != 0) free_bits &= ~uint64_t{0} << (fi % 64);
        if (free_bits == 0) continue;
        auto tz = static_cast<uint32_t>(__builtin_ctzll(free_bits));
        uint32_t idx = i * 64 + tz;
        if (idx >= s->nelems) break;
        s->alloc_cache = tz == 63 ? 0 : free_bits >> (tz + 1);
        return idx;
    }
    s->alloc_cache = 0;
    return s->nelems;
}

namespace {

// Gives span s of entry e back to its central (the cache lets go of it):
// the slots it did not hand out stop counting as live.
void release_entry_span(CacheEntry& e) {
    Span* s = e.span;
    e.span = nullptr;
    int64_t unused = static_cast<int64_t>(s->nelems - s->allocated) * s->elemsize;
    heap().heap_live.fetch_sub(unused, std::memory_order_relaxed);
    s->in_cache = false;
    base::LockGuard l(e.central->lock);
    central_put_locked(*e.central, s);
}

// Step 0 of the refill: (type, spc)'s entry, at way 0 of its set.
CacheEntry& cache_entry(MCache* c, const TypeInfo* type, uint32_t spc) {
    CacheEntry* set = &c->entries[cache_set(type, spc) * kCacheWays];
    size_t way = 0;
    while (way < kCacheWays && set[way].type != nullptr && !(set[way].type == type && set[way].spc == spc)) ++way;
    CacheEntry found;
    if (way < kCacheWays && set[way].type != nullptr) {
        found = set[way];
    } else {
        if (way == kCacheWays) {
            way = kCacheWays - 1;  // the least recently refilled goes
            if (set[way].span != nullptr) release_entry_span(set[way]);
        }
        found = CacheEntry{type, spc, nullptr, central_for(type, spc)};
    }
    // Ways 0..way-1 move down one; the pair takes way 0.
    for (size_t k = way; k > 0; --k) set[k] = set[k - 1];
    set[0] = found;
    return set[0];
}

}  // namespace

void* alloc_refill(MCache* c, const TypeInfo* type, uint32_t spc, Span** span) {
    CacheEntry& e = cache_entry(c, type, spc);
    Span* s = e.span;
    uint32_t idx = s ? next_free_slow_from_start(s) : 0;
    if (s == nullptr || idx >= s->nelems) {
        if (s) release_entry_span(e);
        s = cache_span(e.central, &idx);
        s->in_cache = true;
        e.span = s;
        // The span's free capacity counts as live from now (as Go's
        // heapLive at cacheSpan); release_entry_span gives back what was
        // unused.
        int64_t cap = static_cast<int64_t>(s->nelems - s->allocated) * s->elemsize;
        heap().heap_live.fetch_add(cap, std::memory_order_relaxed);
        after_refill(c, cap);
    }
    *span = s;
    return reinterpret_cast<void*>(s->slot_addr(idx));
}

void mcache_release(MCache* c) {
    // The entries keep their pairs and centrals: the next refill of each
    // skips the central table.
    for (CacheEntry& e : c->entries)
        if (e.span != nullptr) release_entry_span(e);
    heap().total_alloc.fetch_add(static_cast<uint64_t>(c->local_alloc), std::memory_order_relaxed);
    c->local_alloc = 0;
}

void* alloc_large(size_t bytes, bool noscan, const TypeInfo* type) {
    Heap& h = heap();
    size_t npages = (bytes + kPageSize - 1) / kPageSize;
    PageRun run = h.pages.alloc(npages);
    if (!run.zeroed) std::memset(reinterpret_cast<void*>(run.addr), 0, npages * kPageSize);
    Span* s;
    {
        base::LockGuard l(h.lock);
        s = span_struct_locked(h);
    }
    s->base = run.addr;
    s->npages = npages;
    s->elemsize = static_cast<uint32_t>(npages * kPageSize > UINT32_MAX ? UINT32_MAX : npages * kPageSize);
    s->nelems = 1;
    s->recip = 0;
    s->spc = static_cast<uint8_t>(kLargeSpc);
    s->noscan = noscan;
    s->large = true;
    s->type = type;
    s->central = &h.large;
    reset_threw_bits(s);
    size_bitmaps(s, 1);
    s->freeindex.store(1, std::memory_order_relaxed);
    s->alloc_cache = 0;
    s->allocated = 1;
    s->needzero = false;
    s->in_cache = false;
    s->sweepgen.store(h.sweepgen.load(std::memory_order_relaxed), std::memory_order_relaxed);
    publish_span(h, s);
    if (phase_is_marking()) mark_new_object(s, s->base);
    int64_t sz = static_cast<int64_t>(npages * kPageSize);
    h.heap_live.fetch_add(sz, std::memory_order_relaxed);
    h.total_alloc.fetch_add(static_cast<uint64_t>(sz), std::memory_order_relaxed);
    {
        base::LockGuard l(h.large.lock);
        list_append(h.large.full, s, 1);
    }
    sched::P* p = sched::current_p();
    after_refill(static_cast<MCache*>(p->ext[kExtCache]), sz);
    return reinterpret_cast<void*>(s->base);
}

[[noreturn]] void alloc_without_p() {
    sched::CallContext c = sched::call_context();
    if (c == sched::CallContext::kBlocking) sched::misuse("gc::make (or a gc::Vector or gc::HashMap insert)", c);
    base::fatal("gc: allocation outside a fiber (the thread holds no P); call gc::make from inside weft::run");
}

[[noreturn]] void make_misuse(const char* type) {
    char api[256];
    std::snprintf(api, sizeof api, "gc::make<%s>", type);
    sched::misuse(api, sched::call_context());
}

bool central_file_swept(Span* s, uint32_t sg, bool empty) {
    Central& c = *s->central;
    {
        base::LockGuard l(c.lock);
        WEFT_DCHECK(s->list >= 0, "central_file_swept: a span being swept is on no central list");
        if (s->list == 0) list_remove(c.partial, s);
        else if (s->list == 1) list_remove(c.full, s);
        // Release: whoever takes s next sees the bitmaps as sweep left them.
        s->sweepgen.store(sg, std::memory_order_release);
        if (!empty) {
            central_put_locked(c, s);
            return true;
        }
    }
    free_span(s);
    return false;
}

void central_unlink(Span* s) {
    Central& c = *s->central;
    base::LockGuard l(c.lock);
    if (s->list == 0) list_remove(c.partial, s);
    else if (s->list == 1) list_remove(c.full, s);
}

void note_constructor_threw(Span* s, uint32_t i) {
    auto* bits = s->threw_bits.load(std::memory_order_acquire);
    if (bits == nullptr) {
        auto* fresh = new std::atomic<uint64_t>[s->nwords]();
        // AcqRel: another fiber's throw in the same span may race to make
        // them; the loser frees its copy and uses the winner's.
        if (s->threw_bits.compare_exchange_strong(bits, fresh, std::memory_order_acq_rel)) bits = fresh;
        else delete[] fresh;
    }
    // Relaxed: the sweeper reads the bit after the next mark termination,
    // which the stopped world orders after this store.
    bits[i / 64].fetch_or(uint64_t{1} << (i % 64), std::memory_order_relaxed);
}

}  // namespace weft::gc::detail
