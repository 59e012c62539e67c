// weft-trace, the program (tools/weft-trace): its summary, the JSON it
// writes for Perfetto (checked by tools/weft-trace/check_trace_json.py,
// which follows Perfetto's JSON importer), the page (its script run by
// tools/weft-trace/check_viewer.js under node), and its errors.
#include <doctest/doctest.h>

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include <weft/weft.hpp>
#include "support/test_util.hpp"

namespace {

using weft::suite::contains;
using weft::suite::run_command;

std::string temp_path(const char* name) {
    return "/tmp/weft-trace-tool-" + std::to_string(getpid()) + "-" + name;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

uint32_t g_worker_line = 0;

// A trace with fibers that block on channels and sleep, a collection, a
// region, a log and a system call: every kind of slice and flow the
// tool writes.
std::string make_trace() {
    std::string path = temp_path("input.wtrace");
    weft::run(weft::Options{.procs = 2}, [&] {
        weft::trace::start(path);
        weft::Chan<int> c(4);
        weft::WaitGroup wg;  // the workers and the reader: c outlives them all
        wg.add(5);
        for (int w = 0; w < 4; w++) {
            g_worker_line = __LINE__ + 1;
            weft::go([&] {
                weft::trace::Region r("worker");
                for (int i = 0; i < 200; i++) {
                    if (i % 50 == 0) weft::sleep(std::chrono::microseconds(200));
                    c.send(i);
                }
                wg.done();
            });
        }
        weft::go([&] {
            for (int i = 0; i < 800; i++) c.recv();
            wg.done();
        });
        weft::blocking([] { usleep(1000); });
        weft::gc::collect();
        weft::trace::log("tool test", "collected");
        wg.wait();
        weft::trace::stop();
    });
    return path;
}

const std::string kTool = WEFT_TRACE_TOOL;
const std::string kCheck = std::string("python3 ") + WEFT_CHECK_TRACE_JSON;
const std::string kCheckViewer = std::string("node ") + WEFT_CHECK_VIEWER;

}  // namespace

TEST_CASE("weft-trace json: a file Perfetto's importer takes whole, with every track") {
    std::string in = make_trace(), out = temp_path("out.json");
    auto r = run_command(kTool + " json " + in + " -o " + out);
    REQUIRE_MESSAGE(r.status == 0, r.out);
    auto check = run_command(kCheck + " --strict " + out);
    CHECK_MESSAGE(check.status == 0, check.out);
    CHECK(contains(check.out, "ok: "));
    std::string json = read_file(out);
    // The tracks and slices a reader looks for.
    for (const char* want : {"\"name\":\"Ps\"", "\"name\":\"Threads\"", "\"name\":\"Collector\"", "\"P 0\"", "\"P 1\"",
                             "\"cat\":\"fiber\"", "\"cat\":\"stw\"", "\"GCmark\"", "\"name\":\"heap\"",
                             "\"name\":\"runnable fibers\"", "\"ph\":\"s\"", "\"ph\":\"f\"", "\"worker\"",
                             "\"cat\":\"syscall\"", "\"collected\""})
        CHECK_MESSAGE(contains(json, want), want);
    CHECK(contains(json, "trace_test.cpp") == false);
    CHECK(contains(json, "tool_test.cpp:" + std::to_string(g_worker_line)));
    unlink(in.c_str());
    unlink(out.c_str());
}

TEST_CASE("the checker's own self-test: a verdict per rule, on hand-made good and bad traces") {
    auto r = run_command("python3 " WEFT_CHECK_TRACE_JSON_SELFTEST);
    CHECK_MESSAGE(r.status == 0, r.out);
    CHECK(contains(r.out, " cases, 0 wrong"));
}

TEST_CASE("the checker refuses what Perfetto would drop: overlapping slices, a flow from nowhere") {
    // The checker must be able to fail, or its verdict above says nothing.
    std::string bad = temp_path("bad.json");
    std::ofstream(bad) << R"({"traceEvents":[
{"ph":"X","name":"a","cat":"fiber","pid":1,"tid":1,"ts":1.0,"dur":5.0},
{"ph":"X","name":"b","cat":"fiber","pid":1,"tid":1,"ts":3.0,"dur":5.0},
{"ph":"s","id":1,"cat":"wake","name":"wake","pid":1,"tid":2,"ts":1.0},
{"ph":"f","bp":"e","id":1,"cat":"wake","name":"wake","pid":1,"tid":1,"ts":2.0}]})";
    auto check = run_command(kCheck + " --strict " + bad);
    CHECK(check.status == 1);
    CHECK(contains(check.out, "overlap"));
    CHECK(contains(check.out, "enclosing"));
    unlink(bad.c_str());
}

