// gcpause.cpp — W7: collector pauses and mutator stalls under a large live
// heap with many idle fibers.
//
// The workload, precisely (so other runtimes can do the same work):
//  - Node: two references and one 64-bit integer (24 bytes, and 24 bytes of
//    heap here: weft's objects have no header).
//  - Subtree: a complete binary tree of depth D = 8 (a root with two
//    children, ..., 2^8 leaves): 511 nodes. Every node's integer is
//    derived from its parent's: left = mix(v, 1), right = mix(v, 2), where
//    mix is the splitmix64 step below; the root's integer is the subtree's
//    seed. A subtree can thus be verified from its root alone.
//  - Live set: an array of K references to subtrees, with
//    K = ceil(live_mb x 2^20 / (511 x 32)), i.e. "--live-mb MB of objects"
//    counts nodes at 32 bytes each, a fixed unit of the definition (a node
//    with an 8-byte header; K = 32833 subtrees, 16.8 M nodes, for the
//    default 512). Another runtime should build the same K subtrees of
//    511 nodes whatever its own node size. Here the array lives on the GC
//    heap as chunks of 512 Member slots (4 KiB objects), each chunk held by
//    a gc::Root (like a Go []*Node, which is one heap object); the chunks
//    (about 0.25 MB for 512 MB) are not counted in live_mb. Slot i starts
//    with the subtree of seed mix(0x5eed, i), built by one fiber per P.
//  - Idle fibers: --idle fibers, each filling a 4 KiB local array (512
//    words of a per-fiber pattern) and allocating one Node it keeps only on
//    its stack, then blocking on one shared unbuffered channel. Every GC
//    cycle must scan their stacks. At the end the channel is closed; each
//    fiber verifies its array and its node.
//  - Mutators: --mutators fibers, each with its own xorshift generator,
//    repeat for --seconds: pick a random slot and a random seed, build a new
//    subtree of depth D from that seed and store it into the slot (the old
//    subtree becomes garbage). That is one operation: 511 allocations,
//    12 KiB of heap (16 KiB in live_mb's unit). Every operation is timed (steady_clock around it), so
//    an allocation stalled by a mark assist or by a pause shows up in
//    max_op_us / p99_op_us.
//  - At the end: one full collection, then every slot's subtree is walked
//    and checked (shape and every integer); any damage, or a bad idle
//    fiber, is reported and the exit status is 1.
// Building calls weft::preempt_point() at every node 4 or more levels above
// the leaves (safe points are cooperative; allocation alone is not one).
//
// Figures: the measurement window is the mutator phase (--seconds).
// max_pause_us / p99_pause_us / gc_pauses are over every stop-the-world
// pause the collector made in the window (gc::pause_history()); gc_cycles
// are the cycles completed in it; mutator_ops_per_s is all mutators'
// operations over the window; max_op_us / p99_op_us over every operation;
// assist_ms is the time spent in mark assists in the window, gc_cpu_ms the
// collector's CPU time outside its pauses (its fiber's marking, assists,
// idle Ps' marking: gc::Stats).
// build_max_pause_us is the longest pause while the heap was being built.
// wall_ms covers everything: heap build, idle fibers, the window, the final
// check. peak_rss_kb is the process's high-water mark. host_steal_ms is
// the CPU time the hypervisor took from the machine (all CPUs) during the
// window (common/steal.hpp; -1 where unknown): on a VM, a stolen vCPU
// stretches an operation or a pause with no cause in weft.
//
// JSON: workload, procs, live_mb, idle, mutators, seconds, subtrees,
//       wall_ms, build_ms, max_pause_us, p99_pause_us, gc_pauses,
//       gc_cycles, mutator_ops_per_s, max_op_us, p99_op_us, assist_ms,
//       gc_cpu_ms, build_max_pause_us, peak_rss_kb, host_steal_ms.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <fmt/core.h>
#include <optional>
#include <vector>

#include <weft/chan.hpp>
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

using Clock = std::chrono::steady_clock;

