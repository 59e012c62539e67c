// size_class.hpp — the small-object size classes (as Go's sizeclasses.go,
// generated here by a constexpr rule instead of a table).
//
// A request of n bytes (the object: objects have no header) is rounded up
// to the smallest class that holds it; objects above kMaxSmallSize get a
// span of their own. Classes are 8-byte granular below 32, 16 up to 128, then
// grow by about 1/10 of their size (rounded to 16 bytes up to 1 KiB, to 128
// above), so internal fragmentation stays near 10%. Each class's span
// length is the smallest page count (up to 8) whose tail waste is at most
// 1/8 of the span.
//
// Invariants
//   C1 class sizes are strictly increasing multiples of 8 (every object is
//      8-byte aligned).
//   C2 kSizeToClass maps every size in [1, kMaxSmallSize] to the first class
//      at least that large (checked by a static_assert below).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace weft::gc {

// The heap's page (page_heap.hpp): spans are whole runs of pages.
inline constexpr size_t kPageShift = 13;
inline constexpr size_t kPageSize = size_t{1} << kPageShift;

}  // namespace weft::gc

namespace weft::gc::detail {

inline constexpr size_t kMaxSmallSize = 32768;

struct SizeClass {
    uint32_t size = 0;    // bytes per slot, header included
    uint32_t npages = 0;  // span length
    uint32_t nelems = 0;  // slots per span
    // Reciprocal for O(1) slot index: offset * recip >> 48 == offset / size
    // for every offset inside the span (spans are at most 64 KiB).
    uint64_t recip = 0;
};

namespace classgen {

constexpr uint32_t next_size(uint32_t s) {
    if (s < 32) return s + 8;
    if (s < 128) return s + 16;
    uint32_t step = s / 10;
    uint32_t align = s < 1024 ? 16 : 128;
    step = (step + align - 1) / align * align;
    uint32_t n = s + step;
    return n > kMaxSmallSize && s < kMaxSmallSize ? static_cast<uint32_t>(kMaxSmallSize) : n;
}

constexpr uint32_t pages_for(uint32_t size) {
    for (uint32_t np = 1; np <= 8; ++np) {
        size_t span = np * kPageSize;
        if (span < size) continue;
        if ((span % size) * 8 <= span) return np;
    }
    return static_cast<uint32_t>((size + kPageSize - 1) / kPageSize);
}

constexpr size_t count() {
    size_t n = 1;  // class 0: large objects
    for (uint32_t s = 8; s <= kMaxSmallSize; s = next_size(s)) ++n;
    return n;
}

}  // namespace classgen

inline constexpr size_t kNumClasses = classgen::count();

inline constexpr std::array<SizeClass, kNumClasses> kClasses = [] {
    std::array<SizeClass, kNumClasses> t{};
    size_t i = 1;
    for (uint32_t s = 8; s <= kMaxSmallSize; s = classgen::next_size(s), ++i) {
        uint32_t np = classgen::pages_for(s);
        uint64_t recip = ((uint64_t{1} << 48) + s - 1) / s;
        t[i] = SizeClass{s, np, static_cast<uint32_t>(np * kPageSize / s), recip};
    }
    return t;
}();

// Class index for a size in 8-byte steps: kSizeToClass[(n + 7) / 8].
inline constexpr std::array<uint8_t, kMaxSmallSize / 8 + 1> kSizeToClass = [] {
    std::array<uint8_t, kMaxSmallSize / 8 + 1> t{};
    size_t c = 1;
    for (size_t i = 0; i < t.size(); ++i) {
        size_t bytes = i * 8;
        while (kClasses[c].size < bytes) ++c;
        t[i] = static_cast<uint8_t>(c);
    }
    return t;
}();

static_assert(kNumClasses >= 50 && kNumClasses <= 80, "size class rule produced an odd table");
static_assert(kClasses[kNumClasses - 1].size == kMaxSmallSize);
static_assert(kClasses[kSizeToClass[1]].size == 8, "a one-reference object needs an 8-byte class");
static_assert(kClasses[kSizeToClass[3]].size == 24, "W7's node (two references and an integer) needs a 24-byte class");

constexpr size_t size_to_class(size_t n) { return kSizeToClass[(n + 7) >> 3]; }

}  // namespace weft::gc::detail
