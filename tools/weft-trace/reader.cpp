// reader.cpp — see reader.hpp.
#include "tools/weft-trace/reader.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace weft_trace {

namespace tf = weft::base::tracefmt;

namespace {

[[noreturn]] void bad(const std::string& name, const std::string& what) {
    throw std::runtime_error(name + ": " + what);
}

std::string padded_string(const uint64_t* w, size_t words) {
    const char* p = reinterpret_cast<const char*>(w);
    size_t n = strnlen(p, words * 8);
    return std::string(p, n);
}

}  // namespace

const std::string& Trace::str(uint64_t key) const {
    static const std::string unknown = "?";
    auto it = strings.find(key);
    return it == strings.end() ? unknown : it->second;
}

Trace parse_trace(const std::string& bytes, const std::string& name) {
    if (bytes.size() < 16 || std::memcmp(bytes.data(), tf::kMagic, 8) != 0)
        bad(name, "not a weft trace (it does not begin with \"wefttrc1\")");
    if (bytes.size() % 8 != 0) bad(name, "truncated (its size is not a whole number of words)");
    std::vector<uint64_t> w(bytes.size() / 8);
    std::memcpy(w.data(), bytes.data(), bytes.size());
    if (w[1] != tf::kVersion) bad(name, "trace format version " + std::to_string(w[1]) + ", this reader knows 1");

    Trace t;
    struct Batch {
        int64_t thread;
        size_t at, words;
    };
    std::vector<Batch> batches;
    uint64_t tick0 = 0, tick1 = 0, base = 0, fatal_tick = 0, window_tick = 0;
    int64_t ns0 = 0, ns1 = 0;
    bool have_clock = false;
    size_t i = 2;
    while (i < w.size()) {
        auto kind = static_cast<tf::Record>(w[i] & 0xffffffff);
        size_t len = w[i] >> 32;
        size_t at = i + 1;
        if (at + len > w.size())
            bad(name, "truncated: a record at byte " + std::to_string(i * 8) + " runs past the end");
        switch (kind) {
            case tf::Record::kBatch:
                if (len < 1) bad(name, "an empty batch record at byte " + std::to_string(i * 8));
                batches.push_back({static_cast<int64_t>(w[at]), at + 1, len - 1});
                break;
            case tf::Record::kString:
                if (len >= 1) t.strings[w[at]] = padded_string(&w[at + 1], len - 1);
                break;
            case tf::Record::kClock:
                if (len < 5) bad(name, "a short clock record");
                tick0 = w[at];
                ns0 = static_cast<int64_t>(w[at + 1]);
                tick1 = w[at + 2];
                ns1 = static_cast<int64_t>(w[at + 3]);
                base = w[at + 4];
                have_clock = true;
                break;
            case tf::Record::kInfo:
                if (len < 5) bad(name, "a short info record");
                t.procs = static_cast<int64_t>(w[at]);
                t.pid = static_cast<int64_t>(w[at + 1]);
                t.flags = w[at + 2];
                t.lost = w[at + 3];
                fatal_tick = w[at + 4];
                t.fatal = (t.flags & tf::kAtFatal) != 0;
                if (len > 5) window_tick = w[at + 5];
                if (len > 6) t.program = padded_string(&w[at + 6], len - 6);
                break;
            case tf::Record::kNames: {
                if (len < 1) break;
                std::vector<std::string>& out = (w[at] & 0xffffffff) == 0 ? t.reasons : t.statuses;
                out.clear();
                uint64_t count = w[at] >> 32;
                const char* p = reinterpret_cast<const char*>(&w[at + 1]);
                const char* end = p + (len - 1) * 8;
                while (p < end && out.size() < count) {
                    size_t n = strnlen(p, static_cast<size_t>(end - p));
                    out.emplace_back(p, n);
                    p += n + 1;
                }
                break;
            }
            default: bad(name, "unknown record kind " + std::to_string(static_cast<uint32_t>(kind)));
        }
        i = at + len;
    }
    if (!have_clock) bad(name, "no clock record: the trace was not finished (stopped before its end was written?)");
    t.ticks_per_ns = ns1 > ns0 && tick1 > tick0 ? static_cast<double>(tick1 - tick0) / static_cast<double>(ns1 - ns0) : 1;
    auto to_ns = [&](uint64_t rel) {
        return static_cast<int64_t>(static_cast<double>(rel + base - tick0) / t.ticks_per_ns);
    };
    t.end_ns = ns1 - ns0;
    if (fatal_tick) t.fatal_ns = to_ns(fatal_tick);
    if (window_tick) t.window_start_ns = to_ns(window_tick);

    uint32_t seq = 0;
    for (const Batch& b : batches) {
        size_t j = b.at, end = b.at + b.words;
        while (j < end) {
            auto e = static_cast<Ev>(w[j] & 0xff);
            if (e == Ev::kNone || e >= Ev::kCount)
                bad(name, "unknown event type " + std::to_string(static_cast<int>(e)) + " at byte " + std::to_string(j * 8));
            size_t n = tf::kEventWords[static_cast<int>(e)];
            if (j + 1 + n > end) bad(name, "an event runs past its batch at byte " + std::to_string(j * 8));
            Event ev;
            ev.ns = to_ns(w[j] >> 8);
            bool before_window = window_tick != 0 && (w[j] >> 8) <= window_tick;
            ev.thread = b.thread;
            ev.type = e;
            ev.seq = seq++;
            for (size_t k = 0; k < n; k++) ev.a[k] = w[j + 1 + k];
            j += 1 + n;
            if (e == Ev::kRegion || e == Ev::kLog) {
                uint64_t l1 = e == Ev::kRegion ? ev.a[1] : (ev.a[1] & 0xffffffff);
                uint64_t l2 = e == Ev::kRegion ? 0 : ev.a[1] >> 32;
                size_t bw = tf::bytes_words(l1 + l2);
                if (j + bw > end) bad(name, "a region or log runs past its batch at byte " + std::to_string(j * 8));
                const char* p = reinterpret_cast<const char*>(&w[j]);
                ev.text.assign(p, l1);
                ev.text2.assign(p + l1, l2);
                j += bw;
            }
            // A flight recorder forgot some events up to the window's
            // start: those before it that it kept would tell half a story.
            if (before_window) {
                t.dropped_before_window++;
                continue;
            }
            t.events.push_back(std::move(ev));
        }
    }
    std::stable_sort(t.events.begin(), t.events.end(),
                     [](const Event& a, const Event& b) { return a.ns < b.ns; });
    return t;
}

