#!/usr/bin/env python3
"""testlog_totals.py — doctest test-case totals from a meson testlog.json.

Usage: testlog_totals.py BUILD_DIR

Reads BUILD_DIR/meson-logs/testlog.json (one JSON object per test run, with
the test's output under "stdout", and "stderr" when meson split them) and
prints one line:

    PASSED FAILED NOTE

where PASSED and FAILED add up the doctest summaries of every test binary,
`[doctest] test cases: X | Y passed | Z failed | W skipped`. A binary
without such a summary (crashed, killed, timed out) counts as 1 failed test
case; so does a binary that failed (e.g. a sanitizer report at exit) although
its summary shows no failed case. NOTE names those binaries, or is "-".
A missing or unreadable log counts as 1 failed.
"""
import json
import os
import re
import sys

SUMMARY = re.compile(
    r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed\s*\|\s*(\d+) skipped")


def main() -> int:
    path = os.path.join(sys.argv[1], "meson-logs", "testlog.json")
    passed = failed = 0
    notes = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            records = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        print(f"0 1 no usable test log ({e.__class__.__name__})")
        return 0
    for rec in records:
        name = rec.get("name", "?").split(" / ")[-1]
        result = rec.get("result", "?")
        text = (rec.get("stdout") or "") + "\n" + (rec.get("stderr") or "")
        summaries = SUMMARY.findall(text)
        if not summaries:
            failed += 1
            notes.append(f"{name}: {result} without a doctest summary")
            continue
        _, p, fl, _ = (int(x) for x in summaries[-1])
        passed += p
        failed += fl
        if result != "OK" and fl == 0:
            failed += 1
            notes.append(f"{name}: {result} although every test case passed")
        elif fl:
            notes.append(f"{name}: {fl} failed")
    print(passed, failed, "; ".join(notes) or "-")
    return 0


if __name__ == "__main__":
    sys.exit(main())
