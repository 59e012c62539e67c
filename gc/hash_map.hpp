// hash_map.hpp — gc::HashMap<K, V>, a hash map from plain keys to
// references to GC objects (Go's map[K]*V) whose stores are barriered and
// whose storage lives on the collected heap.
//
//   struct Registry {
//       gc::HashMap<std::string, Session> by_name;
//       void trace(gc::Visitor& v) const { v.visit_value(by_name); }
//   };
//   r->by_name.insert_or_assign("alice", gc::make<Session>());
//   if (Session* s = r->by_name.find("alice")) ...
//   r->by_name.for_each([](const std::string& k, Session* s) { ... });
//
// Layout. A HashMap is a small value: two Members and the entry count. Its
// storage is two GC arrays of the same power-of-two capacity c:
//
//   keys    detail::KeyArray<K>, no-scan (never traced, trace = null):
//             +0          capacity
//             +8          meta[c]   uint64_t: 0 = empty, else the entry's
//                                   mixed hash with its top bit set
//             +8+8c       key[c]    K, constructed only where meta != 0
//   values  detail::MemberArray<V> (vector.hpp), traced slot by slot:
//             value[i] belongs to key[i]; null where meta[i] == 0.
//
// Only the value slots are ever read by the collector, and they are Members
// (atomic): the keys and meta words, which the mutator writes with plain
// stores, sit in a no-scan object the tracer never opens. Keys must hold no
// GC references for the same reason (checked by static_assert where the
// type says so: a pointer, a Member, a type with trace()).
//
// Keys are destroyed properly, whatever K is: a key is destroyed when its
// entry is erased or cleared, a key moved to a new array by a rehash is
// destroyed in the old one at once, and the KeyArray's TypeInfo has a
// destroy hook (only for K not trivially destructible) that runs ~K() on
// every slot still marked full when the collector frees an array that was
// dropped with live keys (the map itself became garbage). So any K works,
// std::string included; K must have noexcept move construction, move
// assignment (swap) and destructor, and alignof(K) <= 8.
//
// Probing: Robin Hood linear probing (an entry's distance from its home
// slot h & (c-1) never exceeds that of an entry it passes when inserted),
// with backward-shift deletion (the entries after the erased one move back
// a slot until an empty slot or an entry at its home), so there are no
// tombstones and lookups stay short after any mix of inserts and erases. A
// miss stops as soon as it meets an entry closer to its home than the
// probe is.
//
// Load factor: at most 3/4 (c/4 slots always empty). Robin Hood keeps the
// mean probe length of linear probing — about (1 + 1/(1-a))/2 — which at
// a = 3/4 is 2.5 slots for a hit, inside one or two cache lines of meta,
// and cuts its variance; a higher bound (7/8: 4.5 probes, and insert cost
// growing as 1/(1-a)^2) saves little, since every slot costs 16 bytes plus
// the key and the tracer visits every value slot, full or not. The table
// doubles when an insert would pass 3/4 (load then 3/8), so a rehash moves
// each entry O(1) times amortised. Capacity never shrinks on its own (as
// Go's maps); a copy gets the capacity of the original.
//
// Hashing: Hash()(key) (std::hash by default, often the identity for
// integers) goes through a 64-bit finaliser, so the low bits that pick the
// home slot depend on every bit of the hash. The stored hash lets a rehash
// place entries without calling Hash again and makes most mismatches one
// word compare.
//
// Stores into the value array (insert, the Robin Hood swaps, the backward
// shift, a rehash's copies) are Member stores: barriered, so an entry that
// the tracer has not reached where it was is shaded where it goes
// (Dijkstra). A rehash allocates both new arrays, moves every entry out of
// the old ones (old key destroyed, meta zeroed, value nulled: a stale
// reference to an old array keeps nothing alive), then publishes the new
// arrays with two Member stores. From the allocations' return to the
// publication there is no preemption point (detail::allocate never
// yields).
//
// Contracts (as gc::Vector's, vector.hpp):
//   - from a fiber (allocation, barrier);
//   - not thread-safe, like a Go map: a writer needs a lock (weft::Mutex)
//     against every other user; concurrent collection is always safe;
//   - where it may live: a field of a GC object that reports it from
//     trace(), a fiber's stack, or a GC object of its own;
//   - values are objects from gc::make or null (find() returns null for
//     both a missing key and a null value: contains() tells them apart);
//   - Hash and Eq are copied into the map and must hold no GC references;
//     if they throw, the map is unchanged;
//   - for_each/erase_if: the callback must not insert or erase (it may
//     assign the value of an existing key); doing so throws
//     std::logic_error when the callback returns. Use erase_if to delete
//     while iterating.
//
// Rejected: one traced object holding meta, keys and values (its trace
// would have to read meta — plain memory the mutator writes — to know which
// slots are full, a data race); tombstones (they need periodic in-place
// rehashes and lengthen misses); a per-key GC object (an allocation per
// insert).
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include <weft/gc/make.hpp>
#include <weft/gc/member.hpp>
#include <weft/gc/vector.hpp>
#include <weft/gc/visitor.hpp>
#include <weft/internal/alloc.hpp>
#include <weft/internal/type_info.hpp>

