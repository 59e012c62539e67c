// fiber_local.hpp — per-fiber variables (what thread_local is for threads).
//
//   static weft::FiberLocal<RequestContext> ctx;
//   ctx.get().user = "alice";   // this fiber's own RequestContext
//
// The value is default-constructed on first get() in each fiber and
// destroyed when that fiber exits. Use from fibers only. A FiberLocal should
// have static storage duration: keys are never recycled (at most 256).
#pragma once

#include <cstdint>

#include <weft/internal/entry.hpp>

namespace weft {

template <class T>
class FiberLocal {
public:
    FiberLocal() : key_(sched::fiber_local_key_alloc([](void* p) { delete static_cast<T*>(p); })) {}
    FiberLocal(const FiberLocal&) = delete;
    FiberLocal& operator=(const FiberLocal&) = delete;

    T& get() {
        void** slot = sched::fiber_local_slot(key_);
        if (*slot == nullptr) *slot = new T();
        return *static_cast<T*>(*slot);
    }
    T* operator->() { return &get(); }
    T& operator*() { return get(); }

private:
    uint32_t key_;
};

}  // namespace weft
