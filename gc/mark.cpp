// mark.cpp — shading, work buffers, conservative ranges, draining.
// Protocols and invariants: mark.hpp.
#include "gc/mark.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include <weft/internal/lock.hpp>
#include "gc/phase.hpp"
#include "runtime/base/check.hpp"
#include "runtime/base/fatal.hpp"
#include "runtime/base/test_hooks.hpp"
#include "sched/collector_support.hpp"
#include "sched/sanitizers.hpp"

#if defined(WEFT_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace weft::gc::detail {

std::atomic<int> g_skip_barrier_shades{0};

namespace {

base::Lock g_work_lock{base::LockRank::kGCWork};
// Written at every buffer hand-off: alignas keeps them off the lines of
// read-mostly flags the linker places nearby (barrier.cpp).
alignas(64) WorkBuf* g_full = nullptr;  // under g_work_lock
WorkBuf* g_empty = nullptr;  // under g_work_lock
// Count of full buffers, read without the lock as a hint.
std::atomic<int64_t> g_nfull{0};

WorkBuf* get_empty() {
    {
        base::LockGuard l(g_work_lock);
        if (WorkBuf* b = g_empty) {
            g_empty = b->next;
            b->next = nullptr;
            b->n = 0;
            return b;
        }
    }
    return new WorkBuf;
}

void put_full(WorkBuf* b) {
    base::LockGuard l(g_work_lock);
    b->next = g_full;
    g_full = b;
    g_nfull.fetch_add(1, std::memory_order_relaxed);
}

WorkBuf* get_full() {
    if (g_nfull.load(std::memory_order_relaxed) == 0) return nullptr;
    base::LockGuard l(g_work_lock);
    WorkBuf* b = g_full;
    if (b) {
        g_full = b->next;
        b->next = nullptr;
        g_nfull.fetch_sub(1, std::memory_order_relaxed);
    }
    return b;
}

void put_empty(WorkBuf* b) {
    base::LockGuard l(g_work_lock);
    b->n = 0;
    b->next = g_empty;
    g_empty = b;
}

inline void push(GCWork* w, const void* obj) {
    WorkBuf* b = w->buf;
    if (b == nullptr) b = w->buf = get_empty();
    else if (b->n == WorkBuf::kCap) {
        put_full(b);
        b = w->buf = get_empty();
    }
    b->obj[b->n++] = obj;
}

// An object just marked (white -> grey): counted on w and queued unless
// noscan. From the write barrier (kFromBarrier) the kBarrierMarked hook
// runs first, and a null w (fault_late_shade only: a barrier without a P)
// queues onto the global list.
template <bool kFromBarrier>
inline void queue_marked(GCWork* w, const void* obj, int64_t bytes, bool noscan) {
    if constexpr (kFromBarrier) {
        base::test_hook(base::HookPoint::kBarrierMarked, 0, obj);
        if (w == nullptr) {
            GCWork late;
            if (!noscan) push(&late, obj);
            flush(&late);
            return;
        }
    }
    w->marked_bytes += bytes;
    if (!noscan) push(w, obj);
}

// Marks slot i of s and queues it on w.
inline void grey(GCWork* w, Span* s, uint32_t i) {
    if (!s->try_mark(i)) return;
    queue_marked<false>(w, reinterpret_cast<const void*>(s->slot_addr(i)), static_cast<int64_t>(s->object_bytes()),
                        s->noscan);
}

// Shades an object start (as from a Member) without finding its span
// (mark_bitmap.hpp says why): the page class tells whether it is in the
// heap, its slot size and whether it is scanned; only a large object newly
// marked needs its span (for its size).
template <bool kFromBarrier = false>
inline void shade_object(GCWork* w, const void* obj) {
    Heap& h = heap();
    auto slot = reinterpret_cast<uintptr_t>(obj);
    uint8_t cls = h.marks.page_class(slot);
    if (cls == 0) return;  // not in the heap: a Member may hold any T*
    if constexpr (kDebugChecks) {
        Span* s = span_of(slot);
        WEFT_CHECK(s != nullptr && s->slot_addr(s->index_of(slot)) == slot,
                   "shade: a Member points inside an object, not at its start");
    }
    if (!h.marks.try_mark(slot)) return;
    size_t spc = cls - 1;
    if (spc == kLargeSpc) [[unlikely]] {
        Span* s = span_of(slot);
        queue_marked<kFromBarrier>(w, obj, static_cast<int64_t>(s->object_bytes()), s->noscan);
        return;
    }
    queue_marked<kFromBarrier>(w, obj, kClasses[spc / 2].size, (spc & 1) != 0);
}

class MarkVisitor final : public Visitor {
public:
    explicit MarkVisitor(GCWork* w) : w_(w) {}
    // Shades what the last trace() reported (drain calls it after each).
    void shade_batch() { take_rest(); }

private:
    void take(const void* const* objs, uint32_t n) override {
        for (uint32_t k = 0; k < n; ++k) shade_object(w_, objs[k]);
    }

