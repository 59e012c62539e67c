#!/usr/bin/env python3
"""compare_table.py — the weft-vs-others table at the end of scripts/compare.sh.

Usage: compare_table.py [--jsonl OUT] CASE=RUNTIME=RUN=STATUS=OUTPUT_FILE ...

Each argument is one run: CASE names the workload case ("W4 pingpong 2P"),
RUNTIME is weft, go or boehm, RUN its index (1..N), STATUS its exit status
and OUTPUT_FILE its captured stdout, whose last line is the workload's JSON
object (docs/BENCHMARKS.md). Every case has weft and one or more others.

Prints, per case, figure and other runtime, the median over the successful
runs of weft and of the other, the min..max ranges, and the ratio
other/weft. Every figure here is lower-is-better (times, bytes, KiB, GC
cycles), so a ratio above 1 means weft is faster or smaller, below 1 means
the other is; for the higher-is-better ones (ops/s) the ratio is
weft/other, so above 1 again means weft is ahead. A figure a runtime does
not report (-1, as Go's and Boehm's assist_ms) is left out.

With --jsonl OUT, writes every run's JSON object to OUT, one per line, with
three keys added: "runtime" (if the program did not print it: weft's
examples do not), "case" and "run".

Exit status 1 if any run failed or the runtimes did not do the same work
in a case (different procs, n, last_prime, depth, ...); else 0.
"""
import json
import statistics
import sys

# The figures docs/BENCHMARKS.md names for each workload; lower is better but for
# those in HIGHER_IS_BETTER.
FIGURES = {
    "spawn": ("wall_ms", "ns_per_fiber", "peak_rss_kb"),
    "park": ("wall_ms", "bytes_per_parked_fiber", "peak_rss_kb"),
    "yield": ("ns_per_yield",),
    "pingpong": ("ns_per_roundtrip",),
    "sieve": ("wall_ms",),
    # gc_cpu_ms: the collector's CPU in the measured window (Go's derived
    # from GCCPUFraction, without idle-priority marking; Boehm reports none).
    "binarytrees": ("wall_ms", "peak_rss_kb", "gc_cycles", "max_pause_us", "total_pause_ms", "gc_cpu_ms"),
    "gcpause": ("mutator_ops_per_s", "max_op_us", "p99_op_us", "max_pause_us", "p99_pause_us", "peak_rss_kb",
                "gc_cpu_ms"),
    "syscalls": ("wall_ms", "ticker_max_late_us"),
    "chain": ("wall_ms", "ns_per_fiber", "peak_rss_kb"),
}
# Figures where more is better: the ratio printed for them is weft/other,
# so that > 1 still means weft is ahead.
HIGHER_IS_BETTER = {"mutator_ops_per_s"}
# Keys that must be equal across all runtimes' runs of a case: the same work.
SAME_WORK = ("workload", "procs", "n", "last_prime", "depth", "live_mb", "idle", "mutators", "seconds", "subtrees",
             "calls", "rounds")
# The runtimes weft is compared with, in the order their rows appear, and
# their names in the table. A case has weft and one or more of them.
OTHERS = ("go", "boehm")
LABELS = {"go": "Go", "boehm": "Boehm"}


def last_json(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
        rec = json.loads(lines[-1]) if lines else None
        return rec if isinstance(rec, dict) else None
    except (OSError, ValueError):
        return None


def fmt_num(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.1f}"


def main(argv) -> int:
    jsonl = None
    if len(argv) >= 2 and argv[0] == "--jsonl":
        jsonl, argv = argv[1], argv[2:]

    cases = {}  # case -> {"runs": [(runtime, run, status, rec)], }
    order = []
    for arg in argv:
        case, runtime, run, status, path = arg.split("=", 4)
        if runtime != "weft" and runtime not in OTHERS:
            print(f"compare_table.py: unknown runtime '{runtime}' in '{arg}'", file=sys.stderr)
            return 2
        if case not in cases:
            cases[case] = []
            order.append(case)
        rec = last_json(path)
        if rec is not None:
            rec.setdefault("runtime", runtime)
            rec["case"] = case
            rec["run"] = int(run)
        cases[case].append((runtime, int(run), status, rec))

    bad = 0
    rows = [("case", "procs", "n", "figure", "weft median", "weft min..max", "vs", "median", "min..max",
             "vs/weft")]
    notes = []
    for case in order:
        runs = cases[case]
        runtimes = ["weft"] + sorted({r for r, *_ in runs} - {"weft"}, key=lambda r: OTHERS.index(r))
        ok = {rt: [rec for r, _, st, rec in runs if r == rt and st == "0" and rec is not None] for rt in runtimes}
        total = {rt: sum(1 for r, *_ in runs if r == rt) for rt in runtimes}
        for rt in runtimes:
            if len(ok[rt]) != total[rt]:
                bad += 1
                notes.append(f"{case}: {total[rt] - len(ok[rt])} of {total[rt]} {rt} run(s) failed "
                             "(left out of the medians)")
        all_ok = [rec for rt in runtimes for rec in ok[rt]]
        if not all_ok:
            rows.append((case, "-", "-", "(no successful run)", "-", "-", "-", "-", "-", "-"))
            continue
        for key in SAME_WORK:
            seen = {json.dumps(rec.get(key)) for rec in all_ok}
            if len(seen) > 1:
                bad += 1
                notes.append(f"{case}: NOT THE SAME WORK: {key} differs between runs: {', '.join(sorted(seen))}")
        first = all_ok[0]
        for fig in FIGURES.get(first.get("workload"), ("wall_ms",)):
            med, rng = {}, {}
            for rt in runtimes:
                vals = [float(rec[fig]) for rec in ok[rt] if isinstance(rec.get(fig), (int, float)) and rec[fig] >= 0]
                med[rt] = statistics.median(vals) if vals else None
                rng[rt] = f"{fmt_num(min(vals))}..{fmt_num(max(vals))}" if vals else "-"
            for rt in runtimes[1:]:
                if fig in HIGHER_IS_BETTER:
                    ratio = (f"{med['weft'] / med[rt]:.2f} (weft/{LABELS[rt]})"
                             if med[rt] and med["weft"] is not None else "-")
                else:
                    ratio = f"{med[rt] / med['weft']:.2f}" if med["weft"] and med[rt] is not None else "-"
                rows.append((case, str(first.get("procs", "-")), str(first.get("n", "-")), fig,
                             fmt_num(med["weft"]), rng["weft"], LABELS[rt], fmt_num(med[rt]), rng[rt], ratio))

    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, r in enumerate(rows):
        cells = [c.ljust(widths[j]) if j in (0, 3) else c.rjust(widths[j]) for j, c in enumerate(r)]
        print("  ".join(cells).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print()
    print("Medians over each runtime's successful runs (a figure a runtime does not report, -1, is left")
    print("out). Figures are lower-is-better, so vs/weft > 1 means weft is faster (times) or smaller")
    print("(memory), < 1 that the other runtime is; for a higher-is-better figure (ops/s) the ratio is")
    print("weft/other, so > 1 again means weft is ahead. gcpause, binarytrees: Go reports one pause")
    print("figure per GC cycle (the cycle's pauses together), weft each pause; Boehm's pauses are its")
    print("whole stop-the-world collections (the mark included), one per cycle.")
    for note in notes:
        print(f"NOTE: {note}")

    if jsonl is not None:
        with open(jsonl, "w", encoding="utf-8") as f:
            for case in order:
                for _, _, _, rec in cases[case]:
                    if rec is not None:
                        f.write(json.dumps(rec) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