namespace weft::gc {

namespace detail {

template <class K>
class KeyArray;

template <class K>
void destroy_key_array(void* obj) {
    static_cast<KeyArray<K>*>(obj)->destroy_live_keys();
}

// The TypeInfo of every KeyArray<K>: no-scan (no trace); a destroy hook
// only when keys need destroying.
template <class K>
inline const TypeInfo kKeyArrayType{
    nullptr,
    std::is_trivially_destructible_v<K> ? nullptr : &destroy_key_array<K>,
    type_name<KeyArray<K>>(),
    0,
};

// The no-scan half of a HashMap's storage: capacity, meta words, keys
// (layout in the file comment). Created only through allocate(); touched
// only by the owning map's fiber, and by the sweeper once it is garbage.
template <class K>
class KeyArray {
public:
    static constexpr size_t kMaxCapacity = (kMaxArrayBytes - sizeof(size_t)) / (sizeof(uint64_t) + sizeof(K));

    // capacity > 0, at most kMaxCapacity (callers check). From a fiber.
    static KeyArray* allocate(size_t capacity) {
        static_assert(alignof(K) <= 8, "gc::HashMap: alignof(K) must be <= 8 (GC objects are 8-byte aligned)");
        void* mem = detail::allocate(kMeta + capacity * (sizeof(uint64_t) + sizeof(K)), &kKeyArrayType<K>, true);
        return ::new (mem) KeyArray(capacity);
    }

    size_t capacity() const { return capacity_; }
    uint64_t* meta() { return std::launder(reinterpret_cast<uint64_t*>(reinterpret_cast<char*>(this) + kMeta)); }
    // Storage of key i (a live K only where meta()[i] != 0).
    void* key_storage(size_t i) { return reinterpret_cast<char*>(this) + kMeta + capacity_ * sizeof(uint64_t) + i * sizeof(K); }
    K& key(size_t i) { return *std::launder(static_cast<K*>(key_storage(i))); }

    // The TypeInfo's destroy hook: ~K() of every live key (the meta words
    // say which; erase and rehash zero them as they destroy).
    void destroy_live_keys() noexcept {
        uint64_t* m = meta();
        for (size_t i = 0; i < capacity_; ++i)
            if (m[i] != 0) key(i).~K();
    }

private:
    static constexpr size_t kMeta = sizeof(size_t);

    // The memory is zeroed: every meta word already reads "empty" (and
    // uint64_t needs no construction).
    explicit KeyArray(size_t capacity) : capacity_(capacity) {}

    const size_t capacity_;
};

// A 64-bit finaliser (murmur3's fmix64): every input bit reaches the low
// bits that pick the home slot.
inline uint64_t mix_hash(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

template <class K>
inline constexpr bool kIsGcReference = requires(const K& k) { k.load_for_trace(); };

}  // namespace detail

template <class K, class V, class Hash = std::hash<K>, class Eq = std::equal_to<K>>
class HashMap {
    static_assert(!std::is_pointer_v<K>,
                  "gc::HashMap: keys live in no-scan memory; a pointer key would not keep its object alive (use an "
                  "id, or uintptr_t for identity)");
    static_assert(!detail::kIsGcReference<K>, "gc::HashMap: a gc::Member key would not be traced; keys must hold no "
                                              "GC references");
    static_assert(!kHasTrace<K>, "gc::HashMap: keys must hold no GC references (K has trace())");
    static_assert(!std::is_reference_v<K> && !std::is_const_v<K>, "gc::HashMap: K must be a plain value type");
    static_assert(std::is_nothrow_move_constructible_v<K> && std::is_nothrow_destructible_v<K> &&
                      std::is_nothrow_swappable_v<K>,
                  "gc::HashMap: K's move, swap and destructor must be noexcept (rehash and deletion move keys)");

