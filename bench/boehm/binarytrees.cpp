// binarytrees — W6 on Boehm GC, the counterpart of weft's
// examples/binarytrees.cpp.
//
// The Benchmarks Game binary-trees, the same work, step for step (shared
// docs/BENCHMARKS.md, W6; binarytrees.cpp's opening comment defines it
// precisely). A node is two pointers (weft's two Members), allocated with
// GC_MALLOC (it holds pointers, so not ATOMIC) and never freed explicitly; a
// tree of depth 0 is one node with no children, and check counts the nodes,
// so a tree of depth d checks 2^(d+1) - 1. With max_depth = max(6, --depth):
//  1. build a "stretch" tree of depth max_depth + 1, check it, drop it;
//  2. build a "long lived" tree of depth max_depth, kept until the end;
//  3. for every d = 4, 6, ..., max_depth: build and check
//     2^(max_depth - d + 4) trees of depth d, one after the other, summing
//     their checks, each depth on its own POSIX thread (all started at once,
//     as Go's goroutine per depth); main joins them all and prints their
//     lines in depth order;
//  4. check the long lived tree.
// The output lines are weft's, byte for byte (the reference output); every
// figure is also computed arithmetically and any difference exits 1.
//
// Boehm configuration: libgc 8.2 as Debian ships it (libgc-dev; threads,
// parallel marking, thread-local allocation), used as a C++ user would:
// GC_THREADS defined before <gc.h> (which then redirects pthread_create and
// pthread_join to GC_pthread_create / GC_pthread_join, so every thread is
// registered), GC_INIT() first, and nothing tuned: the default heap growth
// (free space divisor), full-collection frequency, interior pointers (on:
// Boehm adds one byte to every object, so a 16-byte Node takes a 32-byte
// slot) and no incremental mode. Collections are Boehm's classic
// stop-the-world mark with lazy sweeping (the sweep is done by the
// allocating threads afterwards). Two choices of ours:
//  - --procs N (N > 0) sets the number of marker threads with
//    GC_set_markers_count(N) before GC_INIT (the API equivalent of the
//    GC_MARKERS environment variable); 0, the default, leaves Boehm its own
//    choice, one marker per core (capped by the library's MAX_MARKERS).
//    Boehm has no Ps: the mutator threads are not limited by it.
//  - GC_start_mark_threads() right after GC_INIT: Boehm starts its marker
//    threads only when the program creates its first thread, which here
//    would leave steps 1 and 2 with a single marker; this starts them at
//    once, as in any program that has created a thread.
// The number of markers in use (GC_get_parallel() + 1) is printed in the
// summary line; on a 2-core machine it is 2.
//
// The timing window (wall_ms) covers steps 1-4, not the printing. GC
// figures are those of the window: gc_cycles completed in it (the
// difference of GC_get_gc_no()), and every stop-the-world pause in it,
// timed by a GC_set_on_collection_event callback from
// GC_EVENT_PRE_STOP_WORLD (before the collecting thread signals the others
// to stop) to GC_EVENT_POST_START_WORLD (after it has restarted them): the
// whole world-stopped interval, the mark included (max_pause_us, gc_pauses,
// total_pause_ms). The callback runs with the GC lock held and only reads
// the clock and updates counters (no allocation). Not counted as pause:
// the time other threads wait for the GC lock outside that interval (e.g.
// while the collecting thread prepares the sweep). assist_ms is -1: Boehm
// has no mark assists. host_steal_ms is the CPU time the hypervisor took
// from the machine (all CPUs, /proc/stat) during the window; -1 where
// unknown. peak_rss_kb is getrusage's ru_maxrss, or the current RSS if
// higher, as weft measures it.
//
// Build: bench/boehm/build.sh OUTPUT (c++ -O2 -std=c++20, pkg-config bdw-gc,
// with examples/common's rss.cpp and steal.cpp, which use no weft code).
//
// JSON: workload, runtime, procs, depth, wall_ms, peak_rss_kb, gc_cycles,
//       max_pause_us, gc_pauses, total_pause_ms, assist_ms, host_steal_ms.
#define GC_THREADS
#include <gc.h>

