// gc::make with constructors that block (gc.hpp, "Constructors"): the
// count of constructors in progress lives on the fiber, so a constructor
// that parks and resumes on another thread leaves no thread with a stale
// count, and the objects it builds around its park are traced whole.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>

#include <weft/weft.hpp>
#include "gc/test_nodes.hpp"
#include "sched/fiber.hpp"
#include "support/test_util.hpp"

using namespace std::chrono_literals;

namespace {

namespace gc = weft::gc;
using gctest::Node;

// Constructors that resumed on another thread than they started on.
std::atomic<int> g_migrated{0};  // reset by each run

// Makes a Node, blocks on a shared Mutex and a sleep, makes another.
// Between the two the object is half-built: `after` is still zero.
struct Parked {
    gc::Member<Node> before;
    gc::Member<Node> after;
    int64_t id = 0;
    Parked(int64_t i, weft::Mutex& mu) : id(i) {
        auto thread = std::this_thread::get_id();
        before = gc::make<Node>(i);
        mu.lock();
        mu.unlock();
        weft::sleep(50us);
        after = gc::make<Node>(-i);
        if (std::this_thread::get_id() != thread) g_migrated.fetch_add(1, std::memory_order_relaxed);
    }
    void trace(gc::Visitor& v) const {
        v.visit(before);
        v.visit(after);
    }
};

struct Small {
    int64_t x = 0;
};

constexpr int kFibers = 16;
constexpr int kPerFiber = 100;

// Builds kFibers x kPerFiber Parked objects (and garbage) on 2 Ps and
// checks each; then, unless gcstress already runs cycles back to back,
// allocates 64 MB of garbage on every thread the constructors ran on and
// requires collections to keep up.
void build_and_churn(bool stress) {
    g_migrated.store(0);
    weft::run(weft::Options{.procs = 2}, [stress] {
        weft::Mutex mu;
        gc::Root<gc::Vector<Parked>> all(gc::make<gc::Vector<Parked>>());
        weft::Mutex all_mu;
        weft::WaitGroup wg;
        for (int f = 0; f < kFibers; ++f) {
            wg.add(1);
            weft::go([&, f] {
                for (int i = 0; i < kPerFiber; ++i) {
                    Parked* p = gc::make<Parked>(f * kPerFiber + i + 1, mu);
                    for (int k = 0; k < 2; ++k) gctest::keep(gc::make<Small>());
                    std::lock_guard<weft::Mutex> l(all_mu);
                    all->push_back(p);
                }
                CHECK(weft::sched::current_g()->gc_constructing == 0);
                wg.done();
            });
        }
        wg.wait();
        gc::collect();
        REQUIRE(all->size() == size_t{kFibers * kPerFiber});
        int bad = 0;
        for (Parked* p : *all) {
            if (p->before.get() == nullptr || p->after.get() == nullptr || p->before->value != p->id ||
                p->after->value != -p->id)
                ++bad;
        }
        CHECK(bad == 0);
        MESSAGE("constructors resumed on another thread: " << g_migrated.load());
        if (stress) return;
        // The old per-thread count, raised on one thread and lowered on
        // another, kept every later make on those threads from taking its
        // safe point, and a cycle requested there never started: cycles
        // stayed where they were however much garbage followed. Two fibers
        // allocate, so both threads are used, until 4 cycles have run, or
        // 64 heap goals' worth of garbage (the goal depends on what earlier
        // tests left in the heap) without them. A wait for the cycles, not
        // a count of them after a fixed amount: with checkmark on a busy
        // machine a cycle lasts while several goals are allocated.
        gc::Stats st0 = gc::stats();
        const uint64_t limit = 64 * static_cast<uint64_t>(st0.heap_goal_bytes);
        REQUIRE(limit <= (uint64_t{1} << 30));
        auto enough_cycles = [&] { return gc::stats().cycles >= st0.cycles + 4; };
        // A Small takes a 16-byte slot (8 bytes and the header); counted
        // here, not read from gc::stats(), which accounts at refills.
        std::atomic<uint64_t> allocated{0};
        weft::WaitGroup churn;
        for (int f = 0; f < 2; ++f) {
            churn.add(1);
            weft::go([&] {
                while (allocated.load() < limit && !enough_cycles()) {
                    for (int i = 0; i < 10'000; ++i) gctest::keep(gc::make<Small>());
                    allocated += 10'000 * 16;
                }
                churn.done();
            });
        }
        churn.wait();
        MESSAGE("cycles during the churn: " << gc::stats().cycles - st0.cycles << " in "
                                            << (allocated.load() >> 20) << " MiB");
        CHECK(enough_cycles());
    });
}

}  // namespace

TEST_CASE("constructors that park: collections go on, and the half-built objects are traced whole") {
    struct Config {
        const char* debug;
        bool stress;
    };
    for (Config c : {Config{"", false}, Config{"gccheckmark=1,gcpoison=1", false}, Config{"gcstress=1", true}}) {
        CAPTURE(std::string(c.debug));
        weft::suite::ScopedEnv env("WEFT_DEBUG", c.debug);
        build_and_churn(c.stress);
    }
}
