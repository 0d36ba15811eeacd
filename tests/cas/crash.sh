#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kill -9 of the CAS during a stream of concurrent updates: after a restart every
# acknowledged update is there (the current hash is the last acknowledged one, or the one
# in flight at the kill), and the audit chain verifies.
. "$ENSCONCE_SOURCE_ROOT/tests/cas/lib.sh"
client admin
start_cas
attest_cas
WORKERS=6

doc() { # NAME N
    cat <<YAML
name: $1
version: "0.3"
services:
  - {name: svc, mrenclaves: [$M1], command: ./x --round $2}
secrets:
  - {name: s, kind: ascii}
YAML
}
for w in $(seq 1 $WORKERS); do
    doc "w$w" 0 >"$TMP/w$w.yaml"
    "$ENSCONCE" session create --cas "$CAS_ADDR" "$TMP/w$w.yaml" >"$TMP/w$w.acked"
done

worker() { # W: updates session wW until the CAS goes away; records in-flight and acked hashes
    local w=$1 i=1 cur h
    cur=$(cat "$TMP/w$w.acked")
    while :; do
        doc "w$w" "$i" | sed "1a predecessor: \"$cur\"" >"$TMP/w$w.next.yaml"
        h=$("$ENSCONCE" session hash "$TMP/w$w.next.yaml")
        echo "$h" >"$TMP/w$w.inflight"
        if out=$("$ENSCONCE" session update --cas "$CAS_ADDR" "$TMP/w$w.next.yaml" 2>/dev/null); then
            [ "$out" = "$h" ] || { echo "hash mismatch $out $h" >"$TMP/w$w.bad"; return; }
            echo "$h" >"$TMP/w$w.acked"
            echo >>"$TMP/w$w.count"
            cur=$h
            i=$((i + 1))
        else
            return 0
        fi
    done
}
pids=()
for w in $(seq 1 $WORKERS); do worker "$w" & pids+=($!); done
# Kill once the stream is well under way (at least 3 acknowledged updates per worker).
for _ in $(seq 300); do
    [ "$(cat "$TMP"/w*.count 2>/dev/null | wc -l)" -ge $((3 * WORKERS)) ] && break
    sleep 0.1
done
sleep 0.$RANDOM
kill -9 "$CAS_PID"
for p in "${pids[@]}"; do wait "$p" || true; done
ls "$TMP"/*.bad >/dev/null 2>&1 && fail "$(cat "$TMP"/*.bad)"
total=0
for w in $(seq 1 $WORKERS); do total=$((total + $(grep -c . "$TMP/w$w.acked"))); done

start_cas
for w in $(seq 1 $WORKERS); do
    now=$("$ENSCONCE" session read --cas "$CAS_ADDR" --hash "w$w")
    acked=$(cat "$TMP/w$w.acked")
    inflight=$(cat "$TMP/w$w.inflight" 2>/dev/null || true)
    [ "$now" = "$acked" ] || [ "$now" = "$inflight" ] ||
        fail "session w$w: current $now is neither the last acknowledged $acked nor the in-flight $inflight"
done
rounds=$(grep -c '"session.update"\| session.update ' <("$ENSCONCE" cas audit verify --data "$CAS_DATA" -v) || true)
[ "$rounds" -ge $WORKERS ] || fail "too few updates before the kill ($rounds): the test did not exercise anything"
"$ENSCONCE" cas audit verify --data "$CAS_DATA" >/dev/null || fail "audit chain broken after kill -9"
pass "kill -9 during $rounds concurrent updates: every acknowledged update survived, audit chain verifies"
finish
