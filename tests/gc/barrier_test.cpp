// The write barrier by phase, nested barriers, the "without P" fatal, and
// the verifiers (checkmark, poison) catching planted bugs. The collector is
// held at a chosen phase through the test hook (runtime/base/test_hooks.hpp).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>

#include <weft/blocking.hpp>
#include <weft/gc/vector.hpp>
#include <weft/weft.hpp>
#include "gc/heap.hpp"
#include "gc/mark.hpp"
#include "gc/phase.hpp"
#include "hold_collector.hpp"
#include "runtime/base/test_hooks.hpp"
#include "support/death.hpp"
#include "support/test_util.hpp"
#include "test_nodes.hpp"

using namespace gctest;  // NOLINT: Node, build, count, keep, g_live
using namespace std::chrono_literals;
using weft::base::HookEvent;
using weft::base::HookPoint;
using weft::gc::detail::Phase;
using weft::suite::contains;

namespace {

bool marked(const void* obj) {
    auto a = reinterpret_cast<uintptr_t>(obj);
    auto* s = weft::gc::detail::span_of(a);
    return s != nullptr && s->is_marked(s->index_of(a));
}

// A Node no stack or root refers to: allocated on a fiber that ends, its
// address kept only xor-ed. White in the next cycle (until stored).
uintptr_t hidden_node() {
    uintptr_t h = 0;
    weft::WaitGroup wg;
    wg.add(1);
    weft::go([&] {
        h = hide(gc::make<Node>(7));
        wg.done();
    });
    wg.wait();
    return h;
}

// Nested-barrier test: the barrier hook's target and what it stores.
std::atomic<const void*> g_outer{nullptr};
std::atomic<int> g_hook_calls_inner{0};
Node* g_nested_holder = nullptr;
Node* g_nested_value = nullptr;

// Barrier entries for one object (the gc::Vector test).
std::atomic<const void*> g_watch{nullptr};
std::atomic<int> g_watch_hits{0};

void hook(const HookEvent& e) {
    if (hold_at_phase(e)) return;
    if (e.point == HookPoint::kBarrierEnter && e.obj != nullptr && e.obj == g_watch.load()) g_watch_hits.fetch_add(1);
    if (e.point == HookPoint::kBarrierEnter) {
        if (e.obj == g_nested_value) g_hook_calls_inner.fetch_add(1);
        if (e.obj != nullptr && e.obj == g_outer.load()) {
            g_outer = nullptr;
            g_nested_holder->right = g_nested_value;  // a barrier inside the barrier
        }
    }
}

struct HookScope : HookInstalled {
    HookScope() : HookInstalled(&hook) {}
};


}  // namespace

TEST_CASE("the barrier shades in GCmark only among the running phases; not in GCoff, GCscan, GCsweep") {
    if (!weft::base::kTestHooks) return;
    weft::run({.procs = 2}, [] {
        static gc::Root<Node> holder;
        holder = gc::make<Node>();
        gc::collect();
        HookScope hooks;
        struct Case {
            Phase phase;
            bool shades;
        };
        for (Case c : {Case{Phase::kScan, false}, Case{Phase::kMark, true}, Case{Phase::kSweep, false},
                       Case{Phase::kOff, false}}) {
            const char* name = weft::gc::detail::phase_name(c.phase);  // (CAPTURE is per thread)
            reset_hold();
            // White for GCscan/GCmark: allocated before the cycle, hidden.
            // In GCsweep and GCoff a new object is simply unmarked.
            uintptr_t h = hidden_node();
            HeldCycle cycle(c.phase);
            CHECK_MESSAGE(weft::gc::detail::phase() == c.phase, name);
            Node* x = c.phase == Phase::kSweep || c.phase == Phase::kOff ? gc::make<Node>(7) : reveal(h);
            REQUIRE_FALSE_MESSAGE(marked(x), name);  // white before the store
            holder->left = x;
            bool shaded = marked(x);
            cycle.release();
            CHECK_MESSAGE(shaded == c.shades, name);
            CHECK_MESSAGE(holder->left->value == 7, name);  // and it survived its cycle
            holder->left = nullptr;
        }
        holder = nullptr;
    });
}

