// sched_hooks.hpp — the scheduler internals that tests reach (STYLE habit 9).
#pragma once

#include <atomic>
#include <source_location>
#include <cstdint>
#include <utility>

#include "sched/fiber.hpp"
#include "sched/sched.hpp"
#include "sched/stack.hpp"

namespace weft::suite {

// Parks the calling fiber for good (nobody will ready it).
inline void park_forever() { sched::park(nullptr, nullptr, sched::WaitReason::kTestHook); }

// A lost-wakeup-proof wait slot built directly on park/ready, for one
// waiter at a time. One word: 0 empty, 1 posted, otherwise the parked G.
// The unlockf's CAS that publishes the waiter is its last access to the
// Baton: once published, a post may ready the waiter, which may return and
// free the Baton.
class Baton {
public:
    void wait() {
        sched::G* self = sched::current_g();
        for (;;) {
            uintptr_t posted = kPosted;
            if (state_.compare_exchange_strong(posted, kEmpty)) return;
            self->param = nullptr;
            sched::park(
                [](sched::G* g, void* self_baton) {
                    uintptr_t empty = kEmpty;
                    return static_cast<Baton*>(self_baton)->state_.compare_exchange_strong(
                        empty, reinterpret_cast<uintptr_t>(g));
                },
                this, sched::WaitReason::kTestHook);
            if (self->param == this) return;  // readied by post(): consumed
        }
    }
    void post() {
        for (;;) {
            uintptr_t s = state_.load();
            if (s == kPosted) return;
            if (s == kEmpty) {
                if (state_.compare_exchange_strong(s, kPosted)) return;
                continue;
            }
            if (state_.compare_exchange_strong(s, kEmpty)) {
                auto* g = reinterpret_cast<sched::G*>(s);
                g->param = this;
                sched::ready(g);
                return;
            }
        }
    }

private:
    static constexpr uintptr_t kEmpty = 0, kPosted = 1;
    std::atomic<uintptr_t> state_{kEmpty};
};

inline sched::StackStats stack_stats() { return sched::stack_stats(); }

// weft::run with internal settings (RunConfig) that users cannot reach.
template <class F>
void run_with(const sched::RunConfig& cfg, F&& fn, const std::source_location& site = std::source_location::current()) {
    sched::run_main(cfg, sched::Closure(std::forward<F>(fn)), site);
}

}  // namespace weft::suite
