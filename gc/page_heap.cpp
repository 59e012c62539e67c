// page_heap.cpp — see page_heap.hpp. Owns the heap's reservation, the span
// map, and the free-run bookkeeping of every page in the grown prefix.
//
// Layout. One mmap(PROT_NONE, NORESERVE) reserves the heap, over-reserved by
// kBaseAlign and trimmed so the base is 1 MiB aligned. Pages [0, grown_)
// (counted from the base) have been mprotect'ed read-write; the rest is
// still PROT_NONE. Growth extends the prefix by whole kGrowPages chunks (or
// the rest of the reservation), and the kernel merges the adjacent
// read-write ranges, so the heap is two VMAs at any size. The span map is a
// second NORESERVE mapping, one word per page of the whole reservation; the
// kernel backs it only where set_owner has written.
//
// Invariants (guarded by lock_; checked by the named functions):
//  I1 partition  every grown page is either in use (its in_use_ bit) or in
//                exactly one free run; free runs are maximal: no two touch
//                (insert_coalesced merges on every insertion).
//  I2 tags       tag_[p] != 0 iff page p is the first or last page of a free
//                run, and then it is 1 + the run's slot in runs_. So the run
//                ending just below a freed range is tag_[p-1] and the one
//                starting just above it is tag_[p+n]: O(1) coalescing.
//  I3 index      by_size_ holds (npages, start) of exactly the live runs.
//  I4 released   a released_ bit is set only on a free page that holds no
//                memory; run.dirty is the count of its pages whose bit is
//                clear. Such a page reads as zero: either it was never
//                written (fresh from growth; private anonymous memory) or it
//                was MADV_DONTNEED'ed (private anonymous: zero on next touch).
//  I5 counters   in_use_pages_, released_pages_ and free_pages_ count the
//                in-use, released and free-but-dirty pages; they sum to
//                grown_. stats() reports them without walking anything.
//
// alloc(n):
//  1. Best fit: the first (npages, start) >= (n, 0) in by_size_, i.e. the
//     smallest run that fits, lowest address among equals.
//  2. None fits: grow() makes the next chunk usable as a released run,
//     merged with the free run at the top of the prefix if there is one, and
//     retries. Growth is sized so that the retry always succeeds.
//  3. The low n pages of the run go out; the remainder goes back as a run
//     with the same age and the dirty pages it kept. Handing out the low end
//     keeps the heap compact, so high runs stay free and get released.
//  4. zeroed iff every page handed out had its released bit; the bits are
//     cleared, the in_use_ bits set.
// free(addr, n): checks every page is in use (else a double free), clears
// the bits and inserts [p, p+n) as a dirty run aged now, merged with the
// runs ending at p-1 and starting at p+n (I2).
//
// Ages. A run remembers one free-since time. Splitting keeps it for the
// remainder. Merging keeps the age of the part with more dirty pages (ties:
// the younger part): those are the pages scavenge would act on. So a fresh
// or released neighbour does not make an idle run look young, and a small
// run freed and reallocated over and over at the edge of a large idle one
// cannot keep it from ageing. The minority's pages get the wrong age: they
// are released early (a page fault later) or late (one more period).
//
// scavenge: every run that has dirty pages and is old enough has each
// maximal range of dirty pages MADV_DONTNEED'ed, its bits set, dirty = 0;
// in bounded steps (scavenge_step), each under the lock: a step visits a
// bounded number of runs and releases a bounded number of pages (a run may
// be finished by the next step), so neither a walk over thousands of small
// runs nor the madvise of a large one holds the lock, and the P of the
// fiber that ticks the scavenger, for long.
//
// Rejected:
//  - Release state per run only: a run merged from a released and a dirty
//    part cannot say which pages of a split are zero, so zeroed and the
//    stats would turn approximate. A bit per page keeps both exact.
//  - Segregated exact-size lists for small runs plus a tree for large ones:
//    the policy above is the same (smallest fitting size, lowest address),
//    and one ordered set does it in O(log runs) with less code.
//  - A map by address to find neighbours: O(log n) per free where I2 is O(1)
//    for 4 bytes per grown page.
//  - Mapping the whole reservation read-write up front: under strict
//    overcommit (vm.overcommit_memory=2) that charges all of it; growth in
//    chunks charges only what is used. One mapping per chunk instead of
//    mprotect would cost a VMA per chunk.
//  - Dropping the lock around madvise (as Go's scavenger does, by taking the
//    run out of the free structures first): allocation may then grow the
//    heap needlessly while a run is out. The lock is held, for one bounded
//    step. (A whole pass under the lock holds it for milliseconds on a
//    large heap: allocating fibers wait on it, and a stop-the-world on them.)
#include "gc/page_heap.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <sys/mman.h>
#include <unistd.h>

