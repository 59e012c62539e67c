// stack.cpp — see stack.hpp. Owns the list of mappings made for stacks.
#include "sched/stack.hpp"

#include <cerrno>
#include <cstdio>
#include <mutex>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

#include "runtime/base/check.hpp"
#include "sched/sanitizers.hpp"

namespace weft::sched {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kChunkStacks = 64;

struct Mapping {
    void* base;
    size_t len;
};

// Stack allocation happens only when a G without a stack first runs, so a
// plain mutex (outside the runtime's rank table: nothing is taken inside
// it) is enough.
std::mutex g_mu;
std::vector<Mapping> g_maps;
size_t g_size = kDefaultStackSize;
StackGuardMode g_mode = StackGuardMode::kAuto;
int64_t g_guard_budget = 0;
int64_t g_guarded = 0, g_canary = 0;
char* g_chunk = nullptr;  // current canary chunk and how many are left in it
size_t g_chunk_left = 0;

int64_t read_max_map_count() {
    FILE* f = fopen("/proc/sys/vm/max_map_count", "r");
    long v = 65530;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1) v = 65530;
        fclose(f);
    }
    return v;
}

void* map(size_t len) {
    void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        base::fatal("out of memory allocating a fiber stack (%zu bytes): errno %d", len, errno);
    return p;
}

}  // namespace

bool Stack::in_guard(const void* p) const {
    if (!guarded) return false;
    auto a = reinterpret_cast<uintptr_t>(p), b = reinterpret_cast<uintptr_t>(lo);
    return a >= b - kPage && a < b;
}

void stack_init(size_t size, StackGuardMode mode, int64_t budget) {
    std::lock_guard<std::mutex> l(g_mu);
    g_size = (size + kPage - 1) & ~(kPage - 1);
    g_mode = mode;
    // Keep half of the VMA budget for everything else in the process.
    g_guard_budget = budget >= 0 ? budget : (read_max_map_count() - 8192) / 2;
    if (g_guard_budget < 0) g_guard_budget = 0;
    g_guarded = g_canary = 0;
    g_chunk = nullptr;
    g_chunk_left = 0;
}

Stack stack_alloc() {
    std::lock_guard<std::mutex> l(g_mu);
    bool guard = g_mode == StackGuardMode::kAlways || (g_mode == StackGuardMode::kAuto && g_guarded < g_guard_budget);
    if (g_mode == StackGuardMode::kAlways && g_guarded >= g_guard_budget)
        base::fatal("WEFT_STACK_GUARD=always: %lld guarded stacks reach the vm.max_map_count budget; "
                    "raise vm.max_map_count or use WEFT_STACK_GUARD=auto",
                    static_cast<long long>(g_guarded));
    Stack s;
    s.size = g_size;
    if (guard) {
        char* base = static_cast<char*>(map(g_size + kPage));
        if (mprotect(base, kPage, PROT_NONE) != 0) base::fatal("mprotect of a stack guard page failed: errno %d", errno);
        g_maps.push_back({base, g_size + kPage});
        s.lo = base + kPage;
        s.guarded = true;
        g_guarded++;
    } else {
        if (g_chunk_left == 0) {
            g_chunk = static_cast<char*>(map(g_size * kChunkStacks));
            g_maps.push_back({g_chunk, g_size * kChunkStacks});
            g_chunk_left = kChunkStacks;
        }
        s.lo = g_chunk;
        g_chunk += g_size;
        g_chunk_left--;
        s.guarded = false;  // canary: the zero bottom of fresh memory (stack.hpp)
        g_canary++;
    }
    // A mapping reused from a previous run may still carry ASan poison from
    // fibers that were abandoned mid-call.
    WEFT_ASAN_UNPOISON(s.lo, s.size);
    return s;
}

void stack_release_all() {
    std::lock_guard<std::mutex> l(g_mu);
    for (const Mapping& m : g_maps) {
        // ASan: a fiber's frames leave poison in the shadow, and whatever is
        // mapped at this address next (the GC heap's tables, a test's own
        // mapping) would inherit it.
        WEFT_ASAN_UNPOISON(m.base, m.len);
        munmap(m.base, m.len);
    }
    g_maps.clear();
    g_maps.shrink_to_fit();
    g_chunk = nullptr;
    g_chunk_left = 0;
}

StackStats stack_stats() {
    std::lock_guard<std::mutex> l(g_mu);
    return {g_guarded, g_canary, g_size};
}

}  // namespace weft::sched
