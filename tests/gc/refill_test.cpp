// Allocation's refill (gc/heap.cpp): how much sweeping one refill may do
// before it grows the heap instead.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#include <weft/internal/size_class.hpp>
#include <weft/weft.hpp>
#include "gc/heap.hpp"
#include "gc/phase.hpp"
#include "hold_collector.hpp"
#include "runtime/base/test_hooks.hpp"

using namespace gctest;  // NOLINT: HeldCycle, hold_at_phase
using weft::base::HookEvent;
using weft::base::HookPoint;
using weft::gc::detail::Phase;

namespace {

namespace gc = weft::gc;

// Two to a one-page span (the 3808-byte class), which no other test of
// this binary allocates: 400 full spans cost 800 objects.
struct Slab {
    gc::Member<Slab> next;
    char pad[3700] = {};
    void trace(gc::Visitor& v) const { v.visit(next); }
};

constexpr uint32_t kSlabClass = weft::gc::detail::size_to_class(sizeof(Slab));
static_assert(weft::gc::detail::kClasses[kSlabClass].npages == 1 && weft::gc::detail::kClasses[kSlabClass].nelems == 2);
constexpr size_t kSlabSpc = size_t{kSlabClass} * 2;  // has references: not no-scan

// The most spans one refill of Slab's class swept, and how many refills of
// it took a span after sweeping at least one.
std::atomic<uint64_t> g_most_swept{0};
std::atomic<int> g_refills_that_swept{0};

void hook(const HookEvent& e) {
    if (hold_at_phase(e)) return;
    if (e.point != HookPoint::kRefillSwept) return;
    if (e.obj != weft::gc::detail::central_for(&weft::gc::detail::kTypeInfoFor<Slab>, kSlabSpc)) return;
    uint64_t prev = g_most_swept.load();
    while (e.arg > prev && !g_most_swept.compare_exchange_weak(prev, e.arg)) {
    }
    if (e.arg > 0) g_refills_that_swept.fetch_add(1);
}

struct HookScope : HookInstalled {
    HookScope() : HookInstalled(&hook) {}
};

int chain_length(const Slab* s) {
    int n = 0;
    for (; s != nullptr; s = s->next.get()) ++n;
    return n;
}

}  // namespace

// Before the budget, the first refill that found no partial span swept the
// class's whole unswept full list (here 400 spans; 12K spans, 18 ms, in W7
// at 100,000 idle fibers) with a P held and no safe point.
TEST_CASE("a refill sweeps at most 100 spans full of live objects, then grows the heap") {
    if (!weft::base::kTestHooks) return;
    weft::run({.procs = 1}, [] {
        constexpr int kFullSpans = 400;
        static gc::Root<Slab> chain;
        for (int i = 0; i < kFullSpans * 2; ++i) {
            Slab* s = gc::make<Slab>();
            s->next = chain.get();
            chain = s;
        }
        gc::collect();  // every span of the chain swept and full
        g_most_swept = 0;
        g_refills_that_swept = 0;
        {
            HookScope hooks;
            // The next cycle marks the whole chain and is held as it enters
            // GCsweep: its spans are all unswept, all full of live objects.
            HeldCycle cycle(Phase::kSweep);
            // Garbage of the same class: the refills use up whatever partial
            // spans there are, then reach the full list.
            for (int i = 0; i < kFullSpans * 2; ++i) gc::make<Slab>();
            cycle.release();
        }
        CHECK(g_refills_that_swept.load() > 0);  // the full list was reached
        CHECK(g_most_swept.load() <= 100);
        CHECK(chain_length(chain.get()) == kFullSpans * 2);
        chain = nullptr;
        // The garbage above put the heap past its trigger: a cycle started
        // now would still be scanning when run() returns, and a fiber
        // abandoned at exit leaks its locals (LeakSanitizer). One full
        // collection leaves the heap far under the next trigger.
        gc::collect();
    });
}
