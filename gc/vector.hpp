// vector.hpp — gc::Vector<T>, a growable sequence of references to GC
// objects (Go's []*T) whose stores are barriered and whose storage lives on
// the collected heap and is traced.
//
//   struct Graph {
//       gc::Vector<Node> nodes;
//       void trace(gc::Visitor& v) const { v.visit_value(nodes); }  // or nodes.trace(v)
//   };
//   Graph* g = gc::make<Graph>();
//   g->nodes.push_back(gc::make<Node>());   // barriered store
//   for (Node* n : g->nodes) ...
//
// Why not std::vector<gc::Member<T>> inside a GC object: its buffer is
// malloc'd, so the collector never traces it (docs/DESIGN.md, Containers), and
// its reallocation copies Members without a GC heap object to hold them.
//
// Layout. A Vector is a small value: a Member to its backing array and the
// length. The backing array (detail::MemberArray<T>) is one variable-size
// GC object:
//
//   +0   capacity      size_t, written by the constructor, never again
//   +8   slot[0]       gc::Member<T>
//   ...
//   +8+8c slot[c-1]
//
// Its TypeInfo traces every slot below the capacity, so the tracer reads
// nothing the mutator changes except Members (atomic): the length stays in
// the Vector, which the collector never reads. Invariants:
//   V1 capacity is fixed for the life of a backing array; a Vector that
//      needs more allocates a new one.
//   V2 slots in [size, capacity) are null (pop_back, erase, clear, resize
//      and set-to-null clear a slot when it leaves the sequence), so
//      whatever the tracer reads there keeps nothing alive.
//   V3 a backing array belongs to one Vector: copies are deep. When a
//      Vector moves to a larger array it nulls the old one, so a stale word
//      pointing at the old array (the stack scan is conservative) keeps no
//      element alive.
//
// Growth (push_back, reserve, resize):
//   1. capacity grows as Go's growslice: x2 below 256 slots, then by a
//      quarter plus 192; then it is rounded up to what the allocator's size
//      class (or page count, for large arrays) gives anyway;
//   2. allocate the new array (zeroed: every slot null) — while marking it
//      is born black;
//   3. copy each Member into it: every copy is a barriered store, so an
//      element that the tracer has not reached through the old array is
//      shaded now (Dijkstra);
//   4. publish the new array with a Member store (barriered);
//   5. null the old array's slots (null stores need no barrier, V3).
// From the allocation's return (step 2) to step 5 there is no preemption
// point (detail::allocate never yields; only gc::make takes a safe point,
// after the constructor), so no phase change or stack scan falls between
// them.
//
// Erase of [first, last), n elements:
//   1. move each element after last down n slots, lowest first: a
//      barriered store each. The tracer may be partway through this very
//      array: an element moved from a slot it has not read yet into one it
//      has already read would otherwise be found in neither;
//   2. null the n slots at the end (V2), which now hold copies; the
//      elements erased are no longer referenced from the array, and the
//      collector frees them (running their destructors) once nothing else
//      holds them.
// No allocation, and no preemption point between the steps.
//
// Where a Vector may live: as a field of a GC object that reports it from
// trace(); on a fiber's stack (the conservative scan finds the storage
// pointer); as a GC object of its own (gc::make<gc::Vector<T>>()). Like a
// Member, a Vector in malloc'd memory or a global keeps nothing alive (hold
// it in a GC object reached from a gc::Root).
//
// Contracts:
//   - every operation that may allocate (push_back, reserve, resize, copy)
//     and every store of a non-null reference runs on a fiber (the write
//     barrier and the allocator need the fiber's P);
//   - not thread-safe, like a Go slice: concurrent readers are fine, a
//     writer needs a lock (weft::Mutex) against every other user. The
//     collector tracing the storage concurrently is always safe;
//   - T* values are objects from gc::make (or null); the element type may
//     be incomplete where the Vector is declared (struct Tree { Vector<Tree>
//     kids; }), as with Member;
//   - indexing is bounds-checked like Go's: a bad index throws
//     std::out_of_range naming the call, the index and the size; so does
//     an iterator given to erase that is not one of this vector's;
//   - iterators and references are invalidated by growth, as std::vector's;
//     a stale iterator still points into GC memory that stays allocated
//     while the iterator is on a stack (it reads nulls, never freed memory).
//
// Rejected: tracing only [0, size) (the tracer would read the length while
// the mutator writes it — a data race, and a pop racing the tracer could
// hide a slot the barrier never saw); storing T* raw in the array with the
// barrier run by hand (Member already pairs the barrier with a release
// store, and the tracer's loads must be atomic anyway).
#pragma once

