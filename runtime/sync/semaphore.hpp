// semaphore.hpp — weft::Semaphore, a weighted counting semaphore for fibers
// (golang.org/x/sync/semaphore's Weighted).
//
//   weft::Semaphore mem(64 << 20);           // 64 MiB of buffers in flight
//   mem.acquire(req.size());                 // parks until that much is free
//   process(req);
//   mem.release(req.size());
//
// `capacity` units; acquire(n) takes n, parking until n are free; release(n)
// returns them. FIFO: a waiter is served only after every earlier waiter,
// so a large request at the front holds back later small ones that would
// fit; a stream of small requests cannot starve a large one.
//
// Contract:
//  - acquire() and release() are called from a fiber (acquire outside a
//    fiber is fatal when it would block); try_acquire() never blocks.
//  - Units are not owned: any fiber may release what another acquired.
//  - acquire(n) or try_acquire(n) with n > capacity can never succeed: it
//    throws std::invalid_argument ("Semaphore::acquire: 5 exceeds the
//    capacity 3"). x/sync's TryAcquire returns false instead; a request
//    that no release could ever satisfy is a bug in the caller, so here both
//    say so. n < 0 (any method) or a negative capacity throws too.
//  - acquire(0) succeeds at once unless fibers wait (then it queues, FIFO).
//  - try_acquire(n) succeeds only if n units are free and nobody waits.
//  - release(n) of more than is held is fatal: "semaphore: released more
//    than held" (the count is corrupt; as x/sync's panic).
//  - Lifetime: once every call on it has returned, or once an acquirer
//    returns and no other fiber uses it, it may be destroyed: release()
//    touches it last in the unlock of its internal lock.
//  - Neither copyable nor movable.
#pragma once

#include <cstdint>

#include <weft/internal/lock.hpp>

namespace weft {

class Semaphore;

namespace detail {
[[noreturn]] int64_t throw_bad_semaphore_capacity(int64_t capacity);
// Tests and diagnostics: fibers parked in acquire() now.
int64_t semaphore_waiters(Semaphore& s);
}  // namespace detail

class Semaphore {
public:
    // Throws std::invalid_argument if capacity < 0.
    explicit constexpr Semaphore(int64_t capacity)
        : size_(capacity >= 0 ? capacity : detail::throw_bad_semaphore_capacity(capacity)) {}
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;

    // Takes n units, parking (FIFO) until they are free. A preemption point.
    void acquire(int64_t n = 1);
    // Takes n units if they are free and nobody waits; never blocks.
    bool try_acquire(int64_t n = 1);
    // Returns n units and wakes the waiters at the front that now fit.
    void release(int64_t n = 1);

    int64_t capacity() const { return size_; }

    struct Waiter;  // a parked acquire(); lives on its fiber's stack

private:
    friend int64_t detail::semaphore_waiters(Semaphore& s);

    const int64_t size_;
    base::Lock lock_{base::LockRank::kSudog};
    int64_t cur_ = 0;         // units held; guarded by lock_
    Waiter* head_ = nullptr;  // FIFO of waiters; guarded by lock_
    Waiter* tail_ = nullptr;
    int64_t nwait_ = 0;       // guarded by lock_
};

}  // namespace weft
