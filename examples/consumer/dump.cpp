// dump.cpp — what a production build shows on SIGQUIT. scripts/consumer.sh
// builds it against the installed (release) weft with -O2 and no frame
// pointers, runs it, and checks that the parked fiber's stack names
// level1 to level3 in order and the stalled fiber's names spin_here.
#include <atomic>
#include <chrono>
#include <csignal>

#include <weft/weft.hpp>

std::atomic<bool> g_spinning{false};

__attribute__((noinline)) void level3(weft::Chan<int>& c) {
    c.recv();
    asm volatile("");
}
__attribute__((noinline)) void level2(weft::Chan<int>& c) {
    level3(c);
    asm volatile("");
}
__attribute__((noinline)) void level1(weft::Chan<int>& c) {
    level2(c);
    asm volatile("");
}

// Never reaches a safe point; the process ends on SIGQUIT.
__attribute__((noinline)) void spin_here() {
    g_spinning = true;
    for (;;) asm volatile("" ::: "memory");
}

int main() {
    return weft::run(weft::Options{.procs = 2}, [] {
        weft::Chan<int> c;
        weft::go([&] { level1(c); });
        weft::go([] { spin_here(); });
        while (!g_spinning.load()) weft::yield();
        weft::sleep(std::chrono::milliseconds(20));  // level1's fiber parks meanwhile
        raise(SIGQUIT);
        return 0;
    });
}
