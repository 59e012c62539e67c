// poison.cpp — gcpoison=1 and the destructor check (poison.hpp).
#include "gc/poison.hpp"

#include <atomic>

#include <weft/internal/alloc.hpp>
#include <weft/internal/barrier.hpp>
#include "gc/heap.hpp"
#include "runtime/base/check.hpp"
#include "runtime/base/fatal.hpp"
#include "sched/fiber.hpp"
#include "sched/m.hpp"
#include "sched/sched.hpp"

namespace weft::gc::detail {

#if defined(WEFT_DEBUG_CHECKS)
alignas(64) std::atomic<bool> g_checked_loads{true};  // read by every Member load: see barrier.cpp
#else
alignas(64) std::atomic<bool> g_checked_loads{false};  // read by every Member load: see barrier.cpp
#endif

namespace {
// Relaxed (here and g_checked_loads): set at run start before any fiber
// runs, so thread creation orders it.
std::atomic<bool> g_poison{false};
constexpr uint64_t kPattern = 0xdeadbeefdeadbeefULL;
}  // namespace

bool poison_enabled() { return g_poison.load(std::memory_order_relaxed); }

void set_poison(bool on) {
    g_poison.store(on, std::memory_order_relaxed);
#if !defined(WEFT_DEBUG_CHECKS)
    g_checked_loads.store(on, std::memory_order_relaxed);
#endif
}

void poison_slot(uintptr_t slot, size_t size) {
    auto* words = reinterpret_cast<uint64_t*>(slot);
    for (size_t i = 0; i < size / 8; ++i) words[i] = kPattern;
}

void check_load(const void* obj) {
    // A fiber inside weft::blocking: its M gave its P up, and the frames
    // of the blocking function are never scanned (the scan starts at
    // syscall_sp, above them). A reference loaded there can be the only
    // one left once a barriered store overwrites its heap copy: Dijkstra
    // shades the new value, not the old, so the object is freed while the
    // call still uses it.
    // Relaxed: curg is this thread's own M's.
    sched::M* m = sched::getm();
    if (m != nullptr && m->p == nullptr && m->curg.load(std::memory_order_relaxed) != nullptr)
        base::fatal("gc: fiber %llu loaded a Member (object %p) inside weft::blocking, where the collector cannot "
                    "see the reference: load it before the call (blocking.hpp)",
                    static_cast<unsigned long long>(sched::fiber_id()), obj);
    sched::G* g = m != nullptr ? m->curg.load(std::memory_order_relaxed) : nullptr;
    if (g != nullptr && g->in_gc_destructor != 0)
        base::fatal("gc: a destructor run by the collector loaded a Member (object %p): destructors must not touch "
                    "other GC objects",
                    obj);
    if (!g_poison.load(std::memory_order_relaxed)) return;
    auto a = reinterpret_cast<uintptr_t>(obj);
    Span* s = span_of(a);
    if (s == nullptr) return;
    // A slot no longer allocated was swept (freed and poisoned): under
    // gcpoison its span keeps its type and pages (sweep.cpp), so the name is
    // the freed object's.
    uint32_t i = s->index_of(a);
    if (i < s->nelems && !s->is_allocated(i))
        base::fatal("gcpoison: use of freed object %p (was %s) through a Member, by fiber %llu", obj, s->type->name,
                    static_cast<unsigned long long>(sched::fiber_id()));
}

// On the G, not the thread: a destructor that broke the rule and parked
// would resume elsewhere (and call_context.hpp reports such a park).
DestructorScope::DestructorScope() : g_(sched::current_g()) {
    if (g_) ++g_->in_gc_destructor;
}
DestructorScope::~DestructorScope() {
    if (g_) --g_->in_gc_destructor;
}

void constructor_threw(void* obj) {
    auto a = reinterpret_cast<uintptr_t>(obj);
    Span* s = span_of(a);
    WEFT_CHECK(s != nullptr, "constructor_threw: the object is in no span");
    // Back to zero bytes, what a tracer of a half-built object may see
    // (gc.hpp, "Constructors"): the unwinding destroyed the fields the
    // constructor had built, and a conservative word may still reach the
    // slot. Word stores, atomic: a marker may be tracing it now. Relaxed:
    // whichever value a tracer reads, zero or what the constructor left (a
    // null or a reference to a GC object still allocated), is one it may
    // shade, as with any half-built object; the next cycle reads zeros.
    size_t bytes = s->large ? s->npages * kPageSize : s->elemsize;
    auto* words = reinterpret_cast<uint64_t*>(a);
    for (size_t k = 0; k < bytes / 8; ++k) std::atomic_ref<uint64_t>(words[k]).store(0, std::memory_order_relaxed);
    if (s->type->destroy != nullptr) note_constructor_threw(s, s->index_of(a));
}

}  // namespace weft::gc::detail
