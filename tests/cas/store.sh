#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The store: secrets encrypted at rest (0600 master key), backup while serving and restore,
# audit chain tamper detection, CAS identity pinning (wrong measurement, other CAS key).
. "$ENSCONCE_SOURCE_ROOT/tests/cas/lib.sh"
need sqlite3
client admin
start_cas
attest_cas
start_las a
"$ENSCONCE" cas platform add --cas "$CAS_ADDR" --las "$LAS_ADDR_a" >/dev/null

doc() {
    cat <<YAML
name: $1
version: "0.3"
security: {attestation: {mode: none}}
services:
  - {name: svc, mrenclaves: [$M1], command: ./x, environment: {PW: "\$\$SCONE::pw\$\$"}}
secrets:
  - {name: pw, kind: ascii, size: 32}
YAML
}
doc before >"$TMP/before.yaml"
"$ENSCONCE" session create --cas "$CAS_ADDR" "$TMP/before.yaml" >/dev/null
runtime "$LAS_ADDR_a" before/svc "$M1"
[ "$RC" = 0 ] || fail "attestation: $ERR"
PW=$(jq -r .environment.PW <<<"$OUT")
[ ${#PW} = 32 ] || fail "no password"

# --- encrypted at rest, key file 0600
assert_eq "$(stat -c %a "$CAS_DATA/master.key")" 600 "master key mode"
assert_eq "$(stat -c %a "$CAS_DATA/tls.key")" 600 "TLS key mode"
sqlite3 "$CAS_DATA/cas.db" 'PRAGMA journal_mode' | grep -q wal || fail "store not in WAL mode"
if grep -qaF -- "$PW" "$CAS_DATA"/cas.db*; then fail "a secret is stored in plain text"; fi
pass "secrets encrypted at rest under a 0600 master key; WAL mode"

# --- backup while serving
"$CAS_BIN" backup --data "$CAS_DATA" "$TMP/backup.db" >/dev/null
assert_eq "$(stat -c %a "$TMP/backup.db")" 600 "backup mode"
doc after >"$TMP/after.yaml"
"$ENSCONCE" session create --cas "$CAS_ADDR" "$TMP/after.yaml" >/dev/null
expect_fail "$CAS_BIN" restore --data "$CAS_DATA" "$TMP/backup.db"
assert_contains "$OUT" "another ensconce-cas uses this data directory"
stop_cas
echo "not a database" >"$TMP/junk.db"
expect_fail "$CAS_BIN" restore --data "$CAS_DATA" "$TMP/junk.db"
assert_contains "$OUT" "not an intact ensconce-cas store"
head -c 32 /dev/urandom >"$TMP/other.key"; chmod 600 "$TMP/other.key"
expect_fail "$CAS_BIN" restore --data "$CAS_DATA" --master-key "$TMP/other.key" "$TMP/backup.db"
assert_contains "$OUT" "another master key"
"$CAS_BIN" restore --data "$CAS_DATA" "$TMP/backup.db" >/dev/null
start_cas
"$ENSCONCE" session read --cas "$CAS_ADDR" --hash before >/dev/null || fail "session lost by backup/restore"
expect_fail "$ENSCONCE" session read --cas "$CAS_ADDR" --hash after
assert_contains "$OUT" "does not exist"
runtime "$LAS_ADDR_a" before/svc "$M1"
[ "$RC" = 0 ] || fail "attestation after restore: $ERR"
assert_eq "$(jq -r .environment.PW <<<"$OUT")" "$PW" "secret after restore"
"$ENSCONCE" cas audit verify --data "$CAS_DATA" >/dev/null
pass "backup while serving; restore refused while running, for junk and a wrong key; restored state serves"

# --- the master key must be private, and the right one
stop_cas
chmod 644 "$CAS_DATA/master.key"
expect_fail "$CAS_BIN" --data "$CAS_DATA" --listen 127.0.0.1:0 --attest-listen 127.0.0.1:0
assert_contains "$OUT" "must be mode 0600"
chmod 600 "$CAS_DATA/master.key"
expect_fail "$CAS_BIN" --data "$CAS_DATA" --master-key "$TMP/other.key" --listen 127.0.0.1:0 --attest-listen 127.0.0.1:0
assert_contains "$OUT" "another master key"
pass "master key: 0600 enforced, wrong key refused"

# --- audit chain: tampering behind the CAS's back is detected
cp "$CAS_DATA/cas.db" "$TMP/t1.db"
sqlite3 "$TMP/t1.db" "DROP TRIGGER audit_no_update; UPDATE audit SET result='forged' WHERE seq=2;"
expect_fail "$ENSCONCE" cas audit verify --db "$TMP/t1.db"
assert_contains "$OUT" "does not match its hash"
cp "$CAS_DATA/cas.db" "$TMP/t2.db"
sqlite3 "$TMP/t2.db" "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq=2;"
expect_fail "$ENSCONCE" cas audit verify --db "$TMP/t2.db"
assert_contains "$OUT" "missing"
upd=$(sqlite3 "$CAS_DATA/cas.db" "UPDATE audit SET result='x' WHERE seq=1" 2>&1 || true)
assert_contains "$upd" "append-only" "UPDATE of an audit row"
head=$("$ENSCONCE" cas audit verify --data "$CAS_DATA" | awk '{print $NF}')
expect_fail "$ENSCONCE" cas audit verify --data "$CAS_DATA" --expect-head 0000000000000000000000000000000000000000000000000000000000000001
"$ENSCONCE" cas audit verify --data "$CAS_DATA" --expect-head "$head" >/dev/null
pass "audit tampering (edit, deletion) detected; rows append-only"

# --- CAS identity: wrong measurement is not pinned; another CAS key is refused
start_cas
client fresh
expect_fail "$ENSCONCE" cas attest "$CAS_ADDR" --measurement "$M2"
assert_contains "$OUT" "is not the expected"
expect_fail "$ENSCONCE" session read --cas "$CAS_ADDR" before
assert_contains "$OUT" "has not been attested"
attest_cas
CAS_DATA=$TMP/cas2 CAS_PORT= CAS_APORT= start_cas
expect_fail "$ENSCONCE" session read --cas "$CAS_ADDR" before
assert_contains "$OUT" "not the pinned"
pass "CAS identity: a wrong measurement is not pinned, an impostor key is refused"
finish
