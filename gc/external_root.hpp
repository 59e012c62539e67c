// external_root.hpp — memory outside the GC heap and fiber stacks where the
// runtime itself keeps values that may hold GC references: the rings of
// buffered channels and the closures of pending timers (weft::detail).
//
// The owner embeds an ExternalRoot, registers it while the memory may hold
// references and unregisters it before freeing the memory. Once per cycle,
// in GCmark with the barrier on, the collector calls scan() for every
// registered root; scan reports the live bytes through `range` (words that
// point into the heap are shaded, conservatively), taking whatever lock
// guards the memory. Between scans the owner keeps the Dijkstra invariant
// itself: every value it copies into the memory while the barrier is on is
// shaded with write_barrier_range (barrier.hpp), and a root registered
// while the barrier is on shades its initial contents the same way.
//
// Lock order: the registry lock (kGCExternalRoots) is taken before the
// owner's lock inside scan(), so the owner must not register or unregister
// while holding a lock of rank <= kGCExternalRoots.
#pragma once

#include <chrono>
#include <cstddef>
#include <type_traits>

namespace weft::gc::detail {

template <class T>
struct IsChrono : std::false_type {};
template <class R, class P>
struct IsChrono<std::chrono::duration<R, P>> : std::true_type {};
template <class C, class D>
struct IsChrono<std::chrono::time_point<C, D>> : std::true_type {};

// Whether a value of type T may hold a GC reference, as far as the type
// tells: anything narrower than a pointer, arithmetic, an enum or a
// std::chrono type cannot, so channels of such elements and timers with such
// closures skip the registry (and the barrier) entirely.
template <class T>
inline constexpr bool kMayHoldRefs =
    sizeof(T) >= sizeof(void*) && !std::is_arithmetic_v<T> && !std::is_enum_v<T> && !IsChrono<T>::value;

struct ExternalRoot {
    using RangeFn = void (*)(void* ctx, const void* p, size_t n);
    // Reports every byte range of live values (under the owner's lock).
    void (*scan)(ExternalRoot* self, RangeFn range, void* ctx) = nullptr;
    ExternalRoot* prev = nullptr;
    ExternalRoot* next = nullptr;
};

// From any thread. scan must be set before registering.
void external_root_register(ExternalRoot* r);
void external_root_unregister(ExternalRoot* r);

// The collector's walk (GCmark, and checkmark with the world stopped).
void for_each_external_root(ExternalRoot::RangeFn range, void* ctx);

}  // namespace weft::gc::detail
