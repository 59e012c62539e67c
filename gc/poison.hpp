// poison.hpp — gcpoison=1 and the debug check that destructors run by the
// collector touch no GC object (weft::gc::detail; poison.cpp).
//
// Under gcpoison a swept slot is filled with a pattern and its span stays
// with its type even when empty (sweep.cpp); Member loads are checked
// (barrier.hpp g_checked_loads) and a load of a slot no longer allocated
// is fatal, naming the object and its type (the span's).
#pragma once

#include <cstddef>
#include <cstdint>

#include <weft/internal/type_info.hpp>
#include "sched/g.hpp"

namespace weft::gc::detail {

bool poison_enabled();
void set_poison(bool on);
void poison_slot(uintptr_t slot, size_t size);

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
