// weft::Once, weft::Cond, weft::Semaphore and the runtime semaphore
// (sched::Sema) underneath the other primitives.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <stdexcept>
#include <string>

#include <weft/sync.hpp>
#include <weft/weft.hpp>
#include "sched/g.hpp"
#include "support/death.hpp"
#include "support/test_util.hpp"

using namespace weft::suite;

namespace {

using namespace std::chrono_literals;

constinit weft::Once g_static_once;
constinit weft::Mutex g_cond_mutex;
constinit weft::Cond g_static_cond(g_cond_mutex);
constinit weft::Semaphore g_static_sem(3);

}  // namespace

// ---------------------------------------------------------------- Once

TEST_CASE("Once: f runs exactly once across many fibers, and every caller sees its effect") {
    for (int procs : kProcs) {
        CAPTURE(procs);
        constexpr int kFibers = 32;
        std::atomic<int> runs{0};
        std::atomic<int> saw_unset{0};
        std::atomic<int> finished{0};
        int value = 0;  // plain: published by the Once
        bool done_before = true, done_after = false;
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::Once once;
            done_before = once.done();
            for (int i = 0; i < kFibers; i++) {
                weft::go([&] {
                    once.call([&] {
                        runs.fetch_add(1);
                        for (int k = 0; k < 20; k++) weft::yield();  // others pile up meanwhile
                        value = 42;
                    });
                    if (value != 42) saw_unset.fetch_add(1);
                    finished.fetch_add(1);
                });
            }
            wait_until([&] { return finished.load() == kFibers; });
            done_after = once.done();
        });
        CHECK_FALSE(done_before);
        CHECK(done_after);
        CHECK(finished.load() == kFibers);
        CHECK(runs.load() == 1);
        CHECK(saw_unset.load() == 0);
    }
}

TEST_CASE("Once: an f that throws leaves it not done, and the next call runs again") {
    int first = 0, second = 0, third = 0;
    std::string what;
    bool done_after_throw = true, done_after_success = false;
    weft::run(weft::Options{.procs = 1}, [&] {
        try {
            g_static_once.call([&] {
                first++;
                throw std::runtime_error("init failed");
            });
        } catch (const std::runtime_error& e) {
            what = e.what();
        }
        done_after_throw = g_static_once.done();
        g_static_once.call([&] { second++; });
        done_after_success = g_static_once.done();
        g_static_once.call([&] { third++; });
    });
    CHECK(what == "init failed");
    CHECK(first == 1);
    CHECK_FALSE(done_after_throw);
    CHECK(second == 1);
    CHECK(done_after_success);
    CHECK(third == 0);
}

TEST_CASE("Once: fibers waiting on a run that throws wake up and one of them runs f") {
    for (int procs : kProcs) {
        CAPTURE(procs);
        constexpr int kWaiters = 8;
        std::atomic<int> attempts{0};
        std::atomic<int> successes{0};
        std::atomic<int> threw{0};
        std::atomic<int> finished{0};
        std::atomic<bool> waiters_started{false};
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::Once once;
            weft::go([&] {  // the first runner: fails
                try {
                    once.call([&] {
                        attempts.fetch_add(1);
                        wait_until([&] { return waiters_started.load(); });
                        for (int k = 0; k < 50; k++) weft::yield();  // let them park on the run
                        throw std::runtime_error("first attempt fails");
                    });
                } catch (const std::runtime_error&) {
                    threw.fetch_add(1);
                }
                finished.fetch_add(1);
            });
            wait_until([&] { return attempts.load() == 1; });
            for (int i = 0; i < kWaiters; i++) {
                weft::go([&] {
                    once.call([&] {
                        attempts.fetch_add(1);
                        successes.fetch_add(1);
                    });
                    finished.fetch_add(1);
                });
            }
            waiters_started.store(true);
            wait_until([&] { return finished.load() == kWaiters + 1; });
        });
        CHECK(finished.load() == kWaiters + 1);
        CHECK(threw.load() == 1);
        CHECK(successes.load() == 1);
        CHECK(attempts.load() == 2);
    }
}

TEST_CASE("Once: the fiber that sees it done may destroy it at once") {
    for (int procs : kProcs) {
        CAPTURE(procs);
        constexpr int kRounds = 300;
        std::atomic<int> destroyed{0};
        weft::run(weft::Options{.procs = procs}, [&] {
            for (int r = 0; r < kRounds; r++) {
                auto* once = new weft::Once;
                std::atomic<bool> ran{false};
                weft::go([once, &ran] { once->call([&] { ran.store(true); }); });
                weft::go([once, &ran, &destroyed] {
                    while (!once->done()) weft::yield();
                    delete once;  // the runner may still be returning from call()
                    destroyed.fetch_add(1);
                });
                wait_until([&] { return destroyed.load() == r + 1; });
            }
        });
        CHECK(destroyed.load() == kRounds);
    }
}

