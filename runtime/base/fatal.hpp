// fatal.hpp — unrecoverable runtime errors (Go's throw).
//
// fatal() is for broken invariants and conditions the program cannot survive
// (deadlock, stack overflow, a runtime bug). It never allocates: the message
// is formatted into a stack buffer and written to stderr with write(2), so it
// is safe with locks held, on g0, and from a signal handler (fatal_signal).
// User mistakes are not fatal: they are exceptions with a precise message.
//
// The scheduler registers a dump hook (every fiber, its state and creation
// site) that fatal runs once before the process exits with status 2.
#pragma once

namespace weft::base {

// Prints "fatal error: <message>\n", runs the dump hook once, flushes stdio
// and exits the process with status 2. Callable from any thread or fiber.
[[noreturn]] void fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// As fatal(), for signal handlers: does not touch stdio.
[[noreturn]] void fatal_signal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Writes formatted text to stderr without allocating. For dumps.
void print_err(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// The hook runs at most once per process, after the message, before exit.
// from_signal: fatal_signal called it, from a signal handler.
using DumpHook = void (*)(bool from_signal);
void set_fatal_dump_hook(DumpHook hook);

}  // namespace weft::base