#include <weft/clock.hpp>
#include "runtime/base/check.hpp"
#include "sched/sanitizers.hpp"

namespace weft::gc {
namespace {

constexpr size_t kBaseAlign = size_t{1} << 20;
constexpr size_t kGrowPages = (size_t{64} << 20) / kPageSize;
constexpr size_t kMiB = size_t{1} << 20;

size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

// Calls f(word index, mask) for the words covering bits [p, p+n).
template <class F>
void for_words(size_t p, size_t n, F f) {
    while (n > 0) {
        size_t b = p % 64, k = std::min<size_t>(64 - b, n);
        uint64_t mask = (k == 64 ? ~uint64_t{0} : (uint64_t{1} << k) - 1) << b;
        f(p / 64, mask);
        p += k;
        n -= k;
    }
}

void set_bits(std::vector<uint64_t>& v, size_t p, size_t n, bool value) {
    for_words(p, n, [&](size_t w, uint64_t m) { v[w] = value ? v[w] | m : v[w] & ~m; });
}

size_t count_bits(const std::vector<uint64_t>& v, size_t p, size_t n) {
    size_t c = 0;
    for_words(p, n, [&](size_t w, uint64_t m) { c += static_cast<size_t>(__builtin_popcountll(v[w] & m)); });
    return c;
}

// The first bit in [p, end) equal to value, or end.
size_t find_bit(const std::vector<uint64_t>& v, size_t p, size_t end, bool value) {
    while (p < end) {
        uint64_t w = (value ? v[p / 64] : ~v[p / 64]) & (~uint64_t{0} << (p % 64));
        if (w != 0) return std::min(end, p / 64 * 64 + static_cast<size_t>(__builtin_ctzll(w)));
        p = (p / 64 + 1) * 64;
    }
    return end;
}

void* map_or_die(size_t len, int prot, const char* what) {
    void* p = mmap(nullptr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        base::fatal("page heap: cannot reserve %zu MiB of address space for %s: errno %d", len / kMiB, what, errno);
    return p;
}

}  // namespace

PageHeap::PageHeap(size_t reserve_bytes) {
    long os_page = sysconf(_SC_PAGESIZE);
    if (os_page <= 0 || kPageSize % static_cast<size_t>(os_page) != 0)
        base::fatal("page heap: the OS page size (%ld) does not divide the heap page size (%zu)", os_page, kPageSize);
    if (reserve_bytes / kPageSize >= UINT32_MAX)
        base::fatal("page heap: a reservation of %zu MiB is 2^32 pages or more", reserve_bytes / kMiB);
    total_pages_ = std::max<size_t>(1, round_up(reserve_bytes, kPageSize) / kPageSize);
    reserved_ = total_pages_ * kPageSize;

    // Over-reserve by the alignment and give back both ends.
    size_t len = reserved_ + kBaseAlign;
    auto raw = reinterpret_cast<uintptr_t>(map_or_die(len, PROT_NONE, "the GC heap"));
    base_ = round_up(raw, kBaseAlign);
    if (base_ > raw) munmap(reinterpret_cast<void*>(raw), base_ - raw);
    if (raw + len > base_ + reserved_) munmap(reinterpret_cast<void*>(base_ + reserved_), raw + len - (base_ + reserved_));
    // A core file holds the heap's committed prefix (grow marks it), not
    // the untouched reservation: a debugger's core (gdb's gcore writes
    // every byte it may dump) would otherwise be as large as the reserve.
    madvise(reinterpret_cast<void*>(base_), reserved_, MADV_DONTDUMP);

    span_map_bytes_ = round_up(total_pages_ * sizeof(void*), static_cast<size_t>(os_page));
    span_map_ = static_cast<void**>(map_or_die(span_map_bytes_, PROT_READ | PROT_WRITE, "the span map"));
    madvise(span_map_, span_map_bytes_, MADV_DONTDUMP);  // the runtime's index, sized to the reserve
}

PageHeap::~PageHeap() {
    munmap(reinterpret_cast<void*>(base_), reserved_);
    munmap(span_map_, span_map_bytes_);
}

void PageHeap::out_of_memory(size_t npages) const {
    base::fatal("out of memory: the GC heap's %zu MiB reservation is exhausted (asked for %zu pages)", reserved_ / kMiB,
                npages);
}

// Makes r a live run: a slot, its tags (I2), its index entry (I3).
void PageHeap::add_run(const FreeRun& r) {
    uint32_t slot;
    if (spare_.empty()) {
        slot = static_cast<uint32_t>(runs_.size());
        runs_.push_back(r);
    } else {
        slot = spare_.back();
        spare_.pop_back();
        runs_[slot] = r;
    }
    tag_[r.start] = tag_[r.start + r.npages - 1] = slot + 1;
    by_size_.emplace(r.npages, r.start);
}

// Undoes add_run; the caller re-inserts the pages or hands them out.
PageHeap::FreeRun PageHeap::take_run(uint32_t slot) {
    FreeRun r = runs_[slot];
    WEFT_DCHECK(tag_[r.start] == slot + 1 && tag_[r.start + r.npages - 1] == slot + 1, "page heap: stale run tag");
    tag_[r.start] = tag_[r.start + r.npages - 1] = 0;
    by_size_.erase({r.npages, r.start});
    spare_.push_back(slot);
    return r;
}

// Inserts free pages [r.start, r.start+r.npages), merged with the free runs
// touching them (I1). The pages must not be in any run.
void PageHeap::insert_coalesced(FreeRun r) {
    auto merge = [&r](const FreeRun& o) {
        bool theirs = o.dirty > r.dirty || (o.dirty == r.dirty && o.since > r.since);  // see "Ages"
        r.since = theirs ? o.since : r.since;
        r.start = std::min(r.start, o.start);
        r.npages += o.npages;
        r.dirty += o.dirty;
    };
    if (r.start > 0 && tag_[r.start - 1] != 0) merge(take_run(tag_[r.start - 1] - 1));
    size_t above = size_t{r.start} + r.npages;
    if (above < grown_ && tag_[above] != 0) merge(take_run(tag_[above] - 1));
    add_run(r);
}

// Makes enough of the reservation read-write that a run of npages exists.
void PageHeap::grow(size_t npages) {
    size_t top = 0;  // the free run reaching the end of the prefix extends into the new pages
    if (grown_ > 0 && tag_[grown_ - 1] != 0) top = runs_[tag_[grown_ - 1] - 1].npages;
    size_t need = npages - top, avail = total_pages_ - grown_;
    if (need > avail) out_of_memory(npages);
    size_t add = std::min(round_up(need, kGrowPages), avail);
    if (mprotect(reinterpret_cast<void*>(base_ + grown_ * kPageSize), add * kPageSize, PROT_READ | PROT_WRITE) != 0)
        base::fatal("out of memory: cannot commit %zu MiB more of the GC heap: errno %d", add * kPageSize / kMiB, errno);
    madvise(reinterpret_cast<void*>(base_ + grown_ * kPageSize), add * kPageSize, MADV_DODUMP);
    // ASan: an earlier mapping at these addresses (an ended fiber's fake
    // stack, before this reservation was made) can have left its shadow
    // poisoned; the pages are ours now.
    // Only if so: unpoisoning writes the shadow, which would commit an
    // eighth of the chunk; the check only reads it.
#if defined(WEFT_ASAN)
    if (void* p = reinterpret_cast<void*>(base_ + grown_ * kPageSize); __asan_region_is_poisoned(p, add * kPageSize))
        __asan_unpoison_memory_region(p, add * kPageSize);
#endif
    size_t old = grown_;
    grown_ += add;
    tag_.resize(grown_, 0);
    in_use_.resize((grown_ + 63) / 64, 0);
    released_.resize((grown_ + 63) / 64, 0);
    set_bits(released_, old, add, true);  // never written: holds no memory and reads as zero (I4)
    released_pages_ += add;
    insert_coalesced({static_cast<uint32_t>(old), static_cast<uint32_t>(add), 0, base::nanotime()});
}

PageRun PageHeap::alloc(size_t npages) {
    WEFT_CHECK(npages >= 1, "page heap: alloc of 0 pages");
    base::LockGuard g(lock_);
    if (npages > total_pages_) out_of_memory(npages);
    std::pair<uint32_t, uint32_t> want{static_cast<uint32_t>(npages), 0};
    auto it = by_size_.lower_bound(want);
    if (it == by_size_.end()) {
        grow(npages);
        it = by_size_.lower_bound(want);
        WEFT_CHECK(it != by_size_.end(), "page heap: growth did not make a fitting run");
    }
    FreeRun r = take_run(tag_[it->second] - 1);
    size_t p = r.start;
    size_t released = count_bits(released_, p, npages);
    if (r.npages > npages) {
        uint32_t dirty_out = static_cast<uint32_t>(npages - released);
        add_run({static_cast<uint32_t>(p + npages), static_cast<uint32_t>(r.npages - npages), r.dirty - dirty_out,
                 r.since});
    }
    set_bits(released_, p, npages, false);
    set_bits(in_use_, p, npages, true);
    released_pages_ -= released;
    free_pages_ -= npages - released;
    in_use_pages_ += npages;
    return {base_ + p * kPageSize, npages, released == npages};
}

void PageHeap::free(uintptr_t addr, size_t npages) {
    size_t off = addr - base_;
    if (!contains(addr) || npages == 0 || npages > total_pages_ - off / kPageSize || off % kPageSize != 0)
        base::fatal("page heap: free of %p (%zu pages) outside the reservation [%p, %p) or unaligned",
                    reinterpret_cast<void*>(addr), npages, reinterpret_cast<void*>(base_),
                    reinterpret_cast<void*>(base_ + reserved_));
    size_t p = off / kPageSize;
    base::LockGuard g(lock_);
    if (p + npages > grown_ || count_bits(in_use_, p, npages) != npages)
        base::fatal("page heap: free of pages not in use at %p (%zu pages)", reinterpret_cast<void*>(addr), npages);
    set_bits(in_use_, p, npages, false);
    in_use_pages_ -= npages;
    free_pages_ += npages;
    auto n = static_cast<uint32_t>(npages);
    insert_coalesced({static_cast<uint32_t>(p), n, n, base::nanotime()});
}

void PageHeap::set_owner(uintptr_t addr, size_t npages, void* owner) {
    size_t p = (addr - base_) >> kPageShift;
    WEFT_CHECK(contains(addr) && npages <= total_pages_ - p, "page heap: set_owner outside the reservation");
    // Release: publishes the owner's fields written before this call to
    // owner_of's acquire load (one order per slot is all a reader needs).
    for (size_t i = 0; i < npages; i++) std::atomic_ref<void*>(span_map_[p + i]).store(owner, std::memory_order_release);
}

size_t PageHeap::scavenge_locked(int64_t now_ns, int64_t min_idle_ns, bool all, size_t max_runs, size_t max_pages,
                                 bool* pass_done) {
    size_t released = 0, visited = 0;
    auto it = by_size_.lower_bound(scavenge_next_);
    for (; it != by_size_.end() && visited < max_runs && released < max_pages; ++it, ++visited) {
        FreeRun& r = runs_[tag_[it->second] - 1];
        if (r.dirty == 0 || (!all && now_ns - r.since < min_idle_ns)) continue;
        size_t end = size_t{r.start} + r.npages, done = 0;
        for (size_t p = find_bit(released_, r.start, end, false); p < end && released + done < max_pages;
             p = find_bit(released_, p, end, false)) {
            size_t q = find_bit(released_, p, end, true);
            q = p + std::min(q - p, max_pages - released - done);
            if (madvise(reinterpret_cast<void*>(base_ + p * kPageSize), (q - p) * kPageSize, MADV_DONTNEED) != 0)
                base::fatal("page heap: madvise(MADV_DONTNEED) of %zu pages failed: errno %d", q - p, errno);
            set_bits(released_, p, q - p, true);
            done += q - p;
            p = q;
        }
        WEFT_CHECK(done <= r.dirty, "page heap: a run's dirty count disagrees with its released bits");
        r.dirty -= static_cast<uint32_t>(done);
        released += done;
        if (r.dirty > 0) break;  // out of pages: the next step goes on with this run
    }
    *pass_done = it == by_size_.end();
    scavenge_next_ = *pass_done ? std::pair<uint32_t, uint32_t>{0, 0} : *it;
    free_pages_ -= released;
    released_pages_ += released;
    scavenged_total_ += released * kPageSize;
    return released * kPageSize;
}

size_t PageHeap::scavenge_step(int64_t now_ns, int64_t min_idle_ns, size_t max_pages, bool* pass_done) {
    base::LockGuard g(lock_);
    if (free_pages_ == 0) {
        scavenge_next_ = {0, 0};
        *pass_done = true;
        return 0;
    }
    return scavenge_locked(now_ns, min_idle_ns, false, kScavengeStepRuns, max_pages, pass_done);
}

size_t PageHeap::scavenge(int64_t now_ns, int64_t min_idle_ns) {
    {
        base::LockGuard g(lock_);
        scavenge_next_ = {0, 0};
    }
    size_t released = 0;
    for (bool done = false; !done;) released += scavenge_step(now_ns, min_idle_ns, SIZE_MAX, &done);
    return released;
}

size_t PageHeap::scavenge_all() {
    base::LockGuard g(lock_);
    bool done;
    scavenge_next_ = {0, 0};  // from the first run, wherever a step stopped
    size_t released = scavenge_locked(0, 0, true, SIZE_MAX, SIZE_MAX, &done);
    scavenge_next_ = {0, 0};
    return released;
}

PageHeapStats PageHeap::stats() const {
    base::LockGuard g(lock_);
    PageHeapStats s{};
    s.reserved_bytes = reserved_;
    s.in_use_bytes = in_use_pages_ * kPageSize;
    s.free_bytes = free_pages_ * kPageSize;
    s.released_bytes = released_pages_ * kPageSize;
    s.mapped_bytes = s.in_use_bytes + s.free_bytes;
    s.scavenged_total_bytes = scavenged_total_;
    return s;
}

}  // namespace weft::gc
