// semaphore.cpp — weft::Semaphore (as golang.org/x/sync/semaphore's
// Weighted; contract in semaphore.hpp).
//
// Owns: the count of units held and a FIFO of parked acquirers, each a
// Waiter {fiber, n} on its own stack, all under one kSudog lock.
//
// Invariants:
//   SM1. 0 <= cur_ <= size_.
//   SM2. FIFO: while the queue is non-empty, no acquire(n) or try_acquire(n)
//       takes units ahead of it, and the front waiter needs more than is
//       free (size_ - cur_ < front.n); release() restores this before it
//       unlocks, by serving the front while it fits.
//   SM3. A served Waiter is off the queue and its units already counted in
//       cur_ before its fiber is readied: it returns owning them.
//   SM4. A Waiter is on the queue only while its fiber is parked or parking
//       with lock_ held (park's unlockf releases it once suspended).
//
// Protocol (acquire):
//   1. Validate n (throws); take lock_.
//   2. If n fits and nobody waits: cur_ += n, unlock, return.
//   3. Else append a Waiter and park; the unlockf releases lock_ (SM4).
//   4. Woken: the releaser counted our units (SM3). Return.
//
// Protocol (release):
//   1. Take lock_; cur_ -= n; below zero is fatal (over-release).
//   2. While the front waiter fits, count its units and move it to a local
//      list (SM2, SM3). Stop at the first that does not fit, even if a later,
//      smaller one would: x/sync's rule, so a large request cannot starve.
//   3. Unlock, then ready the served fibers (reading each link first).
//
// Rejected: x/sync's channel per waiter (here the fiber itself is parked;
// nothing is allocated); serving any waiter that fits (starves large ones);
// building on sched::Sema (units are weighted, so one unit per wake-up does
// not fit). Cancellation (x/sync's context) is not offered: weft has no
// context yet; a deadline-aware acquire would unlink its Waiter under lock_.
#include <weft/sync/semaphore.hpp>

#include <stdexcept>
#include <string>

#include <weft/internal/sema.hpp>
#include "runtime/base/fatal.hpp"
#include "sched/fiber.hpp"

namespace weft {

struct Semaphore::Waiter {
    sched::G* g = nullptr;
    int64_t n = 0;
    Waiter* next = nullptr;
};

int64_t detail::throw_bad_semaphore_capacity(int64_t capacity) {
    throw std::invalid_argument("Semaphore: capacity " + std::to_string(capacity) + " is negative");
}

int64_t detail::semaphore_waiters(Semaphore& s) {
    base::LockGuard l(s.lock_);
    return s.nwait_;
}

namespace {

void check_n(const char* what, int64_t n, int64_t size) {
    if (n < 0) throw std::invalid_argument(std::string(what) + ": " + std::to_string(n) + " is negative");
    if (n > size)
        throw std::invalid_argument(std::string(what) + ": " + std::to_string(n) + " exceeds the capacity " +
                                    std::to_string(size));
}

}  // namespace

void Semaphore::acquire(int64_t n) {
    sched::preempt_check("Semaphore::acquire");
    check_n("Semaphore::acquire", n, size_);  // step 1
    lock_.lock();
    if (size_ - cur_ >= n && head_ == nullptr) {  // step 2
        cur_ += n;
        lock_.unlock();
        return;
    }
    Waiter w;  // step 3
    w.g = sched::current_fiber("Semaphore::acquire");
    w.n = n;
    if (tail_ == nullptr) head_ = &w;
    else tail_->next = &w;
    tail_ = &w;
    nwait_++;
    sched::park(sched::unlock_after_park, &lock_, sched::WaitReason::kSemacquire);
    // Step 4 (SM3).
}

bool Semaphore::try_acquire(int64_t n) {
    check_n("Semaphore::try_acquire", n, size_);
    base::LockGuard l(lock_);
    if (size_ - cur_ < n || head_ != nullptr) return false;
    cur_ += n;
    return true;
}

void Semaphore::release(int64_t n) {
    if (n < 0) throw std::invalid_argument("Semaphore::release: " + std::to_string(n) + " is negative");
    lock_.lock();  // step 1
    cur_ -= n;
    if (cur_ < 0) {
        lock_.unlock();
        base::fatal("semaphore: released more than held");
    }
    Waiter* served = nullptr;  // step 2, kept in FIFO order
    Waiter** served_tail = &served;
    while (head_ != nullptr && size_ - cur_ >= head_->n) {
        Waiter* w = head_;
        head_ = w->next;
        if (head_ == nullptr) tail_ = nullptr;
        nwait_--;
        cur_ += w->n;
        w->next = nullptr;
        *served_tail = w;
        served_tail = &w->next;
    }
    lock_.unlock();
    while (served != nullptr) {  // step 3
        Waiter* next = served->next;
        sched::G* g = served->g;
        sched::ready(g);
        served = next;
    }
}

}  // namespace weft
