// trace_format.hpp — the execution trace's file format (docs/TRACE.md).
//
// Shared by the recorder (sched/trace.cpp) and its readers
// (tools/weft-trace): plain data, no code. Everything is little-endian
// 64-bit words, so the recorder writes an event with a few stores and a
// reader needs no varint decoding.
//
// A file is the 16-byte header, then records: a word whose low 32 bits are
// the record kind and high 32 bits the payload's length in words, then the
// payload. Kinds:
//
//   kBatch    word 0: the thread (an M's id, or a ThreadKind below), then
//             events, as one thread wrote them, in order.
//   kString   word 0: the key (the address of a static string the events
//             name: a source file, a function, a stop-the-world reason, a
//             collector phase),
//             then its bytes, NUL-padded to a word.
//   kClock    tick0, ns0, tick1, ns1: two readings of the event clock and
//             of CLOCK_MONOTONIC, at the session's start and at the end
//             of what the file holds; a reader maps ticks to ns linearly.
//             Then the tick every event's time counts from (base).
//   kInfo     procs, pid, flags (InfoFlags), lost events, the tick of a
//             fatal error (0: none), the window's start (a flight
//             recorder: events up to this tick may be missing, those after
//             it are all there; 0: none missing), then the program's
//             name, NUL-padded.
//   kNames    word 0: which table (NameTable) | count << 32, then its
//             names in order, each NUL-terminated (a name may be empty),
//             NUL-padded to a word: the numbers the
//             events carry (a wait reason, a fiber status) differ between
//             builds, so a file names its own.
//
// An event is a first word, (tick - base) << 8 | type, then the words its
// type takes (kEventWords). kRegion and kLog carry bytes after their fixed
// words: their last fixed word gives the byte lengths.
#pragma once

#include <cstdint>

namespace weft::base::tracefmt {

inline constexpr char kMagic[8] = {'w', 'e', 'f', 't', 't', 'r', 'c', '1'};
inline constexpr uint32_t kVersion = 1;

enum class Record : uint32_t { kBatch = 1, kString = 2, kClock = 3, kInfo = 4, kNames = 5 };
enum class NameTable : uint64_t { kWaitReasons = 0, kStatuses = 1 };

// Threads that are not Ms, in kBatch's word 0 (M ids are >= 0).
enum class ThreadKind : int64_t { kSysmon = -1, kOutside = -2 };

enum InfoFlags : uint64_t {
    kFlightRecording = 1,  // the last events before a snapshot, not a whole window
    kAtFatal = 2,          // written by the fatal error's dump
};

enum class Ev : uint8_t {
    kNone = 0,
    // -- fibers. goid is 40 bits: G ids count up from 1 per run.
    kGoCreate,     // goid | line << 40, file, function, parent << 1 | system
    kGoStart,      // goid | p << 48
    kGoStop,       // goid | StopWhy << 56
    kGoBlock,      // goid | wait reason << 56 (sched/g.hpp WaitReason)
    kGoUnblock,    // goid | WakeSource << 56
    kGoEnd,        // goid
    kGoSyscall,    // goid: entered a system call, its P left in kSyscall
    kGoSyscallEnd, // goid | p << 48: back, running on p
    kGoSyscallBlocked,  // goid: back, found no P; runnable on the global queue
    kGoStatus,     // goid | line << 40, file, function, status | reason << 8 | system << 16
                   // (a fiber that existed when the window began)
    // -- Ps and threads
    kProcStart,    // p: this thread took p
    kProcStop,     // p: this thread gave p up
    kProcHandoff,  // p: p taken from a fiber in a system call and handed on
    kMSpin,        // 1: this thread starts looking for work, 0: stops
    kMPark,        // 1: this thread goes idle, 0: woken
    kSteal,        // victim p | fibers << 32
    kNetpoll,      // fibers made ready by one poll
    kTimers,       // timers fired by one run of a timer heap
    // -- the collector
    kSTWBegin,     // reason (a string key)
    kSTWEnd,       //
    kGCPhase,      // the phase's name (a string key): GCoff, GCscan, GCmark, ...
    kGCAssist,     // goid | begin << 56
    kGCWork,       // begin: a slice of background marking on this thread
    kGCSweep,      // begin
    kHeap,         // live bytes, goal bytes
    // -- the program's annotations
    kRegion,       // goid | begin << 56, name length in bytes; then the name
    kLog,          // goid, category length | message length << 32; then both
    kLost,         // events dropped (the buffers' cap) before this point
    kCount
};

enum class StopWhy : uint8_t { kYield = 0, kPreempted = 1 };
// Who made a fiber runnable (kGoUnblock): the fiber running on the thread
// that wrote the event, or one of these, which no fiber runs.
enum class WakeSource : uint8_t { kFiber = 0, kNetpoll = 1, kTimer = 2, kOutside = 3, kScheduler = 4 };

// Words after the first, per type (kRegion and kLog: before their bytes).
inline constexpr uint8_t kEventWords[static_cast<int>(Ev::kCount)] = {
    0,                 // kNone
    4, 1, 1, 1, 1, 1,  // kGoCreate .. kGoEnd
    1, 1, 1, 4,        // kGoSyscall .. kGoStatus
    1, 1, 1, 1, 1, 1, 1, 1,  // kProcStart .. kTimers
    1, 0, 1, 1, 1, 1, 2,     // kSTWBegin .. kHeap
    2, 2, 1,                 // kRegion, kLog, kLost
};
static_assert(kEventWords[static_cast<int>(Ev::kLost)] == 1, "kEventWords: one entry per event type, in order");

inline constexpr uint64_t kGoidMask = (uint64_t{1} << 40) - 1;
inline constexpr uint64_t kGoidPMask = (uint64_t{1} << 48) - 1;

// Byte words a kRegion or kLog event carries after its fixed words.
inline constexpr uint64_t bytes_words(uint64_t nbytes) { return (nbytes + 7) / 8; }

}  // namespace weft::base::tracefmt
