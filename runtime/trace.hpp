// trace.hpp — the execution trace and the flight recorder (as Go's
// runtime/trace). docs/TRACE.md has the whole story.
//
//   weft::trace::start("server.wtrace");      // or WEFT_TRACE=server.wtrace
//   { weft::trace::Region r("handle request"); ... }
//   weft::trace::log("cache", "miss for key 42");
//   weft::trace::stop();
//
//   $ weft-trace html server.wtrace -o server.html   # one self-contained page
//   $ weft-trace json server.wtrace -o server.json   # for ui.perfetto.dev
//   $ weft-trace summary server.wtrace
//
// Recorded: every fiber's creation (where, by whom), runs (on which P and
// thread), stops (blocked and why, yielded, preempted, ended), wake-ups (by
// which fiber, timer or the network poller), system calls, P hand-offs,
// threads spinning and idling, steals, the collector's phases, pauses,
// assists and background work, the heap and its goal, and these
// annotations. One trace session at a time per process: a file (start/stop
// or WEFT_TRACE) or a flight recorder.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace weft::trace {

// Starts writing the trace of this run to `path`, from a fiber (it stops
// the world for a moment, to record which fibers exist). The file is
// complete once stop() returns, or once the run ends. Throws
// std::logic_error when a trace or flight recorder is already recording,
// or when called outside a fiber of a running weft::run;
// std::system_error when the file cannot be created.
void start(const std::string& path);
// Ends the trace and closes its file. Throws std::logic_error when no
// trace is recording (a flight recorder is ended by its own stop()),
// std::runtime_error when writing the file failed (disk full...): the
// file is then incomplete.
void stop();
// True while a trace or a flight recorder records.
bool enabled();

// A span of the calling fiber's time, from construction to destruction
// (it follows the fiber from thread to thread). Nested regions nest.
// Costs a call and a branch while nothing records. Names longer than
// 4 KiB are cut.
class Region {
public:
    explicit Region(std::string_view name);
    ~Region();
    Region(const Region&) = delete;
    Region& operator=(const Region&) = delete;

private:
    uint64_t fiber_ = 0;
    bool recorded_ = false;
};

// A message in the trace, on the calling fiber's timeline. Category and
// message are cut at 4 KiB each.
void log(std::string_view category, std::string_view message);

struct FlightRecorderOptions {
    // Keep at most about this many bytes of events (in 64 KiB buffers;
    // the buffers being filled come on top).
    size_t max_bytes = 16u << 20;
    // Forget events older than this.
    std::chrono::milliseconds max_age{10'000};
    // If not empty: a fatal error (a crash, a deadlock, weft's own fatal
    // errors) writes the recorder's events here, before the dump.
    std::string fatal_path;
};

// Keeps the last events of the run in memory, so that when something
// goes wrong the moments before it can be written out (as Go 1.25's
// FlightRecorder). Recording costs what tracing to a file costs, without
// the file.
class FlightRecorder {
public:
    explicit FlightRecorder(FlightRecorderOptions opts = {});
    ~FlightRecorder();  // stops recording if it still does
    FlightRecorder(const FlightRecorder&) = delete;
    FlightRecorder& operator=(const FlightRecorder&) = delete;

    // From a fiber of a running weft::run. Throws std::logic_error when a
    // trace or another recorder records, std::invalid_argument for options
    // out of range (max_bytes under 64 KiB, max_age not positive).
    void start();
    // Stops recording and forgets the events. Throws std::logic_error if
    // this recorder is not recording (never started, stopped, or its run
    // ended).
    void stop();
    // Recording now? (False after the run that it recorded ended.)
    bool enabled() const;
    // Writes the events kept so far to `path` (a trace file as start()
    // makes), from a fiber; recording goes on. Returns the bytes written.
    // Throws std::logic_error when not recording, std::system_error when
    // the file cannot be written.
    size_t write_to(const std::string& path);

private:
    FlightRecorderOptions opts_;
    uint64_t session_ = 0;  // the recording session this recorder started; 0: none
};

}  // namespace weft::trace
