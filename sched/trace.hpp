// trace.hpp — the execution tracer's recorder (docs/TRACE.md).
//
// Event sites call the inline functions below: one relaxed load and a
// predictable branch while no session records; while one does, an
// out-of-line writer appends a few words to the calling thread's own
// buffer (trace.cpp T1-T4). The file format is runtime/base/trace_format.hpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/base/trace_format.hpp"

namespace weft::sched {
struct G;
struct M;
}  // namespace weft::sched

namespace weft::sched::trace {

using base::tracefmt::Ev;
using base::tracefmt::StopWhy;
using base::tracefmt::WakeSource;

// True while a session records. Relaxed: a site that reads a stale value
// records one event more or fewer around a start or stop. Hidden: read
// straight, not through the GOT (one load per site, not two).
extern __attribute__((visibility("hidden"))) std::atomic<bool> g_on;
inline bool on() { return g_on.load(std::memory_order_relaxed); }

// The writers (trace.cpp): the first word is the type and the time.
// Cold: the compiler moves each site's call, and the arguments it
// computes, out of the hot path (off, a site is a load and a branch in
// line, not a block of argument code).
#define WEFT_TRACE_WRITER __attribute__((cold, noinline))
WEFT_TRACE_WRITER void ev0(Ev e);
WEFT_TRACE_WRITER void ev1(Ev e, uint64_t a);
WEFT_TRACE_WRITER void ev2(Ev e, uint64_t a, uint64_t b);
WEFT_TRACE_WRITER void ev4(Ev e, uint64_t a, uint64_t b, uint64_t c, uint64_t d);
// kRegion, kLog: two fixed words, then `bytes` (NUL-padded to a word).
WEFT_TRACE_WRITER void ev_bytes(Ev e, uint64_t a, uint64_t b, std::string_view bytes);
WEFT_TRACE_WRITER void go_create_event(const G* g, uint64_t parent);
#undef WEFT_TRACE_WRITER

// -- sites
inline void go_create(const G* g, uint64_t parent) {
    if (on()) [[unlikely]] go_create_event(g, parent);
}
inline void go_start(uint64_t goid, int32_t p) {
    if (on()) [[unlikely]] ev1(Ev::kGoStart, goid | static_cast<uint64_t>(p) << 48);
}
inline void go_stop(uint64_t goid, StopWhy why) {
    if (on()) [[unlikely]] ev1(Ev::kGoStop, goid | static_cast<uint64_t>(why) << 56);
}
inline void go_block(uint64_t goid, uint8_t reason) {
    if (on()) [[unlikely]] ev1(Ev::kGoBlock, goid | static_cast<uint64_t>(reason) << 56);
}
inline void go_unblock(uint64_t goid, WakeSource src) {
    if (on()) [[unlikely]] ev1(Ev::kGoUnblock, goid | static_cast<uint64_t>(src) << 56);
}
inline void go_end(uint64_t goid) {
    if (on()) [[unlikely]] ev1(Ev::kGoEnd, goid);
}
inline void go_syscall(uint64_t goid) {
    if (on()) [[unlikely]] ev1(Ev::kGoSyscall, goid);
}
inline void go_syscall_end(uint64_t goid, int32_t p) {
    if (on()) [[unlikely]] ev1(Ev::kGoSyscallEnd, goid | static_cast<uint64_t>(p) << 48);
}
inline void go_syscall_blocked(uint64_t goid) {
    if (on()) [[unlikely]] ev1(Ev::kGoSyscallBlocked, goid);
}
inline void proc_start(int32_t p) {
    if (on()) [[unlikely]] ev1(Ev::kProcStart, static_cast<uint64_t>(p));
}
inline void proc_stop(int32_t p) {
    if (on()) [[unlikely]] ev1(Ev::kProcStop, static_cast<uint64_t>(p));
}
inline void proc_handoff(int32_t p) {
    if (on()) [[unlikely]] ev1(Ev::kProcHandoff, static_cast<uint64_t>(p));
}
inline void m_spin(bool start) {
    if (on()) [[unlikely]] ev1(Ev::kMSpin, start ? 1 : 0);
}
inline void m_park(bool park) {
    if (on()) [[unlikely]] ev1(Ev::kMPark, park ? 1 : 0);
}
inline void steal(int32_t victim, uint32_t n) {
    if (on()) [[unlikely]] ev1(Ev::kSteal, static_cast<uint64_t>(victim) | static_cast<uint64_t>(n) << 32);
}
inline void netpolled(int32_t n) {
    if (on()) [[unlikely]] ev1(Ev::kNetpoll, static_cast<uint64_t>(n));
}
inline void timers_fired(int n) {
    if (on()) [[unlikely]] ev1(Ev::kTimers, static_cast<uint64_t>(n));
}
// reason: a string with static storage (its address is the key).
inline void stw_begin(const char* reason) {
    if (on()) [[unlikely]] ev1(Ev::kSTWBegin, reinterpret_cast<uint64_t>(reason));
}
inline void stw_end() {
    if (on()) [[unlikely]] ev0(Ev::kSTWEnd);
}
// name: the phase's, with static storage.
inline void gc_phase(const char* name) {
    if (on()) [[unlikely]] ev1(Ev::kGCPhase, reinterpret_cast<uint64_t>(name));
}
inline void gc_assist(uint64_t goid, bool begin) {
    if (on()) [[unlikely]] ev1(Ev::kGCAssist, goid | static_cast<uint64_t>(begin) << 56);
}
inline void gc_work(bool begin) {
    if (on()) [[unlikely]] ev1(Ev::kGCWork, begin ? 1 : 0);
}
inline void gc_sweep(bool begin) {
    if (on()) [[unlikely]] ev1(Ev::kGCSweep, begin ? 1 : 0);
}
inline void heap(uint64_t live, uint64_t goal) {
    if (on()) [[unlikely]] ev2(Ev::kHeap, live, goal);
}

// -- sessions (one at a time, per process)
struct SessionOptions {
    std::string path;  // write the trace here as it is recorded; empty: none
    // A flight recorder: keep the last events in memory (at most this many
    // bytes of buffers, none older than max_age_ns), written on request.
    bool flight = false;
    uint64_t flight_max_bytes = 0;
    int64_t flight_max_age_ns = 0;
    std::string fatal_path;  // flight: where a fatal error writes them; empty: nowhere
};

// Starts a session, from a fiber of a running runtime (the world is
// stopped for a moment to record every fiber's state) or from run_main
// before its first fiber runs; returns its id (never 0, never reused).
// Throws std::logic_error when a session records already or no runtime
// runs, std::system_error when the file cannot be created.
uint64_t start(const SessionOptions& opts);
// Ends session `id`: a file gets the last events and is closed. Throws
// std::logic_error(not_recording) when that session is not the one
// recording, std::runtime_error when writing failed at any time during
// the session (the file is incomplete).
void stop(uint64_t id, const char* not_recording);
// Any session recording?
bool active();
// The recording session's id if it is a flight recorder (flight) or a
// file trace (!flight), else 0.
uint64_t current(bool flight);
// Flight recorder `id`'s events so far, to `path`; returns the bytes
// written. From a fiber; throws std::logic_error when `id` is not
// recording, std::system_error when the file cannot be written.
size_t flight_write(uint64_t id, const std::string& path);

// -- the runtime's life
// run_main: WEFT_TRACE=path starts a file session for the run (the Nth
// run of a process writes path.N, N from 2).
void run_begin();
// run_main, once every M has exited: ends whatever session records.
void run_end();
// An M's, or sysmon's, thread is about to end: its buffer goes to the
// session.
void thread_exit();
// sysmon's thread names itself so its events are told apart from Ms'.
void set_sysmon_thread();
// The fatal dump: a flight recorder with a fatal_path writes its events
// there, without allocating (it may run in a signal handler's wake).
void at_fatal();

// The wake source the next unblocks on this M have (timers.cpp sets
// kTimer around timer callbacks).
WakeSource wake_source(const M* m);

}  // namespace weft::sched::trace
