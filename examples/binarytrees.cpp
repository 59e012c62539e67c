// binarytrees.cpp — W6: the Benchmarks Game binary-trees on the GC heap.
//
// The classic allocation benchmark, every node a collected object
// (gc::make<Node>, children as gc::Member, reported by trace()). With
// max_depth = max(6, --depth) (default 21):
//  1. build a "stretch" tree of depth max_depth + 1, check it, drop it;
//  2. build a "long lived" tree of depth max_depth, kept until the end;
//  3. for every d = 4, 6, ..., max_depth: build and check
//     2^(max_depth - d + 4) trees of depth d, one after the other, summing
//     their checks. As in the Go version, each depth runs in its own fiber
//     (all started at once, spread over the Ps by the scheduler); the main
//     fiber waits for all and prints their lines in depth order;
//  4. check the long lived tree.
// A tree of depth 0 is one node with no children; check(t) counts its
// nodes, so a tree of depth d checks 2^(d+1) - 1. The output is the
// reference output, byte for byte:
//   stretch tree of depth 22\t check: 8388607
//   2097152\t trees of depth 4\t check: 65011712
//   ...
//   long lived tree of depth 21\t check: 4194303
// Every figure is also computed arithmetically; any difference (a lost or
// reused node shows up as a wrong count) is reported and the exit status
// is 1. See docs/BENCHMARKS.md, W6.
//
// Tree building and checking call weft::preempt_point() at every node 4 or
// more levels above the leaves (once per 31 nodes at least): preemption is
// cooperative, and a stop-the-world (or a stack scan) has to wait for each
// running fiber to reach a safe point; allocation is one only at span
// refills (once per span's worth of objects).
//
// The timing window (wall_ms) covers steps 1-4 (not the printing). GC
// figures are those of the window: gc_cycles completed in it, and every
// stop-the-world pause in it (max_pause_us, gc_pauses, total_pause_ms);
// assist_ms is the time fibers spent in mark assists, gc_cpu_ms the
// collector's CPU time outside its pauses (its fiber's marking, assists,
// idle Ps' marking: gc::Stats). host_steal_ms is the
// CPU time the hypervisor took from the machine (all CPUs) during the
// window (common/steal.hpp; -1 where unknown).
//
// JSON: workload, procs, depth, wall_ms, peak_rss_kb, gc_cycles,
//       max_pause_us, gc_pauses, total_pause_ms, assist_ms, gc_cpu_ms,
//       host_steal_ms.
#include <algorithm>
#include <cstdint>
#include <fmt/core.h>
#include <string>
#include <vector>

#include <weft/sync/waitgroup.hpp>
#include <weft/weft.hpp>
#include "common/flags.hpp"
#include "common/json_line.hpp"
#include "common/rss.hpp"
#include "common/run.hpp"
#include "common/steal.hpp"
#include "common/stopwatch.hpp"

namespace gc = weft::gc;

namespace {

constexpr int kMinDepth = 4;

struct Node {
    gc::Member<Node> left, right;
    void trace(gc::Visitor& v) const {
        v.visit(left);
        v.visit(right);
    }
};

// Safe points: at every node of height >= kSafePointHeight, i.e. at least
// once per 2^(kSafePointHeight+1) - 1 = 31 nodes built or visited (every
// node would cost ~40% more CPU in the allocation loop).
constexpr int kSafePointHeight = 4;

// A complete tree of the given depth (depth 0: a single node).
Node* bottom_up_tree(int depth) {
    if (depth >= kSafePointHeight) weft::preempt_point();
    Node* n = gc::make<Node>();
    if (depth > 0) {
        n->left = bottom_up_tree(depth - 1);
        n->right = bottom_up_tree(depth - 1);
    }
    return n;
}

// Its node count. `height` is what the tree's depth should be, used only to
// place the safe points: the count comes from the links alone.
int64_t check(const Node* n, int height) {
    if (height >= kSafePointHeight) weft::preempt_point();
    const Node* l = n->left.get();
    if (l == nullptr) return 1;
    return 1 + check(l, height - 1) + check(n->right.get(), height - 1);
}

int64_t nodes_of_depth(int depth) { return (int64_t{1} << (depth + 1)) - 1; }

// One output line and the value the check must have had.
struct Line {
    std::string text;
    int64_t got = 0;
    int64_t want = 0;
};

}  // namespace

