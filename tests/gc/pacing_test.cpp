// What keeps an allocating fiber from outrunning the collector when the
// collector's own fiber is not running: in GCscan it scans its own stack at
// its refill safe point (gc/stack_scan.hpp S4), rather than wait for the
// collector to catch it stopped.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>

#include <weft/weft.hpp>
#include "gc/phase.hpp"
#include "hold_collector.hpp"
#include "runtime/base/test_hooks.hpp"
#include "sched/fiber.hpp"
#include "sched/g.hpp"
#include "support/test_util.hpp"

using namespace gctest;  // NOLINT: HeldCycle, hold_at_phase
using weft::base::HookEvent;
using weft::gc::detail::Phase;

namespace {

namespace gc = weft::gc;

struct Blob {
    gc::Member<Blob> next;
    char pad[200] = {};
    void trace(gc::Visitor& v) const { v.visit(next); }
};

void hook(const HookEvent& e) { (void)hold_at_phase(e); }

}  // namespace

TEST_CASE("a fiber allocating without a pause is scanned at its refill safe point in GCscan, with the collector held (S4)") {
    // The collector is held at the start of GCscan, before its stack scan
    // job opens: no one else scans the allocating fiber, which never parks
    // or blocks, so only its own refill safe point can.
    weft::run(weft::Options{.procs = 2}, [] {
        HookInstalled installed(&hook);
        std::atomic<bool> stop{false};
        std::atomic<weft::sched::G*> g{nullptr};
        weft::WaitGroup wg;
        wg.add(1);
        weft::go([&] {
            g = weft::sched::current_g();
            Blob* keep = nullptr;
            while (!stop.load(std::memory_order_relaxed)) {
                Blob* b = gc::make<Blob>();
                b->next = keep;
                keep = b->next.get() == nullptr ? b : nullptr;  // short chains: mostly garbage
            }
            wg.done();
        });
        REQUIRE(weft::suite::wait_until([&] { return g.load() != nullptr; }));
        uint64_t before = g.load()->scanned_pass.load();
        HeldCycle cycle(Phase::kScan);
        bool scanned = weft::suite::wait_until([&] { return g.load()->scanned_pass.load() != before; },
                                               std::chrono::seconds(60));
        CHECK(scanned);
        cycle.release();
        stop = true;
        wg.wait();
    });
}
