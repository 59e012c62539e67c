#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <weft/clock.hpp>
#include "gc/page_heap.hpp"
#include "support/death.hpp"
#include "support/test_util.hpp"
#include "test_nodes.hpp"

using namespace weft::gc;
using weft::suite::contains;
using weft::suite::run_in_child;
using gctest::rss_bytes;

namespace {

constexpr size_t kMiB = size_t{1} << 20;

// Mappings in /proc/self/maps that overlap [lo, hi).
int vmas_in(uintptr_t lo, uintptr_t hi) {
    FILE* f = fopen("/proc/self/maps", "r");
    REQUIRE(f != nullptr);
    int n = 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long a = 0, b = 0;
        if (sscanf(line, "%lx-%lx", &a, &b) == 2 && a < hi && b > lo) n++;
    }
    fclose(f);
    return n;
}

unsigned char* ptr(uintptr_t a) { return reinterpret_cast<unsigned char*>(a); }

bool all_bytes(uintptr_t addr, size_t len, unsigned char v) {
    for (size_t i = 0; i < len; i++)
        if (ptr(addr)[i] != v) return false;
    return true;
}

// Makes every page of [addr, addr+len) resident. Under TSan a memset would
// also commit four times as much shadow memory; the kernel's prefault does
// not go through the instrumentation.
void touch(uintptr_t addr, size_t len) {
#if defined(__SANITIZE_THREAD__) && defined(MADV_POPULATE_WRITE)
    if (madvise(ptr(addr), len, MADV_POPULATE_WRITE) == 0) return;
#endif
    memset(ptr(addr), 1, len);
}

// Checks stats() against page counts.
void check_stats(const PageHeap& h, size_t in_use, size_t free, size_t released) {
    PageHeapStats s = h.stats();
    CHECK(s.reserved_bytes == h.reserved_bytes());
    CHECK(s.in_use_bytes == in_use * kPageSize);
    CHECK(s.free_bytes == free * kPageSize);
    CHECK(s.released_bytes == released * kPageSize);
    CHECK(s.mapped_bytes == (in_use + free) * kPageSize);
}

}  // namespace

TEST_CASE("alloc returns page-aligned, disjoint, zeroed runs inside the reservation") {
    PageHeap h(64 * kMiB);
    CHECK(h.base() % kMiB == 0);
    CHECK(h.reserved_bytes() == 64 * kMiB);
    std::mt19937 rng(1);
    std::vector<PageRun> runs;
    for (int i = 0; i < 200; i++) {
        size_t n = 1 + rng() % 40;
        PageRun r = h.alloc(n);
        CHECK(r.npages == n);
        CHECK(r.addr % kPageSize == 0);
        CHECK(h.contains(r.addr));
        CHECK(h.contains(r.addr + n * kPageSize - 1));
        CHECK(r.zeroed);
        CHECK(all_bytes(r.addr, 64, 0));
        CHECK(all_bytes(r.addr + n * kPageSize - 64, 64, 0));
        runs.push_back(r);
    }
    std::sort(runs.begin(), runs.end(), [](const PageRun& a, const PageRun& b) { return a.addr < b.addr; });
    for (size_t i = 1; i < runs.size(); i++) CHECK(runs[i - 1].addr + runs[i - 1].npages * kPageSize <= runs[i].addr);
    CHECK_FALSE(h.contains(h.base() - 1));
    CHECK_FALSE(h.contains(h.base() + h.reserved_bytes()));
    // A reservation rounds up to whole pages.
    PageHeap odd(3 * kPageSize + 1);
    CHECK(odd.reserved_bytes() == 4 * kPageSize);
    CHECK(odd.alloc(4).addr == odd.base());
}

TEST_CASE("the runtime's 64 GiB reservation costs nothing until used") {
    size_t before = rss_bytes();
    PageHeap h(size_t{64} << 30);
    CHECK(h.base() % kMiB == 0);
    PageRun r = h.alloc(3);
    CHECK(r.zeroed);
    int span = 0;
    h.set_owner(r.addr, 3, &span);
    CHECK(h.owner_of(r.addr + 3 * kPageSize - 1) == &span);
    CHECK(h.owner_of(h.base() + h.reserved_bytes() - 1) == nullptr);
    CHECK(h.stats().in_use_bytes + h.stats().released_bytes == 64 * kMiB);  // one growth chunk
    CHECK(rss_bytes() < before + 8 * kMiB);
}