TEST_CASE("the barrier shades in GCmarktermination (world stopped)") {
    if (!weft::base::kTestHooks) return;
    weft::run({.procs = 2}, [] {
        static gc::Root<Node> holder;
        static uintptr_t h;
        static bool before = true, after = false;
        holder = gc::make<Node>();
        gc::collect();
        h = hidden_node();
        HookScope hooks;
        g_hold_phase = static_cast<int>(Phase::kMarkTermination);
        g_stw_action = [] {
            before = marked(reveal(h));
            holder->left = reveal(h);
            after = marked(reveal(h));
        };
        gc::collect();
        CHECK_FALSE(before);
        CHECK(after);
        CHECK(holder->left->value == 7);
        holder = nullptr;
    });
}

TEST_CASE("a barrier inside the barrier does not recurse and its shade is not lost (checkmark on)") {
    if (!weft::base::kTestHooks) return;
    weft::suite::ScopedEnv env("WEFT_DEBUG", "gccheckmark=1");
    weft::run({.procs = 2}, [] {
        static gc::Root<Node> holder;
        holder = gc::make<Node>();
        gc::collect();
        uintptr_t hx = hidden_node(), hy = hidden_node();
        HookScope hooks;
        g_hook_calls_inner = 0;
        g_nested_holder = holder.get();
        g_nested_value = reveal(hy);
        HeldCycle cycle(Phase::kMark);
        g_outer = reveal(hx);
        holder->left = reveal(hx);  // the hook stores y into holder->right
        bool x_shaded = marked(reveal(hx)), y_shaded = marked(reveal(hy));
        cycle.release();
        CHECK(g_outer.load() == nullptr);        // the hook ran
        CHECK(g_hook_calls_inner.load() == 0);   // the nested barrier did not re-enter it
        CHECK(x_shaded);
        CHECK(y_shaded);                         // its shade was not lost
        gc::collect();                           // and checkmark agrees
        CHECK(holder->left->value == 7);
        CHECK(holder->right->value == 7);
        g_nested_holder = g_nested_value = nullptr;
        holder = nullptr;
    });
}

namespace {
// In a child: holds a cycle in GCmark and has `store_without_p` run
// holder->left = x somewhere the M holds no P. Returns the child's stderr
// after checking it died of the fatal.
template <class StoreWithoutP>
std::string barrier_without_p(StoreWithoutP store_without_p) {
    auto r = weft::suite::run_in_child([&] {
        weft::run({.procs = 2}, [&] {
            static gc::Root<Node> holder;
            holder = gc::make<Node>();
            Node* x = gc::make<Node>();
            HookScope hooks;
            HeldCycle cycle(Phase::kMark);
            store_without_p([&] { holder->left = x; });
            cycle.release();
        });
    });
    INFO(r.err);
    CHECK(r.exit_code == 2);
    return r.err;
}
}  // namespace

TEST_CASE("a barrier on a thread without a P is fatal: write barrier without P") {
    if (!weft::base::kTestHooks) return;
    SUBCASE("in a system call") {
        std::string err = barrier_without_p([](auto store) { weft::blocking(store); });  // the M gave up its P
        CHECK(contains(err, "write barrier without P (M "));
        CHECK(contains(err, "phase GCmark"));
    }
    SUBCASE("on a thread the runtime does not own") {
        std::string err = barrier_without_p([](auto store) { std::thread(store).join(); });
        CHECK(contains(err, "write barrier without P (M -1"));
    }
}

TEST_CASE("sweep finds a planted dangling reference: a marked slot that was free all cycle is fatal") {
    // Nothing refers to the victim through a cycle, which frees it; then its
    // hidden address is stored (GCoff: a plain store) into a live Node, and
    // the next marking traces it into the free slot.
    auto plant = [](bool dangling) {
        return weft::suite::run_in_child([dangling] {
            weft::run({.procs = 1}, [dangling] {  // one P: holder and the victim share a span
                static gc::Root<Node> holder, keep;
                static uintptr_t hidden;
                static bool d;
                d = dangling;
                holder = gc::make<Node>(1);
                on_fresh_fiber([] {
                    Node* victim = gc::make<Node>(2);
                    hidden = hide(victim);
                    if (!d) keep = victim;  // the control: kept through the first cycle
                });
                gc::collect();
                holder->left = reveal(hidden);
                keep = nullptr;
                gc::collect();
                gc::collect();
                std::printf("value %lld\n", static_cast<long long>(holder->left->value));
                std::fflush(stdout);
            });
        });
    };
    auto planted = plant(true);
    INFO(planted.err);
    CHECK(planted.exit_code == 2);
    CHECK(contains(planted.err, "marked but not allocated: a reference to a freed object"));
    auto control = plant(false);
    INFO(control.err);
    CHECK(control.exit_code == 0);
    CHECK(contains(control.out, "value 2"));
}

