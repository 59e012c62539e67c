// chan.hpp — weft::Chan<T>, Go's channels.
//
//   weft::Chan<int> ch;           // unbuffered: a send waits for a receiver
//   weft::Chan<int> jobs(64);     // buffered: up to 64 values wait inside
//   weft::Chan<int> off(nullptr); // nil: never ready (see below)
//   weft::go([ch] { ch.send(1); ch.close(); });
//   for (int v : ch) use(v);      // receives until closed and drained
//
// Semantics are the Go specification's:
//  - Values are handed over in FIFO order; blocked senders and receivers
//    are served first come, first served. An unbuffered send completes only
//    when a receiver has taken the value.
//  - close() wakes every blocked receiver (they get nullopt once the buffer
//    is drained) and every blocked sender (they throw ChannelClosed). Values
//    buffered before close() are still received.
//  - Errors are exceptions of type ChannelClosed, what() exactly:
//      "send on closed channel"   send/try_send/select on a closed channel
//      "close of closed channel"  close() twice
//      "close of nil channel"     close() on a nil channel
//
// Nil channels (Go's nil chan): Chan<T>(nullptr), `ch = nullptr`, and a
// moved-from handle are nil; `ch == nullptr` tests it. Unlike Go's zero
// value, a default-constructed Chan<T>() is NOT nil: it is a live
// unbuffered channel (code relies on that). On a nil channel:
//  - send, recv and range-for block forever: the fiber parks with the wait
//    reason "chan send (nil chan)" / "chan receive (nil chan)", which fiber
//    dumps, the deadlock report and weft::metrics() show;
//  - try_send returns false and try_recv kEmpty: never ready;
//  - close throws ChannelClosed("close of nil channel");
//  - len and cap are 0;
//  - a select case on it is never chosen (select.hpp): setting a case's
//    channel to nullptr switches the case off, as in Go.
//
// Contexts:
//  - send, recv and range-for may block: call them from a fiber. They are
//    preemption points.
//  - try_send, try_recv, close, len and cap never block: call them from a
//    fiber, or from the scheduler (g0 holding a P, e.g. a timer callback).
//  - Elsewhere (a plain thread, inside weft::blocking, no run active)
//    every call but len and cap is fatal, naming it; a plain thread
//    starts a fiber to do it (weft::Spawner). In a destructor run by the
//    collector, a call that would block is fatal.
//
// Handles: a Chan is a cheap, copyable handle with shared ownership (an
// atomic reference count); copies refer to the same channel and == compares
// identity (two nil handles are equal). Copy it into fibers (go([ch] {...}))
// rather than capturing a reference to a local. Every operation is const:
// constness is the handle's (which channel it names), not the channel's, so
// a const Chan& and a lambda's by-value capture (no `mutable`) can send,
// receive and close. A moved-from handle is nil.
// Values still buffered when the last handle goes away are destroyed then.
//
// T must be nothrow move-constructible and nothrow destructible (elements
// are moved while a runtime lock is held); move-only types work.
#pragma once

#include <cstddef>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <weft/internal/chan_core.hpp>

namespace weft {

// A user error on a closed channel (what(): see above).
class ChannelClosed : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

enum class RecvStatus {
    kOk,      // a value was received
    kEmpty,   // nothing to receive now; the channel is open
    kClosed,  // closed and drained
};

template <class T>
class Chan;

namespace detail {
// How select.hpp reaches a handle's core without widening Chan's interface.
struct ChanAccess {
    template <class T>
    static ChanCore* core(const Chan<T>& ch) noexcept {
        return ch.core_;
    }
};
}  // namespace detail

template <class T>
class Chan {
    static_assert(std::is_object_v<T> && !std::is_const_v<T> && !std::is_array_v<T>,
                  "weft::Chan<T>: T must be a non-const, non-array object type");
    static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_destructible_v<T>,
                  "weft::Chan<T>: T must be nothrow move-constructible and destructible");

public:
    using value_type = T;

    // A live unbuffered channel (not nil: see the top of this file).
    // Allocates; from any context.
    Chan() : Chan(size_t{0}) {}
    // Buffered with room for cap values (0: unbuffered). Throws
    // std::length_error if the buffer cannot be sized.
    explicit Chan(size_t cap) : core_(detail::ChanCore::make(&detail::kElemOps<T>, cap)) {}
    // A nil channel: Chan<T>(nullptr). Allocates nothing. (Constrained so
    // that Chan<T>(0) stays an unbuffered channel.)
    template <class N>
        requires std::is_null_pointer_v<N>
    Chan(N) noexcept : core_(nullptr) {}

