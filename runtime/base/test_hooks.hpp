// test_hooks.hpp — points inside the runtime where a test can run its own
// code, to force an exact interleaving: hold the collector in a phase, run
// a barrier inside a barrier, stop an M between two steps of exitsyscall.
//
// Compiled in only with WEFT_TEST_HOOKS (meson option test_hooks, on
// whenever the test suites are built); otherwise test_hook() is an empty
// inline function and the points cost nothing. With hooks compiled in and
// none installed, a point costs one load. A hook runs on the thread that
// reached the point, with whatever that thread holds (a P, the world
// stopped, no P at all): it may block the OS thread (base::Note, a mutex)
// but must not park a fiber unless the point says it may.
#pragma once

#include <atomic>
#include <cstdint>

namespace weft::base {

enum class HookPoint : uint8_t {
    // The collector switched to phase `arg` (gc::detail::Phase). For
    // GCmarktermination the world is still stopped and the hook runs on the
    // collector's fiber; for the other phases the world has been restarted
    // and the hook runs on the collector's fiber, which it may park.
    kPhaseSwitched,
    // The write barrier's slow path, with the M's inwb set, before shading
    // `obj`: a barriered store made here is a nested barrier.
    kBarrierEnter,
};

struct HookEvent {
    HookPoint point;
    uint64_t arg;
    const void* obj;
};
using HookFn = void (*)(const HookEvent&);

#if defined(WEFT_TEST_HOOKS)
inline constexpr bool kTestHooks = true;
// Acquire/release: the installer's state is visible to the hook.
extern std::atomic<HookFn> g_test_hook;
inline void test_hook(HookPoint p, uint64_t arg = 0, const void* obj = nullptr) {
    if (HookFn h = g_test_hook.load(std::memory_order_acquire)) [[unlikely]]
        h(HookEvent{p, arg, obj});
}
#else
inline constexpr bool kTestHooks = false;
inline void test_hook(HookPoint, uint64_t = 0, const void* = nullptr) {}
#endif

}  // namespace weft::base