    GCWork* w_;
};

}  // namespace

void shade(GCWork* w, const void* obj) { shade_object(w, obj); }

void shade_from_barrier(GCWork* w, const void* obj) { shade_object<true>(w, obj); }

bool shade_conservative(GCWork* w, uintptr_t word) {
    Span* s = span_of(word);
    if (s == nullptr) return false;
    uint32_t i = s->index_of(word);
    if (i >= s->nelems || !s->is_allocated(i)) return false;
    grey(w, s, i);
    return true;
}

namespace {

#if defined(WEFT_ASAN)
// With ASan's fake stacks, a frame's locals may live in a fake frame that
// only a word of the real stack (or of another fake frame) points to.
// Every fake frame reached is scanned once (a worklist with a visited
// list: frames point to each other, so recursion would revisit them
// exponentially often).
__attribute__((no_sanitize("address", "thread"))) void scan_words(GCWork* w, uintptr_t lo, uintptr_t hi,
                                                                    void* fake_stack, ScanHits* hits) {
    std::vector<std::pair<uintptr_t, uintptr_t>> todo{{lo, hi}};
    std::vector<uintptr_t> seen;
    constexpr size_t kMaxFrames = 1 << 16;
    while (!todo.empty()) {
        auto [a, b] = todo.back();
        todo.pop_back();
        for (uintptr_t p = (a + 7) & ~uintptr_t{7}; p + 8 <= b; p += 8) {
            uintptr_t word = *reinterpret_cast<const uintptr_t*>(p);
            if (shade_conservative(w, word) && hits) hits->add(word);
            if (fake_stack == nullptr || seen.size() >= kMaxFrames) continue;
            void* beg = nullptr;
            void* end = nullptr;
            if (!__asan_addr_is_in_fake_stack(fake_stack, reinterpret_cast<void*>(word), &beg, &end)) continue;
            auto fb = reinterpret_cast<uintptr_t>(beg);
            if (std::find(seen.begin(), seen.end(), fb) != seen.end()) continue;
            seen.push_back(fb);
            todo.emplace_back(fb, reinterpret_cast<uintptr_t>(end));
        }
    }
}
#else
__attribute__((no_sanitize("address", "thread"))) void scan_words(GCWork* w, uintptr_t lo, uintptr_t hi, void*,
                                                                    ScanHits* hits) {
    for (uintptr_t p = (lo + 7) & ~uintptr_t{7}; p + 8 <= hi; p += 8) {
        uintptr_t word = *reinterpret_cast<const uintptr_t*>(p);
        if (shade_conservative(w, word) && hits) hits->add(word);
    }
}
#endif

}  // namespace

void scan_range(GCWork* w, uintptr_t lo, uintptr_t hi) { scan_words(w, lo, hi, nullptr, nullptr); }

void scan_stack_range(GCWork* w, uintptr_t lo, uintptr_t hi, void* fake_stack, ScanHits* hits) {
    scan_words(w, lo, hi, fake_stack, hits);
}

namespace {
// Each on a line of its own (see g_full).
alignas(64) std::atomic<int64_t> g_scan_done{0};  // relaxed: a pacing estimate
alignas(64) std::atomic<int32_t> g_drains{0};     // relaxed: a hint (mark.hpp)
}  // namespace

int32_t drains_in_flight() { return g_drains.load(std::memory_order_relaxed); }

int64_t scan_work_done() { return g_scan_done.load(std::memory_order_relaxed); }
void reset_scan_work_done() { g_scan_done.store(0, std::memory_order_relaxed); }

