// type_info.hpp — what the collector knows about an object's type.
// weft::gc::detail: inline internals.
//
// Objects carry no header: a slot holds the object alone, from its first
// byte. Every span holds objects of one type (heap.hpp), so the type is the
// span's, and the markers find it from an address alone, in the heap's
// per-page type table (mark_bitmap.hpp), written when the span is set up,
// before its first object exists.
#pragma once

#include <cstddef>
#include <cstdint>

namespace weft::gc {

class Visitor;

namespace detail {

struct TypeInfo {
    // Visits the object's references; null for types without trace() (their
    // objects live in no-scan spans and are never traced).
    void (*trace)(const void* obj, Visitor& v);
    // Runs the destructor; null when trivially destructible.
    void (*destroy)(void* obj);
    const char* name;  // for diagnostics (checkmark, poison reports)
    // The slot every object of this type takes (its size class), so a
    // marker counts its work without finding the span; 0 when objects of
    // the type differ in size (arrays) or are large.
    uint32_t slot_bytes;
};

}  // namespace detail
}  // namespace weft::gc