TEST_CASE("free coalesces with both neighbours, in every order") {
    int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (auto& order : orders) {
        CAPTURE(order[0]);
        CAPTURE(order[1]);
        CAPTURE(order[2]);
        PageHeap h(64 * kMiB);
        PageRun r[3] = {h.alloc(2), h.alloc(3), h.alloc(4)};
        PageRun guard = h.alloc(1);  // keeps the three apart from the free top
        REQUIRE(r[1].addr == r[0].addr + 2 * kPageSize);
        REQUIRE(r[2].addr == r[1].addr + 3 * kPageSize);
        REQUIRE(guard.addr == r[2].addr + 4 * kPageSize);
        for (int i : order) h.free(r[i].addr, r[i].npages);
        PageRun merged = h.alloc(9);
        CHECK(merged.addr == r[0].addr);
        CHECK_FALSE(merged.zeroed);  // freed pages are dirty until released
        // The guard's page joins the merged run and the top, both ways.
        h.free(guard.addr, 1);
        h.free(merged.addr, 9);
        CHECK(h.alloc(8192).addr == h.base());
    }
}

TEST_CASE("growth extends the free run at the top; the heap stays two mappings") {
    PageHeap h(1024 * kMiB);
    PageRun a = h.alloc(8190);  // grows 64 MiB, leaves 2 free pages on top
    PageRun b = h.alloc(10);    // needs growth; must continue those 2 pages
    CHECK(b.addr == a.addr + 8190 * kPageSize);
    CHECK(b.zeroed);
    PageHeapStats s = h.stats();
    CHECK(s.in_use_bytes + s.free_bytes + s.released_bytes == 128 * kMiB);
    for (int i = 0; i < 12; i++) {
        PageRun r = h.alloc(60 * kMiB / kPageSize);
        ptr(r.addr)[0] = 1;
        ptr(r.addr + r.npages * kPageSize - 1)[0] = 1;
    }
    s = h.stats();
    CHECK(s.in_use_bytes + s.free_bytes + s.released_bytes == 832 * kMiB);
    CHECK(vmas_in(h.base(), h.base() + h.reserved_bytes()) <= 2);
}

TEST_CASE("recycled pages are not zeroed; released pages are and read as zero") {
    PageHeap h(64 * kMiB);
    PageRun r = h.alloc(16);
    REQUIRE(r.zeroed);
    memset(ptr(r.addr), 0xAB, 16 * kPageSize);
    h.free(r.addr, 16);
    PageRun again = h.alloc(16);
    CHECK(again.addr == r.addr);
    CHECK_FALSE(again.zeroed);
    CHECK(all_bytes(again.addr, 16 * kPageSize, 0xAB));  // not released behind our back
    h.free(again.addr, 16);
    CHECK(h.scavenge_all() == 16 * kPageSize);
    PageRun back = h.alloc(16);
    CHECK(back.addr == r.addr);
    CHECK(back.zeroed);
    CHECK(all_bytes(back.addr, 16 * kPageSize, 0));

    // A run that is partly dirty and partly released: only pages all
    // released are zeroed, and the stats count each page where it is.
    memset(ptr(back.addr), 0xCD, 4 * kPageSize);
    h.free(back.addr, 16);  // 16 dirty pages merged into the released top
    check_stats(h, 0, 16, 8192 - 16);
    PageRun mixed = h.alloc(20);
    CHECK(mixed.addr == r.addr);
    CHECK_FALSE(mixed.zeroed);
    check_stats(h, 20, 0, 8192 - 20);
    h.free(mixed.addr, 20);
    PageRun part = h.alloc(16);  // dirty pages only
    CHECK_FALSE(part.zeroed);
    h.free(part.addr, 16);
    h.scavenge_all();
    PageRun clean = h.alloc(24);
    CHECK(clean.zeroed);
    CHECK(all_bytes(clean.addr, 24 * kPageSize, 0));
}

