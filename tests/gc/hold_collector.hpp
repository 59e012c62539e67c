// hold_collector.hpp — what the hook-driven collector tests share: holding
// the collector at a phase switch (runtime/base/test_hooks.hpp,
// kPhaseSwitched), and a cycle started on another fiber that is held there.
//
// A test's hook calls hold_at_phase(e) first. For every phase but mark
// termination the collector's fiber parks (sleeping) at g_hold_phase until
// g_collector_release; at mark termination, where the world is stopped and
// nothing may park, g_stw_action runs instead.
#pragma once

#include <atomic>
#include <chrono>

#include <weft/weft.hpp>
#include "gc/phase.hpp"
#include "runtime/base/test_hooks.hpp"

namespace gctest {

inline std::atomic<int> g_hold_phase{-1};
inline std::atomic<bool> g_collector_held{false}, g_collector_release{false};
inline void (*g_stw_action)() = nullptr;

// True if e was the held phase switch (and it has been handled).
inline bool hold_at_phase(const weft::base::HookEvent& e) {
    using weft::gc::detail::Phase;
    if (e.point != weft::base::HookPoint::kPhaseSwitched || static_cast<int>(e.arg) != g_hold_phase.load())
        return false;
    if (static_cast<Phase>(e.arg) == Phase::kMarkTermination) {
        if (g_stw_action) g_stw_action();
        return true;
    }
    g_collector_held = true;
    while (!g_collector_release.load()) weft::sleep(std::chrono::microseconds(50));
    return true;
}

// Clears the hold state for a new test (before the hook is installed).
inline void reset_hold() {
    g_collector_held = false;
    g_collector_release = false;
}

// Clears what a test set (after the hook is removed).
inline void clear_hold() {
    g_hold_phase = -1;
    g_stw_action = nullptr;
}

// A test's hook, installed for a scope: the hold state is reset before it
// is installed and cleared after it is removed.
class HookInstalled {
public:
    explicit HookInstalled(weft::base::HookFn hook) {
        reset_hold();
        // Release: pairs with test_hook's acquire (the state above is set).
        weft::base::g_test_hook.store(hook, std::memory_order_release);
    }
    ~HookInstalled() {
        weft::base::g_test_hook.store(nullptr, std::memory_order_release);
        clear_hold();
    }
    HookInstalled(const HookInstalled&) = delete;
    HookInstalled& operator=(const HookInstalled&) = delete;
};

// Starts a cycle on another fiber and returns once the collector sits in
// phase p (held until release()).
struct HeldCycle {
    weft::WaitGroup wg;
    explicit HeldCycle(weft::gc::detail::Phase p) {
        g_hold_phase = static_cast<int>(p);
        wg.add(1);
        weft::go([this] {
            weft::gc::collect();
            wg.done();
        });
        while (!g_collector_held.load()) weft::sleep(std::chrono::microseconds(50));
    }
    void release() {
        g_collector_release = true;
        wg.wait();
    }
};

}  // namespace gctest
