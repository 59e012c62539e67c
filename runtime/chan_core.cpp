// chan_core.cpp — channels (as Go's chan.go).
//
// Owns: one channel's lock, its two wait queues of blocked fibers, its ring
// buffer of elements, its closed flag, and the channel's lifetime (an
// intrusive reference count over Chan handles). Waiters are not owned: each
// lives on its blocked fiber's stack (chan_core.hpp).
//
// Invariants (the queues count only live waiters: a select waiter whose
// fiber already won elsewhere may linger until its select's pass 3):
//   C1. Unbuffered: at least one of sendq and recvq is empty — except while
//       one fiber's select waits on both sides of the same channel.
//   C2. Buffered: count > 0 implies recvq is empty; count < cap implies
//       sendq is empty. (A waiting sender means the ring is full.)
//   C3. Closed: both queues are empty and stay empty (close wakes everyone;
//       a send throws, a recv returns at once). Elements already buffered
//       stay receivable; closed never goes back to false.
//   C4. A value is moved exactly once per hop: sender's slot -> receiver's
//       room, or sender's slot -> ring slot -> receiver's room. Whoever
//       moves it out of a ring slot destroys the slot's object; the ring
//       holds constructed objects exactly at [recvx, recvx + count).
//   C5. lock_ is never held across a switch except by being handed to
//       park's unlockf; nothing is thrown and no fiber is readied while it
//       is held (the waker unlocks first, as Go's send/recv call unlockf
//       before goready).
//   C6. After its final unlock, an operation does not touch the channel:
//       a woken fiber may drop the last handle at once.
//
// Protocol (send v, blocking):
//   1. preempt_check (a safe point); lock.
//   2. closed: unlock, throw "send on closed channel".
//   3. a receiver waits: dequeue it, move v into its room, success = true,
//      param = its waiter; unlock; ready it. (Unbuffered handoff goes
//      straight from stack to stack.)
//   4. room in the ring: move v to ring[sendx]; unlock.
//   5. else enqueue a waiter {g, &v} on sendq and park with an unlockf that
//      releases the lock. Woken by a receiver (success: v was taken) or by
//      close (no success: throw "send on closed channel").
// Protocol (recv, blocking):
//   1. preempt_check; lock.
//   2. a sender waits: dequeue it. Unbuffered: move its value into our
//      room. Buffered (ring full, C2): move ring[recvx] into our room and
//      the sender's value into that slot, advancing recvx and sendx together
//      so the order stays FIFO. Unlock; ready it.
//   3. ring not empty: move ring[recvx] out; unlock.
//   4. closed: unlock; report closed (nullopt).
//   5. else enqueue on recvq and park; woken with success (value in our
//      room) or without (closed).
// Protocol (close):
//   1. lock; already closed: unlock, throw "close of closed channel".
//   2. closed = true; dequeue every receiver and every sender (success =
//      false), chaining their Gs through G::schedlink (they are ours to
//      wake, so the link is free).
//   3. unlock; ready each.
// try_send/try_recv are steps 2-4 without the safe point and without
// parking; they never use the current G, so a timer callback on g0 (holding
// a P, which ready() needs) may call them, and close too.
// A nil channel has no ChanCore at all: the handle (chan.hpp) tests for it
// and calls nil_chan_* instead, which park for good without any queue (send,
// recv), report "never ready" (try_*), or throw (close); select leaves its
// cases out (select.cpp step 0). No invariant above concerns it.
//
// Rejected:
//   - Go's lock-free fast path for non-blocking ops on a full/empty channel:
//     it needs atomics on the queue heads and the closed flag, and saves one
//     uncontended CAS only on the failing path.
//   - One mutex + condition variable per channel: blocks OS threads.
//   - Heap-allocated wait records (or a sudog cache): the waiter's frame
//     outlives its wait, so its stack is the natural place.
//   - std::function/virtual element handling: an ElemOps table of two
//     function pointers, skipped entirely for trivially copyable T.
//   - A separate buffer allocation: the ring lives right behind the core,
//     one allocation per channel.
#include <weft/internal/chan_core.hpp>

#include <algorithm>
#include <limits>
#include <stdexcept>