    using Keys = detail::KeyArray<K>;
    using Values = detail::MemberArray<V>;
    static constexpr size_t kNone = ~size_t{0};
    static constexpr size_t kMinCapacity = 8;
    static constexpr uint64_t kFull = uint64_t{1} << 63;
    // The largest power of two within both arrays' limits.
    static constexpr size_t kMaxTableCapacity = std::bit_floor(std::min(Keys::kMaxCapacity, Values::kMaxCapacity));

public:
    using key_type = K;
    using mapped_type = V*;
    using size_type = size_t;

    HashMap() = default;
    explicit HashMap(const Hash& hash, const Eq& eq = Eq()) : hash_(hash), eq_(eq) {}
    // A deep copy (same capacity, keys copied, same references). From a
    // fiber.
    HashMap(const HashMap& o) : hash_(o.hash_), eq_(o.eq_) { copy_from(o); }
    // Takes o's storage; o is left empty.
    HashMap(HashMap&& o) noexcept
        : keys_(o.keys_.get()), values_(o.values_.get()), size_(o.size_), hash_(o.hash_), eq_(o.eq_) {
        o.keys_ = nullptr;
        o.values_ = nullptr;
        o.size_ = 0;
        ++o.version_;
    }
    HashMap& operator=(const HashMap& o) {
        if (this != &o) {
            HashMap t(o);
            swap(t);
        }
        return *this;
    }
    HashMap& operator=(HashMap&& o) noexcept {
        if (this != &o) {
            HashMap t(std::move(o));
            swap(t);
        }
        return *this;
    }

    size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    // Slots in the table (a power of two, or 0 before the first insert).
    size_t capacity() const {
        const Keys* k = keys_.get();
        return k ? k->capacity() : 0;
    }

    // Room for n entries without a rehash.
    void reserve(size_t n) {
        if (n == 0) return;
        size_t cap = capacity_for(n, "gc::HashMap::reserve");
        if (cap > capacity()) rehash(cap);
    }

    // Inserts key -> v, or replaces the value of an existing key; true if
    // the key was new. v may be null.
    bool insert_or_assign(const K& key, V* v) { return insert_impl(key, v); }
    bool insert_or_assign(K&& key, V* v) { return insert_impl(std::move(key), v); }

    // The value of key, or null if absent (or stored as null).
    V* find(const K& key) const {
        size_t i = index_of(key);
        return i == kNone ? nullptr : values_.get()->slot(i).get();
    }
    bool contains(const K& key) const { return index_of(key) != kNone; }

    // Removes key; true if it was there. Its value may then be freed.
    bool erase(const K& key) {
        size_t i = index_of(key);
        if (i == kNone) return false;
        erase_at(keys_.get(), values_.get(), i);
        return true;
    }

    // Removes every entry for which pred(const K&, V*) is true; returns how
    // many. Every entry is offered exactly once.
    template <class Pred>
    size_t erase_if(Pred pred) {
        if (size_ == 0) return 0;
        Keys* ka = keys_.get();
        Values* va = values_.get();
        uint64_t* meta = ka->meta();
        size_t mask = ka->capacity() - 1;
        // Start just after an empty slot (there is one: load <= 3/4). The
        // backward shift never moves an entry across an empty slot, so
        // every shift brings an entry from a slot not yet visited to the
        // slot just examined, which is examined again.
        size_t start = 0;
        while (meta[start] != 0) ++start;
        size_t removed = 0;
        uint64_t version = version_;
        for (size_t k = 1; k <= mask;) {
            size_t i = (start + k) & mask;
            if (meta[i] == 0) {
                ++k;
                continue;
            }
            bool drop = pred(static_cast<const K&>(ka->key(i)), va->slot(i).get());
            check_unchanged(version, "erase_if");
            if (drop) {
                erase_at(ka, va, i);
                version = version_;
                ++removed;
            } else {
                ++k;
            }
        }
        return removed;
    }

