// sema.cpp — the runtime semaphore (as Go's runtime/sema.go, semacquire1
// and semrelease1; see sema.hpp for the contract).
//
// Owns: one Sema's banked units and its queue of parked fibers. A queued
// fiber is a Waiter on that fiber's own stack, linked into a circular
// singly-linked list through `tail_` (front = tail_->next), so pushing at
// either end and popping the front are O(1) and nothing is allocated.
//
// Invariants:
//   Q1. count_ > 0 implies the queue is empty: release() banks a unit only
//       when nobody waits, and acquire() queues only when nothing is banked.
//   Q2. A Waiter is in the queue only while its fiber is parked or about to
//       park with lock_ held; lock_ is released only by park's unlockf, after
//       the fiber is suspended. So whoever dequeues a Waiter under lock_ owns
//       it and may ready() its fiber.
//   Q3. A unit is never lost: each release() either banks it or hands it to
//       exactly one dequeued waiter (granted = true), who returns owning it.
//   L.  Lifetime: release() makes its unit visible (banked or granted) inside
//       lock_ and afterwards touches only lock_'s unlock, whose last access
//       to memory is the atomic exchange (a private futex wake reads no
//       memory). The fiber that takes the unit must take lock_ first, so the
//       object may be destroyed as soon as an acquirer returns. Mutex relies
//       on this for std::mutex's destroy-after-unlock guarantee.
//
// Protocol (acquire, as semacquire1):
//   1. Take lock_. If a unit is banked, take it, unlock, return.
//   2. Otherwise put a Waiter {this fiber} at the back (front when `lifo`)
//      and park; the unlockf releases lock_ once the fiber is suspended (Q2).
//   3. Woken: release() has set granted; the unit is ours. Return.
//
// Protocol (release, as semrelease1):
//   1. Take lock_. Pop the front Waiter; if none, bank the unit (Q1), unlock.
//   2. Mark it granted, unlock, then ready() its fiber (after unlock: waking
//      is decided under the lock and done outside it). From here neither the
//      Waiter nor the Sema is touched (L).
//   3. With `handoff`, yield the P: ready() put the woken fiber in runnext,
//      so it runs next (Go's goyield after a starvation handoff).
//
// Where this differs from Go, and why:
//   - Go keeps the count in the user's object and the queue in a global
//     table of treaps keyed by address (semtable), with a lock-free
//     cansemacquire fast path and a lock-free "no waiters" check in release.
//     That layout is safe in Go because the garbage collector keeps the
//     object alive while semrelease is still reading it. In C++ the object
//     may be freed the moment a waiter returns, so here the count lives
//     under the per-object lock and every decision is made inside it (L).
//     Rejected: Go's lock-free fast paths on a per-object queue (a
//     use-after-free once an acquirer can win without the lock). Not taken:
//     Go's global table, which would make those paths safe again (the
//     releaser would touch only the table after its count increment) and
//     shrink a Mutex to 8 bytes, at the price of unrelated objects sharing
//     a lock and a treap per bucket; worth revisiting if object size or the
//     cost of an uncontended lock_ on the slow path ever shows in profiles.
//   - Go's non-handoff release bumps the count and wakes the front waiter,
//     who then competes for the unit again (and requeues if a newcomer took
//     it). Here a dequeued waiter is granted the unit directly; `handoff`
//     only decides whether the releaser yields. The sync primitives never
//     depended on that competition: Mutex's barging happens on its own state
//     word, not on the semaphore.
#include <weft/internal/sema.hpp>

#include <exception>

#include "runtime/base/check.hpp"
#include "sched/cancel.hpp"
#include "sched/fiber.hpp"

