// backoff.hpp — waiting for another thread to finish a step that takes
// microseconds: a stack scan, a timer callback, the sweep of a span.
//
// One Backoff per wait; call pause() once per failed check. The rounds:
//   1. kSpinRounds of the CPU's pause instruction (the common case: the
//      other thread is running and done within a microsecond or two);
//   2. kYieldRounds of sched_yield (the other thread may be waiting for
//      this very CPU);
//   3. then sleeps, from kFirstSleepNs doubling up to kMaxSleepNs.
// A wait that outlasts the yields is not short any more, and a long run of
// sched_yield calls costs more than the CPU it burns: under the kernel's
// EEVDF scheduler (Linux 6.6+) a yield made while another thread waits for
// the CPU moves the yielder's deadline back, and an M that yielded
// hundreds of times was seen left unrun for milliseconds once it had work
// again (README, Performance). A sleep does not do that, and it leaves
// the CPU to the thread being waited for.
#pragma once

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <sched.h>

#include "runtime/base/cpu_relax.hpp"

namespace weft::base {

class Backoff {
public:
    static constexpr int kSpinRounds = 64;
    static constexpr int kYieldRounds = 8;
    static constexpr int64_t kFirstSleepNs = 10'000;
    static constexpr int64_t kMaxSleepNs = 1'000'000;

    enum class Step { kSpin, kYield, kSleep };

    // What the next pause() does.
    Step next_step() const {
        if (rounds_ < kSpinRounds) return Step::kSpin;
        if (rounds_ < kSpinRounds + kYieldRounds) return Step::kYield;
        return Step::kSleep;
    }
    // How long the next pause() sleeps, if it sleeps.
    int64_t next_sleep_ns() const { return sleep_ns_; }
    int rounds() const { return rounds_; }

    // One round of waiting.
    void pause() {
        switch (next_step()) {
            case Step::kSpin: cpu_relax(); break;
            case Step::kYield: sched_yield(); break;
            case Step::kSleep: {
                timespec ts{static_cast<time_t>(sleep_ns_ / 1'000'000'000), static_cast<long>(sleep_ns_ % 1'000'000'000)};
                nanosleep(&ts, nullptr);  // EINTR: a shorter round, harmless
                sleep_ns_ = std::min(2 * sleep_ns_, kMaxSleepNs);
                break;
            }
        }
        ++rounds_;
    }

private:
    int rounds_ = 0;
    int64_t sleep_ns_ = kFirstSleepNs;
};

}  // namespace weft::base
