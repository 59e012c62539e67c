// gc::Vector and gc::HashMap: elements reachable only through a container
// survive cycles while it grows, dropped ones are freed exactly, keys are
// destroyed, growth under concurrent marking loses nothing (checkmark on),
// map semantics under many keys and bad hashes, precise errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <weft/gc/hash_map.hpp>
#include <weft/gc/vector.hpp>
#include <weft/weft.hpp>
#include "support/test_util.hpp"
#include "test_nodes.hpp"

namespace gc = weft::gc;
using weft::suite::contains;

namespace {

// Constructed minus destroyed Items: tests take a baseline after a
// collect() and compare deltas.
std::atomic<int64_t> g_items{0};

uint64_t seal(int64_t id) { return static_cast<uint64_t>(id) * 0x9e3779b97f4a7c15ULL ^ 0x5eed5eed5eed5eedULL; }

struct Item {
    int64_t id;
    uint64_t check;
    explicit Item(int64_t i) : id(i), check(seal(i)) { g_items.fetch_add(1); }
    ~Item() {
        check = 0;
        g_items.fetch_sub(1);
    }
    bool intact(int64_t want) const { return id == want && check == seal(want); }
};

struct Bag {
    gc::Vector<Item> items;
    void trace(gc::Visitor& v) const { v.visit_value(items); }
};

struct Index {
    gc::HashMap<int64_t, Item> map;
    void trace(gc::Visitor& v) const { map.trace(v); }
};

// A tree whose children are reachable only through a Vector of an
// incomplete type (Tree is incomplete where Vector<Tree> is declared).
std::atomic<int64_t> g_trees{0};
struct Tree {
    gc::Vector<Tree> kids;
    int64_t id;
    explicit Tree(int64_t i) : id(i) { g_trees.fetch_add(1); }
    ~Tree() { g_trees.fetch_sub(1); }
    void trace(gc::Visitor& v) const { v.visit_value(kids); }
};

Tree* build_tree(int depth, int64_t& next) {
    Tree* t = gc::make<Tree>(next++);
    if (depth > 0)
        for (int i = 0; i < 3; ++i) t->kids.push_back(build_tree(depth - 1, next));
    return t;
}

int64_t count_tree(const Tree* t) {
    int64_t n = 1;
    for (Tree* k : t->kids) n += count_tree(k);
    return n;
}

// Constructed minus destroyed keys (any constructor), for exact key
// destruction counts.
std::atomic<int64_t> g_keys{0};

struct CountedKey {
    std::string s;
    explicit CountedKey(std::string v) : s(std::move(v)) { g_keys.fetch_add(1); }
    CountedKey(const CountedKey& o) : s(o.s) { g_keys.fetch_add(1); }
    CountedKey(CountedKey&& o) noexcept : s(std::move(o.s)) { g_keys.fetch_add(1); }
    CountedKey& operator=(const CountedKey&) = default;
    CountedKey& operator=(CountedKey&&) noexcept = default;
    ~CountedKey() { g_keys.fetch_sub(1); }
    bool operator==(const CountedKey& o) const { return s == o.s; }
};
struct CountedKeyHash {
    size_t operator()(const CountedKey& k) const { return std::hash<std::string>{}(k.s); }
};

// Longer than any small-string buffer, so a leaked key is a leaked heap
// block (ASan's leak check sees it too).
std::string long_key(int64_t i) { return "a-key-long-enough-to-live-on-the-heap/" + std::to_string(i); }

struct ConstHash {
    size_t operator()(int64_t) const { return 42; }
};
struct Mod16Hash {
    size_t operator()(int64_t k) const { return static_cast<size_t>(k % 16); }
};

}  // namespace

static_assert(std::random_access_iterator<gc::Vector<Item>::const_iterator>);

TEST_CASE("gc::Vector in a rooted object keeps its elements through growth and cycles; dropping frees exactly those") {
    for (int procs : {1, 2}) {
        CAPTURE(procs);
        weft::run({.procs = procs}, [] {
            gc::Root<Bag> root;
            gc::collect();
            int64_t base = g_items.load();
            gctest::on_fresh_fiber([&] {
                root = gc::make<Bag>();
                for (int i = 0; i < 3000; ++i) {
                    root->items.push_back(gc::make<Item>(i));
                    if (i % 250 == 0) gc::collect();  // growth between and across cycles
                }
            });
            for (int i = 0; i < 3; ++i) gc::collect();
            CHECK(g_items.load() - base == 3000);
            bool intact = false;
            gctest::on_fresh_fiber([&] {
                const gc::Vector<Item>& v = root->items;
                intact = v.size() == 3000 && v.capacity() >= 3000;
                for (size_t i = 0; i < v.size(); ++i) intact = intact && v[i]->intact(static_cast<int64_t>(i));
            });
            CHECK(intact);

            gctest::on_fresh_fiber([&] {
                for (int i = 0; i < 500; ++i) root->items.pop_back();
            });
            gc::collect();
            CHECK(g_items.load() - base == 2500);

            gctest::on_fresh_fiber([&] {
                for (size_t i = 0; i < 1000; i += 2) root->items.set(i, nullptr);
            });
            gc::collect();
            CHECK(g_items.load() - base == 2000);

            gctest::on_fresh_fiber([&] { root->items.resize(1500); });  // drops [1500, 2500)
            gc::collect();
            CHECK(g_items.load() - base == 1000);

            gctest::on_fresh_fiber([&] {
                intact = root->items.size() == 1500;
                for (size_t i = 0; i < 1500; ++i) {
                    Item* it = root->items[i];
                    intact = intact && (i < 1000 && i % 2 == 0 ? it == nullptr : it->intact(static_cast<int64_t>(i)));
                }
            });
            CHECK(intact);

            gctest::on_fresh_fiber([&] { root->items.clear(); });
            gc::collect();
            CHECK(g_items.load() == base);
            root = nullptr;
        });
    }
}

