#!/usr/bin/env bash
# build.sh — builds the Boehm GC twin of W6 (bench/boehm/binarytrees.cpp).
#
#   bench/boehm/build.sh OUTPUT
#
# Compiles with the system c++ (-O2 -std=c++20) against bdw-gc as
# pkg-config finds it (Debian: apt-get install libgc-dev). Extra compiler
# flags may be given in CXXFLAGS (e.g. CXXFLAGS="-Wall -Wextra").
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUTPUT" >&2
    exit 2
fi
out=$1
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
src=$root/bench/boehm/binarytrees.cpp
# Peak RSS and host steal as weft's examples measure them (plain C++).
common=("$root/examples/common/rss.cpp" "$root/examples/common/steal.cpp")

if ! command -v pkg-config >/dev/null 2>&1; then
    echo "$0: pkg-config not found (Debian: apt-get install pkg-config)" >&2
    exit 1
fi
if ! pkg-config --exists bdw-gc; then
    echo "$0: pkg-config cannot find bdw-gc (Boehm GC); install it (Debian: apt-get install libgc-dev)" >&2
    exit 1
fi

# shellcheck disable=SC2046,SC2086  # pkg-config output and CXXFLAGS are word lists
c++ -O2 -std=c++20 ${CXXFLAGS:-} $(pkg-config --cflags bdw-gc) -I"$root/examples" -o "$out" "$src" "${common[@]}" \
    $(pkg-config --libs bdw-gc) -pthread