Trace read_trace(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    return parse_trace(ss.str(), path);
}

const char* event_name(Ev e) {
    switch (e) {
        case Ev::kNone: return "none";
        case Ev::kGoCreate: return "GoCreate";
        case Ev::kGoStart: return "GoStart";
        case Ev::kGoStop: return "GoStop";
        case Ev::kGoBlock: return "GoBlock";
        case Ev::kGoUnblock: return "GoUnblock";
        case Ev::kGoEnd: return "GoEnd";
        case Ev::kGoSyscall: return "GoSyscall";
        case Ev::kGoSyscallEnd: return "GoSyscallEnd";
        case Ev::kGoSyscallBlocked: return "GoSyscallBlocked";
        case Ev::kGoStatus: return "GoStatus";
        case Ev::kProcStart: return "ProcStart";
        case Ev::kProcStop: return "ProcStop";
        case Ev::kProcHandoff: return "ProcHandoff";
        case Ev::kMSpin: return "MSpin";
        case Ev::kMPark: return "MPark";
        case Ev::kSteal: return "Steal";
        case Ev::kNetpoll: return "Netpoll";
        case Ev::kTimers: return "Timers";
        case Ev::kSTWBegin: return "STWBegin";
        case Ev::kSTWEnd: return "STWEnd";
        case Ev::kGCPhase: return "GCPhase";
        case Ev::kGCAssist: return "GCAssist";
        case Ev::kGCWork: return "GCWork";
        case Ev::kGCSweep: return "GCSweep";
        case Ev::kHeap: return "Heap";
        case Ev::kRegion: return "Region";
        case Ev::kLog: return "Log";
        case Ev::kLost: return "Lost";
        case Ev::kCount: break;
    }
    return "?";
}

std::string Trace::reason(uint64_t r) const {
    return r < reasons.size() ? reasons[r] : "wait reason " + std::to_string(r);
}

std::string Trace::status(uint64_t s) const {
    return s < statuses.size() ? statuses[s] : "status " + std::to_string(s);
}

}  // namespace weft_trace