TEST_CASE("gc::HashMap in a rooted object keeps its values through rehashes and cycles; dropping frees exactly those") {
    for (int procs : {1, 2}) {
        CAPTURE(procs);
        weft::run({.procs = procs}, [] {
            gc::Root<Index> root;
            gc::collect();
            int64_t base = g_items.load();
            gctest::on_fresh_fiber([&] {
                root = gc::make<Index>();
                for (int64_t k = 0; k < 4000; ++k) {
                    root->map.insert_or_assign(k, gc::make<Item>(k));
                    if (k % 500 == 0) gc::collect();
                }
            });
            for (int i = 0; i < 3; ++i) gc::collect();
            CHECK(g_items.load() - base == 4000);
            bool intact = false;
            auto verify = [&](auto expect) {
                gctest::on_fresh_fiber([&] {
                    intact = true;
                    for (int64_t k = 0; k < 4000; ++k) {
                        int64_t want = expect(k);
                        Item* it = root->map.find(k);
                        intact = intact && (want < 0 ? it == nullptr : it != nullptr && it->intact(want));
                    }
                });
            };
            verify([](int64_t k) { return k; });
            CHECK(intact);

            gctest::on_fresh_fiber([&] {  // overwrite: the old values become garbage
                for (int64_t k = 0; k < 1000; ++k) root->map.insert_or_assign(k, gc::make<Item>(k + 100000));
            });
            gc::collect();
            CHECK(g_items.load() - base == 4000);
            verify([](int64_t k) { return k < 1000 ? k + 100000 : k; });
            CHECK(intact);

            gctest::on_fresh_fiber([&] {
                for (int64_t k = 1; k < 4000; k += 2) root->map.erase(k);
            });
            gc::collect();
            CHECK(g_items.load() - base == 2000);

            size_t removed = 0;
            gctest::on_fresh_fiber([&] { removed = root->map.erase_if([](int64_t k, Item*) { return k % 4 == 0; }); });
            gc::collect();
            CHECK(removed == 1000);
            CHECK(g_items.load() - base == 1000);
            verify([](int64_t k) { return k % 2 == 0 && k % 4 != 0 ? (k < 1000 ? k + 100000 : k) : -1; });
            CHECK(intact);

            gctest::on_fresh_fiber([&] { root->map.clear(); });
            gc::collect();
            CHECK(g_items.load() == base);
            CHECK(root->map.empty());
            root = nullptr;
        });
    }
}

TEST_CASE("containers held only on a fiber's stack keep their elements through cycles") {
    weft::run({.procs = 2}, [] {
        gc::collect();
        int64_t base = g_items.load();
        int64_t during = 0;
        bool intact = false;
        gctest::on_fresh_fiber([&] {
            gc::Vector<Item> v;
            gc::HashMap<std::string, Item> m;
            for (int64_t i = 0; i < 2000; ++i) {
                v.push_back(gc::make<Item>(i));
                m.insert_or_assign(long_key(i), gc::make<Item>(-i));
                if (i % 200 == 0) gc::collect();
            }
            for (int i = 0; i < 3; ++i) gc::collect();
            during = g_items.load() - base;
            intact = v.size() == 2000 && m.size() == 2000;
            int64_t i = 0;
            for (Item* it : v) intact = intact && it->intact(i++);
            for (int64_t k = 0; k < 2000; ++k) {
                Item* it = m.find(long_key(k));
                intact = intact && it != nullptr && it->intact(-k);
            }
        });
        CHECK(during == 4000);
        CHECK(intact);
        gc::collect();  // the fiber is gone: its containers are garbage
        CHECK(g_items.load() == base);
    });
}

TEST_CASE("a Vector of an incomplete type, and a Vector that is a GC object of its own") {
    weft::run({.procs = 2}, [] {
        gc::Root<Tree> tree;
        gc::Root<gc::Vector<Item>> own;
        gc::collect();
        int64_t trees = g_trees.load(), items = g_items.load();
        gctest::on_fresh_fiber([&] {
            int64_t next = 0;
            tree = build_tree(5, next);  // 364 nodes
            own = gc::make<gc::Vector<Item>>();
            for (int i = 0; i < 100; ++i) own->push_back(gc::make<Item>(i));
        });
        for (int i = 0; i < 3; ++i) gc::collect();
        CHECK(g_trees.load() - trees == 364);
        CHECK(g_items.load() - items == 100);
        int64_t counted = 0;
        gctest::on_fresh_fiber([&] { counted = count_tree(tree.get()); });
        CHECK(counted == 364);
        tree = nullptr;
        own = nullptr;
        gc::collect();
        CHECK(g_trees.load() == trees);
        CHECK(g_items.load() == items);
    });
}

