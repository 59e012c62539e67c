#!/usr/bin/env bash
# compare.sh — weft against Go (and, for W6, Boehm GC), side by side: the
# workloads W1-W7, W9 and W10 (docs/BENCHMARKS.md) as weft's examples/, as the Go
# programs in bench/go/ and as bench/boehm/'s C++ on Boehm GC, same sizes,
# same procs, run in turn, medians compared.
#
#   scripts/compare.sh [--runs N] [--quick] [--only WORKLOADS] [--hog N]
#
#   --runs N   runs of each program per case (default 5); medians over them
#   --quick    small sizes, to test the script (the figures mean little)
#   --only W   only the cases whose label starts with one of these
#              comma-separated workload names (e.g. --only W6,W7)
#   --hog N    keep N busy-loop processes running beside every run and
#              the floor measurements, as on a shared machine (default 0)
#
# Steps:
#  1. Install what is missing: weft's packages, golang-go and libgc-dev
#     (scripts/lib.sh).
#  2. Configure and build build/release (-Dbuildtype=release -Dtests=false),
#     as scripts/tour.sh does.
#  3. Build bench/go/* into build/compare/bin/ with `go build`, offline
#     (GOPROXY=off, GOFLAGS=-mod=mod; standard library only), GOCACHE and
#     GOPATH inside build/compare/. Build bench/boehm/binarytrees.cpp
#     there too (bench/boehm/build.sh, c++ -O2 against libgc), and
#     bench/hiccup/hiccup.cpp (no runtime in it).
#  4. For each case (W1 spawn 2 Ps, W2 park 2 Ps, W3 yield 1 P, W4 pingpong
#     1 P and 2 Ps, W5 sieve 2 Ps, W6 binarytrees 2 Ps with Boehm as well,
#     W7 gcpause 2 Ps, W9 syscalls 2 Ps, W10 chain 2 Ps) run the weft
#     program and each other one N times,
#     in turn, rotating which goes first on every run, so noise and warm-up
#     hit all. Every run gets the same explicit sizes (--n, W6's --depth, or
#     W7's --live-mb, --idle, --mutators, --seconds) and --procs. Outputs
#     are kept in build/compare/out/. Before the first case and after the
#     last, measure the machine's own floor: bench/hiccup, 2 busy plain
#     threads for 10 s, the longest time the machine stopped one of them:
#     a workload that keeps both cores busy meets the same stops, so its
#     longest operation cannot be expected to be shorter.
#  5. Print the table (scripts/compare_table.py): per figure the medians
#     and ranges of weft and of each other runtime and the ratio other/weft
#     (> 1: weft faster/smaller); write every run's JSON line to
#     build/compare/results.jsonl.
#
# Exit status 0 iff every run passed its own check and all runtimes did the
# same work (same procs, n, last prime, depth, ...) in every case.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'USAGE'
usage: scripts/compare.sh [--runs N] [--quick] [--only WORKLOADS] [--hog N]
  Runs W1-W7, W9, W10 as weft's examples, as bench/go's Go programs and (W6) on Boehm GC,
  in turn, and prints the medians side by side (other/weft > 1: weft faster/smaller).
  --runs N   runs of each program per case (default 5)
  --quick    small sizes, to test the script (the figures mean little)
  --only W   only these comma-separated workloads (e.g. --only W6,W7)
  --hog N    N busy-loop processes beside every run (default 0)
USAGE
}

