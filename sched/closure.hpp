// closure.hpp — a fiber's entry function, type-erased, move-only.
//
// Small callables (up to kInline bytes, nothrow-movable) live inside the G,
// so spawning a fiber with a few captures does not allocate; larger ones go
// to the heap. Invoked exactly once; destroyed by its owner (the G) after.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace weft::sched {

class Closure {
public:
    static constexpr size_t kInline = 48;

    Closure() = default;
    template <class F, class D = std::decay_t<F>, class = std::enable_if_t<!std::is_same_v<D, Closure>>>
    explicit Closure(F&& f) {
        if constexpr (sizeof(D) <= kInline && alignof(D) <= alignof(std::max_align_t) &&
                      std::is_nothrow_move_constructible_v<D>) {
            ::new (static_cast<void*>(buf_)) D(std::forward<F>(f));
            ops_ = &kInlineOps<D>;
        } else {
            *reinterpret_cast<D**>(buf_) = new D(std::forward<F>(f));
            ops_ = &kHeapOps<D>;
        }
    }
    Closure(Closure&& o) noexcept { take(o); }
    Closure& operator=(Closure&& o) noexcept {
        if (this != &o) {
            reset();
            take(o);
        }
        return *this;
    }
    Closure(const Closure&) = delete;
    Closure& operator=(const Closure&) = delete;
    ~Closure() { reset(); }

    explicit operator bool() const { return ops_ != nullptr; }
    void operator()() { ops_->invoke(buf_); }
    void reset() {
        if (ops_) ops_->destroy(buf_);
        ops_ = nullptr;
    }
    // The callable's bytes (its captures), wherever they live; for the
    // collector's conservative scan of fibers that hold references in
    // their entry closure. {nullptr, 0} when empty.
    std::pair<const void*, size_t> captures() const {
        if (!ops_) return {nullptr, 0};
        if (ops_->heap) return {*reinterpret_cast<void* const*>(buf_), ops_->size};
        return {buf_, ops_->size};
    }

private:
    struct Ops {
        void (*invoke)(void*);
        void (*move)(void* dst, void* src);  // move-construct dst, destroy src
        void (*destroy)(void*);
        size_t size;  // sizeof the callable
        bool heap;    // buf_ holds a pointer to it
    };
    template <class D>
    static constexpr Ops kInlineOps{
        [](void* p) { (*static_cast<D*>(p))(); },
        [](void* dst, void* src) {
            ::new (dst) D(std::move(*static_cast<D*>(src)));
            static_cast<D*>(src)->~D();
        },
        [](void* p) { static_cast<D*>(p)->~D(); },
        sizeof(D),
        false};
    template <class D>
    static constexpr Ops kHeapOps{
        [](void* p) { (**static_cast<D**>(p))(); },
        [](void* dst, void* src) { *static_cast<D**>(dst) = *static_cast<D**>(src); },
        [](void* p) { delete *static_cast<D**>(p); },
        sizeof(D),
        true};

    void take(Closure& o) {
        ops_ = o.ops_;
        if (ops_) ops_->move(buf_, o.buf_);
        o.ops_ = nullptr;
    }

    alignas(std::max_align_t) unsigned char buf_[kInline];
    const Ops* ops_ = nullptr;
};

}  // namespace weft::sched
