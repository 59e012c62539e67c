#!/usr/bin/env python3
"""Self-test for check_trace_json.py.

Runs the checker (as a subprocess, the way the test suite uses it) on small
hand-made traces: good ones that must pass and bad ones, one per rule, that
must fail with a message naming that rule.  Prints one line per case and exits
1 if any verdict is wrong.

Usage: check_trace_json_selftest.py [-v]     (-v also prints checker output)
"""

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKER = os.path.join(HERE, "check_trace_json.py")


def e(ph, name="ev", ts=0, pid=1, tid=1, **extra):
    """One event; pass pid=None / tid=None / ts=None / name=None to leave it out."""
    out = {"ph": ph}
    if name is not None:
        out["name"] = name
    if ts is not None:
        out["ts"] = ts
    if pid is not None:
        out["pid"] = pid
    if tid is not None:
        out["tid"] = tid
    out.update(extra)
    return out


def X(name, ts, dur, **kw):
    return e("X", name, ts, dur=dur, **kw)


def doc(*events, **top):
    body = {"traceEvents": list(events)}
    body.update(top)
    return json.dumps(body)


WEFT_GOOD = doc(
    e("M", "process_name", None, tid=None, args={"name": "weft"}),
    e("M", "thread_name", None, tid=2, args={"name": "worker-0"}),
    e("M", "process_sort_index", None, tid=None, args={"sort_index": -1}),
    e("M", "thread_sort_index", None, tid=2, args={"sort_index": 3}),
    e("M", "process_labels", None, tid=None, args={"labels": "a,b"}),
    X("fiber a", 10, 20, tid=2, cat="fiber", args={"id": 7, "nested": {"k": [1, 2]}}),
    e("s", "wake", 15, tid=2, cat="flow", id=1),
    X("inner", 16, 2, tid=2),
    X("fiber b", 40, 5, tid=3, cat="fiber"),
    e("f", "wake", 41, tid=3, cat="flow", id=1, bp="e"),
    e("i", "tick", 42, tid=3, s="t"),
    e("i", "global", 43, pid=None, tid=None, s="g"),
    e("i", "proc", 44, tid=None, s="p"),
    e("C", "runq", 50, tid=None, args={"len": 3, "cap": 8.5}),
    e("C", "runq", 60, tid=None, args={"len": 4, "cap": 8.5}),
    displayTimeUnit="ns", otherData={"version": "x"},
)

DEEP = [X("d%d" % n, n, 10000 - 2 * n) for n in range(513)]

