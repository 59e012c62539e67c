// cpu_relax.hpp — the CPU's spin-wait hint, for one round of a busy wait
// (x86 pause, arm64 yield; elsewhere only a compiler barrier). It tells the
// core that this thread spins, so a sibling hyperthread gets the pipeline
// and leaving the loop costs no memory-order mis-speculation.
#pragma once

namespace weft::base {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#else
    asm volatile("" ::: "memory");
#endif
}

}  // namespace weft::base
