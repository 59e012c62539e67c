// chan_core.hpp — the type-erased channel shared by every Chan<T> (as Go's
// hchan and sudog). Internal: users see runtime/chan.hpp and select.hpp.
//
// Chan<T> is a thin typed handle over one ChanCore; everything that depends
// on T (moving and destroying an element) goes through an ElemOps table, so
// the locking, queueing and ring logic is compiled once, in chan_core.cpp.
// The design essay (invariants, protocols, rejected designs) opens
// chan_core.cpp; select's is in select.cpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

#include <weft/internal/barrier.hpp>
#include <weft/internal/external_root.hpp>
#include <weft/internal/lock.hpp>

namespace weft::sched {
struct G;  // sched/g.hpp: the channel core only holds pointers to fibers
}  // namespace weft::sched

namespace weft {
enum class RecvStatus;  // defined in chan.hpp
}  // namespace weft

namespace weft::detail {

// How the core moves and destroys elements of one type T.
struct ElemOps {
    size_t size;
    size_t align;
    // Trivially copyable and destructible: relocated by memcpy, never
    // destroyed (no indirect call on the hot path).
    bool trivial;
    // May hold GC references (gc/external_root.hpp): the ring is a root for
    // the collector and copies into it or into another fiber's room are
    // made known to it.
    bool may_hold_refs;
    void (*move_construct)(void* dst, void* src) noexcept;  // ::new (dst) T(std::move(*src))
    void (*destroy)(void* p) noexcept;                      // p->~T()
};

template <class T>
void elem_move_construct(void* dst, void* src) noexcept {
    ::new (dst) T(std::move(*std::launder(static_cast<T*>(src))));
}

template <class T>
void elem_destroy(void* p) noexcept {
    std::launder(static_cast<T*>(p))->~T();
}

template <class T>
inline constexpr ElemOps kElemOps{
    sizeof(T),
    alignof(T),
    std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
    gc::detail::kMayHoldRefs<T>,
    &elem_move_construct<T>,
    &elem_destroy<T>,
};

// Uninitialised, aligned room for one T on a stack: where a receiver asks
// the core to construct the value it receives.
template <class T>
struct Slot {
    alignas(T) unsigned char bytes[sizeof(T)];
    void* ptr() noexcept { return bytes; }
    T& get() noexcept { return *std::launder(reinterpret_cast<T*>(bytes)); }
    void destroy() noexcept { get().~T(); }
};

class ChanCore;

// A fiber blocked on one channel (Go's sudog). It lives on the blocked
// fiber's own stack: in ChanCore::send/recv's frame, or in select's case
// array. Ownership of its fields:
//   - while it is in a queue: everything, under the channel's lock;
//   - once a waker has dequeued it: `success` (and G::param) are written by
//     that waker before ready(g) and read by the owner after park returns
//     (ordered by the run-queue hand-off); nobody else touches it.
struct Waiter {
    sched::G* g = nullptr;
    ChanCore* c = nullptr;   // the channel whose queue holds it (select pass 3)
    void* elem = nullptr;    // send: the value to move from; recv: raw room to construct into
    Waiter* next = nullptr;  // queue links; both null when not queued
    Waiter* prev = nullptr;
    bool is_select = false;  // wakers must win g->select_done first (Go's isSelect)
    bool success = false;    // set by the waker: true = value passed, false = woken by close
};

// FIFO of Waiters (Go's waitq). Guarded by the owning channel's lock.
class WaitQueue {
public:
    bool empty() const noexcept { return first_ == nullptr; }
    void enqueue(Waiter* w) noexcept {
        w->next = nullptr;
        w->prev = last_;
        if (last_) {
            last_->next = w;
        } else {
            first_ = w;
        }
        last_ = w;
    }
    // Removes and returns the first waiter this caller may wake, or null.
    // A select waiter whose fiber was already won by another case is
    // dropped on the way (its fiber removes the rest in select pass 3).
    Waiter* dequeue() noexcept;
    // Unlinks w if it is still queued here (select pass 3).
    void remove(Waiter* w) noexcept {
        if (w->prev == nullptr && first_ != w) return;  // already dequeued
        if (w->prev) {
            w->prev->next = w->next;
        } else {
            first_ = w->next;
        }
        if (w->next) {
            w->next->prev = w->prev;
        } else {
            last_ = w->prev;
        }
        w->next = nullptr;
        w->prev = nullptr;
    }

private:
    Waiter* first_ = nullptr;
    Waiter* last_ = nullptr;
};

struct SelectOps;  // select.cpp: works on several channels' internals

// Operations on a nil channel (a Chan handle without a core), as Go's
// chansend/chanrecv/closechan on a nil hchan. Each first checks its context
// like the live operation (naming `api`).
//   send, recv: park the fiber for good, with the wait reason "chan send
//     (nil chan)" / "chan receive (nil chan)"; nothing ever readies it.
//   try_send, try_recv: never ready; only the context check runs here.
//   close: throws ChannelClosed("close of nil channel").
[[noreturn]] void nil_chan_block(const char* api, bool send);
void nil_chan_check(const char* api);
[[noreturn]] void nil_chan_close();

// One channel. Allocated once with its buffer right behind it; freed when
// the last Chan handle releases it. Method contracts are those of Chan<T>
// (runtime/chan.hpp), with elements passed as untyped pointers. A buffered
// channel whose elements may hold GC references is an external root of the
// collector from make() to destroy() (the ExternalRoot base).
class ChanCore : private gc::detail::ExternalRoot {
public:
    // Throws std::length_error if cap slots of ops->size do not fit.
    static ChanCore* make(const ElemOps* ops, size_t cap);