constexpr int kDepth = 8;                                           // D
constexpr int64_t kSubtreeNodes = (int64_t{1} << (kDepth + 1)) - 1;  // 511
constexpr int64_t kNodeBytes = 32;                                   // live_mb's unit (the definition's)
constexpr size_t kChunkSlots = 512;
constexpr size_t kIdleWords = 512;  // 4 KiB of each idle fiber's stack
constexpr int kSettleRounds = 16;
constexpr double kSettleMs = 2.0;
constexpr int kShownFailures = 5;

struct Node {
    gc::Member<Node> left, right;
    uint64_t value = 0;
    explicit Node(uint64_t v) : value(v) {}
    void trace(gc::Visitor& v) const {
        v.visit(left);
        v.visit(right);
    }
};
static_assert(sizeof(Node) == 24, "W7 defines a node as two references and one 64-bit integer");

// A piece of the live set's array.
struct Chunk {
    std::array<gc::Member<Node>, kChunkSlots> slot;
    void trace(gc::Visitor& v) const {
        for (const gc::Member<Node>& m : slot) v.visit(m);
    }
};

// splitmix64's output step applied to x + (k + 1) x golden ratio.
uint64_t mix(uint64_t x, uint64_t k) {
    x += 0x9e3779b97f4a7c15ULL * (k + 1);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// xorshift64*: each mutator's slots and seeds.
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(mix(seed, 99) | 1) {}
    uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545f4914f6cdd1dULL;
    }
};

// Safe points at every node of height >= 4 (31 per subtree, one per 31
// nodes or fewer); at every node would cost ~40% more CPU per allocation.
constexpr int kSafePointHeight = 4;

Node* build(uint64_t value, int depth) {
    if (depth >= kSafePointHeight) weft::preempt_point();
    Node* n = gc::make<Node>(value);
    if (depth > 0) {
        n->left = build(mix(value, 1), depth - 1);
        n->right = build(mix(value, 2), depth - 1);
    }
    return n;
}

// True if n is a complete tree of the given depth whose integers follow
// from `value` by mix.
bool intact(const Node* n, uint64_t value, int depth) {
    if (n == nullptr || n->value != value) return false;
    const Node* l = n->left.get();
    const Node* r = n->right.get();
    if (depth == 0) return l == nullptr && r == nullptr;
    return intact(l, mix(value, 1), depth - 1) && intact(r, mix(value, 2), depth - 1);
}

// The live set's array: K slots over chunks, each chunk held by a Root.
class Table {
public:
    explicit Table(int64_t k) : k_(k), chunks_((static_cast<size_t>(k) + kChunkSlots - 1) / kChunkSlots) {
        for (gc::Root<Chunk>& c : chunks_) c = gc::make<Chunk>();
    }
    int64_t size() const { return k_; }
    gc::Member<Node>& operator[](int64_t i) {
        auto u = static_cast<size_t>(i);
        return chunks_[u / kChunkSlots]->slot[u % kChunkSlots];
    }

private:
    int64_t k_;
    std::vector<gc::Root<Chunk>> chunks_;
};

struct MutatorResult {
    int64_t ops = 0;
    std::vector<int64_t> op_ns;  // every operation's duration
};

// The q-quantile (0 < q <= 1) of v by the nearest-rank method; 0 if empty.
int64_t quantile(std::vector<int64_t> v, double q) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    auto rank = static_cast<size_t>(q * static_cast<double>(v.size()) + 0.999999);
    return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

double us(int64_t ns) { return static_cast<double>(ns) / 1e3; }

}  // namespace

