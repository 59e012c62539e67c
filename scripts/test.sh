#!/usr/bin/env bash
# test.sh — THE test command: build weft and run the whole doctest suite in
# three builds, then print the totals.
#
#   scripts/test.sh                 debug, ASan+UBSan, TSan, fault, consumer
#   scripts/test.sh --quick         the debug build only
#   scripts/test.sh --only asan     one build: debug | asan | tsan | fault | consumer
#
# Steps:
#  1. Install what is missing (scripts/lib.sh: g++, meson, ninja, Boost.Context,
#     fmt, doctest; apt-get, as root or through sudo).
#  2. For each build: configure build/test-<name> (only if not yet configured
#     with these options), build it, run `meson test`. A failing build or
#     test run does not stop the others.
#  3. Count doctest test cases from each build's meson-logs/testlog.json
#     (scripts/testlog_totals.py; a binary that crashed counts as 1 failed).
#     The consumer "build" is scripts/consumer.sh: weft installed, and a
#     program outside the tree built against the install and as a meson
#     subproject; each of its checks counts as a test case.
#  4. Print a table per build, then exactly one line "N passed, N failed".
#
# Exit status 0 iff nothing failed and at least one test case passed; 2 on a
# usage or setup error. TSan: on kernels whose address-space randomisation
# TSan cannot handle ("unexpected memory mapping"), the TSan tests are rerun
# under `setarch <arch> -R` (randomisation off).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    echo "usage: scripts/test.sh [--quick] [--only debug|asan|tsan|fault|consumer]"
}

# Build name -> meson options. Examples are built too: the suite tests the
# example servers' cores (tests/examples) and every example must compile
# under the sanitizers. The fault build re-introduces the syscall-return
# race (meson option fault_late_shade) and runs only the replay of it
# (suite gcrace), which passes there only if it catches the bug.
declare -A BUILD_OPTS=(
    [debug]="-Dbuildtype=debug -Dexamples=true"
    [asan]="-Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Dexamples=true"
    [tsan]="-Dbuildtype=debug -Db_sanitize=thread -Dexamples=true"
    [fault]="-Dbuildtype=debug -Dfault_late_shade=true -Dexamples=false"
)
declare -A BUILD_TARGETS=([fault]="tests/test_gcrace")
declare -A TEST_ARGS=([fault]="--suite gcrace")
builds=(debug asan tsan fault consumer)

while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) builds=(debug) ;;
        --only)
            [[ $# -ge 2 && (-n ${BUILD_OPTS[${2:-none}]+set} || $2 == consumer) ]] ||
                { usage >&2; weft_die "--only takes debug, asan, tsan, fault or consumer"; }
            builds=("$2")
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            usage >&2
            weft_die "unknown argument '$1'"
            ;;
    esac
    shift
done

weft_cd_root
weft_ensure_packages
PY=$(weft_python)

# Runs the tests of build dir $1 (its name is $2); returns meson's status.
run_tests() {
    local dir=$1 name=$2 rc=0
    # shellcheck disable=SC2086  # TEST_ARGS is a word list on purpose
    meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 2 ${TEST_ARGS[$name]:-} || rc=$?
    if [[ $name == tsan && $rc -ne 0 ]] && grep -q 'unexpected memory mapping' "$dir/meson-logs/testlog.json" 2>/dev/null; then
        local arch
        arch=$(uname -m)
        if setarch "$arch" -R true 2>/dev/null; then
            weft_log "TSan hit 'unexpected memory mapping': rerunning the TSan tests under setarch $arch -R"
            rc=0
            setarch "$arch" -R meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 2 || rc=$?
        else
            weft_log "TSan hit 'unexpected memory mapping' and setarch -R is not permitted here"
        fi
    fi
    return "$rc"
}

declare -A STATUS PASSED FAILED NOTE
for name in "${builds[@]}"; do
    if [[ $name == consumer ]]; then
        weft_banner "consumer (scripts/consumer.sh)"
        out=$(scripts/consumer.sh 2>&1) && STATUS[$name]=ok || STATUS[$name]="checks failed"
        echo "$out"
        if [[ $(tail -n 1 <<<"$out") =~ ^consumer:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
            PASSED[$name]=${BASH_REMATCH[1]}
            FAILED[$name]=${BASH_REMATCH[2]}
            NOTE[$name]=-
            [[ ${STATUS[$name]} == ok ]] || NOTE[$name]="see the FAILED lines above"
        else
            PASSED[$name]=0
            FAILED[$name]=1
            NOTE[$name]="scripts/consumer.sh ended without its totals line"
        fi
        continue
    fi
    dir=build/test-$name
    weft_banner "$name build ($dir)"
    # shellcheck disable=SC2086  # the options are a word list on purpose
    # shellcheck disable=SC2086
    if ! weft_configure "$dir" ${BUILD_OPTS[$name]} || ! weft_build "$dir" ${BUILD_TARGETS[$name]:-}; then
        STATUS[$name]="build failed"
        PASSED[$name]=0
        FAILED[$name]=1
        NOTE[$name]="configure or build failed (see above)"
        continue
    fi
    rm -f "$dir/meson-logs/testlog.json"
    if run_tests "$dir" "$name"; then STATUS[$name]=ok; else STATUS[$name]="tests failed"; fi
    read -r passed failed note < <("$PY" scripts/testlog_totals.py "$dir")
    PASSED[$name]=$passed
    FAILED[$name]=$failed
    NOTE[$name]=$note
    # A failed run whose log shows no failure (meson itself failed) still fails.
    if [[ ${STATUS[$name]} != ok && ${FAILED[$name]} -eq 0 ]]; then
        FAILED[$name]=1
        NOTE[$name]="meson test failed without a failing test case (see above)"
    fi
done

weft_banner "summary"
total_passed=0
total_failed=0
printf '%-6s  %-12s  %7s  %7s  %s\n' build status passed failed note
for name in "${builds[@]}"; do
    printf '%-6s  %-12s  %7d  %7d  %s\n' "$name" "${STATUS[$name]}" "${PASSED[$name]}" "${FAILED[$name]}" "${NOTE[$name]}"
    total_passed=$((total_passed + PASSED[$name]))
    total_failed=$((total_failed + FAILED[$name]))
done
echo "$total_passed passed, $total_failed failed"
[[ $total_failed -eq 0 && $total_passed -gt 0 ]]
