// roots.cpp — the registry of gc::Root handles.
//
// A RootRegistry (root_registry.hpp, lock kGCRoots). The collector walks it
// once per cycle in GCmark, with the barrier on: a Root set before the walk
// is seen by it, one set after shades its value itself (root.hpp).
#include "gc/roots.hpp"

#include "gc/root_registry.hpp"

namespace weft::gc::detail {

namespace {
constinit RootRegistry<RootNode> g_roots{base::LockRank::kGCRoots};
}  // namespace

void root_register(RootNode* n) { g_roots.add(n); }

void root_unregister(RootNode* n) { g_roots.remove(n); }

void for_each_root(void (*fn)(const void* obj, void* arg), void* arg) {
    g_roots.for_each([&](RootNode* n) {
        // Acquire: pairs with Root::set's release.
        if (const void* p = n->ptr.load(std::memory_order_acquire)) fn(p, arg);
    });
}

}  // namespace weft::gc::detail
