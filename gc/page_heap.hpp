// page_heap.hpp — the lowest layer of the GC heap: page runs, the span map
// and the scavenger (as Go's mheap.go, mpagealloc.go and mgcscavenge.go,
// much simplified; design and invariants in page_heap.cpp).
//
// The heap is one contiguous reservation of address space, made once, split
// into kPageSize pages. alloc() hands out runs of contiguous pages, free()
// takes them back; spans of size classes, per-P caches and the collector sit
// above. Every page has a slot in the span map that says which span owns it
// (owner_of), readable from any thread without a lock.
//
// Page states (stats() counts each exactly):
//   in use     handed out by alloc(), not yet freed
//   free       free and may hold memory: recycled, not released
//   released   free and holds no memory: returned to the OS by scavenge, or
//              made usable by growth and never handed out (as Go's
//              HeapReleased); such pages come back from alloc() zeroed
//   ungrown    beyond the usable prefix of the reservation (PROT_NONE)
//
// Who may call what: every method may be called from any thread (plain
// threads or fibers); alloc/free/scavenge/stats take the heap lock (rank
// kMHeap) and no other lock inside it, so a caller may hold locks of lower
// rank (kMCentral, ...). owner_of and contains take no lock and never block.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include <weft/internal/lock.hpp>
#include <weft/internal/size_class.hpp>

namespace weft::gc {

struct PageRun {
    uintptr_t addr = 0;
    size_t npages = 0;
    bool zeroed = false;  // every byte is known 0
};

struct PageHeapStats {
    size_t reserved_bytes;           // virtual address space reserved
    size_t in_use_bytes;             // pages handed out and not freed
    size_t free_bytes;               // free pages still backed (may hold memory)
    size_t released_bytes;           // free pages holding no memory (see "released" above)
    size_t mapped_bytes;             // in_use + free (ever touched, not released)
    uint64_t scavenged_total_bytes;  // cumulative bytes released by scavenge
};
// Always: in_use + free + released == the grown prefix <= reserved, and the
// grown prefix is a multiple of 64 MiB or the whole reservation.

class PageHeap {
public:
    // Reserves `reserve_bytes` of address space (rounded up to pages, base
    // aligned to 1 MiB) once; commits nothing. Fatal if the reservation
    // cannot be made or is 2^32 pages (32 TiB) or more.
    explicit PageHeap(size_t reserve_bytes);
    // Unmaps the reservation and the span map. No other thread may be using
    // the heap, and every pointer into it dies.
    ~PageHeap();
    PageHeap(const PageHeap&) = delete;
    PageHeap& operator=(const PageHeap&) = delete;

    // npages >= 1 contiguous, page-aligned pages; the best-fitting free run,
    // lowest address among equals. Fatal ("out of memory: the GC heap's ...
    // reservation is exhausted") when no run can be found or grown.
    PageRun alloc(size_t npages);
    // Returns pages to the heap, coalescing with free neighbours. Any range
    // of in-use pages may be freed (part of a run too). Fatal if a page of
    // the range is outside the reservation or not in use (a double free).
    // The span map is not touched: clear the owner first.
    void free(uintptr_t addr, size_t npages);

    // The span map: every page of [addr, addr+npages*kPageSize) maps to
    // `owner` (a Span*, opaque here; null to clear). Called by the run's
    // owner, under whatever lock it holds; the pages must lie in the
    // reservation. Stores are release: whatever the caller wrote to *owner
    // before is visible to a reader that gets owner back from owner_of.
    void set_owner(uintptr_t addr, size_t npages, void* owner);
    // O(1), lock-free, any thread, concurrently with everything: the owner
    // of the page holding addr, or null if addr is outside the reservation
    // or its page has no owner. Acquire (pairs with set_owner).
    void* owner_of(uintptr_t addr) const {
        if (!contains(addr)) return nullptr;
        // Acquire: pairs with set_owner's release store, so the span's
        // fields written before publication are visible to the reader.
        return std::atomic_ref<void*>(span_map_[(addr - base_) >> kPageShift]).load(std::memory_order_acquire);
    }
    bool contains(uintptr_t addr) const { return addr - base_ < reserved_; }
    uintptr_t base() const { return base_; }
    size_t reserved_bytes() const { return reserved_; }

    // Returns to the OS (MADV_DONTNEED) the free runs that have stayed free
    // at least min_idle_ns as of now_ns; returns the bytes released (only
    // pages that held memory count). Released pages come back from alloc()
    // with zeroed=true. A whole pass, made of scavenge_steps from the first
    // run (the heap lock is dropped between steps).
    size_t scavenge(int64_t now_ns, int64_t min_idle_ns);
    // One bounded step of a pass: visits at most kScavengeStepRuns free runs
    // and releases at most max_pages pages, holding the heap lock, then
    // remembers where it stopped; the next step goes on from there (runs
    // are visited in (size, address) order, so runs made or merged during
    // a pass may be visited twice or not at all until the next). Sets
    // *pass_done when the step reached the last run: the next one starts a
    // new pass. Returns the bytes released.
    static constexpr size_t kScavengeStepRuns = 256;
    size_t scavenge_step(int64_t now_ns, int64_t min_idle_ns, size_t max_pages, bool* pass_done);
    // Every free page, regardless of age (one step, the lock held throughout).
    size_t scavenge_all();
    PageHeapStats stats() const;

private:
    // One maximal run of free pages. Page numbers count from base_.
    struct FreeRun {
        uint32_t start;
        uint32_t npages;
        uint32_t dirty;  // pages of the run not released
        int64_t since;   // free since (nanotime); see "Ages" in page_heap.cpp
    };

    size_t scavenge_locked(int64_t now_ns, int64_t min_idle_ns, bool all, size_t max_runs, size_t max_pages,
                           bool* pass_done);
    void grow(size_t npages);
    void add_run(const FreeRun& r);
    FreeRun take_run(uint32_t slot);
    void insert_coalesced(FreeRun r);
    [[noreturn]] void out_of_memory(size_t npages) const;

    uintptr_t base_ = 0;
    size_t reserved_ = 0;         // bytes; constant after construction
    size_t total_pages_ = 0;
    void** span_map_ = nullptr;   // one word per page of the reservation
    size_t span_map_bytes_ = 0;

    // The fields above are read by every shade (owner_of) and never written
    // after construction; what follows is written by every page allocation.
    // A cache line apart, or the markers' reads miss on every lock taken.
    alignas(64) mutable base::Lock lock_{base::LockRank::kMHeap};
    // Everything below is guarded by lock_.
    size_t grown_ = 0;                 // pages [0, grown_) are read-write
    std::vector<FreeRun> runs_;        // slots; a slot is live or in spare_
    std::vector<uint32_t> spare_;      // unused slots of runs_
    std::vector<uint32_t> tag_;        // per grown page: 1 + slot of the free run it starts or ends, else 0
    std::vector<uint64_t> in_use_;     // per grown page, a bit: handed out
    std::vector<uint64_t> released_;   // per grown page, a bit: free and holding no memory
    std::set<std::pair<uint32_t, uint32_t>> by_size_;  // (npages, start) of every free run
    std::pair<uint32_t, uint32_t> scavenge_next_{0, 0};  // where the next scavenge step begins in by_size_
    size_t in_use_pages_ = 0, free_pages_ = 0, released_pages_ = 0;
    uint64_t scavenged_total_ = 0;
};

}  // namespace weft::gc
