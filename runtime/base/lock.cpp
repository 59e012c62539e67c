// lock.cpp — see lock.hpp; rank checking per lock_rank.hpp.
#include <weft/internal/lock.hpp>

#include "runtime/base/check.hpp"
#include "runtime/base/cpu_relax.hpp"
#include "runtime/base/futex.hpp"

namespace weft::base {

const char* lock_rank_name(LockRank r) {
    switch (r) {
        case LockRank::kGCExternalRoots: return "gc external roots";
        case LockRank::kSudog: return "sudog";
        case LockRank::kPollDesc: return "polldesc";
        case LockRank::kSched: return "sched";
        case LockRank::kAllG: return "allg";
        case LockRank::kTimers: return "timers";
        case LockRank::kGFree: return "gfree";
        case LockRank::kGCRoots: return "gc roots";
        case LockRank::kGCWork: return "gc work";
        case LockRank::kMCentral: return "mcentral";
        case LockRank::kMHeap: return "mheap";
        case LockRank::kLeaf: return "leaf";
        case LockRank::kTrace: return "trace";
    }
    return "?";
}

#if defined(WEFT_DEBUG_CHECKS)
namespace {
// Per OS thread: locks never cross a fiber switch, so this cannot go stale.
// An entry is one lock (count 1, low == high) or a run of locks of one
// rank taken in increasing address order by lock_ordered (a select over
// many channels holds one per channel: a run keeps that in one entry).
// The run is known by its address range and count only, so releasing a
// lock inside the range that was not taken would pass unnoticed, and its
// high end stays where it was when locks are released (checks stay
// conservative: select releases a run all at once).
struct Entry {
    const Lock* low;
    const Lock* high;
    uint32_t count;
};
constexpr int kMaxEntries = 16;
struct Held {
    Entry e[kMaxEntries];
    int n = 0;
};
thread_local Held t_held;

void push(const Lock* l) {
    WEFT_CHECK(t_held.n < kMaxEntries, "too many runtime locks held");
    t_held.e[t_held.n++] = {l, l, 1};
}

void check_order(const Lock* l, bool ordered) {
    for (int i = 0; i < t_held.n; i++) {
        const Entry& h = t_held.e[i];
        bool ok = static_cast<int>(h.high->rank()) < static_cast<int>(l->rank()) ||
                  (ordered && h.high->rank() == l->rank() && h.high < l);
        if (!ok)
            fatal("lock order violation: acquiring %s while holding %s", lock_rank_name(l->rank()),
                  lock_rank_name(h.high->rank()));
    }
}
}  // namespace

void rank_acquire(const Lock* l) {
    check_order(l, false);
    push(l);
}

void rank_acquire_ordered(const Lock* l) {
    check_order(l, true);
    if (t_held.n > 0) {
        Entry& top = t_held.e[t_held.n - 1];
        if (top.high->rank() == l->rank()) {  // extends the run (check_order: top.high < l)
            top.high = l;
            top.count++;
            return;
        }
    }
    push(l);
}

void rank_release(const Lock* l) {
    for (int i = t_held.n - 1; i >= 0; i--) {
        Entry& h = t_held.e[i];
        if (h.low->rank() != l->rank() || l < h.low || l > h.high) continue;
        if (--h.count > 0) return;
        for (int j = i; j + 1 < t_held.n; j++) t_held.e[j] = t_held.e[j + 1];
        t_held.n--;
        return;
    }
    fatal("unlock of a runtime lock (%s) this thread does not hold", lock_rank_name(l->rank()));
}
#else
void rank_acquire(const Lock*) {}
void rank_release(const Lock*) {}
void rank_acquire_ordered(const Lock*) {}
#endif

void Lock::lock() {
    rank_acquire(this);
    uint32_t expected = 0;
    // Acquire on success: the critical section may not move above the lock.
    if (state_.compare_exchange_strong(expected, 1, std::memory_order_acquire)) return;
    lock_slow();
}

void Lock::lock_ordered() {
    rank_acquire_ordered(this);
    uint32_t expected = 0;
    if (state_.compare_exchange_strong(expected, 1, std::memory_order_acquire)) return;
    lock_slow();
}

bool Lock::try_lock() {
    uint32_t expected = 0;
    if (!state_.compare_exchange_strong(expected, 1, std::memory_order_acquire)) return false;
    rank_acquire(this);
    return true;
}

void Lock::lock_slow() {
    // Spin briefly: critical sections are short and the holder is running.
    for (int i = 0; i < 64; i++) {
        uint32_t expected = 0;
        if (state_.load(std::memory_order_relaxed) == 0 &&
            state_.compare_exchange_weak(expected, 1, std::memory_order_acquire))
            return;
        cpu_relax();
    }
    // Mark "contended" (2) so the unlocker knows to wake someone.
    while (state_.exchange(2, std::memory_order_acquire) != 0) futex_wait(&state_, 2);
}

void Lock::unlock() {
    rank_release(this);
    // Release: the critical section's writes are visible to the next owner.
    if (state_.exchange(0, std::memory_order_release) == 2) futex_wake(&state_, 1);
}

}  // namespace weft::base