#include <algorithm>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include <weft/gc/make.hpp>
#include <weft/gc/member.hpp>
#include <weft/gc/visitor.hpp>
#include <weft/internal/alloc.hpp>
#include <weft/internal/size_class.hpp>
#include <weft/internal/type_info.hpp>

namespace weft::gc {

namespace detail {

// The largest GC array these containers ask for (bytes). The heap's own
// reservation is smaller; this bound only keeps the size arithmetic from
// overflowing and turns an absurd request into an exception.
inline constexpr size_t kMaxArrayBytes = size_t{1} << 40;

// Bytes the allocator really hands out for an object of `bytes` (its size
// class, or whole pages for a large object). Growth uses
// it to turn slack into capacity, as Go's roundupsize.
inline size_t usable_bytes(size_t bytes) {
    if (bytes <= kMaxSmallSize) return kClasses[size_to_class(bytes)].size;
    return (bytes + kPageSize - 1) / kPageSize * kPageSize;
}

[[noreturn]] inline void throw_too_large(const char* what, size_t n, size_t max) {
    throw std::length_error(std::string(what) + ": " + std::to_string(n) + " elements exceed the maximum of " +
                            std::to_string(max));
}

template <class T>
class MemberArray;

template <class T>
void trace_member_array(const void* obj, Visitor& v);

// The TypeInfo of every MemberArray<T>: traced, nothing to destroy
// (Members are trivially destructible).
template <class T>
inline const TypeInfo kMemberArrayType{
    &trace_member_array<T>,
    nullptr,
    type_name<MemberArray<T>>(),
    0,
};

// A variable-size GC object: a fixed capacity, then that many Member<T>
// slots (layout and invariants V1, V2 above). Shared by Vector and HashMap
// (its values). Created only through allocate(); used from a fiber.
template <class T>
class MemberArray {
public:
    static constexpr size_t kMaxCapacity = (kMaxArrayBytes - sizeof(size_t)) / sizeof(Member<T>);

    // A new array of exactly `capacity` null slots (capacity > 0, at most
    // kMaxCapacity: callers check). From a fiber.
    static MemberArray* allocate(size_t capacity) {
        static_assert(std::is_trivially_destructible_v<Member<T>>, "MemberArray: slots are never destroyed");
        static_assert(sizeof(Member<T>) == 8 && alignof(Member<T>) == 8, "MemberArray: slots are one word");
        void* mem = detail::allocate(sizeof(MemberArray) + capacity * sizeof(Member<T>), &kMemberArrayType<T>,
                                     false);
        return ::new (mem) MemberArray(capacity);
    }

    // The capacity allocate() would really get for at least `min` slots.
    static size_t rounded_capacity(size_t min) {
        size_t c = (usable_bytes(sizeof(MemberArray) + min * sizeof(Member<T>)) - sizeof(MemberArray)) /
                   sizeof(Member<T>);
        return std::min(c, kMaxCapacity);
    }

    size_t capacity() const { return capacity_; }
    Member<T>& slot(size_t i) { return slots()[i]; }
    const Member<T>& slot(size_t i) const { return slots()[i]; }
    Member<T>* slots() { return std::launder(reinterpret_cast<Member<T>*>(reinterpret_cast<char*>(this) + kSlots)); }
    const Member<T>* slots() const {
        return std::launder(reinterpret_cast<const Member<T>*>(reinterpret_cast<const char*>(this) + kSlots));
    }

    // Nulls [from, to) (V2, V3). Null stores need no barrier.
    void clear(size_t from, size_t to) {
        Member<T>* s = slots();
        for (size_t i = from; i < to; ++i) s[i] = nullptr;
    }

