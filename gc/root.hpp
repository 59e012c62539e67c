// root.hpp — gc::Root<T>, a reference held outside the GC heap and stacks.
//
// Globals, malloc'd structures, objects owned by std::containers: a pointer
// there is invisible to the collector unless it is held in a Root. A Root
// registers itself (one lock round trip to construct or destroy, so keep
// Roots for long-lived references) and the collector scans all Roots while
// marking. Stores run the write barrier. Copyable and movable like a
// pointer; usable from any thread for construction and destruction, but
// gc::make itself must run in a fiber.
//
//   static gc::Root<Config> current;          // a global
//   current = gc::make<Config>(...);          // from a fiber
#pragma once

#include <atomic>
#include <cstddef>

#include <weft/internal/barrier.hpp>

namespace weft::gc {

namespace detail {

struct RootNode {
    std::atomic<const void*> ptr{nullptr};
    RootNode* prev = nullptr;
    RootNode* next = nullptr;
};
void root_register(RootNode* n);
void root_unregister(RootNode* n);

}  // namespace detail

template <class T>
class Root {
public:
    Root() { detail::root_register(&node_); }
    Root(std::nullptr_t) : Root() {}
    Root(T* p) : Root() { set(p); }  // NOLINT: implicit like a pointer
    Root(const Root& o) : Root() { set(o.get()); }
    Root& operator=(const Root& o) {
        set(o.get());
        return *this;
    }
    Root& operator=(T* p) {
        set(p);
        return *this;
    }
    ~Root() { detail::root_unregister(&node_); }

    T* get() const {
        // Acquire: pairs with set's release (the object's header and Members).
        return static_cast<T*>(const_cast<void*>(node_.ptr.load(std::memory_order_acquire)));
    }
    T* operator->() const { return get(); }
    T& operator*() const { return *get(); }
    explicit operator bool() const { return get() != nullptr; }
    void reset() { node_.ptr.store(nullptr, std::memory_order_relaxed); }

private:
    void set(T* p) {
        detail::write_barrier(p);
        node_.ptr.store(p, std::memory_order_release);
    }
    detail::RootNode node_;
};

}  // namespace weft::gc
