// runq.cpp — the slow paths of LocalRunQueue (see runq.hpp invariants).
#include "sched/runq.hpp"

namespace weft::sched {

bool LocalRunQueue::spill_half(G* g, GQueue& out) {
    uint32_t h = head_.load(std::memory_order_acquire);
    uint32_t t = tail_.load(std::memory_order_relaxed);
    uint32_t n = (t - h) / 2;
    if (n != kSize / 2) return false;  // not full any more: retry push
    G* batch[kSize / 2];
    for (uint32_t i = 0; i < n; i++) batch[i] = slots_[(h + i) % kSize].load(std::memory_order_relaxed);
    // Claim them as a consumer would (R2); release pairs with push's acquire.
    if (!head_.compare_exchange_strong(h, h + n, std::memory_order_release, std::memory_order_relaxed))
        return false;
    for (uint32_t i = 0; i < n; i++) out.push_back(batch[i]);
    out.push_back(g);
    return true;
}

uint32_t LocalRunQueue::steal_into(LocalRunQueue& into) {
    uint32_t dst_tail = into.tail_.load(std::memory_order_relaxed);  // the thief owns `into`
    for (;;) {
        uint32_t h = head_.load(std::memory_order_acquire);
        uint32_t t = tail_.load(std::memory_order_acquire);
        uint32_t n = t - h;
        n = n - n / 2;
        if (n == 0) return 0;
        if (n > kSize / 2) continue;  // read h and t at different moments; retry
        for (uint32_t i = 0; i < n; i++) {
            G* g = slots_[(h + i) % kSize].load(std::memory_order_relaxed);
            into.slots_[(dst_tail + i) % kSize].store(g, std::memory_order_relaxed);
        }
        if (head_.compare_exchange_weak(h, h + n, std::memory_order_release, std::memory_order_relaxed))
            return n;
    }
}

}  // namespace weft::sched