#include <pthread.h>

#include "common/rss.hpp"    // weft's examples/common: plain C++, no runtime
#include "common/steal.hpp"
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr const char* kProgram = "binarytrees";
constexpr int kMinDepth = 4;

struct Node {
    Node* left;
    Node* right;
};

[[noreturn]] void out_of_memory() {
    std::fprintf(stderr, "%s: GC_MALLOC returned NULL (out of memory)\n", kProgram);
    std::exit(3);
}

// A complete tree of the given depth (depth 0: a single node). GC_MALLOC
// returns cleared memory: a leaf's children are null.
Node* bottom_up_tree(int depth) {
    Node* n = static_cast<Node*>(GC_MALLOC(sizeof(Node)));
    if (n == nullptr) out_of_memory();
    if (depth > 0) {
        n->left = bottom_up_tree(depth - 1);
        n->right = bottom_up_tree(depth - 1);
    }
    return n;
}

// Its node count, from the links alone.
int64_t check(const Node* n) {
    if (n->left == nullptr) return 1;
    return 1 + check(n->left) + check(n->right);
}

int64_t nodes_of_depth(int depth) { return (int64_t{1} << (depth + 1)) - 1; }

// ---- Stop-the-world pauses ----------------------------------------------
//
// Written by the collection-event callback, which Boehm calls with the GC
// lock held; read under the same lock (GC_call_with_alloc_lock).

int64_t mono_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct PauseRecord {
    int64_t stop_begin_ns = -1;  // set at PRE_STOP_WORLD, -1 while the world runs
    int64_t pauses = 0;
    int64_t total_ns = 0;
    int64_t max_ns = 0;  // since the last reset
};
PauseRecord g_pauses;

void GC_CALLBACK on_collection_event(GC_EventType e) {
    if (e == GC_EVENT_PRE_STOP_WORLD) {
        g_pauses.stop_begin_ns = mono_ns();
    } else if (e == GC_EVENT_POST_START_WORLD && g_pauses.stop_begin_ns >= 0) {
        int64_t d = mono_ns() - g_pauses.stop_begin_ns;
        g_pauses.stop_begin_ns = -1;
        ++g_pauses.pauses;
        g_pauses.total_ns += d;
        g_pauses.max_ns = std::max(g_pauses.max_ns, d);
    }
}

struct GcSnapshot {
    uint64_t gc_no = 0;
    PauseRecord pauses;
    bool reset_max = false;  // in: clear the max after reading
};

void* GC_CALLBACK take_snapshot(void* arg) {
    auto* s = static_cast<GcSnapshot*>(arg);
    s->gc_no = GC_get_gc_no();
    s->pauses = g_pauses;
    if (s->reset_max) g_pauses.max_ns = 0;
    return nullptr;
}

GcSnapshot gc_snapshot(bool reset_max) {
    GcSnapshot s;
    s.reset_max = reset_max;
    GC_call_with_alloc_lock(take_snapshot, &s);
    return s;
}

// ---- Flags, with the messages and exit status of weft's ex::Flags --------

struct IntFlag {
    const char* name;
    int64_t* out;
    int64_t lo, hi;
    const char* help;
    int64_t def;
};

std::string usage(const std::vector<IntFlag>& flags) {
    std::string s = std::string("usage: ") + kProgram;
    for (const IntFlag& f : flags) s += std::string(" [--") + f.name + " N]";
    s += "\n  W6 on Boehm GC: the Benchmarks Game binary-trees, every node GC_MALLOC'd; one thread per depth.\n";
    char buf[512];
    for (const IntFlag& f : flags) {
        std::string lhs = std::string("--") + f.name + " N";
        std::snprintf(buf, sizeof buf, "  %-14s%s, in [%" PRId64 ", %" PRId64 "] (default %" PRId64 ")\n",
                      lhs.c_str(), f.help, f.lo, f.hi, f.def);
        s += buf;
    }
    std::snprintf(buf, sizeof buf, "  %-14s%s\n", "--help", "print this text");
    return s + buf;
}