TEST_CASE("scavenge releases only runs idle long enough; a split keeps its age") {
    constexpr int64_t kIdle = 1'000'000'000;
    PageHeap h(64 * kMiB);
    PageRun a = h.alloc(4), g1 = h.alloc(1), b = h.alloc(4), g2 = h.alloc(1), c = h.alloc(8), g3 = h.alloc(1);
    for (PageRun r : {a, b, c}) memset(ptr(r.addr), 0x5A, r.npages * kPageSize);
    h.free(a.addr, 4);
    h.free(c.addr, 8);
    int64_t t1 = weft::base::nanotime();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    int64_t t2 = weft::base::nanotime();
    REQUIRE(t2 > t1);
    h.free(b.addr, 4);
    // a and c are older than t2, b is not.
    PageRun split = h.alloc(6);  // best fit: the low 6 pages of c
    CHECK(split.addr == c.addr);
    CHECK(h.scavenge(t2 - 1, kIdle) == 0);  // nothing is a second old yet
    CHECK(h.scavenge(t2 - 1 + kIdle, kIdle) == (4 + 2) * kPageSize);  // a and c's rest
    check_stats(h, 3 + 6, 4, 8192 - 9 - 4);
    CHECK(h.scavenge(t2 - 1 + kIdle, kIdle) == 0);
    CHECK(h.scavenge(t2 + 10 * kIdle, kIdle) == 4 * kPageSize);  // now b
    PageHeapStats s = h.stats();
    CHECK(s.scavenged_total_bytes == 10 * kPageSize);
    CHECK(s.free_bytes == 0);
    CHECK(h.scavenge_all() == 0);
    PageRun ra = h.alloc(4);
    CHECK(ra.addr == a.addr);  // equal sizes: the lowest address
    CHECK(ra.zeroed);
    CHECK(all_bytes(ra.addr, 4 * kPageSize, 0));
    PageRun rb = h.alloc(4);
    CHECK(rb.addr == b.addr);
    CHECK(rb.zeroed);
    CHECK(all_bytes(rb.addr, 4 * kPageSize, 0));
    (void)g1;
    (void)g2;
    (void)g3;
}

