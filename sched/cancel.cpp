// cancel.cpp — CancelSet (see cancel.hpp for CS1-CS4).
//
// Go's context keeps a parent's children in a map under the parent's mutex
// and cancels them while holding it; weft's lock ranks forbid nesting two
// locks of one rank, so the list is taken whole under the lock and the
// hooks run after it is dropped. The price is CS3's wait: a remove() that
// finds its hook taken by a running cancel waits for that one hook, which
// cannot block (CS4).
#include "sched/cancel.hpp"

#include "runtime/base/check.hpp"
#include "runtime/base/cpu_relax.hpp"
#include "sched/fiber.hpp"

namespace weft::sched {

CancelSet::~CancelSet() {
    WEFT_CHECK(head_ == nullptr, "cancel: a cancel set destroyed with hooks still linked");
}

bool CancelSet::add(CancelHook* h) {
    WEFT_CHECK(h->state.load(std::memory_order_relaxed) != CancelHook::kLinked &&
                   h->state.load(std::memory_order_relaxed) != CancelHook::kRunning,
               "cancel: a hook added twice");
    base::LockGuard g(lock_);
    if (err_.load(std::memory_order_relaxed) != 0) return false;  // CS2
    h->prev = nullptr;
    h->next = head_;
    if (head_ != nullptr) head_->prev = h;
    head_ = h;
    // Relaxed here and in remove()'s test under lock_: the lock orders
    // them; only kDone is read without it (release/acquire, CS3).
    h->state.store(CancelHook::kLinked, std::memory_order_relaxed);
    return true;
}

bool CancelSet::remove(CancelHook* h) {
    {
        base::LockGuard g(lock_);
        if (h->state.load(std::memory_order_relaxed) == CancelHook::kLinked) {
            if (h->prev != nullptr) h->prev->next = h->next;
            else head_ = h->next;
            if (h->next != nullptr) h->next->prev = h->prev;
            h->prev = h->next = nullptr;
            h->state.store(CancelHook::kIdle, std::memory_order_relaxed);
            return true;
        }
    }
    // Taken by a cancel (CS3): wait until its fn has returned. Acquire pairs
    // with the canceller's release of kDone.
    while (h->state.load(std::memory_order_acquire) == CancelHook::kRunning) {
        if (current_g() != nullptr) gosched();
        else base::cpu_relax();
    }
    return false;
}

bool CancelSet::cancel(int err) {
    WEFT_CHECK(err != 0, "cancel: a cancel without a reason");
    CancelHook* list;
    {
        base::LockGuard g(lock_);
        if (err_.load(std::memory_order_relaxed) != 0) return false;
        err_.store(err, std::memory_order_release);  // CS1
        list = head_;
        head_ = nullptr;
        for (CancelHook* h = list; h != nullptr; h = h->next) h->state.store(CancelHook::kRunning, std::memory_order_relaxed);
    }
    while (list != nullptr) {
        CancelHook* h = list;
        list = h->next;  // read before fn: once kDone, h may be freed
        h->prev = h->next = nullptr;
        h->fn(h, err);
        h->state.store(CancelHook::kDone, std::memory_order_release);  // CS3
    }
    return true;
}

}  // namespace weft::sched