TEST_CASE("HashMap keys are destroyed on erase, clear and rehash, and by the collector when the map is dropped") {
    weft::run({.procs = 2}, [] {
        gc::collect();
        int64_t base = g_keys.load();
        int64_t after_insert = -1, after_erase = -1, after_clear = -1;
        gctest::on_fresh_fiber([&] {
            gc::Vector<Item> pool;  // the values, kept alive here
            pool.push_back(gc::make<Item>(1));
            gc::HashMap<CountedKey, Item, CountedKeyHash> m;
            for (int64_t i = 0; i < 3000; ++i) m.insert_or_assign(CountedKey(long_key(i)), pool[0]);  // rehashes
            after_insert = g_keys.load() - base;
            for (int64_t i = 0; i < 3000; i += 3) m.erase(CountedKey(long_key(i)));
            after_erase = g_keys.load() - base;
            m.clear();
            after_clear = g_keys.load() - base;
            for (int64_t i = 0; i < 500; ++i) m.insert_or_assign(CountedKey(long_key(i)), pool[0]);
            // m and its 500 keys die with this fiber: the collector destroys them.
        });
        CHECK(after_insert == 3000);
        CHECK(after_erase == 2000);
        CHECK(after_clear == 0);
        CHECK(g_keys.load() - base == 500);
        gc::collect();
        CHECK(g_keys.load() == base);

        gc::Root<gc::HashMap<CountedKey, Item, CountedKeyHash>> own;
        gctest::on_fresh_fiber([&] {
            own = gc::make<gc::HashMap<CountedKey, Item, CountedKeyHash>>();
            for (int64_t i = 0; i < 100; ++i) own->insert_or_assign(CountedKey(long_key(i)), nullptr);
            gc::HashMap<CountedKey, Item, CountedKeyHash> copy(*own);  // deep: 100 more keys, garbage at the end
            CHECK(copy.size() == 100);
            CHECK(copy.contains(CountedKey(long_key(99))));
        });
        gc::collect();
        CHECK(g_keys.load() - base == 100);
        own = nullptr;
        gc::collect();
        CHECK(g_keys.load() == base);
    });
}

TEST_CASE("growth under concurrent marking loses nothing (2 Ps, checkmark on)") {
    weft::suite::ScopedEnv env("WEFT_DEBUG", "gccheckmark=1");
    weft::run({.procs = 2}, [] {
        constexpr int kVec = 2, kMap = 2;
        gc::Root<Bag> bags[kVec];
        gc::Root<Index> maps[kMap];
        std::vector<int64_t> vmodel[kVec];
        std::unordered_map<int64_t, int64_t> mmodel[kMap];
        std::atomic<bool> stop{false};
        std::atomic<int64_t> bad{0}, ops{0};
        weft::WaitGroup wg;
        for (int m = 0; m < kVec; ++m) {
            wg.add(1);
            weft::go([&, m] {
                std::mt19937_64 rng(1000 + static_cast<uint64_t>(m));
                bags[m] = gc::make<Bag>();
                gc::Vector<Item>& v = bags[m]->items;
                std::vector<int64_t>& model = vmodel[m];
                int64_t next = int64_t{m} << 40;
                while (!stop.load(std::memory_order_relaxed)) {
                    uint64_t r = rng();
                    switch (r % 10) {
                        case 0:
                            if (!v.empty()) {
                                v.pop_back();
                                model.pop_back();
                            }
                            break;
                        case 1:
                            if (!v.empty()) {
                                size_t i = (r >> 8) % v.size();
                                v.set(i, gc::make<Item>(next));
                                model[i] = next++;
                            }
                            break;
                        case 2:
                            if (v.size() > 20000) {  // start over: a new, small backing array
                                v = gc::Vector<Item>();
                                model.clear();
                            } else if (!v.empty() && !v.back()->intact(model.back())) {
                                bad.fetch_add(1);
                            }
                            break;
                        default:
                            v.push_back(gc::make<Item>(next));
                            model.push_back(next++);
                    }
                    ops.fetch_add(1, std::memory_order_relaxed);
                    weft::preempt_point();
                }
                wg.done();
            });
        }
        for (int m = 0; m < kMap; ++m) {
            wg.add(1);
            weft::go([&, m] {
                std::mt19937_64 rng(2000 + static_cast<uint64_t>(m));
                maps[m] = gc::make<Index>();
                gc::HashMap<int64_t, Item>& map = maps[m]->map;
                std::unordered_map<int64_t, int64_t>& model = mmodel[m];
                int64_t next = (int64_t{m} << 40) + (int64_t{1} << 50);
                while (!stop.load(std::memory_order_relaxed)) {
                    uint64_t r = rng();
                    auto key = static_cast<int64_t>((r >> 8) % 6000);
                    switch (r % 8) {
                        case 0:
                        case 1:
                            map.erase(key);
                            model.erase(key);
                            break;
                        case 2: {
                            Item* it = map.find(key);
                            auto e = model.find(key);
                            if ((e == model.end()) != (it == nullptr) || (it && !it->intact(e->second)))
                                bad.fetch_add(1);
                            break;
                        }
                        default:
                            map.insert_or_assign(key, gc::make<Item>(next));
                            model[key] = next++;
                    }
                    ops.fetch_add(1, std::memory_order_relaxed);
                    weft::preempt_point();
                }
                wg.done();
            });
        }
        uint64_t cycles = gctest::collect_back_to_back(std::chrono::milliseconds(500), 5);
        stop = true;
        wg.wait();
        gc::collect();
        gc::collect();
        for (int m = 0; m < kVec; ++m) {
            const gc::Vector<Item>& v = bags[m]->items;
            CHECK(v.size() == vmodel[m].size());
            int64_t lost = 0;
            for (size_t i = 0; i < v.size() && i < vmodel[m].size(); ++i)
                if (!v[i]->intact(vmodel[m][i])) ++lost;
            CHECK(lost == 0);
        }
        for (int m = 0; m < kMap; ++m) {
            const gc::HashMap<int64_t, Item>& map = maps[m]->map;
            CHECK(map.size() == mmodel[m].size());
            int64_t lost = 0;
            for (auto [k, id] : mmodel[m]) {
                Item* it = map.find(k);
                if (it == nullptr || !it->intact(id)) ++lost;
            }
            CHECK(lost == 0);
        }
        CHECK(bad.load() == 0);
        CHECK(cycles >= 5);
        MESSAGE("cycles: " << cycles << ", container ops: " << ops.load());
        for (auto& b : bags) b = nullptr;
        for (auto& m : maps) m = nullptr;
    });
}

