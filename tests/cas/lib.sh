# SPDX-License-Identifier: Apache-2.0
# Helpers for the CAS/LAS integration tests: real ensconce-cas and ensconce-las processes
# on loopback, clients with their own configuration directories.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"

CAS_BIN=$ENSCONCE_BUILD_ROOT/src/ensconce-cas/ensconce-cas
LAS_BIN=$ENSCONCE_BUILD_ROOT/src/ensconce-las/ensconce-las
ATTEST_BIN=$ENSCONCE_BUILD_ROOT/tests/cas/ens-test-attest
[ -x "$CAS_BIN" ] || fail "ensconce-cas not built"

# client NAME: use (and create) the client configuration NAME; prints nothing.
client() { export ENSCONCE_CONFIG_DIR=$TMP/client-$1; mkdir -p "$ENSCONCE_CONFIG_DIR"; }
# key_of NAME: that client's key hash.
key_of() { ENSCONCE_CONFIG_DIR=$TMP/client-$1 "$ENSCONCE" cas identity; }

# start_cas [extra args]: CAS_PORT, CAS_APORT, CAS_PID, CAS_DATA, CAS_ADDR, CAS_AADDR, CAS_PIN.
start_cas() {
    CAS_DATA=${CAS_DATA:-$TMP/cas}
    CAS_PORT=${CAS_PORT:-$(free_port)}
    CAS_APORT=${CAS_APORT:-$(free_port)}
    "$CAS_BIN" --data "$CAS_DATA" --listen "127.0.0.1:$CAS_PORT" --attest-listen "127.0.0.1:$CAS_APORT" \
        --admin "$(key_of admin)" "$@" 2>>"$TMP/cas.log" &
    CAS_PID=$!
    add_cleanup "kill -9 $CAS_PID"
    wait_port 127.0.0.1 "$CAS_PORT"
    wait_port 127.0.0.1 "$CAS_APORT"
    CAS_ADDR=127.0.0.1:$CAS_PORT
    CAS_AADDR=127.0.0.1:$CAS_APORT
    CAS_PIN=$("$CAS_BIN" identity --data "$CAS_DATA")
    CAS_MEASUREMENT=$("$CAS_BIN" measurement)
}
stop_cas() { kill "$CAS_PID" 2>/dev/null || true; wait "$CAS_PID" 2>/dev/null || true; }

# start_las NAME: LAS_ADDR_<NAME> and LAS_SOCK_<NAME>; the node key lives in $TMP/las-NAME.
start_las() {
    local name=$1 port
    port=$(free_port)
    "$LAS_BIN" --state-dir "$TMP/las-$name" --listen "127.0.0.1:$port" --socket "$TMP/las-$name.sock" \
        2>>"$TMP/las-$name.log" &
    add_cleanup "kill -9 $!"
    wait_port 127.0.0.1 "$port"
    eval "LAS_ADDR_$name=127.0.0.1:$port"
    eval "LAS_SOCK_$name=unix:$TMP/las-$name.sock"
}

# attest_cas: the current client attests and pins the CAS.
attest_cas() { "$ENSCONCE" cas attest "$CAS_ADDR" --measurement "$CAS_MEASUREMENT" >/dev/null; }

# runtime LAS_ADDR CONFIG_ID MEASUREMENT [mode] [--tag ...]: the runtime side; sets OUT and RC.
runtime() {
    local las=$1 cid=$2 m=$3 mode=${4:-honest}
    shift 3; [ $# -gt 0 ] && shift
    set +e
    OUT=$("$ATTEST_BIN" --cas "$CAS_AADDR" --pin "$CAS_PIN" --las "$las" --config-id "$cid" --measurement "$m" \
        --mode "$mode" "$@" 2>"$TMP/runtime.err")
    RC=$?
    set -e
    ERR=$(cat "$TMP/runtime.err")
}

# audit_has ACTION OBJECT RESULT [TEXT]: the (verified) audit log holds such an entry.
audit_has() {
    local log
    log=$("$ENSCONCE" cas audit verify --data "$CAS_DATA" -v) || fail "audit verify failed: $log"
    grep -F -- " $1 $2 $3" <<<"$log" | grep -qF -- "${4:-}" || fail "no audit entry '$1 $2 $3 ${4:-}' in: $log"
}

M1=1111111111111111111111111111111111111111111111111111111111111111
M2=2222222222222222222222222222222222222222222222222222222222222222

# finish: stops the services gracefully and fails on any sanitizer report in their logs
# (in the ASan/UBSan tree this catches errors and leaks inside the servers).
finish() {
    local p
    for p in $(jobs -p); do kill -TERM "$p" 2>/dev/null || true; done
    for p in $(jobs -p); do wait "$p" 2>/dev/null || true; done
    if grep -lE "AddressSanitizer|LeakSanitizer|runtime error:" "$TMP"/*.log 2>/dev/null; then
        grep -hE -A30 "AddressSanitizer|LeakSanitizer|runtime error:" "$TMP"/*.log | head -80 >&2
        fail "sanitizer report in a service log"
    fi
}