// ---------------------------------------------------------------- Cond

TEST_CASE("Cond: signal wakes exactly one waiter, broadcast wakes the rest") {
    for (int procs : kProcs) {
        CAPTURE(procs);
        constexpr int kWaiters = 5;
        int waiting = 0;  // under mu
        std::atomic<int> woken{0};
        bool all_waiting = false, one_woken = false, all_woken = false;
        int woken_after_signal = -1;
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::Mutex mu;
            weft::Cond cond(mu);
            for (int i = 0; i < kWaiters; i++) {
                weft::go([&] {
                    mu.lock();
                    waiting++;
                    cond.wait();  // no predicate loop: a spurious wakeup would be counted
                    woken.fetch_add(1);
                    mu.unlock();
                });
            }
            all_waiting = wait_until([&] {
                std::lock_guard g(mu);
                return waiting == kWaiters;
            });
            cond.signal();
            one_woken = wait_until([&] { return woken.load() >= 1; });
            weft::suite::linger(20ms);
            woken_after_signal = woken.load();
            cond.broadcast();
            all_woken = wait_until([&] { return woken.load() == kWaiters; });
        });
        CHECK(all_waiting);
        CHECK(one_woken);
        CHECK(woken_after_signal == 1);
        CHECK(all_woken);
    }
}

TEST_CASE("Cond: a signal is not remembered for fibers that wait later") {
    for (int procs : kProcs) {
        CAPTURE(procs);
        bool waiting = false;  // under g_cond_mutex
        std::atomic<int> woken{0};
        int woken_before = -1;
        bool woken_after = false;
        weft::run(weft::Options{.procs = procs}, [&] {
            g_static_cond.signal();  // nobody waits: lost, by design
            g_static_cond.broadcast();
            weft::go([&] {
                g_cond_mutex.lock();
                waiting = true;
                g_static_cond.wait();
                woken.fetch_add(1);
                g_cond_mutex.unlock();
            });
            wait_until([&] {
                std::lock_guard g(g_cond_mutex);
                return waiting;
            });
            weft::suite::linger(10ms);
            woken_before = woken.load();
            g_static_cond.signal();
            woken_after = wait_until([&] { return woken.load() == 1; });
        });
        CHECK(woken_before == 0);
        CHECK(woken_after);
    }
}

TEST_CASE("Cond: bounded buffer with signal only loses no wakeup") {
    for (int procs : kProcs) {
        CAPTURE(procs);
        constexpr int kProducers = 3;
        constexpr int kConsumers = 3;
        constexpr int kItems = 400;  // per producer; divisible among consumers
        constexpr size_t kCapacity = 4;
        std::atomic<int64_t> consumed_sum{0};
        std::atomic<int> consumed{0};
        std::atomic<int> finished{0};
        bool all = false;
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::Mutex mu;
            weft::Cond not_empty(mu);
            weft::Cond not_full(mu);
            std::deque<int> buf;
            for (int p = 0; p < kProducers; p++) {
                weft::go([&, p] {
                    for (int i = 1; i <= kItems; i++) {
                        mu.lock();
                        while (buf.size() == kCapacity) not_full.wait();
                        buf.push_back(p * kItems + i);
                        mu.unlock();
                        not_empty.signal();
                    }
                    finished.fetch_add(1);
                });
            }
            for (int c = 0; c < kConsumers; c++) {
                weft::go([&] {
                    for (int i = 0; i < kProducers * kItems / kConsumers; i++) {
                        mu.lock();
                        while (buf.empty()) not_empty.wait();
                        int v = buf.front();
                        buf.pop_front();
                        not_full.signal();  // under the lock this time
                        mu.unlock();
                        consumed_sum.fetch_add(v);
                        consumed.fetch_add(1);
                    }
                    finished.fetch_add(1);
                });
            }
            all = wait_until([&] { return finished.load() == kProducers + kConsumers; });
        });
        constexpr int64_t n = int64_t{kProducers} * kItems;
        CHECK(all);
        CHECK(consumed.load() == n);
        CHECK(consumed_sum.load() == n * (n + 1) / 2);
    }
}

// ---------------------------------------------------------------- Semaphore