    // Calls f(const K&, V*) for every entry once, in table order. If f
    // returns bool, false stops the walk.
    template <class F>
    void for_each(F&& f) const {
        if (size_ == 0) return;
        // Held on this stack, the arrays stay allocated even if f breaks
        // the contract and rehashes (that is detected below).
        Keys* ka = keys_.get();
        Values* va = values_.get();
        uint64_t* meta = ka->meta();
        size_t cap = ka->capacity();
        uint64_t version = version_;
        for (size_t i = 0; i < cap; ++i) {
            if (meta[i] == 0) continue;
            using R = std::invoke_result_t<F&, const K&, V*>;
            if constexpr (std::is_same_v<R, bool>) {
                bool go_on = f(static_cast<const K&>(ka->key(i)), va->slot(i).get());
                check_unchanged(version, "for_each");
                if (!go_on) return;
            } else {
                f(static_cast<const K&>(ka->key(i)), va->slot(i).get());
                check_unchanged(version, "for_each");
            }
        }
    }

    // No entries; the capacity is kept. Keys are destroyed, values dropped.
    void clear() {
        if (size_ == 0) return;
        Keys* ka = keys_.get();
        empty_out(ka, values_.get());
        size_ = 0;
        ++version_;
    }

    void swap(HashMap& o) noexcept {
        Keys* k = keys_.get();
        keys_ = o.keys_.get();
        o.keys_ = k;
        Values* v = values_.get();
        values_ = o.values_.get();
        o.values_ = v;
        std::swap(size_, o.size_);
        using std::swap;
        swap(hash_, o.hash_);
        swap(eq_, o.eq_);
        ++version_;
        ++o.version_;
    }
    friend void swap(HashMap& a, HashMap& b) noexcept { a.swap(b); }

    // For the owner's trace(): both arrays (the key array must stay alive
    // too, or the collector would destroy the keys).
    void trace(Visitor& v) const {
        v.visit(keys_);
        v.visit(values_);
    }

private:
    uint64_t hash_of(const K& key) const { return detail::mix_hash(static_cast<uint64_t>(hash_(key))) | kFull; }

    // Smallest power-of-two capacity holding n entries at load <= 3/4.
    static size_t capacity_for(size_t n, const char* what) {
        constexpr size_t kMaxEntries = kMaxTableCapacity - kMaxTableCapacity / 4;
        if (n > kMaxEntries) detail::throw_too_large(what, n, kMaxEntries);
        size_t cap = kMinCapacity;
        while (cap - cap / 4 < n) cap *= 2;
        return cap;
    }

    // Index of key's entry, or kNone. Hash and Eq may throw; nothing changes.
    size_t index_of(const K& key) const {
        if (size_ == 0) return kNone;
        return index_of(key, hash_of(key));
    }
    size_t index_of(const K& key, uint64_t h) const {
        Keys* ka = keys_.get();
        if (ka == nullptr) return kNone;
        const uint64_t* meta = ka->meta();
        size_t mask = ka->capacity() - 1;
        for (size_t i = h & mask, d = 0;; i = (i + 1) & mask, ++d) {
            uint64_t m = meta[i];
            if (m == 0) return kNone;
            if (((i - m) & mask) < d) return kNone;  // Robin Hood: key would sit before this entry
            if (m == h && eq_(ka->key(i), key)) return i;
        }
    }

    template <class KK>
    bool insert_impl(KK&& key, V* v) {
        uint64_t h = hash_of(key);  // may throw: nothing changed yet
        if (size_ != 0) {
            if (size_t i = index_of(key, h); i != kNone) {
                values_.get()->slot(i) = v;
                return false;
            }
        }
        K k(std::forward<KK>(key));  // may throw: nothing changed yet
        size_t cap = capacity();
        if (size_ + 1 > cap - cap / 4) rehash(capacity_for(size_ + 1, "gc::HashMap: growing"));
        place(keys_.get(), values_.get(), h, k, v);
        ++size_;
        ++version_;
        return true;
    }

