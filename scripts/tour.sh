#!/usr/bin/env bash
# tour.sh — the example tour: build weft's example workloads in release mode
# and run them (docs/BENCHMARKS.md): W1-W7, W9 and W10 at their default sizes
# (W7 also with --idle 100000), W8 (httpd under wrk) and the echo server
# checked by its client.
#
#   scripts/tour.sh
#
# Steps:
#  1. Install what is missing (scripts/lib.sh).
#  2. Configure build/release (-Dbuildtype=release -Dtests=false) unless it
#     already is, and build it.
#  3. Run spawn, park, yield, pingpong (--procs 1 and --procs 2), sieve,
#     binarytrees, gcpause (--idle 10000 and 100000), syscalls and chain, each
#     printing its own lines; their output is kept in build/release/tour/.
#     binarytrees and gcpause take about a minute together.
#  4. W8: start httpd --procs 1 (on CPU 0 when there are two or more),
#     load it with wrk -t1 -c100 for 5 s (on the other CPUs), stop it with
#     SIGINT; its JSON line gains wrk's requests/s and p99. Then the echo
#     server on loopback, checked by `echo --client` (every byte compared).
#  5. Print a table of every run's JSON result line (scripts/tour_table.py).
# Servers listen on 127.0.0.1 only (ports 18080 and 17007).
#
# Exit status 0 iff every workload passed its own result check and the
# stall detector (on by default) reported none of steps 3's runs.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ $# -gt 0 ]]; then
    [[ $1 == -h || $1 == --help ]] || weft_die "takes no arguments (usage: scripts/tour.sh)"
    echo "usage: scripts/tour.sh"
    exit 0
fi

weft_cd_root
WEFT_PACKAGES+=(wrk)  # W8's load generator
weft_ensure_packages

dir=build/release
weft_banner "building $dir"
weft_configure "$dir" -Dbuildtype=release -Dtests=false
weft_build "$dir"

# Each run: program, then its flags (W4 twice, as docs/BENCHMARKS.md asks; W7
# also with ten times the idle fibers).
runs=(
    "spawn"
    "park"
    "yield"
    "pingpong --procs 1"
    "pingpong --procs 2"
    "sieve"
    "binarytrees"
    "gcpause"
    "gcpause --idle 100000"
    "syscalls"
    "chain"
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
    "$dir/examples/${argv[0]}" "${argv[@]:1}" 2> >(tee "$file.err" >&2) | tee "$file" || status=$?
    [[ $status -eq 0 ]] || failed=$((failed + 1))
    table_args+=("$run=$status=$file")
done

# Runs "${@:2}" (a server) in the background with its stdout in $1, pinned
# to CPU 0 when possible; sets server_pid.
server_pid=
start_server() {
    local log=$1
    shift
    if [[ $(nproc) -ge 2 ]] && command -v taskset >/dev/null; then
        taskset -c 0 "$@" >"$log" &
    else
        "$@" >"$log" &
    fi
    server_pid=$!
}

# Waits until something accepts on 127.0.0.1:$1 (up to 5 s).
wait_port() {
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# Stops the server with SIGINT and waits for its clean shutdown.
stop_server() {
    kill -INT "$1" 2>/dev/null || true
    wait "$1"
}

weft_banner "httpd (W8) under wrk -t1 -c100 -d5s"
file=$out/httpd.out
status=0
start_server "$file" "$dir/examples/httpd" --procs 1 --addr 127.0.0.1:18080
if wait_port 18080; then
    wrk_cpus=()
    [[ $(nproc) -ge 2 ]] && command -v taskset >/dev/null && wrk_cpus=(taskset -c "1-$(($(nproc) - 1))")
    "${wrk_cpus[@]}" wrk -t1 -c100 -d5s --latency http://127.0.0.1:18080/ | tee "$out/wrk.out" || status=$?
else
    weft_log "httpd did not start listening"
    status=1
fi
stop_server "$server_pid" || status=$?
cat "$file"
"$(weft_python)" - "$file" "$out/wrk.out" <<'PY' || status=$?
# Adds wrk's requests/s and p99 to the server's JSON line, in place.
import json, re, sys
server, wrk = sys.argv[1], sys.argv[2]
lines = open(server).read().splitlines()
rec = json.loads(lines[-1])
text = open(wrk).read()
rps = re.search(r"Requests/sec:\s+([0-9.]+)", text)
p99 = re.search(r"^\s+99%\s+([0-9.]+)(us|ms|s)", text, re.M)
if not rps or not p99:
    sys.exit("tour: could not read wrk's requests/s and p99")
scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
rec["requests_per_s"] = round(float(rps.group(1)))
rec["p99_ms"] = round(float(p99.group(1)) * scale, 2)
lines[-1] = json.dumps(rec)
open(server, "w").write("\n".join(lines) + "\n")
PY
[[ $status -eq 0 ]] || failed=$((failed + 1))
table_args+=("httpd --procs 1 (wrk)=$status=$file")

weft_banner "echo server, checked by echo --client --conns 500"
file=$out/echo_client.out
status=0
start_server "$out/echo_server.out" "$dir/examples/echo" --addr 127.0.0.1:17007
if wait_port 17007; then
    "$dir/examples/echo" --client --addr 127.0.0.1:17007 --conns 500 | tee "$file" || status=$?
else
    weft_log "echo server did not start listening"
    status=1
fi
stop_server "$server_pid" || status=$?
[[ $status -eq 0 ]] || failed=$((failed + 1))
table_args+=("echo --client=$status=$file")

# The stall detector is on by default: a workload it reports is a failure.
for err in "$out"/*.err; do
    if grep -q "without a safe point" "$err"; then
        weft_log "the stall detector reported a fiber in ${err##*/}"
        failed=$((failed + 1))
    fi
done

weft_banner "tour results ($(nproc) CPUs; see docs/BENCHMARKS.md for what each figure means)"
"$(weft_python)" scripts/tour_table.py "${table_args[@]}"
if [[ $failed -ne 0 ]]; then
    weft_log "$failed workload run(s) failed"
    exit 1
fi