TEST_CASE("Semaphore: weights never exceed the capacity") {
    for (int procs : kProcs) {
        CAPTURE(procs);
        constexpr int64_t kCapacity = 10;
        constexpr int kFibers = 8;
        std::atomic<int64_t> held{0};
        std::atomic<int64_t> max_held{0};
        std::atomic<int> finished{0};
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::Semaphore sem(kCapacity);
            for (int f = 0; f < kFibers; f++) {
                weft::go([&, f] {
                    for (int i = 0; i < 100; i++) {
                        int64_t n = 1 + (f + i) % 4;
                        sem.acquire(n);
                        raise_max(max_held, held.fetch_add(n) + n);
                        weft::yield();
                        held.fetch_sub(n);
                        sem.release(n);
                    }
                    finished.fetch_add(1);
                });
            }
            wait_until([&] { return finished.load() == kFibers; });
        });
        CHECK(finished.load() == kFibers);
        CHECK(max_held.load() <= kCapacity);
        CHECK(max_held.load() > 4);  // more than one holder at a time
        CHECK(held.load() == 0);
    }
}

TEST_CASE("Semaphore: FIFO, a large waiter at the front holds back a small one that would fit") {
    for (int procs : kProcs) {
        CAPTURE(procs);
        bool queued = false, small_jumped = true, try_jumped = true;
        int big_seq = -1, small_seq = -1;
        std::atomic<int> seq{0};
        std::atomic<int> finished{0};
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::Semaphore sem(2);
            sem.acquire(2);
            weft::go([&] {
                sem.acquire(2);
                big_seq = seq.fetch_add(1);
                sem.release(2);
                finished.fetch_add(1);
            });
            wait_until([&] { return weft::detail::semaphore_waiters(sem) == 1; });
            weft::go([&] {
                sem.acquire(1);
                small_seq = seq.fetch_add(1);
                sem.release(1);
                finished.fetch_add(1);
            });
            queued = wait_until([&] { return weft::detail::semaphore_waiters(sem) == 2; });
            sem.release(1);  // one unit free: enough for the small waiter, not the big one
            weft::suite::linger(10ms);
            small_jumped = finished.load() != 0;
            try_jumped = sem.try_acquire(1);  // a newcomer may not jump the queue either
            sem.release(1);
            wait_until([&] { return finished.load() == 2; });
        });
        CHECK(queued);
        CHECK_FALSE(small_jumped);
        CHECK_FALSE(try_jumped);
        CHECK(big_seq == 0);
        CHECK(small_seq == 1);
    }
}

// As x/sync's TestLargeAcquireDoesntStarve: fibers cycling one unit each
// must not starve a request for the whole capacity.
TEST_CASE("Semaphore: a stream of small acquires does not starve a large one") {
    for (int procs : kProcs) {
        CAPTURE(procs);
        constexpr int64_t kN = 4;
        std::atomic<bool> big_done{false};
        std::atomic<int> finished{0};
        bool in_time = false;
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::Semaphore sem(kN);
            auto deadline = Clock::now() + 5s;
            for (int64_t i = 0; i < kN; i++) {
                sem.acquire(1);
                weft::go([&] {
                    while (!big_done.load() && Clock::now() < deadline) {
                        weft::yield();
                        sem.release(1);
                        sem.acquire(1);
                    }
                    sem.release(1);
                    finished.fetch_add(1);
                });
            }
            sem.acquire(kN);
            in_time = Clock::now() < deadline;
            big_done.store(true);
            sem.release(kN);
            wait_until([&] { return finished.load() == kN; });
        });
        CHECK(in_time);
        CHECK(finished.load() == kN);
    }
}

TEST_CASE("Semaphore: try_acquire") {
    bool a = false, b = true, c = false, d = false, e = false, f = true;
    weft::run(weft::Options{.procs = 1}, [&] {
        a = g_static_sem.try_acquire(2);
        b = g_static_sem.try_acquire(2);
        c = g_static_sem.try_acquire(1);
        d = g_static_sem.try_acquire(0);
        g_static_sem.release(3);
        e = g_static_sem.try_acquire(3);
        f = g_static_sem.try_acquire(1);
        g_static_sem.release(3);
    });
    CHECK(a);
    CHECK_FALSE(b);
    CHECK(c);
    CHECK(d);
    CHECK(e);
    CHECK_FALSE(f);
}

