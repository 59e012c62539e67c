// dump.cpp — the fiber dump printed on fatal errors and SIGQUIT.
//
// Runs in a dying process, possibly in a signal handler with runtime locks
// held: it takes no lock and allocates nothing. It walks the lock-free list
// of every G (for_each_g); fields may be mid-update, which at worst prints
// a stale state.
#include <weft/clock.hpp>
#include "runtime/base/fatal.hpp"
#include "sched/sched.hpp"

namespace weft::sched {
namespace {

const char* short_file(const char* f) {
    const char* last = f;
    for (const char* p = f; *p; p++)
        if (*p == '/') last = p + 1;
    return last;
}

// no_sanitize("thread"): the racy reads above are the design (a dying
// process cannot take locks it may already hold), not a bug to report.
__attribute__((no_sanitize("thread"))) void dump_one(G* g, void* now_p) {
    int64_t now = *static_cast<int64_t*>(now_p);
    GStatus st = g->status.load(std::memory_order_relaxed);
    if (st == GStatus::kDead || st == GStatus::kIdle) return;
    auto id = static_cast<unsigned long long>(g->id);
    if (st == GStatus::kWaiting) {
        long long ms = g->wait_since ? static_cast<long long>((now - g->wait_since) / 1'000'000) : 0;
        base::print_err("fiber %llu [%s, %lld ms]:\n", id, wait_reason_name(g->wait_reason), ms);
    } else {
        base::print_err("fiber %llu [%s]:\n", id, status_name(st));
    }
    if (g->parent_id)
        base::print_err("\tcreated by fiber %llu at %s:%u (%s)\n", static_cast<unsigned long long>(g->parent_id),
                        short_file(g->created_at.file), g->created_at.line, g->created_at.function);
    else
        base::print_err("\tmain fiber, started by weft::run\n");
}

}  // namespace

void dump_all_fibers() {
    int64_t now = base::nanotime_coarse();  // wait_since uses the coarse clock
    base::print_err("\n");
    for_each_g(dump_one, &now);
}

}  // namespace weft::sched
