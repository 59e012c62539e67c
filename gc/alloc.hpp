// alloc.hpp — the allocation entry (weft::gc::detail): what gc::make and
// the GC containers call. Part of the internal layer users' builds see
// (docs/DESIGN.md, "The public tier"); the allocator behind it (spans,
// caches, the pacer) is gc/alloc.cpp's and gc/heap.hpp's, private.
//
// From a fiber only. What an allocation does (alloc.cpp):
//   1. the object's size rounded to a size class; larger ones get a span;
//   2. the next free slot of the P's span for that class and type (objects
//      have no header: a span holds one type, heap.hpp);
//   3. the object zeroed, the slot published to scanners; while marking it
//      is born black;
//   4. otherwise a refill: sweep/reuse/grow a span, pay the mark-assist or
//      sweep debt, maybe start a cycle;
//   5. a refill (and a large allocation) owes a safe point, which gc::make
//      takes once no constructor of the fiber is running: a fiber that
//      allocates without ever blocking still yields to the collector every
//      span's worth of allocation. Never inside the allocation: a stack scan
//      there would find an object whose constructor has not run, and the
//      collector would trace it while the constructor writes it.
#pragma once

#include <cstddef>
#include <cstdint>

#include <weft/internal/size_class.hpp>
#include <weft/internal/type_info.hpp>

namespace weft::gc::detail {

// The calling fiber's gc::make constructors in progress (G::gc_constructing):
// the low bits count them, kSafePointOwed is set by an allocation that owes
// the safe point (step 5) and cleared when it is taken.
inline constexpr uint32_t kSafePointOwed = uint32_t{1} << 31;

struct MakeSlot {
    void* mem;               // zeroed room for the object
    uint32_t* constructing;  // the fiber's count, which gc::make raises around the constructor
};

// The span class of a small object of `size` bytes:
// size class * 2 + noscan; kLargeObject above kMaxSmallSize. A constant
// for gc::make, so the entry does not look the class up.
inline constexpr uint32_t kLargeObject = UINT32_MAX;
constexpr uint32_t span_class_for(size_t size, bool noscan) {
    return size <= kMaxSmallSize ? static_cast<uint32_t>(size_to_class(size) * 2 + (noscan ? 1 : 0)) : kLargeObject;
}

// gc::make's allocation (spc = span_class_for(size, noscan)): fatal
// (naming type->name) outside a fiber or in a destructor the collector
// runs. The caller raises the fiber's constructor count before the
// constructor and lowers it after (the count stays with the fiber if the
// constructor parks and resumes on another thread).
MakeSlot allocate_for_make(size_t size, uint32_t spc, const TypeInfo* type, bool noscan);
// A container's array: no constructor count, no safe point.
void* allocate(size_t size, const TypeInfo* type, bool noscan);
// The owed safe point, once no constructor runs (*constructing ==
// kSafePointOwed): clears the flag and yields if the fiber was asked to.
void take_owed_safe_point(uint32_t* constructing);
// The constructor of the object at obj threw: the slot becomes garbage
// with nothing to destroy.
void constructor_threw(void* obj);

}  // namespace weft::gc::detail