TEST_CASE("HashMap: insert, overwrite, find, erase and rehash with 10^5 keys; iteration visits each entry once") {
    weft::run({.procs = 1}, [] {
        constexpr int64_t kN = 100000;
        gc::Vector<Item> pool;
        for (int i = 0; i < 16; ++i) pool.push_back(gc::make<Item>(i));
        auto key = [](int64_t i) { return i * 7919 - 50000; };  // spread, some negative
        gc::HashMap<int64_t, Item> m;
        CHECK(m.capacity() == 0);
        CHECK(m.find(1) == nullptr);
        CHECK_FALSE(m.erase(1));
        size_t inserted = 0;
        for (int64_t i = 0; i < kN; ++i) inserted += m.insert_or_assign(key(i), pool[static_cast<size_t>(i % 16)]);
        CHECK(inserted == kN);
        CHECK(m.size() == kN);
        size_t cap = m.capacity();
        CHECK((cap & (cap - 1)) == 0);
        CHECK(m.size() <= cap - cap / 4);
        CHECK(m.size() > cap / 4);  // doubled only when needed

        int64_t wrong = 0;
        for (int64_t i = 0; i < kN; ++i)
            if (m.find(key(i)) != pool[static_cast<size_t>(i % 16)]) ++wrong;
        CHECK(wrong == 0);
        CHECK(m.find(key(kN)) == nullptr);
        CHECK_FALSE(m.contains(key(0) + 1));

        size_t overwritten = 0;
        for (int64_t i = 0; i < kN; i += 2)
            overwritten += !m.insert_or_assign(key(i), pool[static_cast<size_t>((i + 1) % 16)]);
        CHECK(overwritten == kN / 2);
        CHECK(m.size() == kN);

        size_t erased = 0, erased_again = 0;
        for (int64_t i = 0; i < kN; i += 3) erased += m.erase(key(i));
        for (int64_t i = 0; i < kN; i += 3) erased_again += m.erase(key(i));
        CHECK(erased == (kN + 2) / 3);
        CHECK(erased_again == 0);
        CHECK(m.size() == kN - erased);

        wrong = 0;
        for (int64_t i = 0; i < kN; ++i) {
            Item* want = i % 3 == 0 ? nullptr : pool[static_cast<size_t>((i % 2 == 0 ? i + 1 : i) % 16)];
            if (m.find(key(i)) != want || m.contains(key(i)) != (i % 3 != 0)) ++wrong;
        }
        CHECK(wrong == 0);

        std::vector<uint8_t> seen(kN, 0);
        size_t visits = 0;
        int64_t strange = 0;
        m.for_each([&](int64_t k, Item* v) {
            ++visits;
            int64_t i = (k + 50000) / 7919;
            if ((k + 50000) % 7919 != 0 || i < 0 || i >= kN || v == nullptr) ++strange;
            else ++seen[static_cast<size_t>(i)];
        });
        CHECK(strange == 0);
        CHECK(visits == m.size());
        CHECK(std::count(seen.begin(), seen.end(), uint8_t{1}) == static_cast<ptrdiff_t>(m.size()));
        CHECK(std::count(seen.begin(), seen.end(), uint8_t{0}) == static_cast<ptrdiff_t>(erased));

        size_t stopped_after = 0;
        m.for_each([&](int64_t, Item*) { return ++stopped_after < 10; });  // false ends the walk
        CHECK(stopped_after == 10);

        for (int64_t i = 0; i < kN; i += 3) CHECK(m.insert_or_assign(key(i), nullptr));  // a null value is a value
        CHECK(m.size() == kN);
        CHECK(m.contains(key(0)));
        CHECK(m.find(key(0)) == nullptr);
        CHECK(m.capacity() == cap);  // erase left no tombstones to make room for

        gc::HashMap<int64_t, Item> r;
        r.reserve(1000);
        size_t rcap = r.capacity();
        CHECK(rcap - rcap / 4 >= 1000);
        for (int64_t i = 0; i < 1000; ++i) r.insert_or_assign(i, pool[0]);
        CHECK(r.capacity() == rcap);  // no rehash
        std::string what;
        try {
            r.reserve(SIZE_MAX);
        } catch (const std::length_error& e) {
            what = e.what();
        }
        CHECK(contains(what, "gc::HashMap::reserve: " + std::to_string(SIZE_MAX) + " elements exceed the maximum of "));
        CHECK(r.capacity() == rcap);

        gc::HashMap<int64_t, Item> copy = r;
        copy.erase(5);
        CHECK(r.contains(5));
        CHECK(copy.size() == 999);
        gc::HashMap<int64_t, Item> moved = std::move(copy);
        CHECK(moved.size() == 999);
        CHECK(copy.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
        CHECK(copy.find(6) == nullptr);
    });
}

TEST_CASE("HashMap: string keys") {
    weft::run({.procs = 1}, [] {
        gc::Vector<Item> pool;
        for (int i = 0; i < 4; ++i) pool.push_back(gc::make<Item>(i));
        gc::HashMap<std::string, Item> m;
        for (int64_t i = 0; i < 20000; ++i) {
            std::string k = i % 2 ? long_key(i) : std::to_string(i);
            m.insert_or_assign(k, pool[static_cast<size_t>(i % 4)]);
        }
        CHECK(m.size() == 20000);
        CHECK(m.find("17") == nullptr);  // odd keys are long
        CHECK(m.find(long_key(17)) == pool[1]);
        CHECK(m.find("18") == pool[2]);
        CHECK(m.find("") == nullptr);
        CHECK(m.insert_or_assign("", pool[3]));
        CHECK(m.find("") == pool[3]);
        for (int64_t i = 0; i < 20000; i += 2) CHECK(m.erase(std::to_string(i)));
        CHECK(m.size() == 10001);
        int64_t wrong = 0;
        for (int64_t i = 1; i < 20000; i += 2)
            if (m.find(long_key(i)) != pool[static_cast<size_t>(i % 4)]) ++wrong;
        CHECK(wrong == 0);
        std::string longest;
        m.for_each([&](const std::string& k, Item*) {
            if (k.size() > longest.size() || (k.size() == longest.size() && k > longest)) longest = k;
        });
        CHECK(longest == long_key(19999));
        // Destroys the keys now: objects still live when run() returns are
        // never swept, and LeakSanitizer would report their strings.
        m.clear();
        CHECK(m.empty());
        CHECK(m.find(long_key(1)) == nullptr);
    });
}

TEST_CASE("HashMap: colliding hashes, against std::unordered_map") {
    weft::run({.procs = 1}, [] {
        gc::Vector<Item> pool;
        for (int i = 0; i < 8; ++i) pool.push_back(gc::make<Item>(i));

        SUBCASE("every key hashes the same") {
            gc::HashMap<int64_t, Item, ConstHash> m;
            constexpr int64_t kN = 1500;
            for (int64_t i = 0; i < kN; ++i) CHECK(m.insert_or_assign(i, pool[static_cast<size_t>(i % 8)]));
            CHECK(m.size() == kN);
            std::vector<int64_t> order(kN);
            for (int64_t i = 0; i < kN; ++i) order[static_cast<size_t>(i)] = i;
            std::shuffle(order.begin(), order.end(), std::mt19937_64(7));
            int64_t wrong = 0;
            for (size_t n = 0; n < order.size(); ++n) {
                if (!m.erase(order[n])) ++wrong;
                if (n % 100 == 0)  // everything still there is still found
                    for (size_t j = n + 1; j < order.size(); ++j)
                        if (m.find(order[j]) != pool[static_cast<size_t>(order[j] % 8)]) ++wrong;
            }
            CHECK(wrong == 0);
            CHECK(m.empty());
        }

        SUBCASE("random operations with 16 distinct hashes") {
            gc::HashMap<int64_t, Item, Mod16Hash> m;
            std::unordered_map<int64_t, Item*> model;
            std::mt19937_64 rng(42);
            int64_t wrong = 0;
            for (int op = 0; op < 40000; ++op) {
                uint64_t r = rng();
                auto k = static_cast<int64_t>((r >> 8) % 700);
                Item* v = pool[(r >> 20) % 8];
                switch (r % 5) {
                    case 0:
                    case 1:
                        if (m.insert_or_assign(k, v) != (model.count(k) == 0)) ++wrong;
                        model[k] = v;
                        break;
                    case 2:
                        if (m.erase(k) != (model.erase(k) == 1)) ++wrong;
                        break;
                    default: {
                        auto e = model.find(k);
                        if (m.find(k) != (e == model.end() ? nullptr : e->second)) ++wrong;
                    }
                }
                if (m.size() != model.size()) ++wrong;
                if (op % 5000 == 4999) {
                    size_t n = m.erase_if([](int64_t key, Item*) { return key % 3 == 0; });
                    size_t mn = std::erase_if(model, [](const auto& e) { return e.first % 3 == 0; });
                    if (n != mn) ++wrong;
                    size_t visited = 0;
                    m.for_each([&](int64_t key, Item* val) {
                        ++visited;
                        auto e = model.find(key);
                        if (e == model.end() || e->second != val) ++wrong;
                    });
                    if (visited != model.size()) ++wrong;
                }
            }
            CHECK(wrong == 0);
            CHECK(m.size() == model.size());
        }
    });
}

TEST_CASE("HashMap: changing the map inside for_each or erase_if throws; erase_if offers each entry once") {
    weft::run({.procs = 1}, [] {
        gc::Vector<Item> pool;
        pool.push_back(gc::make<Item>(0));
        gc::HashMap<int64_t, Item> m;
        for (int64_t i = 0; i < 100; ++i) m.insert_or_assign(i, pool[0]);
        std::string what;
        try {
            m.for_each([&](int64_t k, Item*) { m.erase(k); });
        } catch (const std::logic_error& e) {
            what = e.what();
        }
        CHECK(contains(what, "gc::HashMap::for_each: the map was changed (insert or erase) from inside the callback"));
        what.clear();
        try {
            m.erase_if([&](int64_t, Item*) { return m.insert_or_assign(1000, nullptr); });
        } catch (const std::logic_error& e) {
            what = e.what();
        }
        CHECK(contains(what, "gc::HashMap::erase_if: the map was changed"));
        // Assigning to an existing key is allowed while iterating.
        m.for_each([&](int64_t k, Item*) { m.insert_or_assign(k, nullptr); });
        CHECK(m.find(5) == nullptr);

        // Long clusters (96 keys share one hash), likely to wrap around the
        // end of the table, where a naive walk would offer shifted entries
        // twice or skip them.
        constexpr int64_t kSame = 100015;  // + 16 i: all hash to 15
        gc::HashMap<int64_t, Item, Mod16Hash> c;
        for (int64_t i = 0; i < 96; ++i) c.insert_or_assign(kSame + 16 * i, pool[0]);
        for (int64_t i = 0; i < 96; ++i) c.insert_or_assign(i, pool[0]);
        CHECK(c.size() == 192);
        std::unordered_map<int64_t, int> offered;
        size_t n = c.erase_if([&](int64_t k, Item*) {
            ++offered[k];
            return k % 2 == 0 || (k >= kSame && (k - kSame) % 48 == 0);
        });
        int64_t twice = 0, missed = 0;
        for (int64_t i = 0; i < 96; ++i) {
            for (int64_t k : {i, kSame + 16 * i}) {
                twice += offered[k] > 1;
                missed += offered[k] == 0;
            }
        }
        CHECK(twice == 0);
        CHECK(missed == 0);
        CHECK(n == 48 + 32);
        CHECK(c.size() == 192 - 80);
        int64_t wrong = 0;
        for (int64_t i = 0; i < 96; ++i) {
            wrong += c.contains(kSame + 16 * i) != (i % 3 != 0);
            wrong += c.contains(i) != (i % 2 == 1);
        }
        CHECK(wrong == 0);
    });
}

TEST_CASE("gc::Vector: errors name the call, the index and the size") {
    weft::run({.procs = 1}, [] {
        gc::Vector<Item> v;
        for (int i = 0; i < 3; ++i) v.push_back(gc::make<Item>(i));
        auto message = [](auto f) {
            try {
                f();
            } catch (const std::exception& e) {
                return std::string(e.what());
            }
            return std::string("no exception");
        };
        CHECK(message([&] { (void)v.at(7); }) == "gc::Vector::at: index 7 out of range (size 3)");
        CHECK(message([&] { (void)v[3]; }) == "gc::Vector::operator[]: index 3 out of range (size 3)");
        CHECK(message([&] { v.set(4, nullptr); }) == "gc::Vector::set: index 4 out of range (size 3)");
        CHECK_THROWS_AS((void)v.at(3), std::out_of_range);
        CHECK(v.at(2)->intact(2));
        gc::Vector<Item> e;
        CHECK(message([&] { e.pop_back(); }) == "gc::Vector::pop_back: the vector is empty");
        CHECK(message([&] { (void)e.back(); }) == "gc::Vector::back: the vector is empty");
        CHECK(message([&] { (void)e.front(); }) == "gc::Vector::front: the vector is empty");
        CHECK(contains(message([&] { e.reserve(gc::Vector<Item>::max_size() + 1); }),
                       "gc::Vector::reserve: " + std::to_string(gc::Vector<Item>::max_size() + 1) +
                           " elements exceed the maximum of"));
        CHECK(e.empty());
    });
}

TEST_CASE("gc::Vector: iteration, resize, copies and moves") {
    weft::run({.procs = 1}, [] {
        gc::Vector<Item> v;
        CHECK(v.begin() == v.end());
        for (int i = 0; i < 100; ++i) v.push_back(gc::make<Item>(i));
        CHECK(v.size() == 100);
        CHECK(std::distance(v.begin(), v.end()) == 100);
        CHECK(v.front()->intact(0));
        CHECK(v.back()->intact(99));
        int64_t i = 0;
        bool in_order = true;
        for (Item* it : v) in_order = in_order && it->intact(i++);
        CHECK(in_order);
        CHECK((*(v.begin() + 42))->intact(42));
        CHECK(v.begin()[7]->intact(7));
        CHECK(std::find(v.begin(), v.end(), v[55]) - v.begin() == 55);

        v.resize(150);
        CHECK(v.size() == 150);
        CHECK(v[149] == nullptr);
        CHECK(v[99]->intact(99));
        v.resize(10);
        CHECK(v.size() == 10);
        size_t cap = v.capacity();
        v.reserve(5);
        CHECK(v.capacity() == cap);  // reserve never shrinks
        v.reserve(1000);
        CHECK(v.capacity() >= 1000);
        CHECK(v[9]->intact(9));

        gc::Vector<Item> copy = v;
        copy.set(0, nullptr);
        copy.push_back(gc::make<Item>(500));
        CHECK(v[0]->intact(0));
        CHECK(v.size() == 10);
        CHECK(copy.size() == 11);
        gc::Vector<Item> moved = std::move(copy);
        CHECK(moved.size() == 11);
        CHECK(copy.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
        CHECK(copy.capacity() == 0);
        moved.swap(v);
        CHECK(v.size() == 11);
        CHECK(moved.size() == 10);
        gc::Vector<Item> nulls(5);
        CHECK(nulls.size() == 5);
        CHECK(nulls[4] == nullptr);
    });
}

TEST_CASE("gc::Vector::erase: one element or a range, the iterator after, precise errors") {
    weft::run({.procs = 1}, [] {
        gc::Vector<Item> v;
        for (int i = 0; i < 10; ++i) v.push_back(gc::make<Item>(i));
        auto ids = [&] {
            std::vector<int64_t> out;
            for (Item* it : v) out.push_back(it ? it->id : -1);
            return out;
        };
        auto it = v.erase(v.begin() + 3);  // 0 1 2 4 5 6 7 8 9
        CHECK((*it)->intact(4));
        CHECK(it - v.begin() == 3);
        it = v.erase(v.begin() + 1, v.begin() + 4);  // 0 5 6 7 8 9
        CHECK((*it)->intact(5));
        CHECK(ids() == std::vector<int64_t>{0, 5, 6, 7, 8, 9});
        it = v.erase(v.end() - 1);  // the last: end() comes back
        CHECK(it == v.end());
        it = v.erase(v.begin() + 2, v.begin() + 2);  // empty range: nothing
        CHECK(it == v.begin() + 2);
        CHECK(ids() == std::vector<int64_t>{0, 5, 6, 7, 8});
        it = v.erase(v.begin() + 2, v.end());
        CHECK(it == v.end());
        CHECK(ids() == std::vector<int64_t>{0, 5});
        // The slots past the end were nulled (V2): growing back shows nulls.
        v.resize(5);
        CHECK(ids() == std::vector<int64_t>{0, 5, -1, -1, -1});
        v.resize(2);
        // erase_if (the iterators are read-only: no erase-remove idiom).
        for (int i = 0; i < 8; ++i) v.push_back(gc::make<Item>(100 + i));
        CHECK(erase_if(v, [](Item* p) { return p->id % 2 != 0; }) == 5);
        CHECK(ids() == std::vector<int64_t>{0, 100, 102, 104, 106});
        // A predicate that throws: what it had not judged is kept.
        int judged = 0;
        CHECK_THROWS_AS(erase_if(v,
                                 [&](Item* p) {
                                     if (++judged == 3) throw std::runtime_error("stop");
                                     return p->id == 0;
                                 }),
                        std::runtime_error);
        CHECK(ids() == std::vector<int64_t>{100, 102, 104, 106});
        v.resize(6);
        CHECK(ids() == std::vector<int64_t>{100, 102, 104, 106, -1, -1});  // the freed slot was nulled
        v.resize(4);
        it = v.erase(v.begin(), v.end());
        CHECK(v.empty());
        CHECK(it == v.end());
        CHECK(v.begin() == v.end());

        auto message = [](auto f) {
            try {
                f();
            } catch (const std::out_of_range& e) {
                return std::string(e.what());
            }
            return std::string("no exception");
        };
        CHECK(message([&] { v.erase(v.end()); }) == "gc::Vector::erase: iterator at index 0 out of range (size 0)");
        for (int i = 0; i < 3; ++i) v.push_back(gc::make<Item>(i));
        CHECK(message([&] { v.erase(v.end()); }) == "gc::Vector::erase: iterator at index 3 out of range (size 3)");
        CHECK(message([&] { v.erase(v.begin() + 2, v.begin() + 1); }) == "gc::Vector::erase: range [2, 1) is reversed");
        CHECK(message([&] { v.erase(v.begin(), v.end() + 1); }) ==
              "gc::Vector::erase: iterator not into this vector (size 3)");
        gc::Vector<Item> other = v;
        CHECK(message([&] { v.erase(other.begin()); }) == "gc::Vector::erase: iterator not into this vector (size 3)");
        CHECK(v.size() == 3);
    });
}

TEST_CASE("gc::Vector::erase: erased elements are freed by the collector, exactly those") {
    weft::run({.procs = 1}, [] {
        gc::collect();
        gc::collect();
        int64_t base = g_items.load();
        gc::Root<Bag> bag = gc::make<Bag>();
        gc::Vector<Item>& v = bag->items;
        for (int i = 0; i < 100; ++i) v.push_back(gc::make<Item>(i));
        v.erase(v.begin() + 10, v.begin() + 30);  // 20 out
        v.erase(v.begin());                       // 1 out
        // The last element now sits one slot lower; dropping it must free
        // it, so no copy of it may stay in the slots past the end (V2).
        v.pop_back();
        gc::collect();
        gc::collect();
        CHECK(g_items.load() - base == 100 - 22);  // the erased and the popped were destroyed
        CHECK(v.size() == 78);
        bool intact = true;
        for (size_t i = 0; i < v.size(); ++i) {
            int64_t want = i < 9 ? static_cast<int64_t>(i) + 1 : static_cast<int64_t>(i) + 21;
            intact = intact && v[i]->intact(want);
        }
        CHECK(intact);
        bag = nullptr;
    });
}

TEST_CASE("gc::Vector::erase under concurrent marking loses nothing (2 Ps, checkmark on)") {
    weft::suite::ScopedEnv env("WEFT_DEBUG", "gccheckmark=1");
    weft::run({.procs = 2}, [] {
        constexpr int kVec = 2;
        gc::Root<Bag> bags[kVec];
        std::vector<int64_t> model[kVec];
        std::atomic<bool> stop{false};
        std::atomic<int64_t> bad{0}, erased{0};
        weft::WaitGroup wg;
        for (int m = 0; m < kVec; ++m) {
            wg.add(1);
            weft::go([&, m] {
                std::mt19937_64 rng(3000 + static_cast<uint64_t>(m));
                bags[m] = gc::make<Bag>();
                gc::Vector<Item>& v = bags[m]->items;
                std::vector<int64_t>& mo = model[m];
                int64_t next = int64_t{m} << 40;
                while (!stop.load(std::memory_order_relaxed)) {
                    uint64_t r = rng();
                    size_t n = v.size();
                    if (r % 8 == 0 && n > 0) {  // one element, anywhere
                        size_t i = (r >> 8) % n;
                        v.erase(v.begin() + static_cast<std::ptrdiff_t>(i));
                        mo.erase(mo.begin() + static_cast<std::ptrdiff_t>(i));
                        erased.fetch_add(1, std::memory_order_relaxed);
                    } else if (r % 8 == 1 && n > 0) {  // a range of up to 16, mostly from the front
                        size_t i = (r >> 8) % std::min<size_t>(n, 64);
                        size_t k = std::min<size_t>((r >> 20) % 17, n - i);
                        v.erase(v.begin() + static_cast<std::ptrdiff_t>(i), v.begin() + static_cast<std::ptrdiff_t>(i + k));
                        mo.erase(mo.begin() + static_cast<std::ptrdiff_t>(i), mo.begin() + static_cast<std::ptrdiff_t>(i + k));
                        erased.fetch_add(static_cast<int64_t>(k), std::memory_order_relaxed);
                    } else if (r % 8 == 2 && n > 0) {
                        size_t i = (r >> 8) % n;
                        if (!v[i]->intact(mo[i])) bad.fetch_add(1);
                    } else if (r % 256 == 3) {  // every element whose id is a multiple of 5
                        size_t k = erase_if(v, [](Item* p) { return p->id % 5 == 0; });
                        size_t before = mo.size();
                        std::erase_if(mo, [](int64_t id) { return id % 5 == 0; });
                        if (before - mo.size() != k) bad.fetch_add(1);
                        erased.fetch_add(static_cast<int64_t>(k), std::memory_order_relaxed);
                    } else if (n > 5000) {
                        v.erase(v.begin(), v.begin() + 2500);  // shift the rest down, under marking
                        mo.erase(mo.begin(), mo.begin() + 2500);
                        erased.fetch_add(2500, std::memory_order_relaxed);
                    } else {
                        v.push_back(gc::make<Item>(next));
                        mo.push_back(next++);
                    }
                    weft::preempt_point();
                }
                wg.done();
            });
        }
        uint64_t cycles = gctest::collect_back_to_back(std::chrono::milliseconds(500), 5);
        stop = true;
        wg.wait();
        gc::collect();
        gc::collect();
        for (int m = 0; m < kVec; ++m) {
            const gc::Vector<Item>& v = bags[m]->items;
            CHECK(v.size() == model[m].size());
            int64_t lost = 0;
            for (size_t i = 0; i < v.size() && i < model[m].size(); ++i)
                if (!v[i]->intact(model[m][i])) ++lost;
            CHECK(lost == 0);
        }
        CHECK(bad.load() == 0);
        CHECK(cycles >= 5);
        MESSAGE("cycles: " << cycles << ", elements erased: " << erased.load());
        for (auto& b : bags) b = nullptr;
    });
}
