#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include <weft/internal/lock.hpp>
#include "runtime/base/note.hpp"
#include "support/death.hpp"

using namespace weft::base;

TEST_CASE("Lock provides mutual exclusion across threads") {
    Lock l(LockRank::kLeaf);
    long counter = 0;
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; t++)
        ts.emplace_back([&] {
            for (int i = 0; i < 100000; i++) {
                LockGuard g(l);
                counter++;
            }
        });
    for (auto& t : ts) t.join();
    CHECK(counter == 400000);
}

TEST_CASE("Note wakes a sleeper exactly once, in either order") {
    Note n;
    n.clear();
    n.wakeup();
    n.sleep();  // wakeup before sleep must not be lost
    n.clear();
    std::thread t([&] { n.wakeup(); });
    n.sleep();
    t.join();
    n.clear();
    CHECK_FALSE(n.sleep_for(1'000'000));  // times out
}

TEST_CASE("a double Note wakeup is fatal") {
    auto r = weft::suite::run_in_child([] {
        Note n;
        n.clear();
        n.wakeup();
        n.wakeup();
    });
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("fatal error: notewakeup - double wakeup") != std::string::npos);
}

#if defined(WEFT_DEBUG_CHECKS)
TEST_CASE("taking locks against the declared rank order is fatal in debug builds") {
    auto r = weft::suite::run_in_child([] {
        Lock timers(LockRank::kTimers), sched(LockRank::kSched);
        timers.lock();
        sched.lock();
    });
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("lock order violation: acquiring sched while holding timers") != std::string::npos);
}
#endif