    // For the collector: every slot, whatever the owner's length (V1).
    void trace(Visitor& v) const {
        const Member<T>* s = slots();
        for (size_t i = 0; i < capacity_; ++i) v.visit(s[i]);
    }

private:
    static constexpr size_t kSlots = sizeof(size_t);

    // The memory is zeroed; constructing the slots starts their lifetime
    // (they are null either way). Nothing can trace the array before the
    // allocating fiber publishes it (allocation black while marking, and no
    // preemption point between allocate and the constructor's end).
    explicit MemberArray(size_t capacity) : capacity_(capacity) {
        char* base = reinterpret_cast<char*>(this) + kSlots;
        for (size_t i = 0; i < capacity; ++i) ::new (base + i * sizeof(Member<T>)) Member<T>();
    }

    const size_t capacity_;
};

template <class T>
void trace_member_array(const void* obj, Visitor& v) {
    static_cast<const MemberArray<T>*>(obj)->trace(v);
}

}  // namespace detail

template <class T>
class Vector {
    using Array = detail::MemberArray<T>;

public:
    using value_type = T*;
    using size_type = size_t;
    using difference_type = std::ptrdiff_t;

    // Random access over the elements, yielding T* by value (a read-only
    // view: store through set()). Invalidated by growth (see above).
    class const_iterator {
    public:
        using iterator_concept = std::random_access_iterator_tag;
        using iterator_category = std::input_iterator_tag;  // its reference is a value
        using value_type = T*;
        using difference_type = std::ptrdiff_t;
        using reference = T*;
        using pointer = void;

        const_iterator() = default;

        T* operator*() const { return p_->get(); }
        T* operator[](difference_type n) const { return p_[n].get(); }
        const_iterator& operator++() {
            ++p_;
            return *this;
        }
        const_iterator operator++(int) {
            const_iterator t = *this;
            ++p_;
            return t;
        }
        const_iterator& operator--() {
            --p_;
            return *this;
        }
        const_iterator operator--(int) {
            const_iterator t = *this;
            --p_;
            return t;
        }
        const_iterator& operator+=(difference_type n) {
            p_ += n;
            return *this;
        }
        const_iterator& operator-=(difference_type n) {
            p_ -= n;
            return *this;
        }
        friend const_iterator operator+(const_iterator it, difference_type n) { return it += n; }
        friend const_iterator operator+(difference_type n, const_iterator it) { return it += n; }
        friend const_iterator operator-(const_iterator it, difference_type n) { return it -= n; }
        friend difference_type operator-(const_iterator a, const_iterator b) { return a.p_ - b.p_; }
        friend bool operator==(const_iterator a, const_iterator b) { return a.p_ == b.p_; }
        friend std::strong_ordering operator<=>(const_iterator a, const_iterator b) {
            return std::compare_three_way{}(a.p_, b.p_);
        }

    private:
        friend class Vector;
        explicit const_iterator(const gc::Member<T>* p) : p_(p) {}
        const gc::Member<T>* p_ = nullptr;
    };
    using iterator = const_iterator;

    Vector() noexcept = default;
    // n null elements. From a fiber.
    explicit Vector(size_t n) { resize(n); }
    // A deep copy: a new backing array holding the same references. From a
    // fiber.
    Vector(const Vector& o) { copy_from(o); }
    // Takes o's backing array; o is left empty.
    Vector(Vector&& o) noexcept : storage_(o.storage_.get()), size_(o.size_) {
        o.storage_ = nullptr;
        o.size_ = 0;
    }
    Vector& operator=(const Vector& o) {
        if (this != &o) {
            Vector t(o);
            swap(t);
        }
        return *this;
    }
    Vector& operator=(Vector&& o) noexcept {
        if (this != &o) {
            Vector t(std::move(o));
            swap(t);
        }
        return *this;
    }

    size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    size_t capacity() const {
        const Array* a = storage_.get();
        return a ? a->capacity() : 0;
    }
    static constexpr size_t max_size() noexcept { return Array::kMaxCapacity; }

    // Capacity for at least n elements (allocates if it has less).
    void reserve(size_t n) {
        if (n > capacity()) reallocate(checked_capacity("gc::Vector::reserve", n));
    }

