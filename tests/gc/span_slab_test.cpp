// Where Span structs come from (gc/heap.cpp span_struct_locked): slabs
// mapped from the OS, never malloc, whose consolidation of its free lists
// had run inside mutator operations for milliseconds.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include <weft/weft.hpp>
#include "gc/heap.hpp"

namespace {

namespace gc = weft::gc;

struct Big {
    char data[40000];  // a large object: a span of its own
};

}  // namespace

TEST_CASE("Span structs are made in slabs: consecutive ones sit sizeof(Span) apart") {
    using weft::gc::detail::heap;
    using weft::gc::detail::span_at;
    weft::run([] {
        // Enough spans held at once that new Span structs must be made,
        // whatever free ones earlier tests left.
        std::vector<gc::Root<Big>> held(600);
        for (auto& r : held) r = gc::make<Big>();
    });
    size_t n = heap().nspans.load();
    REQUIRE(n >= 600);
    size_t adjacent = 0;
    for (size_t i = 1; i < n; ++i) {
        auto a = reinterpret_cast<uintptr_t>(span_at(i - 1));
        auto b = reinterpret_cast<uintptr_t>(span_at(i));
        if (b - a == sizeof(weft::gc::detail::Span)) ++adjacent;
    }
    // Only a slab's first struct is not next to the one made before it
    // (malloc'd ones never are: each carries a chunk header).
    CHECK(adjacent >= (n - 1) - (n / weft::gc::detail::kSpanSlab + 1));
}
