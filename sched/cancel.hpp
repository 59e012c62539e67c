// cancel.hpp — CancelSet, the cancellation core of weft::Context: a
// reason that is set once, and hooks run when it is. The blocking calls a
// context can end (a netpoll wait, a semaphore wait, a child context) hang
// a CancelHook on the set for as long as they wait; weft::Context
// (runtime/context.cpp) adds the done channel, deadlines and values.
//
// Invariants:
//   CS1. err() goes from 0 to a reason once, under lock_, and never back.
//   CS2. A hook is linked (on the list) only while err() is 0; cancel()
//       takes the whole list under lock_ as it sets err, so each linked
//       hook's fn runs exactly once, and a hook added after that is
//       refused (add() returns false: the caller acts as cancelled).
//   CS3. When remove(h) returns, h's fn is not running and will not run:
//       it unlinks h, or waits until the canceller has run h's fn. So the
//       object a hook wakes may be freed once remove() returns.
//   CS4. Hooks run on the cancelling thread, outside lock_ (a hook may take
//       any runtime lock, or cancel a child set): they must not block,
//       and must not remove() themselves.
//
// Contexts: add/remove/cancel from fibers, and cancel also from timer
// callbacks (a deadline) and from other hooks (a parent's cancel). remove()
// may spin (yielding on a fiber) while another thread runs the hook.
#pragma once

#include <atomic>
#include <cstdint>

#include <weft/internal/lock.hpp>

namespace weft::sched {

struct CancelHook {
    enum State : uint8_t { kIdle, kLinked, kRunning, kDone };
    void (*fn)(CancelHook* self, int err) = nullptr;
    CancelHook* prev = nullptr;  // guarded by the set's lock while linked
    CancelHook* next = nullptr;
    std::atomic<uint8_t> state{kIdle};
};

class CancelSet {
public:
    CancelSet() = default;
    CancelSet(const CancelSet&) = delete;
    CancelSet& operator=(const CancelSet&) = delete;
    ~CancelSet();

    // 0 while live, else the reason (a weft::ContextErrc value). Acquire:
    // what the canceller did before cancelling is visible.
    int err() const { return err_.load(std::memory_order_acquire); }
    // Links h (kIdle). False if the set is already cancelled: h is not
    // linked and the caller must act as cancelled (CS2).
    bool add(CancelHook* h);
    // Unlinks h, or waits for its fn to finish (CS3). True if h was still
    // linked (its fn never ran).
    bool remove(CancelHook* h);
    // Sets err (non-zero) and runs every linked hook, on this thread (CS4).
    // True if this call cancelled; false if the set already was.
    bool cancel(int err);

private:
    base::Lock lock_{base::LockRank::kLeaf};
    std::atomic<int> err_{0};    // CS1
    CancelHook* head_ = nullptr;  // guarded by lock_
};

}  // namespace weft::sched