TEST_CASE("weft-trace html: one self-contained page with the timeline's data and the summary") {
    std::string in = make_trace(), out = temp_path("out.html");
    auto r = run_command(kTool + " html " + in + " -o " + out);
    REQUIRE_MESSAGE(r.status == 0, r.out);
    std::string page = read_file(out);
    CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
    CHECK_FALSE(contains(page, "/*WEFT_TRACE_JSON*/"));
    CHECK_FALSE(contains(page, "/*WEFT_TRACE_SUMMARY*/"));
    CHECK(contains(page, "tool_test.cpp:" + std::to_string(g_worker_line)));
    CHECK(contains(page, "Scheduler latency"));
    // Self-contained: nothing fetched from anywhere.
    CHECK_FALSE(contains(page, "<script src"));
    CHECK_FALSE(contains(page, "<link "));
    CHECK_FALSE(contains(page, "http://"));
    CHECK_FALSE(contains(page, "https://"));
    // The page's script parses, indexes this trace and runs its UI
    // (draw, hover, select, zoom, search) under node with a stub DOM.
    auto ui = run_command(kCheckViewer + " " + out);
    CHECK_MESSAGE(ui.status == 0, ui.out);
    CHECK(contains(ui.out, "ok: "));
    unlink(in.c_str());
    unlink(out.c_str());
}

TEST_CASE("weft-trace summary: per fiber time by state, scheduler latency, pauses, regions") {
    std::string in = make_trace();
    auto r = run_command(kTool + " summary " + in);
    REQUIRE_MESSAGE(r.status == 0, r.out);
    CHECK(contains(r.out, "weft trace of test_trace"));
    CHECK(contains(r.out, "Fibers by time running"));
    CHECK(contains(r.out, "tool_test.cpp:" + std::to_string(g_worker_line)));
    CHECK(contains(r.out, "chan send"));  // the workers wait for room
    CHECK(contains(r.out, "sleep"));
    CHECK(contains(r.out, "Scheduler latency (runnable to running)"));
    CHECK(contains(r.out, "p50 "));
    CHECK(contains(r.out, "gc: mark termination"));
    CHECK(contains(r.out, "worker"));  // the region
    auto ev = run_command(kTool + " events " + in);
    CHECK(ev.status == 0);
    CHECK(contains(ev.out, "GoCreate"));
    CHECK(contains(ev.out, "STWBegin"));
    unlink(in.c_str());
}

TEST_CASE("weft-trace misuse: usage, unknown commands and bad files get a clear message") {
    auto none = run_command(kTool);
    CHECK(none.status == 2);
    CHECK(contains(none.out, "no command"));
    CHECK(contains(none.out, "usage: weft-trace"));
    auto unknown = run_command(kTool + " frobnicate x");
    CHECK(unknown.status == 2);
    CHECK(contains(unknown.out, "unknown command 'frobnicate'"));
    auto nofile = run_command(kTool + " summary");
    CHECK(nofile.status == 2);
    CHECK(contains(nofile.out, "no trace file given"));
    auto noout = run_command(kTool + " json x -o");
    CHECK(noout.status == 2);
    CHECK(contains(noout.out, "-o needs a file name"));
    std::string junk = temp_path("junk");
    std::ofstream(junk) << "not a trace at all";
    auto bad = run_command(kTool + " summary " + junk);
    CHECK(bad.status == 1);
    CHECK(contains(bad.out, junk + ": not a weft trace"));
    auto missing = run_command(kTool + " summary /nonexistent.wtrace");
    CHECK(missing.status == 1);
    CHECK(contains(missing.out, "cannot open"));
    unlink(junk.c_str());
}
