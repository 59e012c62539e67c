// mark.hpp — grey objects, work buffers, scanning (as Go's mgcmark.go and
// mgcwork.go). Private to gc/.
//
// Colours: white = mark bit clear; grey = mark bit set and the object on
// some work buffer (or about to be); black = mark bit set and traced.
// Shading is the atomic white->grey transition on the object's mark bit
// (mark_bitmap.hpp, found from the address alone); whoever wins it queues
// the object unless its span is no-scan (then it is black at once).
//
// Work lives in fixed-size buffers. Each P owns a GCWork (P::ext[kExtWork])
// with a current buffer; full buffers go to a global list, empty ones to a
// global free list (both under one lock, kGCWork). Only the M holding the P
// touches its GCWork, or anyone while the world is stopped.
//
// Invariants
//   K1 a grey object is on exactly one buffer (per-P or global), or held by
//      the one marker that popped it and will trace it.
//   K2 marking is done only when every per-P buffer and the global list are
//      empty with the world stopped (collector.cpp checks it so).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <weft/gc/visitor.hpp>
#include "gc/heap.hpp"

namespace weft::gc::detail {

struct WorkBuf {
    static constexpr uint32_t kCap = 254;
    WorkBuf* next = nullptr;
    uint32_t n = 0;
    const void* obj[kCap];
};

struct GCWork {
    WorkBuf* buf = nullptr;
    int64_t marked_bytes = 0;  // bytes this P shaded this cycle
};

// Object start for a pointer to an object (as from a Member): shade it.
void shade(GCWork* w, const void* obj);
// The write barrier's shade: as shade, with the test hook kBarrierMarked
// between marking obj and queueing it. w null (only in the
// fault_late_shade build: a barrier on an M without a P): queued straight
// onto the global list.
void shade_from_barrier(GCWork* w, const void* obj);
// Any word: if it points into an allocated slot, shade that object and
// return true.
bool shade_conservative(GCWork* w, uintptr_t word);
// Every 8-byte-aligned word of [lo, hi), conservatively. Reads memory a
// fiber may be writing in a system call: not instrumented by the sanitizers.
void scan_range(GCWork* w, uintptr_t lo, uintptr_t hi);

// The distinct words of a stack scan that pointed into allocated objects,
// up to cap of them (stack_scan.cpp keeps them in the G).
struct ScanHits {
    uintptr_t* words;
    uint32_t cap;
    uint32_t n = 0;
    bool overflow = false;
    void add(uintptr_t word) {
        if (overflow) return;  // no summary any more: the rest is moot
        for (uint32_t k = 0; k < n; ++k)
            if (words[k] == word) return;
        if (n == cap) overflow = true;
        else words[n++] = word;
    }
};

// A fiber's stack: as scan_range, also following words into the fiber's
// ASan fake stack (locals moved off the real stack), when there is one.
// With hits: records the words that shaded (or found marked) an object.
void scan_stack_range(GCWork* w, uintptr_t lo, uintptr_t hi, void* fake_stack, ScanHits* hits = nullptr);

// When a drain gives up early.
enum class DrainUntil {
    kBudget,         // budget spent or no work left (the world is stopped, or the caller is the stopper)
    kBudgetOrStop,   // also as soon as a stop-the-world is pending: a mutator's
                     // assist or an idle P must not keep the stop waiting
};

// Traces up to budget bytes of grey objects from w (refilling from the
// global list); returns bytes traced. budget < 0: until no work is left.
int64_t drain(GCWork* w, int64_t budget, DrainUntil until = DrainUntil::kBudget);
// Drains running now (assists, idle Ps, the collector's): a hint (relaxed)
// for when to try termination, whose stopped world decides (K2).
int32_t drains_in_flight();
// Bytes traced by every drain since the last reset (the pacer's measure of
// mark progress; reset with the world stopped at a cycle's start).
int64_t scan_work_done();
void reset_scan_work_done();
// Moves w's buffer to the global list (so another P can take it).
void flush(GCWork* w);
// w holds grey objects of its own.
bool has_local_work(const GCWork* w);
// Flushes w if the global list is empty: grey objects a mutator's barrier
// leaves in its P's buffer are otherwise invisible to the collector fiber
// until a termination attempt stops the world to find them.
void flush_if_starved(GCWork* w);
bool global_work_empty();
// Drops every buffer (cycle abandoned at shutdown).
void discard(GCWork* w);
void discard_global();

// Allocate black: a new object is marked and never queued (it holds only
// references stored after this point, each shaded by the barrier); counted
// on w, the allocating P's work. slot is the object's slot in s (the mark
// bits are addressed by it: the allocator has it already).
inline void mark_new_object(GCWork* w, Span* s, uintptr_t slot) {
    if (heap().marks.try_mark(slot)) w->marked_bytes += static_cast<int64_t>(s->object_bytes());
}

// The P's GCWork (the caller holds the P).
GCWork* work_of_current_p();

// Test switch: skip the next n shades done by the write barrier (collector
// tests plant a lost object this way; checkmark must catch it). Honoured
// only in builds with test hooks (runtime/base/test_hooks.hpp).
extern std::atomic<int> g_skip_barrier_shades;

}  // namespace weft::gc::detail
