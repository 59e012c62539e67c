// external_root.cpp — the registry of ExternalRoots: a doubly linked list
// under one lock, walked once per cycle (and by checkmark).
#include "gc/external_root.hpp"

#include "runtime/base/lock.hpp"

namespace weft::gc::detail {

namespace {
base::Lock g_lock{base::LockRank::kGCExternalRoots};
ExternalRoot g_head;  // sentinel
}  // namespace

void external_root_register(ExternalRoot* r) {
    base::LockGuard l(g_lock);
    r->prev = &g_head;
    r->next = g_head.next;
    if (g_head.next) g_head.next->prev = r;
    g_head.next = r;
}

void external_root_unregister(ExternalRoot* r) {
    base::LockGuard l(g_lock);
    r->prev->next = r->next;
    if (r->next) r->next->prev = r->prev;
    r->prev = r->next = nullptr;
}

void for_each_external_root(ExternalRoot::RangeFn range, void* ctx) {
    base::LockGuard l(g_lock);
    for (ExternalRoot* r = g_head.next; r; r = r->next) r->scan(r, range, ctx);
}

}  // namespace weft::gc::detail
