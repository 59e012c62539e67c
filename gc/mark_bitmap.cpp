// mark_bitmap.cpp — see mark_bitmap.hpp.
#include "gc/mark_bitmap.hpp"

#include <sys/mman.h>

#include <cerrno>

#include "runtime/base/fatal.hpp"

namespace weft::gc::detail {

namespace {

void* map_table(size_t len, const char* what) {
    void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        base::fatal("gc heap: cannot reserve %zu MiB of address space for %s: errno %d", len >> 20, what, errno);
    return p;
}

constexpr size_t kBytesPerWord = 64 << MarkBitmap::kGranuleShift;  // heap bytes one word covers

}  // namespace

MarkBitmap::MarkBitmap(uintptr_t base, size_t reserved)
    : base_(base),
      reserved_(reserved),
      words_(static_cast<uint64_t*>(map_table((reserved + kBytesPerWord - 1) / kBytesPerWord * 8, "the mark bits"))),
      page_class_(static_cast<uint8_t*>(map_table((reserved >> kPageShift) + 1, "the page classes"))) {}

void MarkBitmap::collect(uintptr_t base, size_t bytes, uint64_t recip, uint64_t* out, uint32_t nwords) const {
    for (uint32_t k = 0; k < nwords; ++k) out[k] = 0;
    size_t first = granule(base) / 64;
    for (size_t i = 0; i < bytes / kBytesPerWord; ++i) {
        // Relaxed: read by the span's sweeper after marking (B1).
        uint64_t bits = std::atomic_ref<uint64_t>(words_[first + i]).load(std::memory_order_relaxed);
        while (bits != 0) {
            auto b = static_cast<uint64_t>(__builtin_ctzll(bits));
            bits &= bits - 1;
            uint64_t offset = ((i * 64 + b) << kGranuleShift);
            auto slot = static_cast<uint32_t>((offset * recip) >> 48);
            if (slot / 64 < nwords) out[slot / 64] |= uint64_t{1} << (slot % 64);  // not in the tail waste
        }
    }
}

void MarkBitmap::clear_range(uintptr_t lo, size_t bytes) {
    size_t first = granule(lo) / 64;
    for (size_t i = 0; i < bytes / kBytesPerWord; ++i) {
        std::atomic_ref<uint64_t> w(words_[first + i]);
        // Skip the store where the word is clear: most of a sparse span's
        // words are, and an untouched page of the table stays unbacked.
        if (w.load(std::memory_order_relaxed) != 0) w.store(0, std::memory_order_relaxed);
    }
}

bool MarkBitmap::any_in_range(uintptr_t lo, size_t bytes) const {
    size_t first = granule(lo) / 64;
    for (size_t i = 0; i < bytes / kBytesPerWord; ++i)
        if (std::atomic_ref<uint64_t>(words_[first + i]).load(std::memory_order_relaxed) != 0) return true;
    return false;
}

void MarkBitmap::set_page_class(uintptr_t addr, size_t npages, uint8_t cls) {
    size_t first = (addr - base_) >> kPageShift;
    for (size_t i = 0; i < npages; ++i)
        std::atomic_ref<uint8_t>(page_class_[first + i]).store(cls, std::memory_order_release);
}

}  // namespace weft::gc::detail
