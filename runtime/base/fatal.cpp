// fatal.cpp — see fatal.hpp. Owns the dump hook and the once-only latch.
#include "runtime/base/fatal.hpp"

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <unistd.h>

namespace weft::base {
namespace {

std::atomic<DumpHook> g_dump_hook{nullptr};
// Set by the first thread to fail; a second failure (for instance inside the
// dump) prints its message and exits without dumping again.
std::atomic<bool> g_dying{false};

void write_all(const char* buf, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(2, buf, n);
        if (w <= 0) return;
        buf += w;
        n -= static_cast<size_t>(w);
    }
}

void vprint(const char* prefix, const char* fmt, va_list ap) {
    char buf[1024];
    int off = 0;
    if (prefix) off = snprintf(buf, sizeof buf, "%s", prefix);
    int n = vsnprintf(buf + off, sizeof buf - static_cast<size_t>(off) - 1, fmt, ap);
    if (n < 0) n = 0;
    size_t len = static_cast<size_t>(off) + static_cast<size_t>(n);
    if (len > sizeof buf - 2) len = sizeof buf - 2;
    buf[len++] = '\n';
    write_all(buf, len);
}

[[noreturn]] void die(bool from_signal) {
    if (!g_dying.exchange(true)) {
        if (DumpHook hook = g_dump_hook.load()) hook(from_signal);
    }
    if (!from_signal) fflush(stdout);
    _exit(2);
}

}  // namespace

void fatal(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprint("fatal error: ", fmt, ap);
    va_end(ap);
    die(false);
}

void fatal_signal(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprint("fatal error: ", fmt, ap);
    va_end(ap);
    die(true);
}

void print_err(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char buf[1024];
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0) write_all(buf, static_cast<size_t>(n) < sizeof buf ? static_cast<size_t>(n) : sizeof buf - 1);
}

void set_fatal_dump_hook(DumpHook hook) { g_dump_hook.store(hook); }

}  // namespace weft::base
