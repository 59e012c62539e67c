// member.hpp — gc::Member<T>, a reference from one GC object to another.
//
// Declare references inside GC objects as Member fields and report them
// from trace() (visitor.hpp). A Member is one atomic word:
//   - stores run the write barrier (barrier.hpp) then a release store, so a
//     marker on another thread that loads the pointer (acquire) also sees
//     the header and Members of the object it points to;
//   - loads are acquire (free on x86 and arm64's ldar is cheap);
//   - the collector reads it concurrently with the owner's stores, which is
//     why it must be atomic: TSan sees no race.
// Storing null needs no barrier (Dijkstra shades only the new value).
//
// A Member outside the GC heap is only a plain pointer: on a fiber's stack
// it is found by the conservative stack scan, anywhere else (globals,
// malloc'd memory) it keeps nothing alive — use gc::Root there.
#pragma once

#include <atomic>
#include <cstddef>

#include <weft/internal/barrier.hpp>

namespace weft::gc {

template <class T>
class Member {
public:
    Member() noexcept = default;
    Member(std::nullptr_t) noexcept {}
    Member(T* p) { store(p); }  // NOLINT: implicit like a pointer
    Member(const Member& o) { store(o.get()); }
    Member& operator=(const Member& o) {
        store(o.get());
        return *this;
    }
    Member& operator=(T* p) {
        store(p);
        return *this;
    }
    Member& operator=(std::nullptr_t) noexcept {
        // Relaxed: a null store publishes nothing.
        ptr_.store(nullptr, std::memory_order_relaxed);
        return *this;
    }

    T* get() const {
        T* p = ptr_.load(std::memory_order_acquire);
        if (detail::g_checked_loads.load(std::memory_order_relaxed) && p) [[unlikely]]
            detail::check_load(p);
        return p;
    }
    T* operator->() const { return get(); }
    T& operator*() const { return *get(); }
    explicit operator bool() const { return ptr_.load(std::memory_order_relaxed) != nullptr; }
    friend bool operator==(const Member& a, const Member& b) { return a.raw() == b.raw(); }
    friend bool operator==(const Member& a, const T* b) { return a.raw() == b; }
    friend bool operator==(const Member& a, std::nullptr_t) { return a.raw() == nullptr; }

    // For the collector (Visitor::visit).
    const void* load_for_trace() const { return ptr_.load(std::memory_order_acquire); }

private:
    // Relaxed: comparisons need no ordering with the object's contents.
    T* raw() const { return ptr_.load(std::memory_order_relaxed); }
    void store(T* p) {
        detail::write_barrier(p);
        ptr_.store(p, std::memory_order_release);
    }

    std::atomic<T*> ptr_{nullptr};
};

}  // namespace weft::gc
