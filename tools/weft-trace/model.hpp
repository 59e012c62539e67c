// model.hpp — what a trace says, worked out: each fiber's runs, waits and
// wake-ups, each thread's calls and idle time, the collector's phases and
// pauses, as slices on tracks (the shape of Chrome's trace format), and
// the figures weft-trace's summary prints.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tools/weft-trace/reader.hpp"

namespace weft_trace {

// Tracks are (process, thread) pairs, as in Chrome's format.
enum Process : int { kProcPs = 1, kProcThreads = 2, kProcCollector = 3, kProcFibers = 4 };
inline constexpr int64_t kTidPhases = 1, kTidPauses = 2;

struct Slice {
    int process = 0;
    int64_t tid = 0;
    int64_t start = 0, end = 0;  // ns
    std::string name, cat;
    std::vector<std::pair<std::string, std::string>> args;
};

struct Instant {
    int process = 0;
    int64_t tid = 0;
    int64_t ns = 0;
    std::string name, cat;
    std::vector<std::pair<std::string, std::string>> args;
};

struct Flow {  // from a waker's run to the woken fiber's next run
    int from_process = 0, to_process = 0;
    int64_t from_tid = 0, to_tid = 0;
    int64_t from_ns = 0, to_ns = 0;
};

struct CounterPoint {
    std::string name;
    int64_t ns = 0;
    std::vector<std::pair<std::string, double>> values;
};

struct FiberStats {
    uint64_t id = 0;
    std::string site;      // "file:line", or "" if created before the window
    std::string function;
    uint64_t parent = 0;
    bool system = false;
    int64_t running_ns = 0, runnable_ns = 0, syscall_ns = 0;
    std::map<std::string, int64_t> blocked_ns;  // by wait reason
    uint64_t runs = 0;
    // Where it is as the events are read.
    enum class State { kUnknown, kRunnable, kRunning, kBlocked, kSyscall, kDead } state = State::kUnknown;
    int64_t since = 0;
    std::string reason;        // kBlocked: why
    int64_t run_start = 0;     // kRunning/kSyscall: this run's start
    int64_t run_p = -1, run_thread = 0;
    std::string woken_by;      // for the next run's args
    bool has_flow = false;     // a flow waits for the next run
    Flow pending;
    std::vector<std::pair<std::string, int64_t>> regions;  // open: name, start
    std::string label() const;  // "fiber 12 main.cpp:40"
};

struct Pause {
    int64_t start = 0, end = 0;
    std::string reason;
    std::vector<std::string> running_before;  // what ran on each P as it began
};

struct Model {
    std::map<uint64_t, FiberStats> fibers;
    std::vector<Slice> slices;
    std::vector<Instant> instants;
    std::vector<Flow> flows;
    std::vector<CounterPoint> counters;
    std::vector<Pause> pauses;
    std::vector<int64_t> sched_latency_ns;  // runnable -> running, each wake-up
    std::map<int64_t, std::string> p_names, thread_names;  // by track id
    std::set<uint64_t> fiber_tracks;  // fibers with regions or logs
    std::map<std::string, std::pair<uint64_t, int64_t>> regions;  // name -> count, total ns
    int64_t end_ns = 0;
    uint64_t assists = 0;
    int64_t assist_ns = 0, gc_work_ns = 0, sweep_ns = 0;
    uint64_t gc_cycles = 0;
};

Model build_model(const Trace& t);

// The text summary: per fiber time running, runnable, in calls and blocked
// by reason; the scheduler latency histogram; the longest pauses.
std::string summary_text(const Trace& t, const Model& m, size_t top_fibers = 20);
// Chrome's JSON trace format, as Perfetto's UI opens it.
std::string chrome_json(const Trace& t, const Model& m);
// The self-contained page: the viewer with the JSON and the summary in it.
std::string html_page(const Trace& t, const Model& m);

}  // namespace weft_trace
