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
    // The write barrier's shade of `obj`, after its mark bit is set and
    // before it is queued for tracing: obj is black in effect, though what
    // it points to may be white (issue 5's step 3). With a P, a stop-the-
    // world waits for this M (it is not at a safe point); in the
    // fault_late_shade build, on an M without a P, it does not.
    kBarrierMarked,
    // exitsyscall, before the fiber tries to take a P back (its M holds
    // none); and once it holds one, just before it returns to the caller
    // (whichever path got the P). On the fiber's own thread; the first may
    // block the thread, neither may park the fiber.
    kExitSyscallBeforeP,
    kExitSyscallAfterP,
    // find_runnable, step 6: this M gave its P up while spinning and is
    // about to stop spinning (it then looks at the run queues once more).
    // On the M's own thread, which holds no P; may block the thread.
    kDropSpinning,
    // start_the_world, once the Ps with work have their Ms and the pause's
    // end is taken, before it wakes an extra M for the idle Ps. On the
    // starter's thread; may not block.
    kStartWakeIdle,
    // sysmon's network poll took `arg` fibers off their descriptors and has
    // not yet queued them. On sysmon's thread (no M, no P); may block it.
    kSysmonPolled,
    // A cache refill's search of a central list (gc/heap.cpp) is over: it
    // swept `arg` spans; `obj` is the central (gc::detail::Central). The
    // refill next takes the span it found or grows the heap. On the
    // allocating fiber's thread, which holds a P; may not block.
    kRefillSwept,
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