namespace {
// Mark termination: store a white object into a black one with the
// barrier's shade skipped (the planted bug), or not skipped (the control).
void plant_at_termination(bool skip) {
    static gc::Root<Node> holder;
    static uintptr_t h;
    static bool s;
    s = skip;
    holder = gc::make<Node>();
    gc::collect();
    h = hidden_node();
    HookScope hooks;
    g_hold_phase = static_cast<int>(Phase::kMarkTermination);
    g_stw_action = [] {
        if (s) weft::gc::detail::g_skip_barrier_shades.store(1);
        holder->left = reveal(h);
    };
    gc::collect();
    weft::gc::detail::g_skip_barrier_shades.store(0);
    std::printf("value %lld\n", static_cast<long long>(holder->left->value));
    std::fflush(stdout);
    holder = nullptr;
}
}  // namespace

TEST_CASE("checkmark catches a planted lost shade; without the plant it passes") {
    if (!weft::base::kTestHooks) return;
    for (bool skip : {false, true}) {
        CAPTURE(skip);
        auto r = weft::suite::run_in_child([skip] {
            setenv("WEFT_DEBUG", "gccheckmark=1", 1);
            weft::run({.procs = 2}, [skip] { plant_at_termination(skip); });
        });
        INFO(r.err);
        if (!skip) {
            CHECK(r.exit_code == 0);
            CHECK(contains(r.out, "value 7"));
        } else {
            CHECK(r.exit_code == 2);
            CHECK(contains(r.err, "gccheckmark: object 0x"));
            CHECK(contains(r.err, "(gctest::Node, 24 bytes) is reachable but was not marked; reached from object 0x"));
        }
    }
}

TEST_CASE("poison catches the lost object's later use through a Member") {
    if (!weft::base::kTestHooks) return;
    auto r = weft::suite::run_in_child([] {
        setenv("WEFT_DEBUG", "gcpoison=1", 1);
        weft::run({.procs = 2}, [] { plant_at_termination(true); });
    });
    INFO(r.err);
    INFO(r.out);
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "gcpoison: use of freed object 0x"));
    CHECK(contains(r.err, "(was gctest::Node) through a Member"));
    CHECK_FALSE(contains(r.out, "value"));
}

TEST_CASE("poison catches a planted use-after-free through a Member") {
    auto r = weft::suite::run_in_child([] {
        setenv("WEFT_DEBUG", "gcpoison=1", 1);
        weft::run({.procs = 1}, [] {
            uintptr_t h = hidden_node();
            gc::collect();  // frees it: nothing refers to it
            Node holder;     // a Member outside the heap: a plain pointer
            holder.left = reveal(h);
            std::printf("value %lld\n", static_cast<long long>(holder.left->value));
        });
    });
    INFO(r.err);
    INFO(r.out);
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "gcpoison: use of freed object 0x"));
    CHECK_FALSE(contains(r.out, "value"));
}

namespace {
struct NodeVector {
    gc::Vector<Node> v;
    void trace(gc::Visitor& vis) const { v.trace(vis); }
};
}  // namespace

TEST_CASE("gc::Vector's erase, range erase and erase_if move elements through the barrier (GCmark)") {
    // The tracer may be partway through the array when an element moves
    // down (vector.hpp, Erase step 1): each move must be a barriered store.
    if (!weft::base::kTestHooks) return;
    weft::run({.procs = 2}, [] {
        static gc::Root<NodeVector> holder;
        holder = gc::make<NodeVector>();
        for (int i = 0; i < 4; i++) holder->v.push_back(gc::make<Node>(i));
        Node* last = holder->v[3];
        gc::collect();
        HookScope hooks;
        int hits[3];
        {
            HeldCycle cycle(Phase::kMark);
            g_watch_hits = 0;
            g_watch = last;
            holder->v.erase(holder->v.begin());  // last: slot 3 -> 2
            hits[0] = g_watch_hits.load();
            holder->v.erase(holder->v.begin(), holder->v.begin() + 1);  // slot 2 -> 1
            hits[1] = g_watch_hits.load();
            erase_if(holder->v, [](Node* n) { return n->value == 2; });  // slot 1 -> 0
            hits[2] = g_watch_hits.load();
            g_watch = nullptr;
            cycle.release();
        }
        CHECK(hits[0] == 1);
        CHECK(hits[1] == 2);
        CHECK(hits[2] == 3);
        REQUIRE(holder->v.size() == 1);
        CHECK(holder->v[0]->value == 3);
        holder = nullptr;
    });
}