int main(int argc, char** argv) {
    int64_t depth = 21, procs = 0;
    ex::Flags flags("binarytrees",
                    "W6: the Benchmarks Game binary-trees, every node a GC object; one fiber per depth.");
    flags.add_int("depth", &depth, 0, 24, "max tree depth (below 6 counts as 6, as the reference does)");
    flags.add_procs(&procs);
    flags.parse(argc, argv);

    return ex::run("binarytrees", procs, [depth]() -> int {
        const int max_depth = std::max(kMinDepth + 2, static_cast<int>(depth));
        const int stretch_depth = max_depth + 1;
        const int rounds = (max_depth - kMinDepth) / 2 + 1;

        gc::Stats st0 = gc::stats();
        size_t pauses0 = gc::pause_history().size();
        ex::StealWindow steal;
        ex::Stopwatch sw;

        // 1. The stretch tree: built, checked and dropped.
        int64_t stretch_check = check(bottom_up_tree(stretch_depth), stretch_depth);

        // 2. The long lived tree: kept on this fiber's stack to the end.
        Node* long_lived = bottom_up_tree(max_depth);

        // 3. One fiber per depth; each writes only its own slot, read after
        //    the WaitGroup's wait (which orders it).
        std::vector<int64_t> sums(static_cast<size_t>(rounds), 0);
        weft::WaitGroup wg;
        wg.add(rounds);
        for (int r = 0; r < rounds; ++r) {
            int d = kMinDepth + 2 * r;
            int64_t iterations = int64_t{1} << (max_depth - d + kMinDepth);
            weft::go([d, iterations, out = &sums[static_cast<size_t>(r)], w = &wg] {
                int64_t sum = 0;
                for (int64_t i = 0; i < iterations; ++i) sum += check(bottom_up_tree(d), d);
                *out = sum;
                w->done();
            });
        }
        wg.wait();

        // 4. The long lived tree, still intact after all that garbage.
        int64_t long_lived_check = check(long_lived, max_depth);
        double wall_ms = sw.elapsed_ms();
        double steal_ms = steal.elapsed_ms();

        gc::Stats st1 = gc::stats();
        std::vector<int64_t> history = gc::pause_history();
        // Outside the window: finish with a collection, so the run ends
        // with no cycle in progress (a stop-the-world begun as main returns
        // is abandoned, see sched/stw.cpp, but a finished heap is tidier).
        gc::collect();
        int64_t max_pause_ns = 0, total_pause_ns = 0;
        for (size_t i = pauses0; i < history.size(); ++i) {
            max_pause_ns = std::max(max_pause_ns, history[i]);
            total_pause_ns += history[i];
        }
        int64_t gc_pauses = static_cast<int64_t>(history.size() - std::min(pauses0, history.size()));

        std::vector<Line> lines;
        lines.push_back({fmt::format("stretch tree of depth {}\t check: {}", stretch_depth, stretch_check),
                         stretch_check, nodes_of_depth(stretch_depth)});
        for (int r = 0; r < rounds; ++r) {
            int d = kMinDepth + 2 * r;
            int64_t iterations = int64_t{1} << (max_depth - d + kMinDepth);
            int64_t sum = sums[static_cast<size_t>(r)];
            lines.push_back({fmt::format("{}\t trees of depth {}\t check: {}", iterations, d, sum), sum,
                             iterations * nodes_of_depth(d)});
        }
        lines.push_back({fmt::format("long lived tree of depth {}\t check: {}", max_depth, long_lived_check),
                         long_lived_check, nodes_of_depth(max_depth)});

        int bad = 0;
        for (const Line& l : lines) {
            fmt::print("{}\n", l.text);
            if (l.got != l.want) {
                fmt::print(stderr, "binarytrees: FAILED: \"{}\": the check should be {}\n", l.text, l.want);
                ++bad;
            }
        }
        std::fflush(stdout);
        if (bad != 0) {
            fmt::print(stderr, "binarytrees: FAILED: {} of {} checks are wrong (nodes lost or reused by the GC?)\n",
                       bad, lines.size());
            return 1;
        }

        int64_t peak = ex::peak_rss_kb();
        uint64_t cycles = st1.cycles - st0.cycles;
        double assist_ms = static_cast<double>(st1.assist_ns - st0.assist_ns) / 1e6;
        // The collector's CPU outside its pauses: its fiber, assists, idle Ps.
        double gc_cpu_ms = assist_ms + static_cast<double>((st1.worker_ns - st0.worker_ns) +
                                                           (st1.idle_mark_ns - st0.idle_mark_ns)) / 1e6;
        fmt::print("binarytrees: depth {} on {} Ps in {:.1f} ms, checks ok; {} GC cycles, {} pauses (max {:.1f} us, "
                   "total {:.2f} ms), assists {:.1f} ms; peak RSS {} KiB\n",
                   max_depth, weft::procs(), wall_ms, cycles, gc_pauses, static_cast<double>(max_pause_ns) / 1e3,
                   static_cast<double>(total_pause_ns) / 1e6, assist_ms, peak);
        ex::JsonLine("binarytrees")
            .add("procs", weft::procs())
            .add("depth", max_depth)
            .add("wall_ms", wall_ms)
            .add("peak_rss_kb", peak)
            .add("gc_cycles", cycles)
            .add("max_pause_us", static_cast<double>(max_pause_ns) / 1e3, 1)
            .add("gc_pauses", gc_pauses)
            .add("total_pause_ms", static_cast<double>(total_pause_ns) / 1e6)
            .add("assist_ms", assist_ms, 1)
            .add("gc_cpu_ms", gc_cpu_ms, 1)
            .add("host_steal_ms", steal_ms, 0)
            .print();
        return 0;
    });
}
