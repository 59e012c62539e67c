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

struct Mapping {
    void* base;
    size_t len;
};

// Only the accounting is under this mutex (outside the runtime's rank
// table: nothing is taken inside it); the mmap and mprotect calls of a
// batch run outside it, so two Ms making stacks at once do not queue
// behind each other's system calls.
std::mutex g_mu;
std::vector<Mapping> g_maps;
size_t g_size = kDefaultStackSize;
StackGuardMode g_mode = StackGuardMode::kAuto;
int64_t g_guard_budget = 0;
int64_t g_guarded = 0, g_canary = 0;

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
        base::fatal("out of memory allocating fiber stacks (%zu bytes): errno %d", len, errno);
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
}

int stack_alloc_batch(Stack* out, int n) {
    WEFT_CHECK(n >= 1, "stack_alloc_batch: asked for no stack");
    // Decide the kind and take the stacks out of the budget first, under
    // the mutex; map them after, outside it.
    bool guard;
    int k = n;
    size_t size;
    {
        std::lock_guard<std::mutex> l(g_mu);
        size = g_size;
        int64_t left = g_guard_budget - g_guarded;
        if (g_mode == StackGuardMode::kAlways && left <= 0)
            base::fatal("WEFT_STACK_GUARD=always: %lld guarded stacks reach the vm.max_map_count budget; "
                        "raise vm.max_map_count or use WEFT_STACK_GUARD=auto",
                        static_cast<long long>(g_guarded));
        guard = g_mode != StackGuardMode::kNever && left > 0;
        if (guard) {
            if (k > left) k = static_cast<int>(left);
            g_guarded += k;
        } else {
            g_canary += k;
        }
    }
    // One mapping for the batch. Guarded: k slots of a guard page and a
    // stack above it (the guard splits the mapping: two VMAs per stack, as
    // when each stack had its own mapping). Canary: k stacks back to back;
    // each one's canary is the zero bottom of fresh memory (stack.hpp).
    size_t slot = guard ? size + kPage : size;
    char* base = static_cast<char*>(map(slot * static_cast<size_t>(k)));
    for (int i = 0; i < k; i++) {
        char* s = base + slot * static_cast<size_t>(i);
        if (guard && mprotect(s, kPage, PROT_NONE) != 0)
            base::fatal("mprotect of a stack guard page failed: errno %d", errno);
        out[i] = Stack{guard ? s + kPage : s, size, guard};
    }
    // A mapping at an address an earlier run used may still carry ASan
    // poison from fibers that were abandoned mid-call.
    WEFT_ASAN_UNPOISON(base, slot * static_cast<size_t>(k));
    // Each stack's top page is written now, in a row, by the thread that
    // made the batch, rather than by each fiber's first switch (where
    // make_fcontext writes the initial context). The faults are as many;
    // taken here, after this thread's own mprotects, they ran faster than
    // when spread over first runs on every P, where perf of W2 showed them
    // waiting on the memory-map lock behind other Ms' mprotects. The cost
    // is the top page of stacks that wait in a cache unused.
    for (int i = 0; i < k; i++)
        *reinterpret_cast<volatile uintptr_t*>(static_cast<char*>(out[i].lo) + size - sizeof(uintptr_t)) = 0;
    std::lock_guard<std::mutex> l(g_mu);
    g_maps.push_back({base, slot * static_cast<size_t>(k)});
    return k;
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
}

StackStats stack_stats() {
    std::lock_guard<std::mutex> l(g_mu);
    return {g_guarded, g_canary, g_size};
}

}  // namespace weft::sched
