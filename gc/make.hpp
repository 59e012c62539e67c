// make.hpp — gc::make<T>(args...): a new object on the collected heap.
//
// From a fiber (the allocator uses the fiber's P), not in a destructor the
// collector runs; elsewhere fatal, naming T. The memory is zeroed before
// T's constructor runs. After the constructor, make may yield (a safe
// point, once per span's worth of allocation). The constructor may block (gc.hpp, "Constructors"). If it
// throws, the slot is simply garbage (nothing is destroyed). Returns a
// plain T*: keep it on the stack, in a Member or in a Root (gc.hpp says
// what keeps objects alive).
#pragma once

#include <array>
#include <cstddef>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

#include <weft/gc/visitor.hpp>
#include <weft/internal/alloc.hpp>
#include <weft/internal/size_class.hpp>
#include <weft/internal/type_info.hpp>

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

// The slot a T takes (TypeInfo::slot_bytes): its size class, 0 if large.
template <class T>
constexpr uint32_t slot_bytes_of() {
    constexpr size_t bytes = sizeof(T);
    if constexpr (bytes > kMaxSmallSize) return 0;
    else return kClasses[size_to_class(bytes)].size;
}

template <class T>
inline const TypeInfo kTypeInfoFor{
    kHasTrace<T> ? +[](const void* obj, Visitor& v) {
        if constexpr (kHasTrace<T>) static_cast<const T*>(obj)->trace(v);
    } : nullptr,
    std::is_trivially_destructible_v<T> ? nullptr : +[](void* obj) { static_cast<T*>(obj)->~T(); },
    type_name<T>(),
    slot_bytes_of<T>(),
};

}  // namespace detail

template <class T, class... Args>
T* make(Args&&... args) {
    static_assert(alignof(T) <= 8, "gc::make: objects are 8-byte aligned; alignof(T) must be <= 8");
    static_assert(!std::is_array_v<T>, "gc::make: use gc::Vector for arrays");
    detail::MakeSlot slot = detail::allocate_for_make(sizeof(T), detail::span_class_for(sizeof(T), !kHasTrace<T>),
                                                          &detail::kTypeInfoFor<T>, !kHasTrace<T>);
    T* obj;
    // Counted on the fiber, which the constructor cannot leave even if it
    // parks and resumes on another thread (gc.hpp, "Constructors").
    ++*slot.constructing;
    try {
        obj = ::new (slot.mem) T(std::forward<Args>(args)...);
    } catch (...) {
        --*slot.constructing;
        detail::constructor_threw(slot.mem);
        throw;
    }
    // The safe point an allocation owes (alloc.hpp step 5), once no object
    // of this fiber is half-constructed: a make nested in a constructor,
    // often in a member initializer, leaves it to the outermost one, so
    // the collector does not trace the outer object while its remaining
    // fields are being initialized.
    if (--*slot.constructing == detail::kSafePointOwed) [[unlikely]]
        detail::take_owed_safe_point(slot.constructing);
    return obj;
}

}  // namespace weft::gc