    void push_back(T* p) {
        Array* a = storage_.get();
        if (a == nullptr || size_ == a->capacity()) a = grow(size_ + 1);
        a->slot(size_) = p;  // barriered
        ++size_;
    }
    // Removes the last element (its slot is nulled, V2). Throws
    // std::out_of_range when empty.
    void pop_back() {
        if (size_ == 0) throw_empty("pop_back");
        --size_;
        storage_.get()->slot(size_) = nullptr;
    }

    T* back() const {
        if (size_ == 0) throw_empty("back");
        return storage_.get()->slot(size_ - 1).get();
    }
    T* front() const {
        if (size_ == 0) throw_empty("front");
        return storage_.get()->slot(0).get();
    }
    // Both bounds-checked (Go's semantics); throw std::out_of_range, e.g.
    // "gc::Vector::at: index 7 out of range (size 3)".
    T* operator[](size_t i) const {
        if (i >= size_) throw_index("operator[]", i);
        return storage_.get()->slot(i).get();
    }
    T* at(size_t i) const {
        if (i >= size_) throw_index("at", i);
        return storage_.get()->slot(i).get();
    }
    // Stores p (may be null) at i < size(), barriered.
    void set(size_t i, T* p) {
        if (i >= size_) throw_index("set", i);
        storage_.get()->slot(i) = p;
    }

    // Removes the element at pos (begin() <= pos < end()) and returns an
    // iterator to the element after it (end() if it was the last). Later
    // elements move down one slot; see "Erase" above. Erasing drops the
    // references only: the objects are freed by the collector, destructors
    // and all, once unreachable. Throws std::out_of_range, e.g.
    // "gc::Vector::erase: iterator at index 3 out of range (size 3)". From a
    // fiber.
    const_iterator erase(const_iterator pos) {
        size_t i = index_of("erase", pos);
        if (i >= size_) throw_iterator("erase", i);
        return erase_range(i, i + 1);
    }
    // Removes [first, last) (begin() <= first <= last <= end()) and returns
    // an iterator to the element that followed last; an empty range
    // removes nothing. Throws std::out_of_range as above, or when first >
    // last. From a fiber.
    const_iterator erase(const_iterator first, const_iterator last) {
        size_t from = index_of("erase", first), to = index_of("erase", last);
        if (from > to)
            throw std::out_of_range("gc::Vector::erase: range [" + std::to_string(from) + ", " + std::to_string(to) +
                                    ") is reversed");
        return erase_range(from, to);
    }

    // Removes every element for which pred(T*) is true, keeping the order
    // of the rest (std::erase_if; Go's slices.DeleteFunc): the iterators
    // are read-only, so the erase-remove idiom does not apply. Returns how
    // many were removed. Kept elements move down with barriered stores and
    // the freed slots are nulled, as erase. pred must not change the
    // vector; if it throws, the elements it has not judged are kept. From a
    // fiber.
    template <class Pred>
    friend size_t erase_if(Vector& v, Pred pred) {
        Array* a = v.storage_.get();
        // Compacts [0, read) into [0, write); on the way out, also when
        // pred throws, moves the unjudged rest down and nulls the tail.
        struct Compact {
            Vector& v;
            Array* a;
            size_t read = 0, write = 0;
            ~Compact() {
                if (a == nullptr) return;
                for (; read < v.size_; ++read, ++write)
                    if (write != read) a->slot(write) = a->slot(read);  // barriered
                a->clear(write, v.size_);
                v.size_ = write;
            }
        } c{v, a};
        for (; c.read < v.size_; ++c.read) {
            T* p = a->slot(c.read).get();
            if (pred(p)) continue;
            if (c.write != c.read) a->slot(c.write) = p;  // barriered
            ++c.write;
        }
        return c.read - c.write;
    }

    // Size 0, capacity kept; every slot nulled (the elements may be freed).
    void clear() {
        if (Array* a = storage_.get()) a->clear(0, size_);
        size_ = 0;
    }
    // Shrinking nulls the dropped slots; growing appends null elements.
    void resize(size_t n) {
        if (n <= size_) {
            if (n < size_) storage_.get()->clear(n, size_);
        } else if (n > capacity()) {
            grow(n);
        }
        size_ = n;  // slots past the old size are already null (V2)
    }