    // Robin Hood insertion of an entry known to be absent, with room. The
    // carried entry (h, k, v) swaps with any entry closer to its home; k is
    // left moved-from or holding a displaced key, the caller destroys it.
    static void place(Keys* ka, Values* va, uint64_t h, K& k, V* v) noexcept {
        uint64_t* meta = ka->meta();
        size_t mask = ka->capacity() - 1;
        for (size_t i = h & mask, d = 0;; i = (i + 1) & mask, ++d) {
            uint64_t m = meta[i];
            if (m == 0) {
                ::new (ka->key_storage(i)) K(std::move(k));
                meta[i] = h;
                va->slot(i) = v;  // barriered
                return;
            }
            size_t dm = (i - m) & mask;
            if (dm < d) {
                meta[i] = h;
                h = m;
                using std::swap;
                swap(k, ka->key(i));
                V* displaced = va->slot(i).get();
                va->slot(i) = v;  // barriered; `displaced` is stored again below (barriered)
                v = displaced;
                d = dm;
            }
        }
    }

    // Removes entry i and shifts the following run back (no tombstones).
    void erase_at(Keys* ka, Values* va, size_t i) noexcept {
        uint64_t* meta = ka->meta();
        size_t mask = ka->capacity() - 1;
        ka->key(i).~K();
        size_t hole = i;
        for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
            uint64_t m = meta[j];
            if (m == 0 || ((j - m) & mask) == 0) break;
            meta[hole] = m;
            ::new (ka->key_storage(hole)) K(std::move(ka->key(j)));
            ka->key(j).~K();
            va->slot(hole) = va->slot(j);  // barriered
            hole = j;
        }
        meta[hole] = 0;
        va->slot(hole) = nullptr;
        --size_;
        ++version_;
    }

    // Destroys every live key of ka, zeroes its meta and nulls va.
    static void empty_out(Keys* ka, Values* va) noexcept {
        uint64_t* meta = ka->meta();
        for (size_t i = 0; i < ka->capacity(); ++i) {
            if (meta[i] == 0) continue;
            ka->key(i).~K();
            meta[i] = 0;
            va->slot(i) = nullptr;
        }
    }

    // Moves every entry into new arrays of capacity cap (a power of two,
    // above size_ / (3/4)) and publishes them (file comment).
    void rehash(size_t cap) {
        Keys* nk = Keys::allocate(cap);
        Values* nv = Values::allocate(cap);  // nk stays on this stack meanwhile
        Keys* ok = keys_.get();
        Values* ov = values_.get();
        if (ok != nullptr) {
            uint64_t* meta = ok->meta();
            for (size_t i = 0; i < ok->capacity(); ++i) {
                uint64_t h = meta[i];
                if (h == 0) continue;
                K k(std::move(ok->key(i)));
                ok->key(i).~K();
                meta[i] = 0;
                place(nk, nv, h, k, ov->slot(i).get());
                ov->slot(i) = nullptr;
            }
        }
        keys_ = nk;
        values_ = nv;
        ++version_;
    }

    void copy_from(const HashMap& o) {
        if (o.size_ == 0) return;
        Keys* sk = o.keys_.get();
        Values* sv = o.values_.get();
        size_t cap = sk->capacity();
        Keys* nk = Keys::allocate(cap);
        Values* nv = Values::allocate(cap);
        const uint64_t* sm = sk->meta();
        uint64_t* nm = nk->meta();
        for (size_t i = 0; i < cap; ++i) {
            if (sm[i] == 0) continue;
            // May throw: keys copied so far are marked live in nk, whose
            // destroy hook frees them when the collector frees nk.
            ::new (nk->key_storage(i)) K(static_cast<const K&>(sk->key(i)));
            nm[i] = sm[i];
            nv->slot(i) = sv->slot(i);
        }
        keys_ = nk;
        values_ = nv;
        size_ = o.size_;
    }

    void check_unchanged(uint64_t version, const char* what) const {
        if (version != version_)
            throw std::logic_error(std::string("gc::HashMap::") + what +
                                   ": the map was changed (insert or erase) from inside the callback; use erase_if to "
                                   "delete while iterating");
    }

    Member<Keys> keys_;      // null until the first insert (or reserve)
    Member<Values> values_;  // same capacity as keys_
    size_t size_ = 0;        // mutator-only, as everything but the Members
    uint64_t version_ = 0;   // bumped by every insert, erase, clear, rehash: for_each checks it
    [[no_unique_address]] Hash hash_{};
    [[no_unique_address]] Eq eq_{};
};

}  // namespace weft::gc
