#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ensconce-run as PID 1 of a SCRATCH container built with `ensconce image build` (only the static
# runtime, run.json and a static service):
# exit codes propagated, TERM/INT/HUP/QUIT/USR1/USR2 forwarded, 128+N when the service is killed,
# orphans reaped; and the refusals: a changed byte in the service, a CAS with another identity, a CAS
# that is down (clear error within the configured timeout), each one line naming cause and config id.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
. "$ENSCONCE_SOURCE_ROOT/tests/run/lib.sh"
need_root
need runc jq gcc
[ "${SANITIZED:-none}" = none ] || skip "the static runtime is not built with sanitizers"
cc -static -O2 -o "$TMP/svc" "$ENSCONCE_SOURCE_ROOT/tests/run/svc/svc.c" 2>/dev/null || skip "no static libc"

start_services
ID=rtp$$
# The scratch image, built with `ensconce image build` (no base image) and unpacked as runc would get it.
mkdir -p "$TMP/stage/.ensconce"
write_run_json "$TMP/stage" "$ID/svc" '{"exe": "/bin/svc"}'
"$ENSCONCE" image build --file "$RUN_BIN:/.ensconce/bin/ensconce-run" --file "$TMP/svc:/bin/svc" \
    --file "$TMP/stage/.ensconce/run.json:/.ensconce/run.json" --entrypoint /.ensconce/bin/ensconce-run \
    "oci:$TMP/image" >/dev/null
ROOT=$TMP/rootfs
"$ENSCONCE" image unpack "oci:$TMP/image" "$ROOT"
[ "$(find "$ROOT" -type f | wc -l)" = 3 ] || fail "the scratch root holds more than the runtime, run.json and the service"
mkdir -p "$ROOT/etc"
M=$(measure "$ROOT")

# One session, one service per behaviour (the command comes from the CAS).
session() {
    {
        printf 'name: %s\nversion: "0.3"\nsecurity:\n  attestation: {mode: simulation}\nservices:\n' "$ID"
        printf '  - {name: svc, mrenclaves: [%s], command: [/bin/svc, %s]}\n' "$M" "$1"
    }
}
VERSION_HASH=""
set_command() { # updates the session's command
    session "$1" >"$TMP/s.yaml"
    if [ -n "$VERSION_HASH" ]; then echo "predecessor: $VERSION_HASH" >>"$TMP/s.yaml"; fi
    VERSION_HASH=$(post_session "$TMP/s.yaml" | jq -r .hash)
}

make_bundle "$TMP/b" "$ROOT"

# Exit status.
set_command "exit, 7"
run_ctr "$TMP/b" "$ID-exit"
assert_eq "$RC" 7 "exit status of the service"
pass "exit status propagated"

# start_bg NAME: runs the container in the background and waits for the service's "ready".
start_bg() {
    runc run --bundle "$TMP/b" "$1" >"$TMP/$1.out" 2>"$TMP/$1.err" </dev/null &
    BG=$!
    for _ in $(seq 100); do grep -q ready "$TMP/$1.out" 2>/dev/null && return 0; sleep 0.1; done
    fail "$1 did not start: $(cat "$TMP/$1.err")"
}
wait_bg() {
    set +e
    wait "$BG"
    RC=$?
    set -e
    runc delete -f "$1" >/dev/null 2>&1 || true
}

set_command trap
for sig in TERM INT HUP QUIT USR1 USR2; do
    n=$(kill -l "$sig")
    start_bg "$ID-$sig"
    runc kill "$ID-$sig" "$sig"
    wait_bg "$ID-$sig"
    assert_eq "$RC" "$((40 + n))" "SIG$sig forwarded to the service"
done
pass "TERM INT HUP QUIT USR1 USR2 forwarded"

set_command die
start_bg "$ID-die"
runc kill "$ID-die" USR1
wait_bg "$ID-die"
assert_eq "$RC" "$((128 + $(kill -l USR1)))" "status of a service killed by SIGUSR1"
pass "128+signal when the service is killed"

