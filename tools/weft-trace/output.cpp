// output.cpp — the summary, Chrome's JSON format and the page (model.hpp).
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <string>

#include "tools/weft-trace/model.hpp"
#include "viewer_html.hpp"

namespace weft_trace {

namespace tf = weft::base::tracefmt;

namespace {

std::string dur(int64_t ns) {
    char b[64];
    double v = static_cast<double>(ns);
    if (ns < 1000) std::snprintf(b, sizeof b, "%" PRId64 " ns", ns);
    else if (ns < 1'000'000) std::snprintf(b, sizeof b, "%.1f us", v / 1e3);
    else if (ns < 1'000'000'000) std::snprintf(b, sizeof b, "%.2f ms", v / 1e6);
    else std::snprintf(b, sizeof b, "%.3f s", v / 1e9);
    return b;
}

std::string at(int64_t ns) {
    char b[64];
    std::snprintf(b, sizeof b, "%.6f s", static_cast<double>(ns) / 1e9);
    return b;
}

void appendf(std::string& out, const char* f, auto... a) {
    char b[1024];
    int n = std::snprintf(b, sizeof b, f, a...);
    if (n > 0) out.append(b, std::min<size_t>(static_cast<size_t>(n), sizeof b - 1));
}

std::string pad(std::string s, size_t w) {
    if (s.size() > w) return s.substr(0, w - 3) + "...";
    s.resize(w, ' ');
    return s;
}

}  // namespace

std::string summary_text(const Trace& t, const Model& m, size_t top_fibers) {
    std::string out;
    appendf(out, "weft trace of %s (pid %" PRId64 ", %" PRId64 " Ps): %s, %zu events, %zu fibers\n",
            t.program.empty() ? "?" : t.program.c_str(), t.pid, t.procs, dur(m.end_ns).c_str(), t.events.size(),
            m.fibers.size());
    if (t.flags & tf::kFlightRecording) out += "a flight recorder's last events";
    if (t.fatal) appendf(out, ", written by a fatal error at %s", at(t.fatal_ns).c_str());
    if (t.flags & tf::kFlightRecording) out += "\n";
    if (t.lost) appendf(out, "%" PRIu64 " events were lost (the recorder's buffers were full)\n", t.lost);

    // Fibers, the busiest first.
    std::vector<const FiberStats*> fs;
    for (auto& [id, f] : m.fibers) fs.push_back(&f);
    std::stable_sort(fs.begin(), fs.end(), [](const FiberStats* a, const FiberStats* b) {
        return a->running_ns > b->running_ns;
    });
    appendf(out, "\nFibers by time running (%zu of %zu):\n", std::min(top_fibers, fs.size()), fs.size());
    appendf(out, "  %-34s %6s %10s %10s %10s  %s\n", "fiber", "runs", "running", "runnable", "in calls", "blocked, by reason");
    for (size_t i = 0; i < fs.size() && i < top_fibers; i++) {
        const FiberStats& f = *fs[i];
        std::string blocked;
        std::vector<std::pair<int64_t, std::string>> rs;
        for (auto& [r, ns] : f.blocked_ns) rs.push_back({ns, r});
        std::sort(rs.rbegin(), rs.rend());
        for (auto& [ns, r] : rs) blocked += (blocked.empty() ? "" : ", ") + r + " " + dur(ns);
        if (blocked.empty()) blocked = "-";
        appendf(out, "  %s %6" PRIu64 " %10s %10s %10s  %s\n", pad(f.label(), 34).c_str(), f.runs, dur(f.running_ns).c_str(),
                dur(f.runnable_ns).c_str(), dur(f.syscall_ns).c_str(), blocked.c_str());
    }
    if (fs.size() > top_fibers) {
        int64_t run = 0, runnable = 0, calls = 0;
        for (size_t i = top_fibers; i < fs.size(); i++) {
            run += fs[i]->running_ns;
            runnable += fs[i]->runnable_ns;
            calls += fs[i]->syscall_ns;
        }
        appendf(out, "  %s %6s %10s %10s %10s\n", pad("... " + std::to_string(fs.size() - top_fibers) + " more", 34).c_str(),
                "", dur(run).c_str(), dur(runnable).c_str(), dur(calls).c_str());
    }

    // Scheduler latency.
    std::vector<int64_t> lat = m.sched_latency_ns;
    std::sort(lat.begin(), lat.end());
    appendf(out, "\nScheduler latency (runnable to running), %zu wake-ups:\n", lat.size());
    if (!lat.empty()) {
        static const int64_t kBounds[] = {1'000, 10'000, 100'000, 1'000'000, 10'000'000, 100'000'000};
        static const char* kNames[] = {"< 1 us", "1-10 us", "10-100 us", "0.1-1 ms", "1-10 ms", "10-100 ms", ">= 100 ms"};
        size_t counts[7] = {};
        for (int64_t v : lat) {
            int b = 0;
            while (b < 6 && v >= kBounds[b]) b++;
            counts[b]++;
        }
        size_t most = *std::max_element(counts, counts + 7);
        for (int b = 0; b < 7; b++) {
            int bar = most ? static_cast<int>(40.0 * static_cast<double>(counts[b]) / static_cast<double>(most) + 0.5) : 0;
            appendf(out, "  %-10s %10zu  %s\n", kNames[b], counts[b], std::string(static_cast<size_t>(bar), '#').c_str());
        }
        auto pct = [&](double q) { return lat[std::min(lat.size() - 1, static_cast<size_t>(q * static_cast<double>(lat.size())))]; };
        appendf(out, "  p50 %s, p90 %s, p99 %s, max %s\n", dur(pct(0.5)).c_str(), dur(pct(0.9)).c_str(), dur(pct(0.99)).c_str(),
                dur(lat.back()).c_str());
    }

    // Pauses.
    std::vector<Pause> ps = m.pauses;
    std::stable_sort(ps.begin(), ps.end(), [](const Pause& a, const Pause& b) { return a.end - a.start > b.end - b.start; });
    int64_t total = 0;
    for (auto& p : ps) total += p.end - p.start;
    appendf(out, "\nStops of the world: %zu, %s in all; collector: %" PRIu64 " cycles, marking %s, sweeping %s, %" PRIu64
                 " assists %s\n",
            ps.size(), dur(total).c_str(), m.gc_cycles, dur(m.gc_work_ns).c_str(), dur(m.sweep_ns).c_str(), m.assists,
            dur(m.assist_ns).c_str());
    for (size_t i = 0; i < ps.size() && i < 5; i++) {
        std::string before;
        for (auto& s : ps[i].running_before) before += (before.empty() ? "" : ", ") + s;
        appendf(out, "  %10s at %s  %s%s%s\n", dur(ps[i].end - ps[i].start).c_str(), at(ps[i].start).c_str(),
                ps[i].reason.c_str(), before.empty() ? "" : "; running as it began: ", before.c_str());
    }

    if (!m.regions.empty()) {
        out += "\nRegions:\n";
        for (auto& [name, r] : m.regions)
            appendf(out, "  %-40s %8" PRIu64 " times, %s in all\n", name.c_str(), r.first, dur(r.second).c_str());
    }
    return out;
}

namespace {

void json_string(std::string& out, const std::string& s) {
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            case '\r': out += "\\r"; break;
            case '<': out += "\\u003c"; break;  // never "</script>" inside the page
            default:
                if (c < 0x20) appendf(out, "\\u%04x", c);
                else out += static_cast<char>(c);
        }
    }
    out += '"';
}

void json_ts(std::string& out, const char* key, int64_t ns) {
    // Microseconds with three decimals; readers' times are never negative
    // (events follow the session's start), but say so plainly if one is.
    const char* sign = ns < 0 ? "-" : "";
    uint64_t v = ns < 0 ? static_cast<uint64_t>(-ns) : static_cast<uint64_t>(ns);
    appendf(out, ",\"%s\":%s%" PRIu64 ".%03" PRIu64, key, sign, v / 1000, v % 1000);
}

void json_args(std::string& out, const std::vector<std::pair<std::string, std::string>>& args) {
    if (args.empty()) return;
    out += ",\"args\":{";
    bool first = true;
    for (auto& [k, v] : args) {
        if (!first) out += ',';
        first = false;
        json_string(out, k);
        out += ':';
        json_string(out, v);
    }
    out += '}';
}

void meta(std::string& out, const char* name, int pid, const int64_t* tid, const std::string& value, bool sort = false,
          int64_t sort_index = 0) {
    appendf(out, "{\"ph\":\"M\",\"name\":\"%s\",\"pid\":%d", name, pid);
    if (tid) appendf(out, ",\"tid\":%" PRId64, *tid);
    if (sort) appendf(out, ",\"args\":{\"sort_index\":%" PRId64 "}},\n", sort_index);
    else {
        out += ",\"args\":{\"name\":";
        json_string(out, value);
        out += "}},\n";
    }
}

}  // namespace

std::string chrome_json(const Trace& t, const Model& m) {
    std::string out = "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"program\":";
    json_string(out, t.program);
    out += ",\"producer\":\"weft-trace\"},\n\"traceEvents\":[\n";
    meta(out, "process_name", kProcPs, nullptr, "Ps");
    meta(out, "process_sort_index", kProcPs, nullptr, "", true, 1);
    meta(out, "process_name", kProcThreads, nullptr, "Threads");
    meta(out, "process_sort_index", kProcThreads, nullptr, "", true, 2);
    meta(out, "process_name", kProcCollector, nullptr, "Collector");
    meta(out, "process_sort_index", kProcCollector, nullptr, "", true, 3);
    meta(out, "process_name", kProcFibers, nullptr, "Fibers (regions, logs)");
    meta(out, "process_sort_index", kProcFibers, nullptr, "", true, 4);
    for (auto& [p, name] : m.p_names) {
        meta(out, "thread_name", kProcPs, &p, name);
        meta(out, "thread_sort_index", kProcPs, &p, "", true, p);
    }
    for (auto& [tid, name] : m.thread_names) {
        meta(out, "thread_name", kProcThreads, &tid, name);
        meta(out, "thread_sort_index", kProcThreads, &tid, "", true, tid);
    }
    int64_t phases = kTidPhases, pauses = kTidPauses;
    meta(out, "thread_name", kProcCollector, &phases, "phases");
    meta(out, "thread_name", kProcCollector, &pauses, "stop-the-world");
    for (uint64_t id : m.fiber_tracks) {
        auto tid = static_cast<int64_t>(id);
        auto it = m.fibers.find(id);
        meta(out, "thread_name", kProcFibers, &tid, it == m.fibers.end() ? "fiber " + std::to_string(id) : it->second.label());
    }
    // Slices, longest first among those starting together, so that a
    // reader sorting by start time sees parents before their children.
    std::vector<const Slice*> ss;
    ss.reserve(m.slices.size());
    for (auto& s : m.slices) ss.push_back(&s);
    std::stable_sort(ss.begin(), ss.end(), [](const Slice* a, const Slice* b) {
        return a->start != b->start ? a->start < b->start : a->end > b->end;
    });
    for (const Slice* s : ss) {
        out += "{\"ph\":\"X\",\"name\":";
        json_string(out, s->name);
        out += ",\"cat\":";
        json_string(out, s->cat);
        appendf(out, ",\"pid\":%d,\"tid\":%" PRId64, s->process, s->tid);
        json_ts(out, "ts", s->start);
        json_ts(out, "dur", s->end - s->start);
        json_args(out, s->args);
        out += "},\n";
    }
    for (auto& i : m.instants) {
        out += "{\"ph\":\"i\",\"s\":\"t\",\"name\":";
        json_string(out, i.name);
        out += ",\"cat\":";
        json_string(out, i.cat);
        appendf(out, ",\"pid\":%d,\"tid\":%" PRId64, i.process, i.tid);
        json_ts(out, "ts", i.ns);
        json_args(out, i.args);
        out += "},\n";
    }
    for (auto& c : m.counters) {
        out += "{\"ph\":\"C\",\"name\":";
        json_string(out, c.name);
        appendf(out, ",\"pid\":%d", kProcCollector);
        json_ts(out, "ts", c.ns);
        out += ",\"args\":{";
        bool first = true;
        for (auto& [k, v] : c.values) {
            if (!first) out += ',';
            first = false;
            json_string(out, k);
            appendf(out, ":%.0f", v);
        }
        out += "}},\n";
    }
    uint64_t id = 1;
    for (auto& f : m.flows) {
        appendf(out, "{\"ph\":\"s\",\"id\":%" PRIu64 ",\"cat\":\"wake\",\"name\":\"wake\",\"pid\":%d,\"tid\":%" PRId64, id,
                f.from_process, f.from_tid);
        json_ts(out, "ts", f.from_ns);
        out += "},\n";
        appendf(out, "{\"ph\":\"f\",\"bp\":\"e\",\"id\":%" PRIu64 ",\"cat\":\"wake\",\"name\":\"wake\",\"pid\":%d,\"tid\":%" PRId64,
                id, f.to_process, f.to_tid);
        json_ts(out, "ts", f.to_ns);
        out += "},\n";
        id++;
    }
    // No trailing comma: close with an event that says where the trace ends.
    appendf(out, "{\"ph\":\"i\",\"s\":\"g\",\"name\":\"end of trace\",\"cat\":\"trace\",\"pid\":%d,\"tid\":%" PRId64,
            kProcCollector, kTidPhases);
    json_ts(out, "ts", m.end_ns);
    out += "}\n]}\n";
    return out;
}

std::string html_page(const Trace& t, const Model& m) {
    std::string page = kViewerHtml;
    const std::string data_mark = "/*WEFT_TRACE_JSON*/null", summary_mark = "/*WEFT_TRACE_SUMMARY*/\"\"";
    std::string summary;
    json_string(summary, summary_text(t, m));
    size_t s = page.find(summary_mark);
    if (s != std::string::npos) page.replace(s, summary_mark.size(), summary);
    size_t d = page.find(data_mark);
    if (d != std::string::npos) page.replace(d, data_mark.size(), chrome_json(t, m));
    return page;
}

}  // namespace weft_trace