[[noreturn]] void fail(const std::vector<IntFlag>& flags, const std::string& message) {
    std::fprintf(stderr, "%s: %s\n%s", kProgram, message.c_str(), usage(flags).c_str());
    std::exit(2);
}

// Accepts `--name value` and `--name=value`; --help prints the usage and
// exits 0; anything else wrong exits 2.
void parse_flags(int argc, char** argv, const std::vector<IntFlag>& flags) {
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::fputs(usage(flags).c_str(), stdout);
            std::exit(0);
        }
        if (arg.compare(0, 2, "--") != 0) fail(flags, "unexpected argument '" + arg + "'");
        std::string name = arg.substr(2), value;
        bool has_value = false;
        if (size_t eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name.resize(eq);
            has_value = true;
        }
        const IntFlag* f = nullptr;
        for (const IntFlag& g : flags)
            if (name == g.name) f = &g;
        if (f == nullptr) fail(flags, "unknown flag '--" + name + "'");
        if (!has_value) {
            if (i + 1 >= argc) fail(flags, "--" + name + ": missing value");
            value = argv[++i];
        }
        int64_t v = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
        if (value.empty() || ec != std::errc() || end != value.data() + value.size() || v < f->lo || v > f->hi)
            fail(flags, "--" + name + ": '" + value + "' is not an integer in [" + std::to_string(f->lo) + ", " +
                            std::to_string(f->hi) + "]");
        *f->out = v;
    }
}

// ---- Step 3's threads ----------------------------------------------------

struct Round {
    int depth = 0;
    int64_t iterations = 0;
    int64_t sum = 0;  // written by the round's thread only, read after the join
};

void* run_round(void* arg) {
    auto* r = static_cast<Round*>(arg);
    int64_t sum = 0;
    for (int64_t i = 0; i < r->iterations; ++i) sum += check(bottom_up_tree(r->depth));
    r->sum = sum;
    return nullptr;
}

struct Line {
    std::string text;
    int64_t got = 0;
    int64_t want = 0;
};

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return buf;
}

}  // namespace

