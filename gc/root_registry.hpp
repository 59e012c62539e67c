// root_registry.hpp — an intrusive doubly linked list under one lock: the
// shape of the collector's root registries (roots.cpp for gc::Root,
// external_root.cpp for channel rings and timer closures). Private to gc/.
//
// Node needs `Node* prev, *next` and a constexpr default constructor (the
// registries are globals that static constructors in other files may
// already use: they must be constant-initialized).
#pragma once

#include <weft/internal/lock.hpp>

namespace weft::gc::detail {

template <class Node>
class RootRegistry {
public:
    explicit constexpr RootRegistry(base::LockRank rank) : lock_(rank) {}
    RootRegistry(const RootRegistry&) = delete;
    RootRegistry& operator=(const RootRegistry&) = delete;

    void add(Node* n) {
        base::LockGuard l(lock_);
        n->prev = &head_;
        n->next = head_.next;
        if (head_.next) head_.next->prev = n;
        head_.next = n;
    }
    void remove(Node* n) {
        base::LockGuard l(lock_);
        n->prev->next = n->next;
        if (n->next) n->next->prev = n->prev;
        n->prev = n->next = nullptr;
    }
    // Calls f(n) for every node, under the lock: f must not add or remove.
    template <class F>
    void for_each(F f) {
        base::LockGuard l(lock_);
        for (Node* n = head_.next; n; n = n->next) f(n);
    }

private:
    base::Lock lock_;
    Node head_;  // sentinel
};

}  // namespace weft::gc::detail
