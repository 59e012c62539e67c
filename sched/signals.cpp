// signals.cpp — SIGSEGV/SIGBUS (stack overflow) and SIGQUIT (dump) handling.
//
// Every M gets an alternate signal stack, so a fiber that runs off its
// stack can still be reported: the handler runs on that stack, finds the
// faulting address in the running fiber's guard page (or just below it: a
// frame larger than a page can jump the guard) and reports
// "fiber stack overflow (G n)". Any other fault is handed back to the
// previous handler (the default, or a sanitizer's) by restoring it and
// returning, so the faulting instruction runs again under it.
// SIGQUIT prints every fiber and exits with status 2, as Go does.
#include <csignal>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/base/check.hpp"
#include "sched/backtrace.hpp"
#include "sched/sched.hpp"

namespace weft::sched {
namespace {

constexpr uintptr_t kOverflowSlack = 256 * 1024;  // how far below lo still counts

struct sigaction g_old_segv, g_old_bus, g_old_quit;
bool g_installed = false;

void on_fault(int sig, siginfo_t* info, void* uc) {
    M* m = getm();
    G* g = m ? m->curg.load(std::memory_order_relaxed) : nullptr;
    if (g && g->stack.lo) {
        auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
        auto lo = reinterpret_cast<uintptr_t>(g->stack.lo);
        if (g->stack.in_guard(info->si_addr) || (addr < lo && addr + kOverflowSlack >= lo)) {
            note_fatal_signal_context(uc);
            base::fatal_signal("fiber stack overflow (G %llu)", static_cast<unsigned long long>(g->id));
        }
    }
    // Not ours: re-fault under the previous handler.
    sigaction(sig, sig == SIGSEGV ? &g_old_segv : &g_old_bus, nullptr);
}

void on_quit(int, siginfo_t*, void* uc) {
    note_fatal_signal_context(uc);
    base::print_err("SIGQUIT: quit\n");
    base::fatal_signal("SIGQUIT received (fiber dump follows)");
}

}  // namespace

void signals_install() {
    base::set_fatal_dump_hook(dump_all_fibers);
    backtrace_install();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_old_segv);
    sigaction(SIGBUS, &sa, &g_old_bus);
    sa.sa_sigaction = on_quit;
    sigaction(SIGQUIT, &sa, &g_old_quit);
    g_installed = true;
}

void signals_restore() {
    if (!g_installed) return;
    sigaction(SIGSEGV, &g_old_segv, nullptr);
    sigaction(SIGBUS, &g_old_bus, nullptr);
    sigaction(SIGQUIT, &g_old_quit, nullptr);
    backtrace_restore();
    g_installed = false;
}

void signals_init_thread(M* m) {
    void* p = mmap(nullptr, kAltStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) base::fatal("cannot allocate a signal stack for M %lld", static_cast<long long>(m->id));
    stack_t ss{};
    ss.ss_sp = p;
    ss.ss_size = kAltStackSize;
    ss.ss_flags = 0;
    if (sigaltstack(&ss, nullptr) != 0) base::fatal("sigaltstack failed for M %lld", static_cast<long long>(m->id));
    m->signal_stack = p;
    m->tid = static_cast<int>(gettid());
}

void signals_fini_thread(M* m) {
    if (!m->signal_stack) return;
    stack_t ss{};
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, nullptr);
    munmap(m->signal_stack, kAltStackSize);
    m->signal_stack = nullptr;
}

}  // namespace weft::sched