int main(int argc, char** argv) {
    int64_t depth = 21, procs = 0;
    std::vector<IntFlag> flags = {
        {"depth", &depth, 0, 24, "max tree depth (below 6 counts as 6, as the reference does)", 21},
        {"procs", &procs, 0, 1024, "GC marker threads (GC_set_markers_count), 0 = Boehm's choice (one per core)", 0},
    };
    parse_flags(argc, argv, flags);

    if (procs > 0) GC_set_markers_count(static_cast<unsigned>(procs));  // no effect after GC_INIT
    GC_INIT();
    GC_start_mark_threads();
    GC_set_on_collection_event(on_collection_event);

    const int max_depth = std::max(kMinDepth + 2, static_cast<int>(depth));
    const int stretch_depth = max_depth + 1;
    const int rounds = (max_depth - kMinDepth) / 2 + 1;
    std::vector<Round> work(static_cast<size_t>(rounds));
    std::vector<pthread_t> threads(static_cast<size_t>(rounds));
    for (int r = 0; r < rounds; ++r) {
        work[static_cast<size_t>(r)].depth = kMinDepth + 2 * r;
        work[static_cast<size_t>(r)].iterations = int64_t{1} << (max_depth - (kMinDepth + 2 * r) + kMinDepth);
    }

    GcSnapshot s0 = gc_snapshot(/*reset_max=*/true);
    ex::StealWindow steal;
    auto start = std::chrono::steady_clock::now();

    // 1. The stretch tree: built, checked and dropped.
    int64_t stretch_check = check(bottom_up_tree(stretch_depth));

    // 2. The long lived tree: kept on main's stack (a root, scanned
    //    conservatively) to the end.
    Node* long_lived = bottom_up_tree(max_depth);

    // 3. One thread per depth (GC_pthread_create: registered with the GC).
    for (int r = 0; r < rounds; ++r) {
        int err = pthread_create(&threads[static_cast<size_t>(r)], nullptr, run_round, &work[static_cast<size_t>(r)]);
        if (err != 0) {
            std::fprintf(stderr, "%s: pthread_create: %s\n", kProgram, std::strerror(err));
            return 1;
        }
    }
    for (int r = 0; r < rounds; ++r) pthread_join(threads[static_cast<size_t>(r)], nullptr);

    // 4. The long lived tree, still intact after all that garbage.
    int64_t long_lived_check = check(long_lived);
    double wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    double steal_ms = steal.elapsed_ms();
    GcSnapshot s1 = gc_snapshot(/*reset_max=*/false);

    std::vector<Line> lines;
    lines.push_back({format("stretch tree of depth %d\t check: %" PRId64, stretch_depth, stretch_check), stretch_check,
                     nodes_of_depth(stretch_depth)});
    for (const Round& r : work)
        lines.push_back({format("%" PRId64 "\t trees of depth %d\t check: %" PRId64, r.iterations, r.depth, r.sum),
                         r.sum, r.iterations * nodes_of_depth(r.depth)});
    lines.push_back({format("long lived tree of depth %d\t check: %" PRId64, max_depth, long_lived_check),
                     long_lived_check, nodes_of_depth(max_depth)});

    int bad = 0;
    for (const Line& l : lines) {
        std::printf("%s\n", l.text.c_str());
        if (l.got != l.want) {
            std::fprintf(stderr, "%s: FAILED: \"%s\": the check should be %" PRId64 "\n", kProgram, l.text.c_str(),
                         l.want);
            ++bad;
        }
    }
    std::fflush(stdout);
    if (bad != 0) {
        std::fprintf(stderr, "%s: FAILED: %d of %zu checks are wrong (nodes lost or reused by the GC?)\n", kProgram,
                     bad, lines.size());
        return 1;
    }

    int64_t peak = ex::peak_rss_kb();
    int64_t cycles = static_cast<int64_t>(s1.gc_no - s0.gc_no);
    int64_t pauses = s1.pauses.pauses - s0.pauses.pauses;
    double max_pause_us = static_cast<double>(s1.pauses.max_ns) / 1e3;
    double total_pause_ms = static_cast<double>(s1.pauses.total_ns - s0.pauses.total_ns) / 1e6;
    int markers = GC_get_parallel() + 1;
    long report_procs = procs > 0 ? static_cast<long>(procs) : sysconf(_SC_NPROCESSORS_ONLN);
    std::printf("%s: depth %d with Boehm GC %u.%u.%u, %d marker threads, in %.1f ms, checks ok; %" PRId64
                " GC cycles, %" PRId64 " pauses (max %.1f us, total %.2f ms); peak RSS %" PRId64 " KiB\n",
                kProgram, max_depth, GC_get_version() >> 16, (GC_get_version() >> 8) & 0xff,
                GC_get_version() & 0xff, markers, wall_ms, cycles, pauses, max_pause_us, total_pause_ms, peak);
    std::printf("{\"workload\": \"binarytrees\", \"runtime\": \"boehm\", \"procs\": %ld, \"depth\": %d, "
                "\"wall_ms\": %.3f, \"peak_rss_kb\": %" PRId64 ", \"gc_cycles\": %" PRId64
                ", \"max_pause_us\": %.1f, \"gc_pauses\": %" PRId64
                ", \"total_pause_ms\": %.3f, \"assist_ms\": -1, \"host_steal_ms\": %.0f}\n",
                report_procs, max_depth, wall_ms, peak, cycles, max_pause_us, pauses, total_pause_ms, steal_ms);
    std::fflush(stdout);
    return 0;
}
