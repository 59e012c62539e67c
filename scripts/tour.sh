#!/usr/bin/env bash
# tour.sh — the example tour: build weft's example workloads in release mode
# and run W1-W5 (shared BENCHMARKS.md) at their default sizes.
#
#   scripts/tour.sh
#
# Steps:
#  1. Install what is missing (scripts/lib.sh).
#  2. Configure build/release (-Dbuildtype=release -Dtests=false) unless it
#     already is, and build it.
#  3. Run spawn, park, yield, pingpong (--procs 1 and --procs 2) and sieve,
#     each printing its own lines; their output is kept in build/release/tour/.
#  4. Print a table of every run's JSON result line (scripts/tour_table.py).
#
# Exit status 0 iff every workload passed its own result check.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ $# -gt 0 ]]; then
    [[ $1 == -h || $1 == --help ]] || weft_die "takes no arguments (usage: scripts/tour.sh)"
    echo "usage: scripts/tour.sh"
    exit 0
fi

weft_cd_root
weft_ensure_packages

dir=build/release
weft_banner "building $dir"
weft_configure "$dir" -Dbuildtype=release -Dtests=false
weft_build "$dir"

# Each run: program, then its flags (W4 twice, as BENCHMARKS.md asks).
runs=(
    "spawn"
    "park"
    "yield"
    "pingpong --procs 1"
    "pingpong --procs 2"
    "sieve"
)

out=$dir/tour
mkdir -p "$out"
table_args=()
failed=0
for run in "${runs[@]}"; do
    read -r -a argv <<<"$run"
    file=$out/${run// /_}.out
    weft_banner "$run"
    status=0
    "$dir/examples/${argv[0]}" "${argv[@]:1}" | tee "$file" || status=$?
    [[ $status -eq 0 ]] || failed=$((failed + 1))
    table_args+=("$run=$status=$file")
done

weft_banner "tour results ($(nproc) CPUs; see shared BENCHMARKS.md for what each figure means)"
"$(weft_python)" scripts/tour_table.py "${table_args[@]}"
if [[ $failed -ne 0 ]]; then
    weft_log "$failed workload run(s) failed"
    exit 1
fi
