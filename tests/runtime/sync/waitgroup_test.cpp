// weft::WaitGroup: waiting for N fibers, reuse, several waiters, lifetime,
// misuse.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <weft/sync.hpp>
#include <weft/weft.hpp>
#include "support/death.hpp"
#include "support/test_util.hpp"

using namespace weft::suite;

namespace {

using namespace std::chrono_literals;

constinit weft::WaitGroup g_static_wg;

}  // namespace

TEST_CASE("WaitGroup: wait returns after every fiber's done, and sees their writes") {
    for (int procs : kProcs) {
        CAPTURE(procs);
        constexpr int kFibers = 64;
        std::vector<int64_t> slots(kFibers, 0);  // plain writes, read after wait()
        std::atomic<int> done_before_wait_returned{0};
        int seen_sum = 0;
        int64_t slot_sum = 0;
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::WaitGroup wg;
            for (int i = 0; i < kFibers; i++) {
                wg.add(1);
                weft::go([&, i] {
                    for (int k = 0; k < i % 5; k++) weft::yield();
                    slots[static_cast<size_t>(i)] = i + 1;
                    done_before_wait_returned.fetch_add(1);
                    wg.done();
                });
            }
            wg.wait();
            seen_sum = done_before_wait_returned.load();
            for (int64_t v : slots) slot_sum += v;
        });
        CHECK(seen_sum == kFibers);
        CHECK(slot_sum == int64_t{kFibers} * (kFibers + 1) / 2);
    }
}

TEST_CASE("WaitGroup: wait on a zero counter returns at once") {
    bool returned = false, after_round = false;
    weft::run(weft::Options{.procs = 1}, [&] {
        weft::WaitGroup wg;
        wg.wait();
        returned = true;
        wg.add(2);
        wg.done();
        wg.add(-1);
        wg.wait();  // back at zero: no fiber needed
        g_static_wg.wait();
        after_round = true;
    });
    CHECK(returned);
    CHECK(after_round);
}

TEST_CASE("WaitGroup: reusable across rounds, with several waiters per round") {
    for (int procs : kProcs) {
        CAPTURE(procs);
        constexpr int kRounds = 30;
        constexpr int kWorkers = 8;
        constexpr int kExtraWaiters = 3;
        std::atomic<int> work{0};
        std::atomic<int> short_waits{0};  // a waiter that returned before the round's work was done
        std::atomic<int> waiters_back{0};
        bool ok = true;
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::WaitGroup wg;
            weft::WaitGroup waiters_done;
            for (int round = 0; round < kRounds; round++) {
                int target = (round + 1) * kWorkers;
                wg.add(kWorkers);
                waiters_done.add(kExtraWaiters);
                for (int w = 0; w < kExtraWaiters; w++) {
                    weft::go([&, target] {
                        wg.wait();
                        if (work.load() < target) short_waits.fetch_add(1);
                        waiters_back.fetch_add(1);
                        waiters_done.done();
                    });
                }
                for (int i = 0; i < kWorkers; i++) {
                    weft::go([&, i] {
                        if (i % 2 == 0) weft::yield();
                        work.fetch_add(1);
                        wg.done();
                    });
                }
                wg.wait();
                if (work.load() != target) ok = false;
                // Every wait() of this round returns before the next add().
                waiters_done.wait();
            }
        });
        CHECK(ok);
        CHECK(work.load() == kRounds * kWorkers);
        CHECK(short_waits.load() == 0);
        CHECK(waiters_back.load() == kRounds * kExtraWaiters);
    }
}

// The waiter may free the group as soon as wait() returns: done() touches
// it last inside the Sema's lock. A violation is a heap-use-after-free
// under AddressSanitizer.
TEST_CASE("WaitGroup: the waiter may destroy the group when wait returns") {
    for (int procs : kProcs) {
        CAPTURE(procs);
        constexpr int kRounds = 300;
        int rounds = 0;
        weft::run(weft::Options{.procs = procs}, [&] {
            for (int r = 0; r < kRounds; r++) {
                auto* wg = new weft::WaitGroup;
                wg->add(2);
                weft::go([wg] { wg->done(); });
                weft::go([wg] {
                    weft::yield();
                    wg->done();
                });
                wg->wait();
                delete wg;
                rounds++;
            }
        });
        CHECK(rounds == kRounds);
    }
}

TEST_CASE("WaitGroup: a negative counter is fatal") {
    auto r = weft::suite::run_in_child([] {
        weft::run(weft::Options{.procs = 1}, [] {
            weft::WaitGroup wg;
            wg.done();
        });
    });
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "fatal error: sync: negative WaitGroup counter"));

    auto r2 = weft::suite::run_in_child([] {
        weft::run(weft::Options{.procs = 2}, [] {
            weft::WaitGroup wg;
            wg.add(1);
            wg.add(-2);
        });
    });
    CHECK(r2.exit_code == 2);
    CHECK(contains(r2.err, "fatal error: sync: negative WaitGroup counter"));
}

TEST_CASE("WaitGroup: a delta beyond the 32-bit counter throws") {
    std::string big, small;
    weft::run(weft::Options{.procs = 1}, [&] {
        weft::WaitGroup wg;
        try {
            wg.add(int64_t{1} << 31);
        } catch (const std::invalid_argument& e) {
            big = e.what();
        }
        try {
            wg.add(-(int64_t{1} << 32));
        } catch (const std::invalid_argument& e) {
            small = e.what();
        }
        wg.wait();  // untouched: still zero
    });
    CHECK(big == "WaitGroup::add: delta 2147483648 does not fit the 32-bit counter");
    CHECK(small == "WaitGroup::add: delta -4294967296 does not fit the 32-bit counter");
}

TEST_CASE("WaitGroup: a wait nobody will release is reported as a deadlock") {
    auto r = weft::suite::run_in_child([] {
        weft::run(weft::Options{.procs = 1}, [] {
            weft::WaitGroup wg;
            wg.add(1);
            wg.wait();
        });
    });
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "all fibers are asleep - deadlock!"));
    CHECK(contains(r.err, "fiber 1 [sync.WaitGroup.Wait"));
}
