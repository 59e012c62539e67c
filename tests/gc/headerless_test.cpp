// Objects without a header: a slot holds the object alone, each span holds
// one type (heap.hpp H4), a P's cache holds a span per (type, class) pair
// and evicts within a set, and a constructor that throws leaves nothing to
// destroy.
#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include <weft/weft.hpp>
#include "gc/heap.hpp"
#include "support/death.hpp"
#include "support/test_util.hpp"
#include "test_nodes.hpp"

using weft::suite::contains;
using namespace gctest;  // NOLINT: keep, on_fresh_fiber

namespace {

namespace detail = weft::gc::detail;

// One reference and nothing else: the smallest object with references.
struct Link {
    gc::Member<Link> next;
    void trace(gc::Visitor& v) const { v.visit(next); }
};
static_assert(sizeof(Link) == 8);

// Two types of one size class, each counting its own destructor runs.
std::atomic<int64_t> g_apples{0};
std::atomic<int64_t> g_pears{0};
struct Apple {
    int64_t a = 0, b = 0;
    ~Apple() { g_apples.fetch_add(1); }
};
struct Pear {
    int64_t a = 0, b = 0;
    ~Pear() { g_pears.fetch_add(1); }
};

int64_t chain_length(const Link* l) {
    int64_t n = 0;
    for (; l != nullptr; l = l->next.get()) ++n;
    return n;
}

}  // namespace

TEST_CASE("objects take their size class and no more: 8-byte and 24-byte objects sit at that stride") {
    weft::run({.procs = 1}, [] {
        on_fresh_fiber([] {
            // Consecutive allocations of a fresh span's pair come out of
            // consecutive slots (the cache's window walks them in order);
            // a header would make the stride 16 and 32.
            std::vector<uintptr_t> links, nodes;
            for (int i = 0; i < 64; ++i) links.push_back(reinterpret_cast<uintptr_t>(gc::make<Link>()));
            for (int i = 0; i < 64; ++i) nodes.push_back(reinterpret_cast<uintptr_t>(gc::make<Node>(i)));
            int link_stride_8 = 0, node_stride_24 = 0;
            for (size_t i = 1; i < links.size(); ++i) link_stride_8 += links[i] - links[i - 1] == 8;
            for (size_t i = 1; i < nodes.size(); ++i) node_stride_24 += nodes[i] - nodes[i - 1] == 24;
            // All but span boundaries (and a span reused with live slots).
            CHECK(link_stride_8 >= 48);
            CHECK(node_stride_24 >= 48);
            CHECK(detail::span_of(links[0])->elemsize == 8);
            CHECK(detail::span_of(nodes[0])->elemsize == 24);
        });
    });
}

TEST_CASE("a list of 8-byte objects survives collections while its freed neighbours' slots are reused") {
    // The smallest class packs 64 slots into each mark word: sweep must
    // read every bit (a list node taken for dead would be zeroed when its
    // slot is reused, cutting the list).
    int64_t length = 0;
    weft::run({.procs = 1}, [&] {
        Link* head = nullptr;
        on_fresh_fiber([&] {
            for (int i = 0; i < 20000; ++i) {
                auto* l = gc::make<Link>();
                if (i % 2 == 0) {
                    l->next = head;
                    head = l;
                }
            }
        });
        gc::Root<Link> root(head);
        head = nullptr;
        for (int round = 0; round < 3; ++round) {
            gc::collect();
            on_fresh_fiber([] {
                for (int i = 0; i < 20000; ++i) keep(gc::make<Link>());
            });
        }
        length = chain_length(root.get());
    });
    CHECK(length == 10000);
}

TEST_CASE("two types of one size class get spans of their own, and each object its own destructor") {
    int64_t apples = 0, pears = 0;
    bool separate = false;
    weft::run({.procs = 1}, [&] {
        gc::collect();
        int64_t apples0 = g_apples.load(), pears0 = g_pears.load();
        on_fresh_fiber([&] {
            Apple* a = nullptr;
            Pear* p = nullptr;
            for (int i = 0; i < 3000; ++i) {  // interleaved: one cache, two pairs
                a = gc::make<Apple>();
                p = gc::make<Pear>();
            }
            detail::Span* sa = detail::span_of(reinterpret_cast<uintptr_t>(a));
            detail::Span* sp = detail::span_of(reinterpret_cast<uintptr_t>(p));
            separate = sa != sp && sa->spc == sp->spc && sa->type == &detail::kTypeInfoFor<Apple> &&
                       sp->type == &detail::kTypeInfoFor<Pear>;
        });
        for (int i = 0; i < 3; ++i) gc::collect();
        apples = g_apples.load() - apples0;
        pears = g_pears.load() - pears0;
    });
    CHECK(separate);
    CHECK(apples == 3000);
    CHECK(pears == 3000);
}

