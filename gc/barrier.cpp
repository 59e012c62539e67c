// barrier.cpp — the write barrier's slow path (docs/DESIGN.md, Collector).
//
// Reached only while g_barrier_on (GCmark, GCmarktermination):
//   1. no P on this M -> fatal "write barrier without P". A thread without
//      a P is in a system call, returning from one, stopped for a stop-the-
//      world, or not a runtime thread at all: shading there could mark an
//      object after mark termination has decided it is done (the race
//      issue #5 defends against). Always on, not only in debug builds.
//      Except in the fault_late_shade build (meson option), which exists to
//      prove the tests able to fail: there such a barrier shades as the old
//      bug did, marking at once and queueing late (shade_from_barrier
//      without a buffer, after the kBarrierMarked hook).
//   2. inwb already set (a barrier inside a barrier: a hook, a signal
//      handler): shade directly, without running anything that could
//      barrier again — the shade is not lost, the recursion is.
//   3. else set inwb, shade the new value unconditionally (no "is the slot
//      already shaded" test: without a StoreLoad fence that test is racy
//      under concurrent marking); if the global work list is empty, publish
//      the P's buffer (mark.hpp flush_if_starved); clear inwb. The caller
//      then stores.
#include <weft/internal/barrier.hpp>

#include "gc/mark.hpp"
#include "gc/phase.hpp"
#include "runtime/base/fatal.hpp"
#include "runtime/base/test_hooks.hpp"
#include "sched/collector_support.hpp"
#include "sched/sched.hpp"

namespace weft::gc::detail {

// Read by every reference store: a cache line that no often-written
// variable shares (alignas here, and on the written ones, mark.cpp).
alignas(64) std::atomic<bool> g_barrier_on{false};

namespace {

// Step 1; returns the M and the P's work, or fatal (null work: no P, in
// the fault_late_shade build).
inline GCWork* barrier_work(sched::M*& m) {
    m = sched::getm();
#if defined(WEFT_FAULT_LATE_SHADE)
    if (m != nullptr && m->p == nullptr) return nullptr;
#endif
    if (m == nullptr || m->p == nullptr) [[unlikely]]
        base::fatal("write barrier without P (M %lld, phase %s): a GC reference was stored on a thread that holds no "
                    "processor",
                    m ? static_cast<long long>(m->id) : -1LL, phase_name(phase()));
    return static_cast<GCWork*>(m->p->ext[kExtWork]);
}

// Relaxed: a test counter; only how many shades are skipped matters.
inline bool skip_for_test() {
    if constexpr (!base::kTestHooks) return false;
    if (g_skip_barrier_shades.load(std::memory_order_relaxed) <= 0) return false;
    return g_skip_barrier_shades.fetch_sub(1, std::memory_order_relaxed) > 0;
}

}  // namespace

void barrier_slow(const void* obj) {
    sched::M* m;
    GCWork* w = barrier_work(m);
    if (obj == nullptr) return;
    if (w == nullptr) {  // fault_late_shade only (step 1)
        shade_from_barrier(nullptr, obj);
        return;
    }
    if (m->inwb) {  // step 2
        shade(w, obj);
        return;
    }
    m->inwb = true;  // step 3
    base::test_hook(base::HookPoint::kBarrierEnter, 0, obj);
    if (!skip_for_test()) shade_from_barrier(w, obj);
    flush_if_starved(w);
    m->inwb = false;
}

void barrier_range_slow(const void* p, size_t n) {
    sched::M* m;
    GCWork* w = barrier_work(m);
    if (w == nullptr) base::fatal("write barrier without P: a range barrier (fault_late_shade build)");
    auto lo = reinterpret_cast<uintptr_t>(p);
    bool nested = m->inwb;
    m->inwb = true;
    scan_range(w, lo, lo + n);
    flush_if_starved(w);
    m->inwb = nested;
}

}  // namespace weft::gc::detail