TEST_CASE("a merged run takes the age of its part with more dirty pages") {
    constexpr int64_t kIdle = 1'000'000'000;
    PageHeap h(64 * kMiB);
    PageRun a = h.alloc(8), b = h.alloc(1), g1 = h.alloc(1);  // a old and big, b young and small
    PageRun c = h.alloc(1), d = h.alloc(8), g2 = h.alloc(1);  // c old and small, d young and big
    for (PageRun r : {a, b, c, d}) memset(ptr(r.addr), 0x77, r.npages * kPageSize);
    h.free(a.addr, 8);
    h.free(c.addr, 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    int64_t t2 = weft::base::nanotime();
    h.free(b.addr, 1);  // merges into a's run: still old
    h.free(d.addr, 8);  // merges with c's run: now young
    CHECK(h.scavenge(t2 - 1 + kIdle, kIdle) == 9 * kPageSize);
    CHECK(h.scavenge(t2 + 10 * kIdle, kIdle) == 9 * kPageSize);
    (void)g1;
    (void)g2;
}

TEST_CASE("stats add up exactly through a sequence") {
    PageHeap h(64 * kMiB);  // 8192 pages, grown in one step
    check_stats(h, 0, 0, 0);
    PageRun a = h.alloc(10);
    check_stats(h, 10, 0, 8182);
    PageRun b = h.alloc(20);
    check_stats(h, 30, 0, 8162);
    h.free(a.addr, 10);
    check_stats(h, 20, 10, 8162);
    h.free(b.addr + 10 * kPageSize, 10);  // the top half of b
    check_stats(h, 10, 20, 8162);
    CHECK(h.scavenge_all() == 20 * kPageSize);
    check_stats(h, 10, 0, 8182);
    CHECK(h.stats().scavenged_total_bytes == 20 * kPageSize);
    PageRun c = h.alloc(15);  // a's hole is too small: from the top
    CHECK(c.addr == b.addr + 10 * kPageSize);
    CHECK(c.zeroed);
    check_stats(h, 25, 0, 8167);
    PageRun d = h.alloc(10);  // a's hole, exactly
    CHECK(d.addr == a.addr);
    CHECK(d.zeroed);
    check_stats(h, 35, 0, 8157);
    h.free(d.addr, 10);
    check_stats(h, 25, 10, 8157);
    h.free(c.addr, 15);
    check_stats(h, 10, 25, 8157);
    h.free(b.addr, 10);
    check_stats(h, 0, 35, 8157);
    PageRun all = h.alloc(8192);  // one run again
    CHECK(all.addr == h.base());
    CHECK_FALSE(all.zeroed);
    check_stats(h, 8192, 0, 0);
    CHECK(h.stats().scavenged_total_bytes == 20 * kPageSize);
}

TEST_CASE("owner_of maps every page of a run, and nothing else") {
    PageHeap h(64 * kMiB);
    int span_a = 0, span_b = 0;
    PageRun a = h.alloc(3), b = h.alloc(1);
    PageRun c = h.alloc(2);
    h.set_owner(a.addr, 3, &span_a);
    h.set_owner(b.addr, 1, &span_b);
    for (uintptr_t x : {a.addr, a.addr + 1, a.addr + kPageSize - 1, a.addr + kPageSize, a.addr + 2 * kPageSize + 17,
                        a.addr + 3 * kPageSize - 1})
        CHECK(h.owner_of(x) == &span_a);
    CHECK(h.owner_of(b.addr) == &span_b);
    CHECK(h.owner_of(b.addr + kPageSize - 1) == &span_b);
    CHECK(h.owner_of(c.addr) == nullptr);  // allocated, no owner set
    CHECK(h.owner_of(h.base() + h.reserved_bytes() - 1) == nullptr);
    CHECK(h.owner_of(h.base() - 1) == nullptr);
    CHECK(h.owner_of(h.base() + h.reserved_bytes()) == nullptr);
    CHECK(h.owner_of(0) == nullptr);
    CHECK(h.owner_of(UINTPTR_MAX) == nullptr);
    int local = 0;
    CHECK(h.owner_of(reinterpret_cast<uintptr_t>(&local)) == nullptr);
    h.set_owner(a.addr + kPageSize, 1, nullptr);
    CHECK(h.owner_of(a.addr) == &span_a);
    CHECK(h.owner_of(a.addr + kPageSize) == nullptr);
    CHECK(h.owner_of(a.addr + 2 * kPageSize) == &span_a);
}

TEST_CASE("an exhausted reservation is fatal with a clear message") {
    auto full = run_in_child([] {
        PageHeap h(64 * kMiB);
        h.alloc(8192);
        h.alloc(1);
    });
    CHECK(full.exit_code == 2);
    CHECK(contains(full.err, "fatal error: out of memory: the GC heap's 64 MiB reservation is exhausted "
                             "(asked for 1 pages)"));
    auto too_big = run_in_child([] {
        PageHeap h(64 * kMiB);
        h.alloc(8193);
    });
    CHECK(too_big.exit_code == 2);
    CHECK(contains(too_big.err, "the GC heap's 64 MiB reservation is exhausted (asked for 8193 pages)"));
    // Free pages that are not contiguous do not make a run.
    auto fragmented = run_in_child([] {
        PageHeap h(64 * kMiB);
        PageRun a = h.alloc(4096);
        h.alloc(1);
        h.alloc(4095);
        h.free(a.addr, 4096);
        h.alloc(4096);  // fits exactly
        h.free(a.addr, 2);
        h.alloc(3);
    });
    CHECK(fragmented.exit_code == 2);
    CHECK(contains(fragmented.err, "reservation is exhausted (asked for 3 pages)"));
}

TEST_CASE("double free and frees outside the reservation are fatal") {
    auto twice = run_in_child([] {
        PageHeap h(64 * kMiB);
        PageRun r = h.alloc(4);
        h.alloc(1);
        h.free(r.addr, 4);
        h.free(r.addr, 4);
    });
    CHECK(twice.exit_code == 2);
    CHECK(contains(twice.err, "page heap: free of pages not in use at 0x"));
    CHECK(contains(twice.err, "(4 pages)"));
    auto overlap = run_in_child([] {
        PageHeap h(64 * kMiB);
        PageRun r = h.alloc(4);
        h.free(r.addr + 2 * kPageSize, 2);
        h.free(r.addr, 3);  // its last page is free already
    });
    CHECK(overlap.exit_code == 2);
    CHECK(contains(overlap.err, "free of pages not in use"));
    auto never = run_in_child([] {
        PageHeap h(64 * kMiB);
        h.free(h.base() + 100 * kPageSize, 1);  // never grown
    });
    CHECK(never.exit_code == 2);
    CHECK(contains(never.err, "free of pages not in use"));
    auto outside = run_in_child([] {
        PageHeap h(64 * kMiB);
        h.alloc(1);
        h.free(h.base() + h.reserved_bytes(), 1);
    });
    CHECK(outside.exit_code == 2);
    CHECK(contains(outside.err, "outside the reservation"));
    auto past_end = run_in_child([] {
        PageHeap h(64 * kMiB);
        h.alloc(8192);
        h.free(h.base() + 8191 * kPageSize, 2);
    });
    CHECK(past_end.exit_code == 2);
    CHECK(contains(past_end.err, "outside the reservation"));
}

TEST_CASE("concurrent alloc/free while readers call owner_of") {
    // A Tok is the run's "span": immutable once published by set_owner, kept
    // alive until the end, so a reader may look at any Tok it is handed.
    struct Tok {
        uintptr_t addr;
        size_t npages;
    };
    constexpr int kThreads = 4;
    constexpr size_t kMaxOps = 1000000;  // bounds Tok memory; the 0.3 s deadline usually ends first
    PageHeap h(size_t{2} << 30);
    std::vector<std::vector<Tok>> toks(kThreads);
    for (auto& t : toks) t.reserve(kMaxOps);  // never reallocates: Toks stay put
    std::atomic<bool> stop{false};
    std::atomic<size_t> bad{0}, seen{0}, ops{0};

    std::thread reader([&] {
        std::mt19937_64 rng(99);
        size_t mine = 0, wrong = 0;
        while (!stop.load()) {
            uintptr_t a = h.base() + rng() % (128 * kMiB);
            if (void* o = h.owner_of(a)) {
                const Tok* t = static_cast<const Tok*>(o);
                if (a < t->addr || a >= t->addr + t->npages * kPageSize) wrong++;
                mine++;
            }
            if (h.owner_of(h.base() - 1 - rng() % kMiB) != nullptr) wrong++;
        }
        seen += mine;
        bad += wrong;
    });
    std::vector<std::thread> workers;
    for (int id = 0; id < kThreads; id++)
        workers.emplace_back([&, id] {
            std::mt19937_64 rng(static_cast<uint64_t>(id) + 1);
            auto size = [&] {
                uint64_t r = rng() % 100;
                if (r < 90) return 1 + rng() % 64;
                if (r < 99) return 65 + rng() % 448;
                return 513 + rng() % 1536;
            };
            std::vector<Tok*> live;
            size_t wrong = 0;
            auto release = [&](Tok* t) {
                uintptr_t last = t->addr + t->npages * kPageSize - sizeof(Tok*);
                if (h.owner_of(t->addr) != t || h.owner_of(last) != t) wrong++;
                if (*reinterpret_cast<Tok**>(t->addr) != t || *reinterpret_cast<Tok**>(last) != t) wrong++;
                h.set_owner(t->addr, t->npages, nullptr);
                h.free(t->addr, t->npages);
            };
            auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
            size_t n_ops = 0;
            for (; n_ops < kMaxOps && std::chrono::steady_clock::now() < deadline; n_ops++) {
                if (live.size() < 64 && (live.empty() || rng() % 2 == 0)) {
                    size_t n = size();
                    PageRun r = h.alloc(n);
                    Tok* t = &toks[id].emplace_back(Tok{r.addr, n});
                    h.set_owner(r.addr, n, t);
                    // Pattern in the first and last word: an overlapping
                    // run handed to another thread would overwrite it.
                    *reinterpret_cast<Tok**>(r.addr) = t;
                    *reinterpret_cast<Tok**>(r.addr + n * kPageSize - sizeof(Tok*)) = t;
                    live.push_back(t);
                } else {
                    size_t i = rng() % live.size();
                    release(live[i]);
                    live[i] = live.back();
                    live.pop_back();
                }
            }
            for (Tok* t : live) release(t);
            bad += wrong;
            ops += n_ops;
        });
    for (auto& w : workers) w.join();
    stop.store(true);
    reader.join();
    MESSAGE("ops: " << ops.load() << ", owners seen: " << seen.load());
    CHECK(bad.load() == 0);
    CHECK(seen.load() > 0);

    PageHeapStats s = h.stats();
    CHECK(s.in_use_bytes == 0);
    size_t grown = s.free_bytes + s.released_bytes;
    CHECK(grown % (64 * kMiB) == 0);
    CHECK(h.scavenge_all() == s.free_bytes);
    s = h.stats();
    CHECK(s.free_bytes == 0);
    CHECK(s.released_bytes == grown);
    // Everything coalesced back into one run at the base: it all comes back
    // as one allocation without growing.
    PageRun all = h.alloc(grown / kPageSize);
    CHECK(all.addr == h.base());
    CHECK(all.zeroed);
    s = h.stats();
    CHECK(s.in_use_bytes == grown);
    CHECK(s.released_bytes == 0);
}

TEST_CASE("scavenge_all gives touched memory back to the OS") {
    constexpr size_t kTouch = 256 * kMiB;
    PageHeap h(512 * kMiB);
    size_t before = rss_bytes();
    PageRun r = h.alloc(kTouch / kPageSize);
    touch(r.addr, kTouch);
    size_t touched = rss_bytes();
    MESSAGE("rss before " << before / kMiB << " MiB, touched " << touched / kMiB << " MiB");
    REQUIRE(touched >= before + kTouch / 2);
    h.free(r.addr, r.npages);
    CHECK(h.scavenge_all() == kTouch);
    size_t after = rss_bytes();
    MESSAGE("rss after scavenge_all " << after / kMiB << " MiB");
    CHECK(after + kTouch / 2 <= touched);
    PageHeapStats s = h.stats();
    CHECK(s.free_bytes == 0);
    CHECK(s.released_bytes == kTouch);
}

TEST_CASE("a scavenge step is bounded in pages and in runs visited, and the next goes on where it stopped") {
    PageHeap h(64 * kMiB);
    // Runs of 5 dirty pages kept apart by in-use pages, more than a step
    // visits; then the heap's untouched (released) rest, the largest run.
    constexpr size_t kRuns = PageHeap::kScavengeStepRuns + 10;
    std::vector<PageRun> runs, gaps;
    for (size_t i = 0; i < kRuns; ++i) {
        runs.push_back(h.alloc(5));
        gaps.push_back(h.alloc(1));
        memset(ptr(runs.back().addr), 0x3C, 5 * kPageSize);
    }
    for (PageRun r : runs) h.free(r.addr, 5);
    int64_t now = weft::base::nanotime();
    bool done = true;
    // Page bound: 3 pages, cutting the first run in two.
    CHECK(h.scavenge_step(now, 0, 3, &done) == 3 * kPageSize);
    CHECK_FALSE(done);
    CHECK(h.scavenge_step(now, 0, 3, &done) == 3 * kPageSize);  // its last 2 pages and 1 of the next
    CHECK_FALSE(done);
    // Run bound: one step visits kScavengeStepRuns runs (the second run's
    // last 4 pages, then whole runs), however many pages it may release.
    size_t released = h.scavenge_step(now, 0, SIZE_MAX, &done);
    CHECK_FALSE(done);
    CHECK(released == (PageHeap::kScavengeStepRuns * 5 - 1) * kPageSize);
    CHECK(h.scavenge_step(now, 0, SIZE_MAX, &done) == 9 * 5 * kPageSize);  // the 9 runs left
    CHECK(done);  // reached the last run
    CHECK(h.stats().free_bytes == 0);
    // A finished pass starts over: nothing is left to release.
    CHECK(h.scavenge_step(now, 0, SIZE_MAX, &done) == 0);
    CHECK(done);
    for (PageRun r : runs) {
        PageRun again = h.alloc(5);
        CHECK(again.zeroed);
        CHECK(all_bytes(again.addr, 5 * kPageSize, 0));
        (void)r;
    }
    for (PageRun g : gaps) h.free(g.addr, 1);
}

TEST_CASE("scavenge_all releases every free page, also after a step stopped part-way") {
    PageHeap h(64 * kMiB);
    std::vector<PageRun> runs, gaps;
    for (int i = 0; i < 4; ++i) {
        runs.push_back(h.alloc(5));
        gaps.push_back(h.alloc(1));
        memset(ptr(runs.back().addr), 0x3C, 5 * kPageSize);
    }
    for (PageRun r : runs) h.free(r.addr, 5);
    bool done = true;
    // A step stops inside the second run (runs are visited by size, then
    // address): the first run and 2 pages of the second are released.
    CHECK(h.scavenge_step(weft::base::nanotime(), 0, 7, &done) == 7 * kPageSize);
    CHECK_FALSE(done);
    // The first run gets a dirty page again, before where the step stopped.
    PageRun one = h.alloc(1);
    CHECK(one.addr == runs[0].addr);
    memset(ptr(one.addr), 0x3C, kPageSize);
    h.free(one.addr, 1);
    CHECK(h.scavenge_all() == (1 + 3 + 5 + 5) * kPageSize);
    CHECK(h.stats().free_bytes == 0);
    for (PageRun g : gaps) h.free(g.addr, 1);
}
