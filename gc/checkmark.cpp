// checkmark.cpp — verify the concurrent marking (as Go's gccheckmark).
//
// A second, stop-the-world traversal from the same roots with its own bits
// (one bitmap per span, indexed like the mark bits). Every object it reaches
// must already carry a mark bit; the first that does not is reported with
// the parent it was reached from, or the root (which fiber's stack or
// closure, a gc::Root, a channel buffer or timer closure), then the process
// dies. The traversal keeps (object, parent) pairs on an explicit
// stack, so deep structures do not recurse.
#include "gc/checkmark.hpp"

#include <cstdio>
#include <unordered_map>
#include <utility>
#include <vector>

#include <weft/internal/external_root.hpp>
#include "gc/heap.hpp"
#include "gc/mark.hpp"
#include "gc/roots.hpp"
#include "runtime/base/fatal.hpp"
#include "sched/collector_support.hpp"
#include "sched/sched.hpp"

namespace weft::gc::detail {

namespace {

struct Checker final : Visitor {
    std::unordered_map<Span*, std::vector<uint64_t>> bits;
    std::vector<std::pair<const void*, const void*>> stack;  // (object, parent)
    const void* parent = nullptr;
    char root[64] = "";  // describes the root being walked (parent == null)

    void reach(Span* s, uint32_t i, const void* from) {
        auto& b = bits[s];
        if (b.empty()) b.resize((s->nelems + 63) / 64);
        uint64_t bit = uint64_t{1} << (i % 64);
        if (b[i / 64] & bit) return;
        b[i / 64] |= bit;
        const void* obj = reinterpret_cast<const void*>(s->slot_addr(i));
        if (!s->is_marked(i)) {
            const Span* ps = from ? span_of(reinterpret_cast<uintptr_t>(from)) : nullptr;
            if (from)
                base::fatal("gccheckmark: object %p (%s, %u bytes) is reachable but was not marked; "
                            "reached from object %p (%s)",
                            obj, s->type->name, s->elemsize, from, ps ? ps->type->name : "?");
            base::fatal("gccheckmark: object %p (%s, %u bytes) is reachable but was not marked; reached from %s", obj,
                        s->type->name, s->elemsize, root);
        }
        if (!s->noscan) stack.emplace_back(obj, from);
    }
    void reach_object(const void* obj) {
        auto a = reinterpret_cast<uintptr_t>(obj);
        if (Span* s = span_of(a)) reach(s, s->index_of(a), parent);
    }
    void take(const void* const* objs, uint32_t n) override {
        for (uint32_t k = 0; k < n; ++k) reach_object(objs[k]);
    }
    void word(uintptr_t w) {
        Span* s = span_of(w);
        if (s == nullptr) return;
        uint32_t i = s->index_of(w);
        if (i < s->nelems && s->is_allocated(i)) reach(s, i, nullptr);
    }
    __attribute__((no_sanitize("address", "thread"))) void range(uintptr_t lo, uintptr_t hi) {
        for (uintptr_t p = (lo + 7) & ~uintptr_t{7}; p + 8 <= hi; p += 8) word(*reinterpret_cast<const uintptr_t*>(p));
    }
    void drain() {
        while (!stack.empty()) {
            auto [obj, from] = stack.back();
            stack.pop_back();
            (void)from;
            parent = obj;
            const TypeInfo* t = heap().marks.page_type(reinterpret_cast<uintptr_t>(obj));
            if (t->trace) {
                t->trace(obj, *this);
                take_rest();
            }
        }
    }
};

}  // namespace

void checkmark_verify(sched::G* self) {
    Checker c;
    struct Arg {
        Checker* c;
        sched::G* self;
    } arg{&c, self};
    sched::for_each_g(
        [](sched::G* g, void* a) {
            auto* x = static_cast<Arg*>(a);
            if (g == x->self) return;
            sched::GStatus was;
            if (!sched::begin_scan_stopped(g, &was)) return;
            auto id = static_cast<unsigned long long>(g->id);
            sched::MemRange r = sched::g_stack_range(g, was);
            std::snprintf(x->c->root, sizeof x->c->root, "the stack of fiber %llu", id);
            if (r.lo < r.hi) x->c->range(r.lo, r.hi);
            sched::MemRange cl = sched::g_closure_range(g);
            std::snprintf(x->c->root, sizeof x->c->root, "the closure of fiber %llu", id);
            if (cl.lo < cl.hi) x->c->range(cl.lo, cl.hi);
            sched::end_scan(g, was);
        },
        &arg);
    std::snprintf(c.root, sizeof c.root, "a gc::Root");
    for_each_root(
        [](const void* obj, void* a) {
            auto* ch = static_cast<Checker*>(a);
            ch->parent = nullptr;
            ch->reach_object(obj);
        },
        &c);
    std::snprintf(c.root, sizeof c.root, "a channel buffer or a pending timer's closure");
    c.parent = nullptr;
    for_each_external_root(
        [](void* a, const void* p, size_t n) {
            auto lo = reinterpret_cast<uintptr_t>(p);
            static_cast<Checker*>(a)->range(lo, lo + n);
        },
        &c);
    c.drain();
}

}  // namespace weft::gc::detail