namespace weft::sched {

struct Sema::Waiter {
    G* g = nullptr;
    Waiter* next = nullptr;
    // Set by the releaser under lock_ before ready(); read by the fiber after
    // its park returns, ordered by the run-queue hand-off (g.hpp, G::param).
    bool granted = false;
};

namespace {

// A cancellable acquire's hook: takes its waiter out of the queue and
// wakes it, unless a unit was handed over first.
struct SemaCancelHook : CancelHook {
    Sema* sema = nullptr;
    Sema::Waiter* w = nullptr;
};

// current_exception() is non-null exactly inside a handler; it costs a
// reference-count round trip, paid only on the handoff path.
bool no_exception_active() { return std::uncaught_exceptions() == 0 && std::current_exception() == nullptr; }

}  // namespace

bool unlock_after_park(G*, void* lock) {
    static_cast<base::Lock*>(lock)->unlock();
    return true;
}

G* current_fiber(const char* what) {
    G* g = current_g();
    if (g == nullptr) base::fatal("sync: %s called outside a fiber (it would block the thread)", what);
    return g;
}

void Sema::push(Waiter* w, bool front) {
    if (tail_ == nullptr) {
        w->next = w;
        tail_ = w;
    } else {
        w->next = tail_->next;
        tail_->next = w;
        if (!front) tail_ = w;
    }
    nwait_++;
}

Sema::Waiter* Sema::pop_front() {
    if (tail_ == nullptr) return nullptr;
    Waiter* w = tail_->next;
    if (w == tail_) tail_ = nullptr;
    else tail_->next = w->next;
    w->next = nullptr;
    nwait_--;
    return w;
}

void Sema::acquire(WaitReason reason, bool lifo) {
    lock_.lock();  // step 1
    if (count_ > 0) {
        count_--;
        lock_.unlock();
        return;
    }
    Waiter w;  // step 2
    w.g = current_fiber(wait_reason_api(reason));
    push(&w, lifo);
    park(unlock_after_park, &lock_, reason);
    // step 3
    WEFT_CHECK(w.granted, "sema: fiber woken without being granted a unit");
}

bool Sema::unlink(Waiter* w) {
    if (tail_ == nullptr) return false;
    Waiter* prev = tail_;
    do {
        if (prev->next == w) {
            if (w == prev) {
                tail_ = nullptr;  // the only one
            } else {
                prev->next = w->next;
                if (tail_ == w) tail_ = prev;
            }
            w->next = nullptr;
            nwait_--;
            return true;
        }
        prev = prev->next;
    } while (prev != tail_);
    return false;
}

bool Sema::acquire(WaitReason reason, CancelSet* set) {
    lock_.lock();
    if (count_ > 0) {
        count_--;
        lock_.unlock();
        return true;
    }
    Waiter w;
    w.g = current_fiber(wait_reason_api(reason));
    SemaCancelHook hook;
    hook.sema = this;
    hook.w = &w;
    hook.fn = [](CancelHook* h, int) {
        auto* self = static_cast<SemaCancelHook*>(h);
        Sema* s = self->sema;
        s->lock_.lock();
        // Queued means not granted: a release pops before it grants.
        bool queued = s->unlink(self->w);
        G* g = self->w->g;
        s->lock_.unlock();
        if (queued) ready(g);
    };
    // The set's lock is a leaf: taking it under lock_ keeps the order.
    if (!set->add(&hook)) {
        lock_.unlock();
        return false;
    }
    push(&w, false);
    park(unlock_after_park, &lock_, reason);
    set->remove(&hook);  // CancelSet CS3: the hook is done with w before it leaves scope
    return w.granted;
}

bool Sema::try_acquire() {
    base::LockGuard l(lock_);
    if (count_ == 0) return false;
    count_--;
    return true;
}

void Sema::release(bool handoff) {
    lock_.lock();  // step 1
    Waiter* w = pop_front();
    if (w == nullptr) {
        WEFT_CHECK(count_ != UINT32_MAX, "sema: unit count overflow");
        count_++;
        lock_.unlock();
        return;
    }
    WEFT_DCHECK(count_ == 0, "sema: units banked while fibers wait (Q1)");
    w->granted = true;  // step 2
    G* g = w->g;
    lock_.unlock();
    ready(g);
    // Step 3, unless an exception is in flight (we are in a destructor run
    // by unwinding) or being handled (we are in a catch block): the C++
    // runtime keeps both in per-thread state, which a switch would leave
    // behind if this fiber resumed on another thread. The woken fiber then
    // waits in runnext for our next switch or a stealing P.
    if (handoff && no_exception_active()) gosched();
}

uint32_t Sema::waiters() {
    base::LockGuard l(lock_);
    return nwait_;
}

uint32_t Sema::units() {
    base::LockGuard l(lock_);
    return count_;
}

}  // namespace weft::sched
