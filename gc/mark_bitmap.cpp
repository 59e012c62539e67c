// mark_bitmap.cpp — see mark_bitmap.hpp.
#include "gc/mark_bitmap.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cerrno>

#include "runtime/base/fatal.hpp"

namespace weft::gc::detail {

namespace {

void* map_table(size_t len, const char* what) {
    void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        base::fatal("gc heap: cannot reserve %zu MiB of address space for %s: errno %d", len >> 20, what, errno);
    // Sized to the heap's reservation and mostly untouched: kept out of
    // core files (a debugger's gcore writes every byte it may dump).
    madvise(p, len, MADV_DONTDUMP);
    return p;
}

constexpr size_t kBytesPerWord = 64 << MarkBitmap::kGranuleShift;  // heap bytes one word covers

}  // namespace

MarkBitmap::MarkBitmap(uintptr_t base, size_t reserved)
    : base_(base),
      reserved_(reserved),
      words_(static_cast<uint64_t*>(map_table((reserved + kBytesPerWord - 1) / kBytesPerWord * 8, "the mark bits"))),
      page_class_(static_cast<uint8_t*>(map_table((reserved >> kPageShift) + 1, "the page classes"))),
      page_type_(static_cast<const TypeInfo**>(
          map_table(((reserved >> kPageShift) + 1) * sizeof(const TypeInfo*), "the page types"))) {}

namespace {

// Keeps the bits of x at multiples of k (a power of two, 1 to 64) and packs
// them into the low 64 / k bits, in order: each step merges neighbouring
// groups of kept bits and masks away the rest.
uint64_t pack_every(uint64_t x, uint32_t k) {
    switch (k) {
        case 1:
            return x;
        case 2:
            x &= 0x5555555555555555;
            x = (x | x >> 1) & 0x3333333333333333;
            x = (x | x >> 2) & 0x0F0F0F0F0F0F0F0F;
            x = (x | x >> 4) & 0x00FF00FF00FF00FF;
            x = (x | x >> 8) & 0x0000FFFF0000FFFF;
            return (x | x >> 16) & 0xFFFFFFFF;
        case 4:
            x &= 0x1111111111111111;
            x = (x | x >> 3) & 0x0303030303030303;
            x = (x | x >> 6) & 0x000F000F000F000F;
            x = (x | x >> 12) & 0x000000FF000000FF;
            return (x | x >> 24) & 0xFFFF;
        case 8:
            x &= 0x0101010101010101;
            x = (x | x >> 7) & 0x0003000300030003;
            x = (x | x >> 14) & 0x0000000F0000000F;
            return (x | x >> 28) & 0xFF;
        case 16:
            x &= 0x0001000100010001;
            x = (x | x >> 15) & 0x0000000300000003;
            return (x | x >> 30) & 0xF;
        case 32:
            return (x & 1) | ((x >> 31) & 2);
        default:  // 64
            return x & 1;
    }
}

}  // namespace

void MarkBitmap::collect(uintptr_t base, size_t bytes, uint32_t elemsize, uint64_t* out, uint32_t nwords) const {
    for (uint32_t k = 0; k < nwords; ++k) out[k] = 0;
    const size_t first = first_word(base);
    const size_t nsrc = bytes / kBytesPerWord;
    // Relaxed loads: read by the span's sweeper after marking (B1).
    auto src = [&](size_t i) { return std::atomic_ref<uint64_t>(words_[first + i]).load(std::memory_order_relaxed); };
    const uint32_t k = elemsize >> kGranuleShift;  // granules per slot
    if (std::has_single_bit(k) && k <= 64) {
        // Slot starts at every k-th granule from the span's base (which is
        // word-aligned): each word packs into 64 / k slot bits, in order.
        const uint32_t per = 64 / k;
        for (size_t i = 0; i < nsrc && i * per < size_t{nwords} * 64; ++i) {
            uint64_t w = src(i);
            if (w == 0) continue;
            size_t at = i * per;
            out[at / 64] |= pack_every(w, k) << (at % 64);
        }
        return;
    }
    // Other sizes: 64 slots span exactly k words. Those words all clear (a
    // dead stretch) cost their loads; otherwise each slot's bit is picked
    // in a loop of fixed length, branch-free, the output word in a
    // register. (Visiting the set bits instead, with an index computed per
    // bit and a store per bit, is a data-dependent loop: slower for the
    // mostly-live spans sweep sees.)
    // A slot of the tail waste reads a clear bit (B2).
    for (uint32_t w = 0; w < nwords; ++w) {
        const size_t lo = size_t{w} * k;  // the word holding slot 64w's first granule
        if (lo >= nsrc) break;
        const size_t hi = std::min(nsrc, lo + k);
        uint64_t any = 0;
        for (size_t i = lo; i < hi; ++i) any |= src(i);
        if (any == 0) continue;
        uint64_t bits = 0;
        size_t g = lo * 64;
        const uint32_t n = static_cast<uint32_t>(std::min<size_t>(64, (nsrc * 64 - g + k - 1) / k));
        for (uint32_t j = 0; j < n; ++j, g += k) bits |= ((src(g / 64) >> (g % 64)) & 1) << j;
        out[w] = bits;
    }
}

void MarkBitmap::clear_range(uintptr_t lo, size_t bytes) {
    size_t first = first_word(lo);
    for (size_t i = 0; i < bytes / kBytesPerWord; ++i) {
        std::atomic_ref<uint64_t> w(words_[first + i]);
        // Skip the store where the word is clear: most of a sparse span's
        // words are, and an untouched page of the table stays unbacked.
        if (w.load(std::memory_order_relaxed) != 0) w.store(0, std::memory_order_relaxed);
    }
}

void MarkBitmap::prepare_range(uintptr_t lo, size_t bytes) {
    constexpr size_t kWordsPerOsPage = 4096 / sizeof(uint64_t);  // 4 KiB: a larger OS page only repeats stores
    const size_t first = first_word(lo);
    const size_t end = first + bytes / kBytesPerWord;
    for (size_t i = first; i < end; i = (i / kWordsPerOsPage + 1) * kWordsPerOsPage) {
        // A write that changes nothing: the page faults in writable. Relaxed:
        // the span is not yet published, and no other span shares the word.
        std::atomic_ref<uint64_t>(words_[i]).fetch_or(0, std::memory_order_relaxed);
    }
}

bool MarkBitmap::any_in_range(uintptr_t lo, size_t bytes) const {
    size_t first = first_word(lo);
    for (size_t i = 0; i < bytes / kBytesPerWord; ++i)
        if (std::atomic_ref<uint64_t>(words_[first + i]).load(std::memory_order_relaxed) != 0) return true;
    return false;
}

void MarkBitmap::set_pages(uintptr_t addr, size_t npages, uint8_t cls, const TypeInfo* t) {
    size_t first = (addr - base_) >> kPageShift;
    for (size_t i = 0; i < npages; ++i) {
        std::atomic_ref<uint8_t>(page_class_[first + i]).store(cls, std::memory_order_relaxed);  // B3
        std::atomic_ref<const TypeInfo*>(page_type_[first + i]).store(t, std::memory_order_relaxed);
    }
}

}  // namespace weft::gc::detail