    const_iterator begin() const { return const_iterator(size_ ? storage_.get()->slots() : nullptr); }
    const_iterator end() const { return const_iterator(size_ ? storage_.get()->slots() + size_ : nullptr); }
    const_iterator cbegin() const { return begin(); }
    const_iterator cend() const { return end(); }

    void swap(Vector& o) noexcept {
        Array* a = storage_.get();
        storage_ = o.storage_.get();
        o.storage_ = a;
        std::swap(size_, o.size_);
    }
    friend void swap(Vector& a, Vector& b) noexcept { a.swap(b); }

    // For the owner's trace(): reports the backing array.
    void trace(Visitor& v) const { v.visit(storage_); }

private:
    static size_t checked_capacity(const char* what, size_t n) {
        if (n > Array::kMaxCapacity) detail::throw_too_large(what, n, Array::kMaxCapacity);
        return Array::rounded_capacity(n);
    }

    // Steps 1-5 of the growth protocol, for at least `min` slots.
    Array* grow(size_t min) {
        size_t cap = capacity();
        size_t want = cap < 256 ? 2 * cap : cap + cap / 4 + 192;
        if (want < cap || want > Array::kMaxCapacity) want = Array::kMaxCapacity;
        want = std::max({want, min, size_t{4}});
        return reallocate(checked_capacity("gc::Vector: growing", want));
    }

    Array* reallocate(size_t cap) {
        Array* old = storage_.get();
        Array* fresh = Array::allocate(cap);
        for (size_t i = 0; i < size_; ++i) fresh->slot(i) = old->slot(i);  // each barriered
        storage_ = fresh;
        if (old) old->clear(0, size_);
        return fresh;
    }

    // Index of it in [0, size]; throws unless it points into this vector.
    size_t index_of(const char* what, const_iterator it) const {
        // As integers: comparing pointers into different arrays is not
        // defined for the built-in operators.
        auto p = reinterpret_cast<uintptr_t>(it.p_);
        auto b = reinterpret_cast<uintptr_t>(begin().p_);
        size_t off = p - b;
        if (p < b || off % sizeof(Member<T>) != 0 || off / sizeof(Member<T>) > size_)
            throw std::out_of_range(std::string("gc::Vector::") + what + ": iterator not into this vector (size " +
                                    std::to_string(size_) + ")");
        return off / sizeof(Member<T>);
    }

    // Steps 1-2 of erase, for from <= to <= size_.
    const_iterator erase_range(size_t from, size_t to) {
        size_t n = to - from;
        if (n > 0) {
            Array* a = storage_.get();
            for (size_t i = to; i < size_; ++i) a->slot(i - n) = a->slot(i);  // each barriered
            a->clear(size_ - n, size_);
            size_ -= n;
        }
        return begin() + static_cast<std::ptrdiff_t>(from);
    }

    [[noreturn]] void throw_iterator(const char* what, size_t i) const {
        throw std::out_of_range(std::string("gc::Vector::") + what + ": iterator at index " + std::to_string(i) +
                                " out of range (size " + std::to_string(size_) + ")");
    }

    void copy_from(const Vector& o) {
        if (o.size_ == 0) return;
        const Array* src = o.storage_.get();
        Array* a = Array::allocate(Array::rounded_capacity(o.size_));
        for (size_t i = 0; i < o.size_; ++i) a->slot(i) = src->slot(i);
        storage_ = a;
        size_ = o.size_;
    }

    [[noreturn]] void throw_index(const char* what, size_t i) const {
        throw std::out_of_range(std::string("gc::Vector::") + what + ": index " + std::to_string(i) +
                                " out of range (size " + std::to_string(size_) + ")");
    }
    [[noreturn]] static void throw_empty(const char* what) {
        throw std::out_of_range(std::string("gc::Vector::") + what + ": the vector is empty");
    }

    Member<Array> storage_;  // null until the first element (or reserve)
    size_t size_ = 0;        // mutator-only: the collector never reads it
};

}  // namespace weft::gc