int main(int argc, char** argv) {
    int64_t live_mb = 512, idle = 10'000, mutators = 2, seconds = 10, procs = 0;
    ex::Flags flags("gcpause",
                    "W7: a large live heap of small trees, many idle fibers, mutators replacing random subtrees; "
                    "measures GC pauses and the longest mutator operation.");
    flags.add_int("live-mb", &live_mb, 1, 65'536, "live heap, MB of nodes counted at 32 bytes each");
    flags.add_int("idle", &idle, 0, 10'000'000, "idle fibers, each with 4 KiB of stack in use");
    flags.add_int("mutators", &mutators, 1, 1024, "fibers replacing random subtrees");
    flags.add_int("seconds", &seconds, 1, 3600, "length of the mutator phase");
    flags.add_procs(&procs);
    flags.parse(argc, argv);

    return ex::run("gcpause", procs, [=]() -> int {
        const int64_t subtree_bytes = kSubtreeNodes * kNodeBytes;
        const int64_t k = (live_mb * (int64_t{1} << 20) + subtree_bytes - 1) / subtree_bytes;
        ex::Stopwatch total;

        // 1. The live set, built by one fiber per P over disjoint slot ranges.
        Table table(k);
        {
            int64_t builders = std::max(1, weft::procs());
            weft::WaitGroup wg;
            wg.add(builders);
            for (int64_t b = 0; b < builders; ++b)
                weft::go([b, builders, t = &table, w = &wg] {
                    for (int64_t i = b; i < t->size(); i += builders)
                        (*t)[i] = build(mix(0x5eed, static_cast<uint64_t>(i)), kDepth);
                    w->done();
                });
            wg.wait();
        }
        double build_ms = total.elapsed_ms();
        int64_t build_max_pause_ns = 0;
        for (int64_t p : gc::pause_history()) build_max_pause_ns = std::max(build_max_pause_ns, p);

        // 2. The idle fibers: 4 KiB of stack each, one node on the stack,
        //    parked on `release` until the end.
        weft::Chan<int> release;  // unbuffered; only ever closed
        std::atomic<int64_t> parked{0}, idle_bad{0};
        weft::WaitGroup idle_wg;
        idle_wg.add(idle);
        for (int64_t i = 0; i < idle; ++i)
            weft::go([release, i, p = &parked, bad = &idle_bad, w = &idle_wg]() mutable {
                auto id = static_cast<uint64_t>(i);
                uint64_t frame[kIdleWords];
                for (size_t j = 0; j < kIdleWords; ++j) frame[j] = mix(id, j);
                Node* own = gc::make<Node>(mix(id, kIdleWords));
                // The array and `own` must really be on the stack while
                // parked: the asm makes both escape across recv().
                asm volatile("" : : "r"(frame), "r"(own) : "memory");
                // relaxed: a progress count; the WaitGroup orders idle_bad.
                p->fetch_add(1, std::memory_order_relaxed);
                std::optional<int> got = release.recv();
                asm volatile("" : : "r"(frame), "r"(own) : "memory");
                bool ok = !got.has_value() && own->value == mix(id, kIdleWords);
                for (size_t j = 0; j < kIdleWords; ++j) ok = ok && frame[j] == mix(id, j);
                if (!ok) bad->fetch_add(1, std::memory_order_relaxed);
                w->done();
            });
        while (parked.load(std::memory_order_relaxed) < idle) weft::yield();
        ex::Stopwatch settle;
        for (int round = 0; round < kSettleRounds || settle.elapsed_ms() < kSettleMs; ++round) weft::yield();

        // 3. The window: mutators replace random subtrees for --seconds.
        gc::Stats st0 = gc::stats();
        size_t pauses0 = gc::pause_history().size();
        std::atomic<bool> stop{false};
        std::vector<MutatorResult> results(static_cast<size_t>(mutators));
        weft::WaitGroup mut_wg;
        ex::StealWindow steal;
        ex::Stopwatch window;
        mut_wg.add(mutators);
        for (int64_t m = 0; m < mutators; ++m)
            weft::go([m, t = &table, s = &stop, r = &results[static_cast<size_t>(m)], w = &mut_wg] {
                Rng rng(static_cast<uint64_t>(m));
                r->op_ns.reserve(1 << 20);
                while (!s->load(std::memory_order_relaxed)) {
                    Clock::time_point t0 = Clock::now();
                    auto slot = static_cast<int64_t>(rng.next() % static_cast<uint64_t>(t->size()));
                    (*t)[slot] = build(rng.next(), kDepth);
                    r->op_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
                    r->ops++;
                }
                w->done();
            });
        weft::sleep(std::chrono::seconds(seconds));
        stop.store(true, std::memory_order_relaxed);
        mut_wg.wait();
        double window_s = window.elapsed_ms() / 1e3;
        double steal_ms = steal.elapsed_ms();
        gc::Stats st1 = gc::stats();
        std::vector<int64_t> history = gc::pause_history();
        std::vector<int64_t> pauses(history.begin() + static_cast<ptrdiff_t>(std::min(pauses0, history.size())),
                                    history.end());

        // 4. Release the idle fibers, collect, verify everything.
        release.close();
        idle_wg.wait();
        gc::collect();
        int64_t damaged = 0;
        for (int64_t i = 0; i < k; ++i) {
            weft::preempt_point();
            const Node* root = table[i].get();
            if (root != nullptr && intact(root, root->value, kDepth)) continue;
            if (++damaged <= kShownFailures)
                fmt::print(stderr, "gcpause: FAILED: subtree in slot {} is {}\n", i,
                           root == nullptr ? "missing" : "damaged");
        }
        double wall_ms = total.elapsed_ms();
        int64_t bad_idle = idle_bad.load(std::memory_order_relaxed);
        if (damaged != 0 || bad_idle != 0) {
            fmt::print(stderr,
                       "gcpause: FAILED: {} of {} subtrees damaged or missing, {} of {} idle fibers found their "
                       "stack array or node changed\n",
                       damaged, k, bad_idle, idle);
            return 1;
        }

        int64_t ops = 0;
        std::vector<int64_t> op_ns;
        for (MutatorResult& r : results) {
            ops += r.ops;
            op_ns.insert(op_ns.end(), r.op_ns.begin(), r.op_ns.end());
        }
        int64_t max_op = op_ns.empty() ? 0 : *std::max_element(op_ns.begin(), op_ns.end());
        int64_t p99_op = quantile(op_ns, 0.99);
        int64_t max_pause = pauses.empty() ? 0 : *std::max_element(pauses.begin(), pauses.end());
        int64_t p99_pause = quantile(pauses, 0.99);
        uint64_t cycles = st1.cycles - st0.cycles;
        double ops_per_s = static_cast<double>(ops) / window_s;
        double assist_ms = static_cast<double>(st1.assist_ns - st0.assist_ns) / 1e6;
        // The collector's CPU outside its pauses: its fiber, assists, idle Ps.
        double gc_cpu_ms = assist_ms + static_cast<double>((st1.worker_ns - st0.worker_ns) +
                                                           (st1.idle_mark_ns - st0.idle_mark_ns)) / 1e6;
        int64_t peak = ex::peak_rss_kb();

        fmt::print("gcpause: live set of {} subtrees x {} nodes ({} MB at {} B/node) built in {:.0f} ms; {} idle "
                   "fibers parked\n",
                   k, kSubtreeNodes, live_mb, kNodeBytes, build_ms, idle);
        fmt::print("gcpause: {} mutators on {} Ps for {:.2f} s: {} ops ({:.0f}/s), op p99 {:.1f} us, max {:.1f} us\n",
                   mutators, weft::procs(), window_s, ops, ops_per_s, us(p99_op), us(max_op));
        fmt::print("gcpause: {} GC cycles, {} pauses: p99 {:.1f} us, max {:.1f} us; assists {:.1f} ms; heap goal "
                   "{} MB; peak RSS {} KiB; every subtree and idle fiber checked\n",
                   cycles, pauses.size(), us(p99_pause), us(max_pause), assist_ms, st1.heap_goal_bytes >> 20, peak);
        ex::JsonLine("gcpause")
            .add("procs", weft::procs())
            .add("live_mb", live_mb)
            .add("idle", idle)
            .add("mutators", mutators)
            .add("seconds", seconds)
            .add("subtrees", k)
            .add("wall_ms", wall_ms)
            .add("build_ms", build_ms, 1)
            .add("max_pause_us", us(max_pause), 1)
            .add("p99_pause_us", us(p99_pause), 1)
            .add("gc_pauses", static_cast<int64_t>(pauses.size()))
            .add("gc_cycles", cycles)
            .add("mutator_ops_per_s", ops_per_s, 0)
            .add("max_op_us", us(max_op), 1)
            .add("p99_op_us", us(p99_op), 1)
            .add("assist_ms", assist_ms, 1)
            .add("gc_cpu_ms", gc_cpu_ms, 1)
            .add("build_max_pause_us", us(build_max_pause_ns), 1)
            .add("peak_rss_kb", peak)
            .add("host_steal_ms", steal_ms, 0)
            .print();
        return 0;
    });
}
