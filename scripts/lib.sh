# lib.sh — what scripts/test.sh and scripts/tour.sh share. Sourced, not run.
#
#   weft_cd_root                  cd to the repository root (this file's ..)
#   weft_ensure_packages          install the Debian packages weft needs, if
#                                 any is missing (apt-get, as root or via sudo)
#   weft_configure DIR OPTS...    meson setup DIR with OPTS (-Dkey=value),
#                                 unless DIR is already configured with them;
#                                 wipes and reconfigures if configured otherwise
#   weft_build DIR                build DIR with ninja
#   weft_python                   prints the python3 to run the helper scripts
#   weft_log / weft_die MSG       a message / a fatal error (exit 2)
#   weft_banner TITLE             a section heading in the output
#
# Messages go to stderr prefixed with the calling script's name; a fatal
# problem exits with status 2 (test failures are the callers' business).
# shellcheck shell=bash

# The Debian 12 packages a build needs: compiler, build tools, the
# libraries the runtime links (Boost.Context, fmt, libdw, OpenSSL), the test
# framework, and the real peers the suites drive: gdb, node (the trace
# page's script), curl (the HTTP server's client), openssl (TLS peers and
# the tests' certificates), Python's websockets (the WebSocket client).
WEFT_PACKAGES=(g++ meson ninja-build pkg-config libboost-context-dev libfmt-dev libdw-dev libssl-dev doctest-dev gdb nodejs curl openssl python3-websockets)

# Parallel build jobs: the CPUs we may use, unless WEFT_JOBS says otherwise.
WEFT_JOBS="${WEFT_JOBS:-$(nproc 2>/dev/null || echo 2)}"

weft_log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
weft_die() {
    weft_log "error: $*"
    exit 2
}

# Prints a banner line so the phases stand out in long CI logs.
weft_banner() { printf '\n==== %s ====\n' "$*"; }

weft_cd_root() {
    cd "$(dirname "${BASH_SOURCE[0]}")/.." || weft_die "cannot cd to the repository root"
}

# True if the Debian package is installed (not merely known to dpkg).
weft_pkg_installed() {
    dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'
}

weft_ensure_packages() {
    if ! command -v dpkg >/dev/null 2>&1; then
        weft_log "no dpkg here (not Debian?): assuming ${WEFT_PACKAGES[*]} are installed"
        return 0
    fi
    local missing=() p
    for p in "${WEFT_PACKAGES[@]}"; do
        weft_pkg_installed "$p" || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0

    local -a as_root=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 ||
            weft_die "missing packages: ${missing[*]}; not root and no sudo — install them with: apt-get install ${missing[*]}"
        as_root=(sudo)
        [[ -t 0 ]] || as_root+=(-n)  # no terminal (CI): never wait for a password
    fi
    weft_log "installing missing packages: ${missing[*]}"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
        weft_die "apt-get update failed; install by hand: apt-get install ${missing[*]}"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
        weft_die "apt-get install failed; install by hand: apt-get install ${missing[*]}"
}

weft_python() {
    if [[ -x /usr/bin/python3 ]]; then echo /usr/bin/python3; else command -v python3 || weft_die "python3 not found"; fi
}

# True if DIR is a meson build directory whose options include every given
# -Dkey=value (values compared as meson prints them: booleans true/false,
# lists comma-joined).
weft_options_match() {
    local dir=$1
    shift
    [[ -f $dir/meson-private/coredata.dat ]] || return 1
    meson introspect "$dir" --buildoptions 2>/dev/null | "$(weft_python)" -c '
import json, sys
have = {}
for o in json.load(sys.stdin):
    v = o["value"]
    if isinstance(v, bool): v = "true" if v else "false"
    elif isinstance(v, list): v = ",".join(map(str, v))
    have[o["name"]] = str(v)
for arg in sys.argv[1:]:
    key, _, want = arg[2:].partition("=")
    if have.get(key) != want:
        sys.exit(1)
' "$@"
}

weft_configure() {
    local dir=$1
    shift
    if weft_options_match "$dir" "$@"; then
        return 0
    fi
    if [[ -f $dir/meson-private/coredata.dat ]]; then
        weft_log "$dir was configured with other options: reconfiguring from scratch"
        meson setup --wipe "$dir" "$@"
    else
        meson setup "$dir" "$@"
    fi
}

weft_build() {  # dir [targets...]
    local dir=$1
    shift
    ninja -C "$dir" -j "$WEFT_JOBS" "$@"
}