CASES = [
    # (name, trace text or bytes, extra args, expect ok?, substring in output)
    # ---- good traces ----
    ("good: weft-like trace (object form)", WEFT_GOOD, [], True,
     "ok: 15 events, 4 tracks, 1 flows, 2 counter series"),
    ("good: weft-like trace, --strict", WEFT_GOOD, ["--strict"], True, "ok: 15 events"),
    ("good: bare array", json.dumps([X("a", 1, 2), X("b", 1.5, 1)]), [], True,
     "ok: 2 events, 1 tracks"),
    ("good: child written before parent at equal ts (sorter orders by dur)",
     doc(X("child", 5, 2), X("parent", 5, 10)), [], True, "ok: 2 events"),
    ("good: adjacent slices share an edge", doc(X("a", 0, 10), X("b", 10, 10)), [],
     True, "ok"),
    ("good: instant at a slice's end", doc(X("a", 0, 10), e("i", "t", 10)), [], True,
     "ok"),
    ("good: zero-duration X and instants stack at one ts",
     doc(X("z", 5, 0), e("i", "t", 5), e("i", "u", 5)), [], True, "ok"),
    ("good: B/E nested inside X", doc(X("x", 0, 100), e("B", "b", 10), e("E", None, 20)),
     [], True, "ok: 3 events, 1 tracks"),
    ("good: flow end binds to next slice", doc(
        X("src", 0, 10), e("s", "w", 5, id="0x1f"),
        e("f", "w", 20, tid=2, id=31), X("dst", 25, 5, tid=2)), [], True,
     "ok: 4 events, 2 tracks, 1 flows"),
    ("good: s written before its X at equal ts (X sorts first)", doc(
        e("s", "w", 5, id=1), X("src", 5, 10),
        X("dst", 30, 5, tid=2), e("f", "w", 31, tid=2, id=1, bp="e")), [], True,
     "1 flows"),
    ("good: flow steps", doc(
        X("a", 0, 10), e("s", "w", 1, id=2), X("b", 20, 10, tid=2),
        e("t", "w", 21, tid=2, id=2), X("c", 40, 10, tid=3),
        e("f", "w", 41, tid=3, id=2, bp="e")), [], True, "2 flows"),
    ("good: numeric-string ts accepted without --strict",
     doc(X("a", "10", "2.5")), [], True, "ok"),
    ("good: trailing empty event object", doc(X("a", 1, 1), {}), [], True,
     "ok: 2 events"),
    ("good: sub-ns ts only warns", doc(X("a", 1.0001, 1)), [], True,
     "sub-nanosecond"),
    ("good: async b/e pair", doc(e("b", "req", 1, cat="c", id=5),
                                 e("e", "req", 9, cat="c", id=5)), [], True, "ok"),
    # ---- file level ----
    ("bad: not JSON", '{"traceEvents": [', [], False, "not valid JSON"),
    ("bad: NaN literal", '{"traceEvents":[{"ph":"X","name":"a","pid":1,"tid":1,'
     '"ts":NaN,"dur":1}]}', [], False, "not valid JSON"),
    ("bad: UTF-8 BOM", b"\xef\xbb\xbf" + doc(X("a", 1, 1)).encode(), [], False,
     "byte order mark"),
    ("bad: invalid UTF-8", b'[{"ph":"X","name":"\xff","pid":1,"tid":1,"ts":1,"dur":1}]',
     [], False, "not valid UTF-8"),
    ("bad: surrogate escape", '[{"ph":"X","name":"\\ud83d\\ude00","pid":1,"tid":1,'
     '"ts":1,"dur":1}]', [], False, "surrogate"),
    ("bad: first array element empty (sniffer)", json.dumps([{}, X("a", 1, 1)]), [],
     False, "does not start with"),
    ("bad: first key meta (gecko importer wins)",
     json.dumps({"meta": {}, "traceEvents": []}), [], False, "gecko"),
    ("bad: top level is a number", "42", [], False, "top level is number"),
    ("bad: no traceEvents", json.dumps({"foo": 1}), [], False, 'no "traceEvents"'),
    ("bad: traceEvents not an array", json.dumps({"traceEvents": {}}), [], False,
     "not an array"),
    ("bad: displayTimeUnit us", doc(X("a", 1, 1), displayTimeUnit="us"), [], False,
     '"displayTimeUnit" is "us"'),
    ("bad: systemTraceEvents not a string", doc(X("a", 1, 1), systemTraceEvents=[]),
     [], False, '"systemTraceEvents" is array'),
    ("bad: event is not an object", doc(X("a", 1, 1), 5), [], False,
     "event 1: is number, not an object"),
    ("bad: duplicate key in event", '[{"ph":"X","name":"a","pid":1,"tid":1,"ts":1,'
     '"dur":1,"ts":2}]', [], False, 'field "ts": key appears more than once'),
    # ---- ph ----
    ("bad: ph missing", doc({"name": "a", "ts": 1, "pid": 1, "tid": 1}), [], False,
     'field "ph": missing'),
    ("bad: ph two characters", doc(e("XB", "a", 1, dur=1)), [], False,
     "more than one character"),
    ("bad: ph not handled by Perfetto", doc(e("S", "a", 1, id=1)), [], False,
     "ignored by Perfetto's JSON importer"),
    ("bad: ph B under --strict", doc(e("B", "a", 1), e("E", "a", 2)), ["--strict"],
     False, "not one weft emits"),
    # ---- ts / dur ----
    ("bad: ts missing", doc(X("a", None, 1)), [], False, 'field "ts": missing'),
    ("bad: ts non-numeric string", doc(X("a", "soon", 1)), [], False,
     "is not a JSON number"),
    ("bad: ts string under --strict", doc(X("a", "10", 1)), ["--strict"], False,
     "--strict wants a JSON number"),
    ("bad: ts negative", doc(X("a", -5, 1)), [], False, "is negative; Perfetto's sorter"),
    ("bad: ts overflows int64 ns", doc(X("a", 10 ** 16, 1)), [], False, "overflows"),
    ("bad: ts boolean", doc(X("a", True, 1)), [], False, "expected a number, got boolean"),
    ("bad: dur not a number (tokenizer stops)", doc(X("a", 1, "long")), [], False,
     "Perfetto stops reading the trace"),
    ("bad: tts null (tokenizer stops)", doc(X("a", 1, 1, tts=None)), [], False,
     'field "tts"'),
    ("bad: X without dur", doc(e("X", "a", 1)), [], False, 'field "dur": missing'),
    ("bad: X negative dur", doc(X("a", 10, -1)), [], False, "slice_negative_duration"),
    # ---- pid / tid ----
    ("bad: pid missing", doc(X("a", 1, 1, pid=None)), [], False, 'field "pid": missing'),
    ("bad: pid negative", doc(X("a", 1, 1, pid=-3)), [], False, "outside 0..4294967295"),
    ("bad: pid fractional", doc(X("a", 1, 1, pid=1.5)), [], False, "not an integer"),
    ("bad: pid null", doc(X("a", 1, 1, pid=None, tid=1) | {"pid": None}), [], False,
     'field "pid": is null'),
    ("bad: tid string under --strict", doc(X("a", 1, 1, tid="main")), ["--strict"],
     False, "--strict wants an integer"),
    ("bad: tid 0 with non-zero pid", doc(X("a", 1, 1, pid=4, tid=0)), [], False,
     "replaces tid 0 with the pid"),
    ("bad: tid missing on X", doc(X("a", 1, 1, tid=None)), [], False,
     'field "tid": missing'),
    # ---- name / cat / args ----
    ("bad: name missing on X", doc(X(None, 1, 1)), [], False, 'field "name": missing'),
    ("bad: name not a string", doc(X(5, 1, 1)), [], False, "not a string"),
    ("bad: name empty", doc(X("", 1, 1)), [], False, 'field "name": is empty'),
    ("bad: cat not a string", doc(X("a", 1, 1, cat=["x"])), [], False,
     'field "cat": is array'),
    ("bad: args not an object", doc(X("a", 1, 1, args=[1])), [], False,
     'field "args": is array'),
    ("bad: duplicate key inside args", '[{"ph":"X","name":"a","pid":1,"tid":1,"ts":1,'
     '"dur":1,"args":{"k":1,"k":2}}]', [], False, 'field "args.k"'),
    # ---- instants ----
    ("bad: instant scope not g/p/t", doc(e("i", "a", 1, s="x")), [], False,
     'field "s"'),
    ("bad: thread instant without tid", doc(e("i", "a", 1, tid=None)), [], False,
     "drops thread-scoped instants"),
    # ---- counters ----
    ("bad: counter value not numeric", doc(e("C", "q", 1, args={"v": "many"})), [],
     False, 'field "args.v"'),
    ("bad: counter value boolean", doc(e("C", "q", 1, args={"v": True})), [], False,
     "is boolean; counter values"),
    ("bad: counter without args", doc(e("C", "q", 1)), [], False, 'field "args": missing'),
    ("bad: counter with integer id", doc(e("C", "q", 1, id=3, args={"v": 1})), [],
     False, "appends only string ids"),
    ("bad: counter string value under --strict", doc(e("C", "q", 1, args={"v": "1"})),
     ["--strict"], False, "--strict wants a number"),
    # ---- metadata ----
    ("bad: process_name with empty args.name",
     doc(e("M", "process_name", None, tid=None, args={"name": ""})), [], False,
     'field "args.name"'),
    ("bad: process_name without args", doc(e("M", "process_name", None, tid=None)), [],
     False, 'field "args": missing'),
    ("bad: thread_sort_index not a number",
     doc(e("M", "thread_sort_index", None, args={"sort_index": "1"})), [], False,
     'field "args.sort_index"'),
    ("bad: sort_index beyond int32",
     doc(e("M", "process_sort_index", None, tid=None, args={"sort_index": 2 ** 40})),
     [], False, "does not fit in int32"),
    ("bad: thread_name without tid",
     doc(e("M", "thread_name", None, tid=None, args={"name": "w"})), [], False,
     'field "tid": missing'),
    ("bad: process_labels without string labels",
     doc(e("M", "process_labels", None, tid=None, args={"labels": ["a"]})), [], False,
     'field "args.labels"'),
    ("bad: unknown metadata under --strict",
     doc(e("M", "num_cpus", None, tid=None, args={"n": 2})), ["--strict"], False,
     "not one weft emits (--strict)"),
    # ---- nesting ----
    ("bad: partially overlapping X slices", doc(X("a", 0, 10), X("b", 5, 10)), [],
     False, "overflow track"),
    ("bad: overlap created by ns rounding", doc(X("a", 0, 1.0004), X("b", 0.5, 0.5006)),
     [], False, "overflow track"),
    ("bad: B inside X still open after X ends",
     doc(X("x", 0, 10), e("B", "b", 5), e("E", "b", 20)), [], False,
     "misplaced_end_event"),
    ("bad: E without B", doc(e("E", "a", 5)), [], False, "E/e with no open slice"),
    ("bad: B never ended", doc(e("B", "a", 5)), [], False, "never ended"),
    ("bad: E names the outer B", doc(e("B", "outer", 1), e("B", "inner", 2),
                                     e("E", "outer", 3), e("E", "inner", 4)), [],
     False, "end closes \"outer\""),
    ("bad: X outlives the B that encloses it",
     doc(e("B", "b", 0), X("x", 5, 20), e("E", None, 10)), [], False,
     "running until 25"),
    ("bad: named E does not match a nameless B (stored as [No name])",
     doc(e("B", None, 0), e("E", "work", 10)), [], False,
     "no open B with matching name/cat"),
    ("bad: zero-length B/E when the trace has X (E sorts first)",
     doc(X("x", 0, 1, tid=2), e("B", "a", 5), e("E", "a", 5)), [], False,
     "orders E before every other phase"),
    ("bad: nesting deeper than 512", doc(*DEEP), [], False, "nesting depth would exceed 512"),
    # ---- flows ----
    ("bad: flow end without start", doc(X("a", 0, 10), e("f", "w", 5, id=1, bp="e")),
     [], False, "no earlier flow start"),
    ("bad: flow end before its start in time", doc(
        X("dst", 0, 3, tid=2), e("f", "w", 1, tid=2, id=1, bp="e"),
        X("src", 5, 10), e("s", "w", 6, id=1)), [], False, "no earlier flow start"),
    ("bad: flow end with different cat than start", doc(
        X("a", 0, 10), e("s", "w", 1, id=1, cat="x"),
        X("b", 20, 10, tid=2), e("f", "w", 21, tid=2, id=1, cat="y", bp="e")), [],
     False, "same id, cat and name"),
    ("bad: flow start outside any slice", doc(e("s", "w", 1, id=1)), [], False,
     "flow_no_enclosing_slice"),
    ("bad: flow start after its slice ended (stale binding)", doc(
        X("a", 0, 10), e("s", "w", 15, id=1), X("b", 20, 5, tid=2),
        e("f", "w", 21, tid=2, id=1, bp="e")), [], False, "which ended at 10"),
    ("bad: duplicate flow start", doc(
        X("a", 0, 10), e("s", "w", 1, id=1), e("s", "w", 2, id=1)), [], False,
     "flow_duplicate_id"),
    ("bad: flow id not hexadecimal", doc(X("a", 0, 10), e("s", "w", 1, id="abcz")), [],
     False, "not a hexadecimal number"),
    ("bad: flow id missing", doc(X("a", 0, 10), e("s", "w", 1)), [], False,
     'field "id": missing or unusable'),
    ("bad: flow id fractional", doc(X("a", 0, 10), e("s", "w", 1, id=1.5)), [], False,
     'field "id": is a fractional or huge number'),
    ("bad: bp not e", doc(X("a", 0, 10), e("s", "w", 1, id=1),
                          e("f", "w", 2, tid=2, id=1, bp="n")), [], False,
     'field "bp"'),
    ("bad: flow end never bound (no later slice)", doc(
        X("a", 0, 10), e("s", "w", 1, id=1), e("f", "w", 20, tid=2, id=1)), [], False,
     "never creates the flow"),
    ("bad: flow end next-slice hijacked by sort order", doc(
        X("a", 0, 10), e("s", "w", 1, id=1), e("f", "w", 20, tid=2, id=1),
        X("b", 20, 5, tid=2), X("c", 30, 5, tid=2)), [], False, "is sorted before it"),
    ("bad: flow arrow backwards", doc(
        X("late", 20, 10), e("s", "w", 21, id=1), X("early", 5, 30, tid=2),
        e("f", "w", 25, tid=2, id=1, bp="e")), [], False, "arrow backwards"),
    ("bad: v1 and v2 flows mixed", doc(
        X("a", 0, 10, bind_id=1, flow_out=True), e("s", "w", 1, id=2),
        X("b", 20, 5, tid=2, bind_id=1, flow_in=True)), [], False, "collide"),
    ("bad: v2 flow without direction", doc(X("a", 0, 10, bind_id=1)), [], False,
     "flow_without_direction"),
    # ---- async ----
    ("bad: async begin without id", doc(e("b", "r", 1)), [], False,
     "drops async events without id"),
    ("bad: async end without begin", doc(e("e", "r", 1, id=1)), [], False,
     "no open slice"),
    # ---- reporting ----
    ("bad: error cap at 50", doc(*[X(None, n, 1) for n in range(60)]), [], False,
     "... and 10 more"),
]


def run_case(text, extra):
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        f.write(data)
        path = f.name
    try:
        proc = subprocess.run([sys.executable, CHECKER] + extra + [path],
                              capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(path)
    return proc.returncode, proc.stdout, proc.stderr


def main():
    verbose = "-v" in sys.argv[1:]
    wrong = 0
    for name, text, extra, want_ok, needle in CASES:
        rc, out, err = run_case(text, extra)
        got_ok = rc == 0
        combined = out + err
        verdict_right = (rc in (0, 1)) and got_ok == want_ok
        if want_ok:
            verdict_right = verdict_right and out.startswith("ok: ") and \
                len(out.splitlines()) == 1
        found = needle in combined
        good = verdict_right and found
        wrong += not good
        status = "PASS" if good else "FAIL"
        detail = "exit %d" % rc
        if not found:
            detail += ", expected text not found: %r" % needle
        print("%s  %-62s %s" % (status, name, detail))
        if verbose or not good:
            for line in combined.splitlines()[:6]:
                print("        | " + line)
    print("%d cases, %d wrong" % (len(CASES), wrong))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
