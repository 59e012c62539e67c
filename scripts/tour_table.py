#!/usr/bin/env python3
"""tour_table.py — the table at the end of scripts/tour.sh.

Usage: tour_table.py LABEL=STATUS=OUTPUT_FILE ...

For each run: LABEL names it ("pingpong --procs 2"), STATUS is its exit
status, OUTPUT_FILE its captured stdout, whose last line is the workload's
JSON object (docs/BENCHMARKS.md). Prints one row per run: label, status,
procs, n, wall_ms and the workload's own figures (every other key).
"""
import json
import sys

COMMON = ("workload", "procs", "n", "wall_ms")


def last_json(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def main() -> int:
    rows = [("run", "status", "procs", "n", "wall_ms", "figures")]
    for arg in sys.argv[1:]:
        label, status, path = arg.split("=", 2)
        rec = last_json(path)
        ok = "ok" if status == "0" else f"FAILED ({status})"
        if not isinstance(rec, dict):
            rows.append((label, ok if status != "0" else "FAILED (no JSON line)", "-", "-", "-", "-"))
            continue
        figures = "  ".join(f"{k}={v}" for k, v in rec.items() if k not in COMMON)
        rows.append((label, ok, str(rec.get("procs", "-")), str(rec.get("n", "-")),
                     str(rec.get("wall_ms", "-")), figures))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        cells = [r[i].ljust(widths[i]) if i == 0 or i == 1 else r[i].rjust(widths[i]) for i in range(len(widths))]
        print("  ".join(cells + [r[-1]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