set_command "orphans, 20"
start_bg "$ID-orph"
PID1=$(runc state "$ID-orph" | jq -r .pid)
sleep 0.5
Z=$(ps --ppid "$PID1" -o stat= | grep -c Z || true)
ALL=$(ps --ppid "$PID1" -o pid= | wc -l)
runc kill "$ID-orph" TERM
wait_bg "$ID-orph"
assert_eq "$Z" 0 "zombies under PID 1"
assert_eq "$ALL" 1 "children of PID 1 (only the service should remain)"
assert_eq "$RC" 0 "status after TERM"
pass "20 orphans reaped"

# --- refusals: one line each, naming the cause and the config id, non-zero ---
one_line_failure() { # NAME WHAT
    [ "$RC" != 0 ] || fail "$2: the container succeeded"
    [ "$RC" -lt 128 ] || fail "$2: crashed ($RC)"
    local err
    err=$(cat "$TMP/$1.err")
    [ "$(wc -l <"$TMP/$1.err")" = 1 ] || fail "$2: expected one line, got: $err"
    assert_contains "$err" "config $ID/svc" "$2"
    [ -s "$TMP/$1.out" ] && fail "$2: the service ran: $(cat "$TMP/$1.out")"
    echo "  $2: $err"
}

set_command "exit, 0"
cp "$ROOT/bin/svc" "$TMP/svc.orig"
printf 'X' | dd of="$ROOT/bin/svc" bs=1 seek=$(($(stat -c %s "$ROOT/bin/svc") - 100)) conv=notrunc status=none
run_ctr "$TMP/b" "$ID-tamper"
one_line_failure "$ID-tamper" "changed byte in the service"
assert_contains "$(cat "$TMP/$ID-tamper.err")" "attestation"
cp "$TMP/svc.orig" "$ROOT/bin/svc"
pass "a changed byte in the service binary is refused"

run_ctr "$TMP/b" "$ID-ok"
assert_eq "$RC" 0 "restored binary"

# A CAS with another identity (the pin names some other key).
write_run_json "$ROOT" "$ID/svc" '{"exe": "/bin/svc"}' "$(printf '%064d' 7)"
run_ctr "$TMP/b" "$ID-pin"
one_line_failure "$ID-pin" "CAS with another identity"
pass "a CAS with another identity is refused"

# The CAS down: a clear error within the configured timeout (3 s here).
write_run_json "$ROOT" "$ID/svc" '{"exe": "/bin/svc"}'
DOWN=$(free_port)
jq --arg a "127.0.0.1:$DOWN" '.cas_addr = $a | .timeout_s = 3' "$ROOT/.ensconce/run.json" >"$TMP/r.json"
cp "$TMP/r.json" "$ROOT/.ensconce/run.json"
T0=$(date +%s%N)
run_ctr "$TMP/b" "$ID-down"
T1=$(date +%s%N)
one_line_failure "$ID-down" "CAS down"
assert_contains "$(cat "$TMP/$ID-down.err")" "127.0.0.1:$DOWN"
MS=$(((T1 - T0) / 1000000))
[ "$MS" -ge 2500 ] && [ "$MS" -le 6000 ] || fail "CAS down: gave up after $MS ms (timeout 3 s)"
pass "CAS down: clear error after $MS ms (timeout 3 s)"

# The replaced product's variable names work too, and host names are resolved without NSS (static
# runtime, scratch image): evdns reads the image's /etc/hosts.
write_run_json "$ROOT" "other/x" '{"exe": "/bin/svc"}'
printf '127.0.0.1 cas.example.test las.example.test\n' >"$ROOT/etc/hosts"
make_bundle "$TMP/b2" "$ROOT"
run_ctr "$TMP/b2" "$ID-scone" "SCONE_CONFIG_ID=$ID/svc" "SCONE_CAS_ADDR=cas.example.test:${CAS_ADDR##*:}" \
    "SCONE_LAS_ADDR=las.example.test:${LAS_ADDR##*:}"
assert_eq "$RC" 0 "SCONE_* variables: $(cat "$TMP/$ID-scone.err")"
pass "SCONE_CONFIG_ID / SCONE_CAS_ADDR / SCONE_LAS_ADDR accepted, names resolved from /etc/hosts"
rm "$ROOT/etc/hosts"
run_ctr "$TMP/b2" "$ID-nohost"
one_line_failure "$ID-nohost" "unresolvable CAS name"
assert_contains "$(cat "$TMP/$ID-nohost.err")" "cas.example.test"
pass "an unresolvable CAS name: one line"
