// reader.hpp — reads a weft execution trace (runtime/base/trace_format.hpp)
// into events in time order, for weft-trace and the tests.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/base/trace_format.hpp"

namespace weft_trace {

using weft::base::tracefmt::Ev;

struct Event {
    int64_t ns = 0;      // since the session began
    int64_t thread = 0;  // the writing thread: an M's id, or a ThreadKind
    Ev type = Ev::kNone;
    uint64_t a[4] = {};  // the type's words (trace_format.hpp)
    std::string text;    // kRegion: the name; kLog: the category
    std::string text2;   // kLog: the message
    uint32_t seq = 0;    // position in its thread's batches (ties)
};

struct Trace {
    std::vector<Event> events;  // by time; a thread's events in their order
    std::unordered_map<uint64_t, std::string> strings;
    int64_t procs = 0;
    int64_t pid = 0;
    uint64_t flags = 0;   // InfoFlags
    uint64_t lost = 0;    // events dropped while recording
    bool fatal = false;   // written by a fatal error's dump
    int64_t fatal_ns = 0;
    // A flight recorder's window: it forgot events up to here, so the
    // reader drops the ones it kept from before (every event after is in).
    int64_t window_start_ns = 0;
    uint64_t dropped_before_window = 0;
    std::string program;
    int64_t end_ns = 0;   // when the file's contents were taken
    double ticks_per_ns = 1;

    std::vector<std::string> reasons, statuses;  // the file's kNames tables

    // The string an event names (a file, a function, a reason), or "?".
    const std::string& str(uint64_t key) const;
    // A wait reason's (kGoBlock) or a fiber status's (kGoStatus) name.
    std::string reason(uint64_t r) const;
    std::string status(uint64_t s) const;
};

// Reads the file; throws std::runtime_error naming the file and what is
// wrong with it (not a trace, truncated, an unknown event type).
Trace read_trace(const std::string& path);
// The same, from the bytes of a file.
Trace parse_trace(const std::string& bytes, const std::string& name);

// An event type's name, for reports.
const char* event_name(Ev e);

}  // namespace weft_trace
