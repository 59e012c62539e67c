#!/usr/bin/env bash
# consumer.sh — weft as a user gets it: install it, build a program outside
# the tree against the installed copy and as a meson subproject, run both.
# scripts/test.sh runs it as its "consumer" build.
#
#   scripts/consumer.sh
#
# Checks, each printed as "ok: ..." or "FAILED: ...":
#  1. a release build (tests and examples off) installs into
#     build/consumer/prefix;
#  2. the installed include/ holds exactly shipped_headers.txt's headers,
#     under include/weft/ (no sources, no private header);
#  3. the installed library has no test hooks and no "test hook" wait
#     reason in it (they exist only in builds that build the suites);
#  4. `pkg-config --cflags weft` is one -I;
#  5. examples/consumer/main.cpp compiles with -Wall -Wextra -Wpedantic
#     -Werror from the pkg-config flags alone, and runs;
#  6. examples/consumer as a meson project finds weft through pkg-config,
#     builds and passes its test;
#  7. the same project with weft as its subproject (subprojects/weft, a
#     link to this checkout) builds and passes its test;
#  8. examples/consumer/dump.cpp, built with -O2 -fomit-frame-pointer (no
#     frame pointers anywhere: neither it nor the release library has
#     them), dumps on SIGQUIT with a parked fiber's functions named in
#     order and a running fiber's stack taken on its thread;
#  9. gdb auto-loads the installed weft-gdb.py for that program and, at
#     its SIGQUIT, lists the fibers (info weft-fibers) and prints the
#     parked one's stack (weft-bt), with no debug info in libweft;
# 10. main.cpp run with WEFT_TRACE writes a trace that the installed
#     weft-trace reads: a summary naming the program's fibers, and a page.
# Ends with one line "consumer: N passed, N failed"; exit status 0 iff
# nothing failed.
set -uo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
weft_cd_root
weft_ensure_packages

root=$PWD
work=$root/build/consumer
prefix=$work/prefix
passed=0
failed=0

check() {  # description command...
    local what=$1
    shift
    if "$@"; then
        echo "ok: $what"
        passed=$((passed + 1))
    else
        echo "FAILED: $what"
        failed=$((failed + 1))
    fi
}

install_release() {
    rm -rf "$prefix"
    weft_configure "$work/lib" -Dbuildtype=release -Dtests=false -Dexamples=false --prefix="$prefix" \
        --libdir=lib >/dev/null &&
        weft_build "$work/lib" >/dev/null &&
        meson install -C "$work/lib" --no-rebuild >/dev/null
}

installed_headers_are_shipped() {
    local want got
    want=$(sed 's/#.*//' shipped_headers.txt | awk 'NF == 2 { print "weft/" $1 }' | sort)
    got=$(cd "$prefix/include" && find . -type f | sed 's|^\./||' | sort)
    if [[ $want != "$got" ]]; then
        diff <(echo "$want") <(echo "$got") | sed 's/^/  /' >&2
        return 1
    fi
}

no_test_code_installed() {
    local lib=$prefix/lib/libweft.so
    [[ -f $lib ]] || { echo "  no $lib" >&2; return 1; }
    local syms
    syms=$(nm -D --defined-only "$lib") || return 1
    if [[ $syms == *g_test_hook* ]]; then
        echo "  $lib exports the test hook" >&2
        return 1
    fi
    if grep -aq 'test hook' "$lib"; then
        echo "  $lib holds the 'test hook' wait reason" >&2
        return 1
    fi
}

pc() { PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config "$@"; }

