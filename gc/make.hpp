// make.hpp — gc::make<T>(args...): a new object on the collected heap.
//
// From a fiber (the allocator uses the fiber's P). The memory is zeroed
// before T's constructor runs. If the constructor throws, the slot is
// simply garbage (nothing is destroyed). Returns a plain T*: keep it on the
// stack, in a Member or in a Root (gc.hpp says what keeps objects alive).
#pragma once

#include <array>
#include <cstddef>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

#include "gc/alloc.hpp"
#include "gc/type_info.hpp"
#include "gc/visitor.hpp"

namespace weft::gc {

namespace detail {

// T's name as the compiler spells it ("app::Node"), for diagnostics: cut
// out of GCC's/Clang's __PRETTY_FUNCTION__ ("... [with T = app::Node; ...]"
// or "... [T = app::Node]") at compile time.
template <class T>
struct TypeName {
    static constexpr std::string_view pretty() { return __PRETTY_FUNCTION__; }
    static constexpr auto make() {
        constexpr std::string_view f = pretty();
        constexpr size_t b = f.find("T = ") == std::string_view::npos ? 0 : f.find("T = ") + 4;
        constexpr size_t e = f.find_first_of(";]", b) == std::string_view::npos ? f.size() : f.find_first_of(";]", b);
        std::array<char, e - b + 1> a{};
        for (size_t i = 0; i < e - b; ++i) a[i] = f[b + i];
        return a;
    }
    static constexpr auto value = make();
};

template <class T>
constexpr const char* type_name() {
    return TypeName<T>::value.data();
}

template <class T>
inline const TypeInfo kTypeInfoFor{
    kHasTrace<T> ? +[](const void* obj, Visitor& v) {
        if constexpr (kHasTrace<T>) static_cast<const T*>(obj)->trace(v);
    } : nullptr,
    std::is_trivially_destructible_v<T> ? nullptr : +[](void* obj) { static_cast<T*>(obj)->~T(); },
    type_name<T>(),
};

void constructor_threw(void* obj);

}  // namespace detail

template <class T, class... Args>
T* make(Args&&... args) {
    static_assert(alignof(T) <= 8, "gc::make: objects are 8-byte aligned; alignof(T) must be <= 8");
    static_assert(!std::is_array_v<T>, "gc::make: use gc::Vector for arrays");
    void* mem = detail::allocate(sizeof(T), &detail::kTypeInfoFor<T>, !kHasTrace<T>);
    try {
        return ::new (mem) T(std::forward<Args>(args)...);
    } catch (...) {
        detail::constructor_threw(mem);
        throw;
    }
}

}  // namespace weft::gc