namespace {

// Next grey object of w (refilling from the global list), or null.
inline const void* pop(GCWork* w) {
    WorkBuf* b = w->buf;
    if (b == nullptr || b->n == 0) {
        WorkBuf* f = get_full();
        if (f == nullptr) return nullptr;
        if (b) put_empty(b);
        w->buf = b = f;
    }
    return b->obj[--b->n];
}

// Objects popped ahead of their trace, prefetched: marking is bound by the
// cache misses on each object's first words and on its page's type entry
// (objects have no header), and keeping kPrefetchDepth of them in flight
// overlaps those misses (as Boehm's mark prefetch). Two lines of the
// object: slots of 24 bytes and the like straddle lines, and a second line
// left to trace() stalls it. The objects in the ring stay grey and held by
// this marker (mark.hpp K1); a drain that stops early pushes them back.
constexpr uint32_t kPrefetchDepth = 16;

}  // namespace

int64_t drain(GCWork* w, int64_t budget, DrainUntil until) {
    // A pending stop is polled every kStopPollObjects objects: an object's
    // trace is short (large arrays are the exception; they are not split),
    // so a stop waits for at most that many.
    constexpr uint32_t kStopPollObjects = 8;
    g_drains.fetch_add(1, std::memory_order_relaxed);
    MarkVisitor v(w);
    const MarkBitmap& marks = heap().marks;
    int64_t done = 0;
    uint32_t k = 0;
    const void* ring[kPrefetchDepth];
    uint32_t head = 0;
    uint32_t count = 0;
    for (;;) {
        if (until == DrainUntil::kBudgetOrStop && ++k % kStopPollObjects == 0 && sched::world_stopping()) break;
        while (count < kPrefetchDepth) {
            const void* next = pop(w);
            if (next == nullptr) break;
            __builtin_prefetch(next);
            __builtin_prefetch(static_cast<const char*>(next) + 16);  // the same line unless it straddles
            marks.prefetch_page_type(reinterpret_cast<uintptr_t>(next));
            ring[(head + count++) % kPrefetchDepth] = next;
        }
        if (count == 0) break;
        const void* obj = ring[head];
        head = (head + 1) % kPrefetchDepth;
        --count;
        // The span's type (mark_bitmap.hpp page types): set before the
        // object existed (B3), so never null for a queued object.
        const TypeInfo* t = marks.page_type(reinterpret_cast<uintptr_t>(obj));
        WEFT_DCHECK(t != nullptr, "drain: a grey object on a page with no type (mark_bitmap.hpp B3)");
        if (t->trace) {
            t->trace(obj, v);
            v.shade_batch();
        }
        if (t->slot_bytes != 0) {
            done += t->slot_bytes;
        } else if (Span* s = span_of(reinterpret_cast<uintptr_t>(obj))) {
            done += static_cast<int64_t>(s->object_bytes());
        }
        if (budget >= 0 && done >= budget) break;
    }
    while (count > 0) {  // back on the buffer, still grey (K1)
        push(w, ring[(head + --count) % kPrefetchDepth]);
    }
    g_scan_done.fetch_add(done, std::memory_order_relaxed);
    g_drains.fetch_sub(1, std::memory_order_relaxed);
    return done;
}

void flush(GCWork* w) {
    if (w->buf && w->buf->n > 0) {
        put_full(w->buf);
        w->buf = nullptr;
    }
}

bool has_local_work(const GCWork* w) { return w->buf != nullptr && w->buf->n > 0; }

void flush_if_starved(GCWork* w) {
    if (global_work_empty()) flush(w);
}

bool global_work_empty() { return g_nfull.load(std::memory_order_relaxed) == 0; }

void discard(GCWork* w) {
    if (w->buf) {
        put_empty(w->buf);
        w->buf = nullptr;
    }
    w->marked_bytes = 0;
}

void discard_global() {
    while (WorkBuf* b = get_full()) put_empty(b);
}

GCWork* work_of_current_p() {
    sched::P* p = sched::current_p();
    WEFT_CHECK(p != nullptr, "gc: mark work without a P");
    return static_cast<GCWork*>(p->ext[kExtWork]);
}

void mark_new_object(Span* s, uintptr_t slot) { mark_new_object(work_of_current_p(), s, slot); }

}  // namespace weft::gc::detail