one_include_dir() {
    local cflags words
    cflags=$(pc --cflags weft) || return 1
    read -r -a words <<<"$cflags"
    [[ ${#words[@]} -eq 1 && ${words[0]} == "-I$prefix/include" ]] ||
        { echo "  pkg-config --cflags weft: '$cflags'" >&2; return 1; }
}

plain_compile_and_run() {
    # shellcheck disable=SC2046  # pkg-config's flags are a word list
    g++ -std=c++20 -O2 -Wall -Wextra -Wpedantic -Werror examples/consumer/main.cpp -o "$work/plain" \
        $(pc --cflags --libs weft) &&
        LD_LIBRARY_PATH=$prefix/lib "$work/plain" >"$work/plain.out" 2>&1 ||
        { sed 's/^/  /' "$work/plain.out" >&2 2>/dev/null; return 1; }
}

meson_project() {  # build dir, extra setup args...
    local dir=$1
    shift
    rm -rf "$dir"
    meson setup "$dir" "$@" >"$dir.log" 2>&1 && ninja -C "$dir" >>"$dir.log" 2>&1 &&
        meson test -C "$dir" --no-rebuild --print-errorlogs >>"$dir.log" 2>&1 ||
        { tail -30 "$dir.log" | sed 's/^/  /' >&2; return 1; }
}

with_pkg_config() {
    PKG_CONFIG_PATH=$prefix/lib/pkgconfig LD_LIBRARY_PATH=$prefix/lib \
        meson_project "$work/pc" examples/consumer --wrap-mode=nofallback
}

as_subproject() {
    # The consumer's own tree, outside this one, with weft in subprojects/.
    local src=$work/subproject-src
    rm -rf "$src"
    mkdir -p "$src/subprojects"
    cp examples/consumer/meson.build examples/consumer/main.cpp "$src/"
    ln -s "$root" "$src/subprojects/weft"
    # No LD_LIBRARY_PATH: the program must run on the subproject's library.
    PKG_CONFIG_PATH=/nonexistent meson_project "$work/sub" "$src" --force-fallback-for=weft || return 1
    # Not `ldd | grep -q` (nor nm's, above): grep quitting at the match can
    # kill the writer with SIGPIPE, which pipefail reports as a failure.
    local libs
    libs=$(ldd "$work/sub/consumer") || return 1
    [[ $libs == *"$work/sub/subprojects/weft/libweft.so"* ]] ||
        { echo "  $work/sub/consumer does not use the subproject's libweft.so: $libs" >&2; return 1; }
}

dump_without_frame_pointers() {
    # shellcheck disable=SC2046  # pkg-config's flags are a word list
    g++ -std=c++20 -O2 -g -fomit-frame-pointer examples/consumer/dump.cpp -o "$work/dump" \
        $(pc --cflags --libs weft) || return 1
    local out status
    out=$(LD_LIBRARY_PATH=$prefix/lib timeout 60 "$work/dump" 2>&1)
    status=$?
    local want=("level3(weft::Chan<int>&)" "level2(weft::Chan<int>&)" "level1(weft::Chan<int>&)")
    local rest=$out w
    [[ $status -eq 2 ]] || { echo "  exit status $status, not 2" >&2; echo "$out" | sed 's/^/  /' >&2; return 1; }
    for w in "${want[@]}"; do
        [[ $rest == *$'\t'"$w"$'\n'* ]] || { echo "  no frame '$w' (in order) in:" >&2; echo "$out" | sed 's/^/  /' >&2; return 1; }
        rest=${rest#*$'\t'"$w"$'\n'}
    done
    [[ $out == *$'\tspin_here()\n'* ]] || { echo "  no frame 'spin_here()' in:" >&2; echo "$out" | sed 's/^/  /' >&2; return 1; }
}

gdb_auto_loads_the_extension() {
    local script
    script=$(find "$prefix/share/gdb/auto-load" -name 'libweft.so-gdb.py' 2>/dev/null)
    [[ -n $script ]] || { echo "  no libweft.so-gdb.py under $prefix/share/gdb/auto-load" >&2; return 1; }
    local out id
    out=$(LD_LIBRARY_PATH=$prefix/lib timeout 120 gdb -nx -batch -iex 'set debuginfod enabled off' \
        -iex "add-auto-load-scripts-directory $prefix/share/gdb/auto-load" -iex 'set auto-load safe-path /' \
        -ex run -ex 'info weft-fibers' "$work/dump" 2>&1)
    id=$(sed -n 's/^ *\([0-9][0-9]*\)  waiting   chan receive.*/\1/p' <<<"$out" | head -1)
    [[ -n $id ]] || { echo "  info weft-fibers listed no fiber waiting on a channel:" >&2; echo "$out" | sed 's/^/  /' >&2; return 1; }
    out=$(LD_LIBRARY_PATH=$prefix/lib timeout 120 gdb -nx -batch -iex 'set debuginfod enabled off' \
        -iex "add-auto-load-scripts-directory $prefix/share/gdb/auto-load" -iex 'set auto-load safe-path /' \
        -ex run -ex "weft-bt $id" "$work/dump" 2>&1)
    [[ $out == *"level3 ("*"level2 ("*"level1 ("* ]] ||
        { echo "  weft-bt $id did not show level3, level2, level1 in order:" >&2; echo "$out" | sed 's/^/  /' >&2; return 1; }
}

installed_weft_trace_reads_a_trace() {
    local tool=$prefix/bin/weft-trace trace=$work/plain.wtrace out
    [[ -x $tool ]] || { echo "  no $tool" >&2; return 1; }
    rm -f "$trace"
    WEFT_TRACE=$trace LD_LIBRARY_PATH=$prefix/lib "$work/plain" >/dev/null 2>&1 || return 1
    out=$("$tool" summary "$trace" 2>&1) || { echo "$out" | sed 's/^/  /' >&2; return 1; }
    [[ $out == *"weft trace of plain"* && $out == *"Fibers by time running"* && $out == *"main.cpp:"* ]] ||
        { echo "  the summary does not name the program and its fibers:" >&2; echo "$out" | sed 's/^/  /' >&2; return 1; }
    "$tool" html "$trace" -o "$work/plain.html" 2>/dev/null && grep -q 'main.cpp:' "$work/plain.html" ||
        { echo "  weft-trace html wrote no page naming main.cpp's fibers" >&2; return 1; }
}

mkdir -p "$work"
check "a release build installs into build/consumer/prefix" install_release
check "the install holds exactly the shipped headers" installed_headers_are_shipped
check "the installed library has no test hooks" no_test_code_installed
check "pkg-config --cflags weft is one -I" one_include_dir
check "main.cpp builds warning-free from pkg-config's flags and runs" plain_compile_and_run
check "the consumer project builds against the installed weft (pkg-config) and passes" with_pkg_config
check "the consumer project builds with weft as a subproject and passes" as_subproject
check "a build without frame pointers dumps every fiber's stack, named" dump_without_frame_pointers
check "gdb auto-loads weft-gdb.py: info weft-fibers and weft-bt" gdb_auto_loads_the_extension
check "the installed weft-trace reads a trace the installed library wrote" installed_weft_trace_reads_a_trace
echo "consumer: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