namespace {

// Many types of one size: more (type, class) pairs than the cache's sets
// hold ways, so some set evicts.
std::array<std::atomic<int64_t>, 300> g_destroyed{};

template <int I>
struct Kind {
    int64_t value;
    explicit Kind(int64_t v) : value(v) {}
    ~Kind() { g_destroyed[I].fetch_add(1); }
};

struct Kept {
    int index;
    const int64_t* value;
};

template <int I>
Kept make_kind(int64_t v) {
    return {I, &gc::make<Kind<I>>(v)->value};
}

template <size_t... Is>
std::array<Kept (*)(int64_t), sizeof...(Is)> makers(std::index_sequence<Is...>) {
    return {&make_kind<static_cast<int>(Is)>...};
}

}  // namespace

TEST_CASE("three hundred types allocated in turn: sets evict, every object keeps its value and its destructor") {
    constexpr int kKinds = 300;
    constexpr int kRounds = 40;
    static const auto kMakers = makers(std::make_index_sequence<kKinds>());
    // Pigeonhole: 300 pairs over 64 sets of 4 ways; some set must evict.
    std::array<int, detail::kCacheSets> per_set{};
    size_t distinct_types = 0;
    int64_t bad = 0, destroyed = 0;
    weft::run({.procs = 1}, [&] {
        gc::collect();
        int64_t before = 0;
        for (auto& d : g_destroyed) before += d.load();
        on_fresh_fiber([&] {
            for (int r = 0; r < kRounds; ++r) {
                std::array<Kept, kKinds> kept;  // on this fiber's stack: scanned, so all stay alive
                for (int k = 0; k < kKinds; ++k) kept[k] = kMakers[k](int64_t{r} * 1000 + k);
                for (int k = 0; k < kKinds; ++k) {
                    auto* s = detail::span_of(reinterpret_cast<uintptr_t>(kept[k].value));
                    if (s == nullptr || s->type == nullptr || *kept[k].value != int64_t{r} * 1000 + k) ++bad;
                }
                if (r == 0) {
                    std::set<const detail::TypeInfo*> types;
                    for (int k = 0; k < kKinds; ++k) {
                        auto* s = detail::span_of(reinterpret_cast<uintptr_t>(kept[k].value));
                        types.insert(s->type);
                        ++per_set[detail::cache_set(s->type, s->spc)];
                    }
                    distinct_types = types.size();
                }
            }
        });
        for (int i = 0; i < 3; ++i) gc::collect();
        for (auto& d : g_destroyed) destroyed += d.load();
        destroyed -= before;
    });
    int crowded_sets = 0;
    for (int n : per_set) crowded_sets += n > static_cast<int>(detail::kCacheWays);
    CHECK(crowded_sets > 0);
    CHECK(distinct_types == kKinds);
    CHECK(bad == 0);
    CHECK(destroyed == int64_t{kKinds} * kRounds);
}

namespace {

std::atomic<int64_t> g_fragile_destroyed{0};

struct Fragile {
    gc::Member<Link> link;
    int64_t value;
    explicit Fragile(bool fail) : value(7) {
        link = gc::make<Link>();
        if (fail) throw std::runtime_error("refused");
    }
    ~Fragile() { g_fragile_destroyed.fetch_add(1); }
    void trace(gc::Visitor& v) const { v.visit(link); }
};

}  // namespace

TEST_CASE("an object whose constructor threw is never destroyed; its slot's next object is") {
    int threw = 0;
    int64_t destroyed = 0;
    bool noted = false;
    int notes_left = 0;
    weft::run({.procs = 1}, [&] {
        gc::collect();
        int64_t before = g_fragile_destroyed.load();
        // Kept throughout, so the span the others share is never freed
        // whole (a span's Span struct set up afresh starts with no notes).
        gc::Root<Fragile> keeper;
        on_fresh_fiber([&] {
            keeper = gc::make<Fragile>(false);
            for (int i = 0; i < 1000; ++i) {
                try {
                    keep(gc::make<Fragile>(i % 2 == 0));
                } catch (const std::runtime_error&) {
                    ++threw;
                }
            }
        });
        // The 500 that threw are garbage with nothing to destroy; the 500
        // built are destroyed. Then their slots are reused: the next
        // objects there are built and destroyed in full.
        for (int i = 0; i < 3; ++i) gc::collect();
        on_fresh_fiber([] {
            for (int i = 0; i < 1000; ++i) keep(gc::make<Fragile>(false));
        });
        for (int i = 0; i < 3; ++i) gc::collect();
        destroyed = g_fragile_destroyed.load() - before;
        // The notes were in the keeper's span, and sweeping the slots they
        // marked cleared them all.
        detail::Span* ks = detail::span_of(reinterpret_cast<uintptr_t>(keeper.get()));
        auto* bits = ks->threw_bits.load();
        noted = bits != nullptr;
        for (uint32_t w = 0; bits && w < ks->nwords; ++w) notes_left += bits[w].load() != 0;
    });
    CHECK(noted);
    CHECK(notes_left == 0);
    CHECK(threw == 500);
    CHECK(destroyed == 1500);
}
