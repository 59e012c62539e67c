// roots.hpp — walking the Root registry (private to gc/).
#pragma once

#include <weft/gc/root.hpp>

namespace weft::gc::detail {

// Calls fn for every non-null Root value (under the registry lock: fn must
// not register or unregister Roots).
void for_each_root(void (*fn)(const void* obj, void* arg), void* arg);

}  // namespace weft::gc::detail
