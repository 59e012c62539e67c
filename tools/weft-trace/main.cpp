// weft-trace — reads an execution trace that weft wrote (WEFT_TRACE,
// weft::trace::start, a flight recorder) and shows it.
//
//   weft-trace summary TRACE            per fiber, scheduler latency, pauses
//   weft-trace json TRACE [-o FILE]     Chrome's JSON trace format (Perfetto)
//   weft-trace html TRACE [-o FILE]     one self-contained page with a timeline
//   weft-trace events TRACE             every event, one per line (debugging)
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>

#include "tools/weft-trace/model.hpp"
#include "tools/weft-trace/reader.hpp"

namespace {

constexpr const char* kUsage =
    "usage: weft-trace COMMAND TRACE [-o OUT]\n"
    "  summary  per fiber time running, runnable, in calls and blocked by reason;\n"
    "           scheduler latency; the longest pauses\n"
    "  json     the trace in Chrome's JSON format, which ui.perfetto.dev opens\n"
    "  html     one self-contained page with a zoomable timeline and the summary\n"
    "  events   every event, one per line\n"
    "Without -o, json and html go to TRACE.json / TRACE.html, summary and events to stdout.\n";

void write_file(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary);
    out << data;
    out.close();
    if (!out) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
}

std::string event_line(const weft_trace::Trace& t, const weft_trace::Event& e) {
    char b[256];
    std::snprintf(b, sizeof b, "%15.3f us  thread %-4" PRId64 " %-18s %#" PRIx64 " %#" PRIx64 " %#" PRIx64 " %#" PRIx64,
                  static_cast<double>(e.ns) / 1e3, e.thread, weft_trace::event_name(e.type), e.a[0], e.a[1], e.a[2], e.a[3]);
    std::string s = b;
    if (!e.text.empty() || !e.text2.empty()) s += "  \"" + e.text + "\" \"" + e.text2 + "\"";
    (void)t;
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    std::string cmd, in, out;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            std::fputs(kUsage, stdout);
            return 0;
        }
        if (a == "-o") {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "weft-trace: -o needs a file name\n%s", kUsage);
                return 2;
            }
            out = argv[++i];
        } else if (cmd.empty()) {
            cmd = a;
        } else if (in.empty()) {
            in = a;
        } else {
            std::fprintf(stderr, "weft-trace: unexpected argument '%s'\n%s", a.c_str(), kUsage);
            return 2;
        }
    }
    if (cmd != "summary" && cmd != "json" && cmd != "html" && cmd != "events") {
        std::fprintf(stderr, "weft-trace: %s\n%s", cmd.empty() ? "no command" : ("unknown command '" + cmd + "'").c_str(), kUsage);
        return 2;
    }
    if (in.empty()) {
        std::fprintf(stderr, "weft-trace: no trace file given\n%s", kUsage);
        return 2;
    }
    try {
        weft_trace::Trace t = weft_trace::read_trace(in);
        if (cmd == "events") {
            for (auto& e : t.events) std::printf("%s\n", event_line(t, e).c_str());
            return 0;
        }
        weft_trace::Model m = weft_trace::build_model(t);
        if (cmd == "summary") {
            std::string s = weft_trace::summary_text(t, m);
            if (out.empty()) std::fputs(s.c_str(), stdout);
            else write_file(out, s);
        } else {
            if (out.empty()) out = in + (cmd == "json" ? ".json" : ".html");
            write_file(out, cmd == "json" ? weft_trace::chrome_json(t, m) : weft_trace::html_page(t, m));
            std::fprintf(stderr, "weft-trace: wrote %s\n", out.c_str());
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "weft-trace: %s\n", e.what());
        return 1;
    }
    return 0;
}
