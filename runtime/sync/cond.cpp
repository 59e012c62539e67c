// cond.cpp — weft::Cond (as Go's sync/cond.go over runtime/sema.go's
// notifyList; contract in cond.hpp).
//
// Owns: a ticket-based notify list. Each wait() draws a ticket in order;
// notify_ is the first ticket not yet notified. A ticket below notify_ has
// been notified; its holder must not park (or, if parked, is woken).
//
// Invariants:
//   CV1. Tickets are drawn while the caller holds the Mutex, before it is
//       unlocked; so a signal() ordered after a waiter's unlock (e.g. by the
//       Mutex) sees that waiter's ticket in wait_.
//   CV2. notify_ only grows (mod 2^32, compared as a signed difference), and
//       never past wait_: every notified ticket was drawn.
//   CV3. A ticket t is woken at most once: either its waiter finds t <
//       notify_ before parking (and does not park), or it is on the list
//       when the notifier advances past t and is removed and readied by it.
//   CV4. A Waiter is on the list only while its fiber is parked or parking
//       with lock_ held (released by park's unlockf once it is suspended).
//
// Protocol (wait):
//   1. Draw ticket t = wait_++ (holding the Mutex, CV1).
//   2. Unlock the Mutex.
//   3. Take lock_. If t < notify_, we were notified meanwhile: unlock_, go
//      to 5. Else append a Waiter {fiber, t} and park; the unlockf releases
//      lock_ once we are suspended (CV4).
//   4. Woken by a notifier (CV3).
//   5. Re-lock the Mutex.
//
// Protocol (signal, as notifyListNotifyOne):
//   1. wait_ == notify_: nobody has drawn a ticket since the last notify:
//      return without locking.
//   2. Take lock_; re-check 1 under it. Let t = notify_; advance notify_.
//   3. If ticket t's Waiter is on the list (not necessarily at the front:
//      waiters draw tickets before they queue), unlink it. Unlock lock_,
//      then ready it. If it is not on the list yet, it will see t < notify_
//      at its step 3 and not park.
//
// Protocol (broadcast, as notifyListNotifyAll):
//   1. As signal's step 1.
//   2. Take lock_; take the whole list; notify_ = wait_. Unlock lock_.
//   3. Ready every Waiter taken (reading its link before readying it).
//
// Memory order: wait_ and notify_ are atomics only for signal's lock-free
// step 1, which may be stale in the harmless direction: a stale notify_ or
// a stale wait_ from a wait() not ordered before the signal only means that
// signal need not wake that waiter (cond.hpp's contract) or takes lock_ to
// find out. Everything that decides a wake-up happens under lock_, whose
// acquire/release orders it; so relaxed suffices throughout.
//
// Rejected: a plain FIFO of waiters with no tickets (a signal issued between
// a waiter's unlock and its enqueue would be lost, or would wake a later
// waiter, which the contract forbids); counting semaphores per waiter.
#include <weft/sync/cond.hpp>

#include <weft/internal/sema.hpp>
#include "sched/fiber.hpp"

namespace weft {

struct Cond::Waiter {
    sched::G* g = nullptr;
    uint32_t ticket = 0;
    Waiter* next = nullptr;
};

namespace {

// a < b in ticket order, modulo wrap-around (CV2).
bool ticket_less(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }

}  // namespace

void Cond::wait() {
    sched::preempt_check("Cond::wait");
    // Step 1. Relaxed: CV1; the Mutex orders the draw before later signals.
    uint32_t t = wait_.fetch_add(1, std::memory_order_relaxed);
    m_.unlock();  // step 2
    wait_ticket(t);
    m_.lock();  // step 5
}

void Cond::wait_ticket(uint32_t t) {
    lock_.lock();  // step 3
    // Relaxed: written under lock_, which we hold.
    if (ticket_less(t, notify_.load(std::memory_order_relaxed))) {
        lock_.unlock();
        return;
    }
    Waiter w;
    w.g = sched::current_fiber("Cond::wait");
    w.ticket = t;
    if (tail_ == nullptr) head_ = &w;
    else tail_->next = &w;
    tail_ = &w;
    sched::park(sched::unlock_after_park, &lock_, sched::WaitReason::kCondWait);
    // Step 4: the notifier unlinked us (CV3).
}

void Cond::signal() {
    // Step 1. Relaxed: see "Memory order".
    if (wait_.load(std::memory_order_relaxed) == notify_.load(std::memory_order_relaxed)) return;
    lock_.lock();  // step 2
    uint32_t t = notify_.load(std::memory_order_relaxed);
    if (t == wait_.load(std::memory_order_relaxed)) {
        lock_.unlock();
        return;
    }
    notify_.store(t + 1, std::memory_order_relaxed);
    Waiter* prev = nullptr;  // step 3
    for (Waiter* w = head_; w != nullptr; prev = w, w = w->next) {
        if (w->ticket != t) continue;
        Waiter* next = w->next;
        if (prev != nullptr) prev->next = next;
        else head_ = next;
        if (next == nullptr) tail_ = prev;
        sched::G* g = w->g;
        lock_.unlock();
        sched::ready(g);
        return;
    }
    lock_.unlock();
}

void Cond::broadcast() {
    // Step 1. Relaxed: see "Memory order".
    if (wait_.load(std::memory_order_relaxed) == notify_.load(std::memory_order_relaxed)) return;
    lock_.lock();  // step 2
    Waiter* w = head_;
    head_ = tail_ = nullptr;
    notify_.store(wait_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    lock_.unlock();
    while (w != nullptr) {  // step 3
        Waiter* next = w->next;
        sched::G* g = w->g;
        sched::ready(g);
        w = next;
    }
}

}  // namespace weft