    ChanCore(const ChanCore&) = delete;
    ChanCore& operator=(const ChanCore&) = delete;

    void retain() noexcept {
        // Relaxed: a new handle is made from an existing one, which keeps
        // the channel alive; nothing is published by the increment.
        refs_.fetch_add(1, std::memory_order_relaxed);
    }
    void release() noexcept {
        // acq_rel: every handle's last use happens-before the final
        // decrement's destruction of the buffer (as shared_ptr).
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
    }

    // From a fiber. Moves from *elem once the value is taken; throws
    // ChannelClosed if the channel is or becomes closed.
    void send(void* elem);
    // From a fiber. Constructs the value at dst and returns true, or returns
    // false (dst untouched) once the channel is closed and drained.
    bool recv(void* dst);
    // From a fiber or from g0 holding a P. Never block.
    bool try_send(void* elem);
    RecvStatus try_recv(void* dst);
    void close();
    // From anywhere (no context check): destroys every value buffered now
    // and returns whether there was one. Senders that waited for room (it
    // was full) move their values in and are readied, which needs a P or
    // a plain thread (sched::ready). For weft::Timer and Ticker, whose
    // stop and reset drop a value delivered before them (time.hpp).
    bool drain();

    size_t len() const noexcept {
        // Relaxed: a snapshot; count_ is only written under lock_, and a
        // racing reader cannot act on it without the lock anyway.
        return count_.load(std::memory_order_relaxed);
    }
    size_t cap() const noexcept { return cap_; }

private:
    friend struct SelectOps;

    ChanCore(const ElemOps* ops, size_t cap, unsigned char* buf) : ops_(ops), cap_(cap), buf_(buf) {}
    ~ChanCore() = default;
    void destroy() noexcept;
    bool is_gc_root() const noexcept { return cap_ > 0 && ops_->may_hold_refs; }
    // ExternalRoot::scan: the constructed slots, under lock_.
    static void scan_ring(gc::detail::ExternalRoot* self, gc::detail::ExternalRoot::RangeFn range, void* ctx);

    // Helpers below run with lock_ held.
    void* slot(size_t i) const noexcept { return buf_ + i * ops_->size; }
    void move_elem(void* dst, void* src) const noexcept {
        if (!ops_->trivial) {
            ops_->move_construct(dst, src);
            return;
        }
        // Constant-size copies for the common sizes: a libc call per
        // element would cost more than the rest of an uncontended send.
        switch (ops_->size) {
            case 1: std::memcpy(dst, src, 1); return;
            case 2: std::memcpy(dst, src, 2); return;
            case 4: std::memcpy(dst, src, 4); return;
            case 8: std::memcpy(dst, src, 8); return;
            case 16: std::memcpy(dst, src, 16); return;
        }
        std::memcpy(dst, src, ops_->size);
    }
    void destroy_elem(void* p) const noexcept {
        if (!ops_->trivial) ops_->destroy(p);
    }
    // A value just moved into ring slot s: while the collector marks, it
    // must learn of it (the ring may have been scanned already).
    void ring_barrier(void* s) const noexcept {
        if (ops_->may_hold_refs) gc::detail::write_barrier_range(s, ops_->size);
    }
    // Ring operations (count_ < cap_ / count_ > 0 respectively).
    void buf_put(void* src) noexcept;
    void buf_take(void* dst) noexcept;
    // Completes a handoff with a dequeued waiter; returns the G to ready()
    // once lock_ is released.
    sched::G* send_to_receiver(Waiter* w, void* src) noexcept;
    sched::G* recv_from_sender(Waiter* w, void* dst) noexcept;

    static bool park_unlock(sched::G* g, void* self);

    base::Lock lock_{base::LockRank::kSudog};
    std::atomic<uint32_t> refs_{1};
    const ElemOps* const ops_;
    const size_t cap_;
    unsigned char* const buf_;  // cap_ slots, right behind the core (null when cap_ == 0)
    // Under lock_ (count_ also read racily by len()).
    std::atomic<size_t> count_{0};
    size_t sendx_ = 0;  // next slot to fill
    size_t recvx_ = 0;  // next slot to take
    bool closed_ = false;
    WaitQueue recvq_;
    WaitQueue sendq_;
};

}  // namespace weft::detail
