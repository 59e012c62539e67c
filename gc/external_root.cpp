// external_root.cpp — the registry of ExternalRoots (root_registry.hpp),
// walked once per cycle (and by checkmark).
#include <weft/internal/external_root.hpp>

#include "gc/root_registry.hpp"

namespace weft::gc::detail {

namespace {
constinit RootRegistry<ExternalRoot> g_external{base::LockRank::kGCExternalRoots};
}  // namespace

void external_root_register(ExternalRoot* r) { g_external.add(r); }

void external_root_unregister(ExternalRoot* r) { g_external.remove(r); }

void for_each_external_root(ExternalRoot::RangeFn range, void* ctx) {
    g_external.for_each([&](ExternalRoot* r) { r->scan(r, range, ctx); });
}

}  // namespace weft::gc::detail
