// roots.cpp — the registry of gc::Root handles.
//
// A doubly linked list under one lock (kGCRoots). The collector walks it
// once per cycle in GCmark, with the barrier on: a Root set before the walk
// is seen by it, one set after shades its value itself (root.hpp).
#include "gc/roots.hpp"

#include "runtime/base/lock.hpp"

namespace weft::gc::detail {

namespace {
base::Lock g_roots_lock{base::LockRank::kGCRoots};
RootNode g_head;  // sentinel
}  // namespace

void root_register(RootNode* n) {
    base::LockGuard l(g_roots_lock);
    n->prev = &g_head;
    n->next = g_head.next;
    if (g_head.next) g_head.next->prev = n;
    g_head.next = n;
}

void root_unregister(RootNode* n) {
    base::LockGuard l(g_roots_lock);
    n->prev->next = n->next;
    if (n->next) n->next->prev = n->prev;
    n->prev = n->next = nullptr;
}

void for_each_root(void (*fn)(const void* obj, void* arg), void* arg) {
    base::LockGuard l(g_roots_lock);
    for (RootNode* n = g_head.next; n; n = n->next)
        // Acquire: pairs with Root::set's release.
        if (const void* p = n->ptr.load(std::memory_order_acquire)) fn(p, arg);
}

}  // namespace weft::gc::detail
