# SPDX-License-Identifier: Apache-2.0
# Shared helpers for shell integration tests.  Source it first thing:
#   . "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
set -euo pipefail

TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}
ENSCONCE=${ENSCONCE:?run through meson test}
PYTHON=${PYTHON:-/usr/bin/python3}
TMP=$(mktemp -d "/tmp/ens-${TEST_NAME}-XXXXXX")
_cleanups=()

on_exit() { add_cleanup "$@"; }
add_cleanup() { _cleanups+=("$*"); }
_run_cleanups() {
    local rc=$?
    for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[$i]}" >/dev/null 2>&1 || true; done
    rm -rf "$TMP"
    exit $rc
}
trap _run_cleanups EXIT

skip() { echo "SKIP: $TEST_NAME: $*"; exit 77; }
fail() { echo "FAIL: $TEST_NAME: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }
need() { for c in "$@"; do command -v "$c" >/dev/null 2>&1 || skip "$c is not installed"; done; }
need_root() { [ "$(id -u)" = 0 ] || skip "needs root"; }

# The read-only inputs in ../shared/ (absent on a user's clone: skip by name).
shared_dir() {
    local d=${ENSCONCE_SHARED:-$ENSCONCE_SHARED_DEFAULT}
    [ -d "$d" ] || skip "shared inputs not found at $d (set ENSCONCE_SHARED)"
    echo "$d"
}

assert_eq() { [ "$1" = "$2" ] || fail "${3:-values differ}: expected '$2', got '$1'"; }
assert_contains() { grep -qF -- "$2" <<<"$1" || fail "${3:-output}: expected to contain '$2', got: $1"; }
# Runs a command that must fail; its combined output goes to $OUT.
expect_fail() {
    set +e
    OUT=$("$@" 2>&1)
    local rc=$?
    set -e
    [ $rc -ne 0 ] || fail "expected failure from: $*"
    [ $rc -lt 128 ] || fail "crashed (status $rc): $*: $OUT"
}

# A free TCP port on loopback.
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # host port [seconds]
    local i
    for ((i = 0; i < ${3:-20} * 10; i++)); do
        (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
        sleep 0.1
    done
    fail "nothing listening on $1:$2"
}
