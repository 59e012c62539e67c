// gdb_target.cpp — the program tests/gdb/gdb_test.cpp runs under gdb: a
// fiber parked three calls deep on a channel, a fiber in a blocking call,
// and the main fiber calling weft_gdb_target_ready() (gdb's breakpoint)
// once both are in place. With the argument "wait" it then lets any
// process attach (Yama's ptrace_scope 1 would allow only its ancestors),
// prints "ready" and waits to be killed: for gdb -p.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <sys/prctl.h>
#include <unistd.h>

#include <weft/weft.hpp>

extern "C" __attribute__((noinline, used)) void weft_gdb_target_ready() { asm volatile(""); }

namespace gdb_target {

// The fibers' ids, for `weft-bt gdb_target::parked_id`: which ids the
// fibers get depends on the Ps they are started on (ids come in per-P
// batches), so they differ between runs. Written once by each fiber
// before the ready point; only gdb reads them.
volatile uint64_t parked_id = 0, calling_id = 0;

__attribute__((noinline)) void parked_here(weft::Chan<int>& c) {
    c.recv();
    asm volatile("");
}
__attribute__((noinline)) void middle(weft::Chan<int>& c) {
    parked_here(c);
    asm volatile("");
}
__attribute__((noinline)) void outer(weft::Chan<int>& c) {
    middle(c);
    asm volatile("");
}

std::atomic<bool> g_in_call{false};

__attribute__((noinline)) void in_a_blocking_call() {
    weft::blocking([] {
        g_in_call = true;
        for (;;) pause();
    });
}

}  // namespace gdb_target

int main(int argc, char** argv) {
    bool wait = argc > 1 && std::strcmp(argv[1], "wait") == 0;
    return weft::run(weft::Options{.procs = 2}, [wait] {
        weft::Chan<int> never;
        weft::go([&] {
            gdb_target::parked_id = weft::fiber_id();
            gdb_target::outer(never);
        });
        weft::go([] {
            gdb_target::calling_id = weft::fiber_id();
            gdb_target::in_a_blocking_call();
        });
        while (weft::metrics().waiting("chan receive") != 1 || !gdb_target::g_in_call.load()) weft::yield();
        weft_gdb_target_ready();
        if (wait) {
            prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
            std::printf("ready\n");
            std::fflush(stdout);
            weft::blocking([] {
                for (;;) pause();
            });
        }
        _exit(0);  // gdb kills it first
        return 0;
    });
}
