// type_info.hpp — what the collector knows about an object's type, and the
// object header that points to it. weft::gc::detail: inline internals.
//
// Object layout (every GC object, small or large):
//
//   slot start   +0   ObjectHeader   const TypeInfo* (atomic), 8 bytes
//                +8   the object     T, 8-byte aligned
//
// The header is written before the constructor runs (so a concurrent
// tracer of a white object found on a stack sees a type whose Members read
// as null, the memory being zeroed) and replaced by kDeadType if the
// constructor throws (the slot is then garbage with nothing to destroy).
#pragma once

#include <atomic>
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
    // The slot every object of this type takes (its size class, header
    // included), so a marker counts its work without finding the span; 0
    // when objects of the type differ in size (arrays) or are large.
    uint32_t slot_bytes;
};

struct ObjectHeader {
    // Relaxed loads and stores suffice: the header is written by the
    // allocating fiber before the object's address can reach anyone else
    // (published by a release store of a Member, a channel hand-off or a
    // status CAS before a stack scan), so readers are ordered after it.
    std::atomic<const TypeInfo*> type;
};
static_assert(sizeof(ObjectHeader) == 8);

inline constexpr size_t kHeaderSize = sizeof(ObjectHeader);

extern const TypeInfo kDeadType;

inline ObjectHeader* header_of(const void* obj) {
    return reinterpret_cast<ObjectHeader*>(reinterpret_cast<uintptr_t>(obj) - kHeaderSize);
}
inline void* object_of(uintptr_t slot) { return reinterpret_cast<void*>(slot + kHeaderSize); }

}  // namespace detail
}  // namespace weft::gc
