// poison.cpp — gcpoison=1 and the destructor check (poison.hpp).
#include "gc/poison.hpp"

#include <atomic>
#include <cstring>

#include <weft/internal/alloc.hpp>
#include <weft/internal/barrier.hpp>
#include "gc/heap.hpp"
#include "runtime/base/fatal.hpp"
#include "sched/fiber.hpp"
#include "sched/m.hpp"
#include "sched/sched.hpp"

namespace weft::gc::detail {

const TypeInfo kDeadType{nullptr, nullptr, "(constructor threw)", 0};
const TypeInfo kPoisonType{nullptr, nullptr, "(freed)", 0};

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

void poison_slot(uintptr_t slot, size_t size, const TypeInfo* old_type) {
    auto* words = reinterpret_cast<uint64_t*>(slot);
    for (size_t i = 2; i < size / 8; ++i) words[i] = kPattern;
    if (size >= 16) std::memcpy(&words[1], &old_type, sizeof old_type);
    reinterpret_cast<ObjectHeader*>(slot)->type.store(&kPoisonType, std::memory_order_relaxed);
}

bool is_poisoned(const void* obj) { return header_of(obj)->type.load(std::memory_order_relaxed) == &kPoisonType; }

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
    if (span_of(reinterpret_cast<uintptr_t>(obj)) == nullptr) return;
    if (is_poisoned(obj)) {
        const TypeInfo* old = nullptr;
        std::memcpy(&old, reinterpret_cast<const char*>(obj), sizeof old);
        base::fatal("gcpoison: use of freed object %p (was %s) through a Member, by fiber %llu", obj,
                    old ? old->name : "?", static_cast<unsigned long long>(sched::fiber_id()));
    }
}

// On the G, not the thread: a destructor that broke the rule and parked
// would resume elsewhere (and call_context.hpp reports such a park).
DestructorScope::DestructorScope() : g_(sched::current_g()) {
    if (g_) ++g_->in_gc_destructor;
}
DestructorScope::~DestructorScope() {
    if (g_) --g_->in_gc_destructor;
}

void constructor_threw(void* obj) { header_of(obj)->type.store(&kDeadType, std::memory_order_relaxed); }

}  // namespace weft::gc::detail
