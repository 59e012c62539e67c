// poison.hpp — gcpoison=1 and the debug check that destructors run by the
// collector touch no GC object (weft::gc::detail; poison.cpp).
//
// Under gcpoison a swept slot keeps a header pointing at kPoisonType, its
// old type in the next word and a fill pattern after; Member loads are
// checked (barrier.hpp g_checked_loads) and a load of a poisoned object is
// fatal, naming the object and its old type.
#pragma once

#include <cstddef>
#include <cstdint>

#include <weft/internal/type_info.hpp>
#include "sched/g.hpp"

namespace weft::gc::detail {

extern const TypeInfo kPoisonType;
bool poison_enabled();
void set_poison(bool on);
void poison_slot(uintptr_t slot, size_t size, const TypeInfo* old_type);
bool is_poisoned(const void* obj);

// Marks the fiber as running a collector-run destructor (G::in_gc_destructor):
// blocking, yielding, gc::make and gc::collect inside are fatal, and so
// is a Member load in debug builds.
class DestructorScope {
public:
    DestructorScope();
    ~DestructorScope();
    DestructorScope(const DestructorScope&) = delete;
    DestructorScope& operator=(const DestructorScope&) = delete;

private:
    sched::G* g_;
};

}  // namespace weft::gc::detail