runs=5
quick=0
only=
hogs=0
while [[ $# -gt 0 ]]; do
    case $1 in
    --runs)
        [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || weft_die "--runs takes a positive integer"
        runs=$2
        shift 2
        ;;
    --runs=*)
        runs=${1#--runs=}
        [[ $runs =~ ^[1-9][0-9]*$ ]] || weft_die "--runs takes a positive integer"
        shift
        ;;
    --only)
        [[ $# -ge 2 && $2 =~ ^W[0-9]+(,W[0-9]+)*$ ]] || weft_die "--only takes workload names such as W6,W7"
        only=$2
        shift 2
        ;;
    --quick)
        quick=1
        shift
        ;;
    --hog)
        [[ $# -ge 2 && $2 =~ ^[0-9]+$ && $2 -le 64 ]] || weft_die "--hog takes a number of busy loops in [0, 64]"
        hogs=$2
        shift 2
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *) weft_die "unknown argument '$1' (usage: scripts/compare.sh [--runs N] [--quick] [--only WORKLOADS] [--hog N])" ;;
    esac
done

# A run that takes longer than this (seconds) is killed and counts as failed.
RUN_TIMEOUT=${COMPARE_RUN_TIMEOUT:-300}

weft_cd_root
root=$PWD
WEFT_PACKAGES+=(golang-go libgc-dev)
weft_ensure_packages
command -v go >/dev/null 2>&1 || weft_die "no 'go' command after installing golang-go"

dir=build/release
weft_banner "building $dir"
weft_configure "$dir" -Dbuildtype=release -Dtests=false
programs=(spawn park yield pingpong sieve binarytrees gcpause syscalls chain)
if ! weft_build "$dir"; then
    # Only the workload programs compared matter here; something else in the tree
    # failing to build should not stop the comparison, but must be visible.
    weft_log "WARNING: the full build of $dir failed; building only the examples compared here"
    ninja -C "$dir" -j "$WEFT_JOBS" "${programs[@]/#/examples/}" ||
        weft_die "cannot build the weft examples in $dir"
fi

out=build/compare
gobin=$out/bin
weft_banner "building bench/go into $gobin"
mkdir -p "$gobin"
(
    cd bench/go
    export GOCACHE=$root/$out/gocache GOPATH=$root/$out/gopath GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=on
    go build -o "$root/$gobin/" ./...
) || weft_die "go build failed"
boehmbin=$out/boehm
mkdir -p "$boehmbin"
bench/boehm/build.sh "$boehmbin/binarytrees" || weft_die "cannot build bench/boehm/binarytrees.cpp"
c++ -O2 -std=c++20 -pthread -Iexamples -o "$out/hiccup" bench/hiccup/hiccup.cpp examples/common/steal.cpp ||
    weft_die "cannot build bench/hiccup/hiccup.cpp"

# Each case: label | program | flags (every runtime gets exactly these) |
# the runtimes weft is compared with (default: go).
# Full sizes are docs/BENCHMARKS.md's defaults, passed explicitly.
if [[ $quick -eq 1 ]]; then
    n_spawn=100000 n_park=10000 n_yield=200000 n_pingpong=100000 n_sieve=1000 depth_w6=16 rounds_w10=2
    w7="--live-mb 32 --idle 1000 --mutators 2 --seconds 1"
    hiccup_seconds=1
else
    n_spawn=1000000 n_park=100000 n_yield=5000000 n_pingpong=1000000 n_sieve=5000 depth_w6=21 rounds_w10=10
    w7="--live-mb 512 --idle 10000 --mutators 2 --seconds 10"
    hiccup_seconds=10
fi
cases=(
    "W1 spawn|spawn|--n $n_spawn --procs 2"
    "W2 park|park|--n $n_park --procs 2"
    "W3 yield|yield|--n $n_yield --procs 1"
    "W4 pingpong 1P|pingpong|--n $n_pingpong --procs 1"
    "W4 pingpong 2P|pingpong|--n $n_pingpong --procs 2"
    "W5 sieve|sieve|--n $n_sieve --procs 2"
    "W6 binarytrees|binarytrees|--depth $depth_w6 --procs 2|go boehm"
    "W7 gcpause|gcpause|$w7 --procs 2"
    "W9 syscalls|syscalls|--n 100 --calls 20 --procs 2"
    "W10 chain|chain|--n 10000 --rounds $rounds_w10 --procs 2"
)

weft_banner "machine"
echo "nproc: $(nproc); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "go: $(go version)"
echo "boehm: libgc $(pkg-config --modversion bdw-gc 2>/dev/null || echo "?")"
echo "weft: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)'), $(c++ --version | head -1)"
echo "runs per program per case: $runs$([[ $quick -eq 1 ]] && echo ' (--quick sizes)')"

# --hog N: busy loops beside everything from here on, ended with the script.
hog_pids=()
stop_hogs() {
    [[ ${#hog_pids[@]} -eq 0 ]] || kill "${hog_pids[@]}" 2>/dev/null || true
}
trap stop_hogs EXIT
for ((h = 0; h < hogs; h++)); do
    bash -c 'while :; do :; done' &
    hog_pids+=($!)
done
echo "busy loops beside every run: $hogs"

rm -rf "$out/out"
table_args=()
failed=0
hiccup_lines=()
ncases=0

# hiccup WHEN — the machine's floor now: how long it stops a busy thread.
hiccup() {
    local line
    line=$("$out/hiccup" --threads 2 --seconds "$hiccup_seconds" | tail -n 1) || weft_die "hiccup failed"
    echo "  machine floor ($1): $line"
    hiccup_lines+=("$line")
}

# run_one CASE RUNTIME RUN BINARY FLAGS... — one run, stdout kept in a file.
run_one() {
    local label=$1 rt=$2 i=$3 bin=$4
    shift 4
    local file
    file=$out/out/${label// /_}/$rt-$i.out
    mkdir -p "$(dirname "$file")"
    local status=0
    timeout "$RUN_TIMEOUT" "$bin" "$@" >"$file" || status=$?
    [[ $status -eq 0 ]] || failed=$((failed + 1))
    table_args+=("$label=$rt=$i=$status=$file")
    local last
    last=$(tail -n 1 "$file" 2>/dev/null || true)
    printf '  run %d %-5s %s\n' "$i" "$rt" "$([[ $status -eq 0 ]] && echo "$last" || echo "FAILED (status $status): $last")"
}

# The binary of runtime RT for program PROG.
binary_of() {
    case $1 in
    weft) echo "$dir/examples/$2" ;;
    go) echo "$gobin/$2" ;;
    boehm) echo "$boehmbin/$2" ;;
    *) weft_die "compare.sh: no runtime '$1'" ;;
    esac
}

weft_banner "machine floor: 2 busy threads, ${hiccup_seconds} s (bench/hiccup)"
hiccup before
for c in "${cases[@]}"; do
    IFS='|' read -r label prog flags others <<<"$c"
    [[ -z $only || ",$only," == *",${label%% *},"* ]] || continue
    ncases=$((ncases + 1))
    read -r -a argv <<<"$flags"
    read -r -a rts <<<"weft ${others:-go}"
    weft_banner "$label: $prog $flags (${rts[*]})"
    for ((i = 1; i <= runs; i++)); do
        # Rotate the order: run i starts with runtime (i-1) mod count.
        for ((k = 0; k < ${#rts[@]}; k++)); do
            rt=${rts[$(((i - 1 + k) % ${#rts[@]}))]}
            run_one "$label" "$rt" "$i" "$(binary_of "$rt" "$prog")" "${argv[@]}"
        done
    done
done

[[ $ncases -gt 0 ]] || weft_die "--only $only matches no case (cases: ${cases[*]%%|*})"
weft_banner "machine floor again"
hiccup after

weft_banner "weft vs the others ($(nproc) CPUs, $(go version | cut -d' ' -f3), $runs runs each; busy loops beside: $hogs; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
status=0
"$(weft_python)" scripts/compare_table.py --jsonl "$out/results.jsonl" "${table_args[@]}" || status=$?
printf '%s\n' "${hiccup_lines[@]}" >>"$out/results.jsonl"
echo "machine floor (longest stop of a busy plain thread): ${hiccup_lines[*]}"
echo "raw JSON lines: $out/results.jsonl; outputs: $out/out/"
if [[ $failed -ne 0 ]]; then
    weft_log "$failed run(s) failed"
    exit 1
fi
exit "$status"