TEST_CASE("Semaphore: impossible or negative requests throw with a precise message") {
    std::string over, try_over, neg_acquire, neg_release, neg_capacity;
    bool still_free = false;
    weft::run(weft::Options{.procs = 1}, [&] {
        weft::Semaphore sem(3);
        auto what = [](auto&& fn) -> std::string {
            try {
                fn();
            } catch (const std::invalid_argument& e) {
                return e.what();
            }
            return "(no exception)";
        };
        over = what([&] { sem.acquire(5); });
        try_over = what([&] { (void)sem.try_acquire(4); });
        neg_acquire = what([&] { sem.acquire(-1); });
        neg_release = what([&] { sem.release(-2); });
        neg_capacity = what([] { weft::Semaphore bad(-1); });
        still_free = sem.try_acquire(3);
    });
    CHECK(over == "Semaphore::acquire: 5 exceeds the capacity 3");
    CHECK(try_over == "Semaphore::try_acquire: 4 exceeds the capacity 3");
    CHECK(neg_acquire == "Semaphore::acquire: -1 is negative");
    CHECK(neg_release == "Semaphore::release: -2 is negative");
    CHECK(neg_capacity == "Semaphore: capacity -1 is negative");
    CHECK(still_free);
}

TEST_CASE("Semaphore: releasing more than is held is fatal") {
    auto r = weft::suite::run_in_child([] {
        weft::run(weft::Options{.procs = 1}, [] {
            weft::Semaphore sem(4);
            sem.acquire(2);
            sem.release(3);
        });
    });
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "fatal error: semaphore: released more than held"));
}

TEST_CASE("Semaphore: a blocking acquire outside a fiber is fatal") {
    auto r = weft::suite::run_in_child([] {
        weft::Semaphore sem(1);
        sem.acquire(1);
        sem.acquire(1);
    });
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "fatal error: sync: Semaphore::acquire called outside a fiber"));
}

// ---------------------------------------------------------------- Sema

TEST_CASE("Sema: units bank, waiters are served FIFO, lifo queues at the front") {
    for (int procs : kProcs) {
        CAPTURE(procs);
        bool t1 = false, t2 = false, t3 = true;
        uint32_t banked = 0;
        int order[3] = {-1, -1, -1};
        bool steps_ok = true;
        weft::run(weft::Options{.procs = procs}, [&] {
            weft::sched::Sema initial(2);
            t1 = initial.try_acquire();
            t2 = initial.try_acquire();
            t3 = initial.try_acquire();
            initial.release();  // nobody waits: banked
            banked = initial.units();

            weft::sched::Sema s;
            std::atomic<int> woken{0};
            // Queue A, then B at the back, then C at the front (lifo).
            auto waiter = [&](int id, bool lifo) {
                weft::go([&, id, lifo] {
                    s.acquire(weft::sched::WaitReason::kSemacquire, lifo);
                    order[woken.fetch_add(1)] = id;
                });
            };
            waiter(0, false);
            steps_ok &= wait_until([&] { return s.waiters() == 1; });
            waiter(1, false);
            steps_ok &= wait_until([&] { return s.waiters() == 2; });
            waiter(2, true);
            steps_ok &= wait_until([&] { return s.waiters() == 3; });
            for (int k = 1; k <= 3; k++) {  // one unit at a time, so the order is the grant order
                s.release();
                steps_ok &= wait_until([&] { return woken.load() == k; });
            }
            steps_ok &= s.units() == 0;
        });
        CHECK(t1);
        CHECK(t2);
        CHECK_FALSE(t3);
        CHECK(banked == 1);
        CHECK(steps_ok);
        CHECK(order[0] == 2);  // the lifo waiter
        CHECK(order[1] == 0);
        CHECK(order[2] == 1);
    }
}

// On one P the order is deterministic: ready() puts the woken fiber in
// runnext, and only a handoff release yields to it before returning.
TEST_CASE("Sema: release with handoff runs the woken fiber before returning") {
    bool ran_before_plain_return = true, ran_before_handoff_return = false, plain_ran_later = false;
    weft::run(weft::Options{.procs = 1}, [&] {
        weft::sched::Sema s;
        std::atomic<int> woken{0};
        for (int i = 0; i < 2; i++)
            weft::go([&] {
                s.acquire(weft::sched::WaitReason::kSemacquire);
                woken.fetch_add(1);
            });
        wait_until([&] { return s.waiters() == 2; });
        s.release(/*handoff=*/false);
        ran_before_plain_return = woken.load() != 0;
        plain_ran_later = wait_until([&] { return woken.load() == 1; });
        s.release(/*handoff=*/true);
        ran_before_handoff_return = woken.load() == 2;
    });
    CHECK_FALSE(ran_before_plain_return);
    CHECK(plain_ran_later);
    CHECK(ran_before_handoff_return);
}