    Chan(const Chan& o) noexcept : core_(o.core_) {
        if (core_) core_->retain();
    }
    Chan(Chan&& o) noexcept : core_(std::exchange(o.core_, nullptr)) {}
    Chan& operator=(const Chan& o) noexcept {
        Chan(o).swap(*this);
        return *this;
    }
    Chan& operator=(Chan&& o) noexcept {
        Chan(std::move(o)).swap(*this);
        return *this;
    }
    // ch = nullptr: this handle becomes nil (releasing its channel).
    template <class N>
        requires std::is_null_pointer_v<N>
    Chan& operator=(N) noexcept {
        Chan(nullptr).swap(*this);
        return *this;
    }
    ~Chan() {
        if (core_) core_->release();
    }
    void swap(Chan& o) noexcept { std::swap(core_, o.core_); }

    // Same channel? (Both nil counts as the same.)
    friend bool operator==(const Chan& a, const Chan& b) noexcept { return a.core_ == b.core_; }
    // ch == nullptr: is it nil?
    template <class N>
        requires std::is_null_pointer_v<N>
    friend bool operator==(const Chan& a, N) noexcept {
        return a.core_ == nullptr;
    }

    // From a fiber. Blocks until a receiver takes v (unbuffered) or v is
    // buffered. Throws ChannelClosed if the channel is closed, or is closed
    // while this send waits; v is then not sent. Nil: blocks forever.
    void send(T v) const {
        if (core_ == nullptr) [[unlikely]]
            detail::nil_chan_block("Chan::send", true);
        core_->send(&v);
    }

    // From a fiber. Blocks until a value arrives; nullopt once the channel
    // is closed and its buffer drained. Nil: blocks forever.
    std::optional<T> recv() const {
        if (core_ == nullptr) [[unlikely]]
            detail::nil_chan_block("Chan::recv", false);
        detail::Slot<T> s;
        std::optional<T> r;
        if (core_->recv(s.ptr())) {
            r.emplace(std::move(s.get()));
            s.destroy();
        }
        return r;
    }

    // Never blocks. True if v was sent (v is then moved-from); false if a
    // send would block (v untouched; always, on a nil channel). Throws
    // ChannelClosed if closed.
    bool try_send(T& v) const {
        if (core_ == nullptr) [[unlikely]] {
            detail::nil_chan_check("Chan::try_send");
            return false;
        }
        return core_->try_send(&v);
    }

    // Never blocks. kOk: out was assigned the value; kEmpty: nothing to
    // receive yet (always, on a nil channel); kClosed: closed and drained.
    // out untouched unless kOk.
    RecvStatus try_recv(T& out) const {
        if (core_ == nullptr) [[unlikely]] {
            detail::nil_chan_check("Chan::try_recv");
            return RecvStatus::kEmpty;
        }
        detail::Slot<T> s;
        RecvStatus st = core_->try_recv(s.ptr());
        if (st == RecvStatus::kOk) {
            out = std::move(s.get());
            s.destroy();
        }
        return st;
    }

    // Never blocks. Wakes every blocked receiver and sender (see above).
    // Throws ChannelClosed("close of closed channel") if already closed,
    // ChannelClosed("close of nil channel") if nil.
    void close() const {
        if (core_ == nullptr) [[unlikely]]
            detail::nil_chan_close();
        core_->close();
    }

    // Values buffered now (a snapshot), and the buffer's capacity (0 and 0
    // for a nil channel).
    size_t len() const noexcept { return core_ ? core_->len() : 0; }
    size_t cap() const noexcept { return core_ ? core_->cap() : 0; }

    // Range-for: `for (T v : ch)` receives until closed and drained. An
    // input iterator; *it yields the received value as an rvalue (bind it
    // by value or auto&&). begin() blocks for the first value (forever on
    // a nil channel).
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        using reference = T&&;

        iterator() = default;
        explicit iterator(const Chan* ch) : ch_(ch) { next(); }
        iterator(iterator&& o) noexcept : ch_(o.ch_) { take(o); }
        iterator& operator=(iterator&& o) noexcept {
            if (this != &o) {
                drop();
                ch_ = o.ch_;
                take(o);
            }
            return *this;
        }
        iterator(const iterator&) = delete;
        iterator& operator=(const iterator&) = delete;
        ~iterator() { drop(); }

        T&& operator*() const noexcept { return std::move(slot_.get()); }
        iterator& operator++() {
            drop();
            next();
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept { return !it.has_; }

    private:
        void next() {
            if (ch_->core_ == nullptr) [[unlikely]]
                detail::nil_chan_block("Chan::recv", false);
            has_ = ch_->core_->recv(slot_.ptr());
        }
        void drop() noexcept {
            if (has_) slot_.destroy();
            has_ = false;
        }
        void take(iterator& o) noexcept {
            has_ = o.has_;
            if (has_) {
                ::new (slot_.ptr()) T(std::move(o.slot_.get()));
                o.drop();
            }
        }

        const Chan* ch_ = nullptr;
        mutable detail::Slot<T> slot_;
        bool has_ = false;
    };

    iterator begin() const { return iterator(this); }
    std::default_sentinel_t end() const noexcept { return {}; }

private:
    friend struct detail::ChanAccess;
    detail::ChanCore* core_;
};

}  // namespace weft