#include <weft/chan.hpp>
#include "runtime/base/check.hpp"
#include "sched/call_context.hpp"
#include "sched/collector_support.hpp"
#include "sched/fiber.hpp"
#include "sched/sched.hpp"

namespace weft::detail {

namespace {

[[noreturn]] void throw_closed(const char* what) { throw ChannelClosed(what); }

constexpr const char* kSendClosed = "send on closed channel";
constexpr const char* kCloseClosed = "close of closed channel";
constexpr const char* kCloseNil = "close of nil channel";

size_t core_align(const ElemOps* ops) { return std::max(alignof(ChanCore), ops->align); }
size_t buf_offset(const ElemOps* ops) {
    size_t a = ops->align;
    return (sizeof(ChanCore) + a - 1) / a * a;
}

// The entry of a blocking operation: its context check (a fiber holding a
// P, or g0 holding one for what does not block; call_context.hpp) and
// preemption point (preempt_check's flag test, inlined). Returns the
// calling G (null on g0) for the blocking path, so an operation looks up
// the current G once instead of twice.
sched::G* safe_point(const char* api) {
    sched::G* g = nullptr;
    sched::P* p = sched::current_p_and_g(&g);
    if (p == nullptr) [[unlikely]]
        sched::misuse(api, sched::call_context());  // a plain thread, no run, inside weft::blocking
    // Relaxed: as G::preempt says, a late observation only delays the yield.
    if (g && g->preempt.load(std::memory_order_relaxed)) sched::preempt_check(api);
    return g;
}

// The entry of an operation that never blocks: the same context check.
void check_context(const char* api) {
    if (sched::current_p() == nullptr) [[unlikely]]
        sched::misuse(api, sched::call_context());
}

// Readies a chain of Gs linked through schedlink (close step 3).
void ready_list(sched::G* g) {
    while (g) {
        sched::G* next = g->schedlink;
        g->schedlink = nullptr;
        sched::ready(g);
        g = next;
    }
}

}  // namespace

void nil_chan_block(const char* api, bool send) {
    safe_point(api);
    // No unlockf and no queue: nothing can ready this fiber (Go's gopark
    // with a nil unlockf). park names the call if this is no fiber.
    sched::park(nullptr, nullptr, send ? sched::WaitReason::kChanSendNilChan : sched::WaitReason::kChanReceiveNilChan);
    WEFT_UNREACHABLE("an operation on a nil channel resumed");
}

void nil_chan_check(const char* api) { check_context(api); }

void nil_chan_close() {
    check_context("Chan::close");
    throw_closed(kCloseNil);
}

Waiter* WaitQueue::dequeue() noexcept {
    for (;;) {
        Waiter* w = first_;
        if (w == nullptr) return nullptr;
        first_ = w->next;
        if (first_) {
            first_->prev = nullptr;
        } else {
            last_ = nullptr;
        }
        w->next = nullptr;
        if (w->is_select) {
            uint32_t expected = 0;
            // seq_cst: several wakers on different channels race for the
            // same fiber; exactly one CAS may win (select invariant X1).
            if (!w->g->select_done.compare_exchange_strong(expected, 1)) continue;
        }
        return w;
    }
}

ChanCore* ChanCore::make(const ElemOps* ops, size_t cap) {
    size_t off = buf_offset(ops);
    if (cap > (std::numeric_limits<size_t>::max() - off) / ops->size)
        throw std::length_error("weft::Chan: capacity out of range");
    size_t total = off + cap * ops->size;
    void* mem = ::operator new(total, std::align_val_t{core_align(ops)});
    auto* base = static_cast<unsigned char*>(mem);
    auto* c = ::new (mem) ChanCore(ops, cap, cap ? base + off : nullptr);
    if (c->is_gc_root()) {
        c->scan = &ChanCore::scan_ring;
        gc::detail::external_root_register(c);  // empty: nothing to shade yet
    }
    return c;
}

void ChanCore::scan_ring(gc::detail::ExternalRoot* self, gc::detail::ExternalRoot::RangeFn range, void* ctx) {
    auto* c = static_cast<ChanCore*>(self);
    c->lock_.lock();
    // C4: the constructed slots are [recvx, recvx + count) around the ring.
    size_t n = c->count_.load(std::memory_order_relaxed);  // relaxed: under lock_
    size_t first = std::min(n, c->cap_ - c->recvx_);
    if (first > 0) range(ctx, c->slot(c->recvx_), first * c->ops_->size);
    if (n > first) range(ctx, c->slot(0), (n - first) * c->ops_->size);
    c->lock_.unlock();
}

void ChanCore::destroy() noexcept {
    // Last handle gone. A fiber may still sit in a queue only if it was
    // abandoned at shutdown (run() returned while it waited on a channel it
    // reached by reference); it never runs again, so its waiter is ignored.
    if (is_gc_root()) gc::detail::external_root_unregister(this);
    size_t n = count_.load(std::memory_order_relaxed);  // relaxed: sole owner now (acq_rel release())
    for (size_t i = 0, x = recvx_; i < n; i++) {
        destroy_elem(slot(x));
        x = x + 1 == cap_ ? 0 : x + 1;
    }
    std::align_val_t align{core_align(ops_)};
    this->~ChanCore();
    ::operator delete(static_cast<void*>(this), align);
}

void ChanCore::buf_put(void* src) noexcept {
    move_elem(slot(sendx_), src);
    ring_barrier(slot(sendx_));
    sendx_ = sendx_ + 1 == cap_ ? 0 : sendx_ + 1;
    // Relaxed: count_ is written only under lock_ (see len()).
    count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void ChanCore::buf_take(void* dst) noexcept {
    void* s = slot(recvx_);
    move_elem(dst, s);
    destroy_elem(s);  // C4
    recvx_ = recvx_ + 1 == cap_ ? 0 : recvx_ + 1;
    // Relaxed: as buf_put.
    count_.store(count_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

sched::G* ChanCore::send_to_receiver(Waiter* w, void* src) noexcept {
    move_elem(w->elem, src);
    w->success = true;
    sched::G* g = w->g;
    // The value now lives on g's stack, which the collector may have
    // scanned while g was parked, and g may stay queued past mark
    // termination: have that scan repeated (as if g had run).
    if (ops_->may_hold_refs) sched::track_run(g);
    g->param = w;
    return g;
}

sched::G* ChanCore::recv_from_sender(Waiter* w, void* dst) noexcept {
    if (cap_ == 0) {
        move_elem(dst, w->elem);
    } else {
        // C2: the ring is full. Take its head; the sender's value goes to
        // the freed slot, which becomes the tail.
        void* s = slot(recvx_);
        move_elem(dst, s);
        destroy_elem(s);
        move_elem(s, w->elem);
        ring_barrier(s);
        recvx_ = recvx_ + 1 == cap_ ? 0 : recvx_ + 1;
        sendx_ = recvx_;
    }
    w->success = true;
    sched::G* g = w->g;
    g->param = w;
    return g;
}

bool ChanCore::park_unlock(sched::G*, void* self) {
    static_cast<ChanCore*>(self)->lock_.unlock();
    return true;
}

void ChanCore::send(void* elem) {
    sched::G* g = safe_point("Chan::send");  // step 1
    lock_.lock();
    if (closed_) {  // step 2
        lock_.unlock();
        throw_closed(kSendClosed);
    }
    if (Waiter* w = recvq_.dequeue()) {  // step 3
        sched::G* rg = send_to_receiver(w, elem);
        lock_.unlock();
        sched::ready(rg);
        return;
    }
    if (count_.load(std::memory_order_relaxed) < cap_) {  // step 4; relaxed: under lock_
        buf_put(elem);
        lock_.unlock();
        return;
    }
    // step 5
    WEFT_CHECK(g != nullptr, "Chan::send would block outside a fiber");
    Waiter w;
    w.g = g;
    w.c = this;
    w.elem = elem;
    g->param = nullptr;
    sendq_.enqueue(&w);
    sched::park(&ChanCore::park_unlock, this, sched::WaitReason::kChanSend);
    WEFT_DCHECK(g->param == &w, "send woken without its waiter");
    g->param = nullptr;
    if (!w.success) throw_closed(kSendClosed);
}

bool ChanCore::recv(void* dst) {
    sched::G* g = safe_point("Chan::recv");  // step 1
    lock_.lock();
    if (Waiter* w = sendq_.dequeue()) {  // step 2
        sched::G* sg = recv_from_sender(w, dst);
        lock_.unlock();
        sched::ready(sg);
        return true;
    }
    if (count_.load(std::memory_order_relaxed) > 0) {  // step 3; relaxed: under lock_
        buf_take(dst);
        lock_.unlock();
        return true;
    }
    if (closed_) {  // step 4
        lock_.unlock();
        return false;
    }
    // step 5
    WEFT_CHECK(g != nullptr, "Chan::recv would block outside a fiber");
    Waiter w;
    w.g = g;
    w.c = this;
    w.elem = dst;
    g->param = nullptr;
    recvq_.enqueue(&w);
    sched::park(&ChanCore::park_unlock, this, sched::WaitReason::kChanReceive);
    WEFT_DCHECK(g->param == &w, "recv woken without its waiter");
    g->param = nullptr;
    return w.success;
}

bool ChanCore::try_send(void* elem) {
    check_context("Chan::try_send");
    lock_.lock();
    if (closed_) {
        lock_.unlock();
        throw_closed(kSendClosed);
    }
    if (Waiter* w = recvq_.dequeue()) {
        sched::G* g = send_to_receiver(w, elem);
        lock_.unlock();
        sched::ready(g);
        return true;
    }
    if (count_.load(std::memory_order_relaxed) < cap_) {  // relaxed: under lock_
        buf_put(elem);
        lock_.unlock();
        return true;
    }
    lock_.unlock();
    return false;
}

RecvStatus ChanCore::try_recv(void* dst) {
    check_context("Chan::try_recv");
    lock_.lock();
    if (Waiter* w = sendq_.dequeue()) {
        sched::G* g = recv_from_sender(w, dst);
        lock_.unlock();
        sched::ready(g);
        return RecvStatus::kOk;
    }
    if (count_.load(std::memory_order_relaxed) > 0) {  // relaxed: under lock_
        buf_take(dst);
        lock_.unlock();
        return RecvStatus::kOk;
    }
    bool closed = closed_;
    lock_.unlock();
    return closed ? RecvStatus::kClosed : RecvStatus::kEmpty;
}

bool ChanCore::drain() {
    lock_.lock();
    size_t n = count_.load(std::memory_order_relaxed);  // relaxed: under lock_
    for (size_t i = 0; i < n; i++) {
        destroy_elem(slot(recvx_));  // C4: [recvx, recvx + count) are constructed
        recvx_ = recvx_ + 1 == cap_ ? 0 : recvx_ + 1;
    }
    count_.store(0, std::memory_order_relaxed);  // relaxed: as buf_put
    sendx_ = recvx_;
    // C2: a sender waits only while the ring is full; it has room now.
    sched::G* head = nullptr;
    sched::G** tail = &head;
    while (count_.load(std::memory_order_relaxed) < cap_) {  // relaxed: under lock_
        Waiter* w = sendq_.dequeue();
        if (w == nullptr) break;
        buf_put(w->elem);
        w->success = true;
        sched::G* g = w->g;
        g->param = w;
        g->schedlink = nullptr;
        *tail = g;
        tail = &g->schedlink;
    }
    lock_.unlock();
    ready_list(head);
    return n > 0;
}

void ChanCore::close() {
    check_context("Chan::close");
    lock_.lock();
    if (closed_) {  // step 1
        lock_.unlock();
        throw_closed(kCloseClosed);
    }
    closed_ = true;  // step 2
    sched::G* head = nullptr;
    sched::G** tail = &head;
    for (WaitQueue* q : {&recvq_, &sendq_}) {
        while (Waiter* w = q->dequeue()) {
            w->success = false;
            sched::G* g = w->g;
            g->param = w;
            g->schedlink = nullptr;
            *tail = g;
            tail = &g->schedlink;
        }
    }
    lock_.unlock();
    ready_list(head);  // step 3
}

}  // namespace weft::detail
