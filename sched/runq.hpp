// runq.hpp — run queues: a P's bounded lock-free ring and an intrusive list.
//
// LocalRunQueue (as proc.go's runq*): a ring of kSize slots.
// Invariants:
//   R1. Only the owning P's M stores `tail_` and writes slots in
//       [tail_, head_ + kSize); stealers only read slots and CAS `head_`.
//   R2. A slot's content is valid for a consumer only if its CAS of head_
//       from the value it read succeeds; a failed CAS discards what it read
//       (the owner may have reused the slot).
//   R3. tail_ - head_ is in [0, kSize] at every instant the owner reads it.
// Slots are atomics (relaxed) so that R2's benign overwrite is not a data
// race in the C++ memory model (and TSan stays quiet); ordering comes from
// tail_ (release/acquire) and head_ (CAS release, load acquire).
#pragma once

#include <atomic>
#include <cstdint>

#include "sched/g.hpp"

namespace weft::sched {

// An intrusive FIFO of Gs linked through G::schedlink. Not thread-safe.
class GQueue {
public:
    bool empty() const { return head_ == nullptr; }
    void push_back(G* g) {
        g->schedlink = nullptr;
        if (tail_) tail_->schedlink = g;
        else head_ = g;
        tail_ = g;
    }
    void push_front(G* g) {
        g->schedlink = head_;
        head_ = g;
        if (!tail_) tail_ = g;
    }
    void append(GQueue& other) {
        if (other.empty()) return;
        if (tail_) tail_->schedlink = other.head_;
        else head_ = other.head_;
        tail_ = other.tail_;
        other.head_ = other.tail_ = nullptr;
    }
    G* pop_front() {
        G* g = head_;
        if (g) {
            head_ = g->schedlink;
            if (!head_) tail_ = nullptr;
            g->schedlink = nullptr;
        }
        return g;
    }

private:
    G* head_ = nullptr;
    G* tail_ = nullptr;
};

class LocalRunQueue {
public:
    static constexpr uint32_t kSize = 256;

    // Owner only. Returns false when full (the caller spills to the global
    // queue with spill_half).
    bool push(G* g) {
        uint32_t h = head_.load(std::memory_order_acquire);  // pairs with consumers' CAS
        uint32_t t = tail_.load(std::memory_order_relaxed);  // only we store tail_
        if (t - h >= kSize) return false;
        slots_[t % kSize].store(g, std::memory_order_relaxed);
        tail_.store(t + 1, std::memory_order_release);  // publishes the slot
        return true;
    }

    // Owner only, when push failed: moves half of the ring plus `g` into
    // `out` (in order). Returns false if a stealer raced us (retry push).
    bool spill_half(G* g, GQueue& out);

    // Owner or anyone: pops the head. Null when empty.
    G* pop() {
        for (;;) {
            uint32_t h = head_.load(std::memory_order_acquire);
            uint32_t t = tail_.load(std::memory_order_acquire);
            if (t == h) return nullptr;
            G* g = slots_[h % kSize].load(std::memory_order_relaxed);
            // Release so a later owner push sees the freed slot (R1/R2).
            if (head_.compare_exchange_weak(h, h + 1, std::memory_order_release, std::memory_order_relaxed))
                return g;
        }
    }

    // Thief: moves half of this queue into `into` (owned by the caller's P,
    // after its tail). Returns the number of Gs moved (0 if empty).
    uint32_t steal_into(LocalRunQueue& into);

    uint32_t size() const {
        uint32_t h = head_.load(std::memory_order_acquire);
        uint32_t t = tail_.load(std::memory_order_acquire);
        return t - h <= kSize ? t - h : 0;  // transiently inconsistent reads
    }
    bool empty() const { return size() == 0; }

    // Owner, right after steal_into returned n > 0: keeps the last stolen G
    // (to run it at once) and publishes the other n - 1. The kept slot was
    // never published, so no consumer can have claimed it (R1).
    G* take_last_stolen(uint32_t n) {
        uint32_t t = tail_.load(std::memory_order_relaxed);  // only we store tail_
        G* g = slots_[(t + n - 1) % kSize].load(std::memory_order_relaxed);
        if (n > 1) tail_.store(t + n - 1, std::memory_order_release);  // publishes the slots
        return g;
    }

private:
    alignas(64) std::atomic<uint32_t> head_{0};
    alignas(64) std::atomic<uint32_t> tail_{0};
    std::atomic<G*> slots_[kSize]{};
};

}  // namespace weft::sched
