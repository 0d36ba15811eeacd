#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Session life cycle on a real CAS: concurrent updates with one predecessor (exactly one
# wins, the other gets a conflict naming the current hash), generated secrets stable across
# updates, imports refused without the exporter's grant, public values, namespaces.
. "$ENSCONCE_SOURCE_ROOT/tests/cas/lib.sh"
client admin
start_cas
attest_cas
start_las a
"$ENSCONCE" cas platform add --cas "$CAS_ADDR" --cert "$TMP/las-a/node.crt" >/dev/null

gen() { # NAME COMMAND-SUFFIX
    cat <<YAML
name: $1
version: "0.3"
security: {attestation: {mode: none}}
services:
  - name: svc
    mrenclaves: [$M1]
    command: ./x$2
    environment: {PW: "\$\$SCONE::pw\$\$", KEY: "\$\$SCONE::k:hex\$\$", CRT: "\$\$SCONE::crt:crt\$\$"}
secrets:
  - {name: pw, kind: ascii, size: 24}
  - {name: k, kind: binary, size: 32}
  - {name: crt, kind: x509, dns: [a.example]}
  - {name: shared, kind: ascii, export: [{session: friend}]}
  - {name: pub, kind: ascii, value: "public-value", export_public: true}
YAML
}

# --- concurrent updates with the same predecessor, many rounds
gen race "" >"$TMP/race.yaml"
cur=$("$ENSCONCE" session create --cas "$CAS_ADDR" "$TMP/race.yaml")
for round in $(seq 1 10); do
    gen race " --a$round" >"$TMP/a.yaml"
    gen race " --b$round" >"$TMP/b.yaml"
    "$ENSCONCE" session update --cas "$CAS_ADDR" --predecessor "$cur" "$TMP/a.yaml" >"$TMP/a.out" 2>"$TMP/a.err" &
    pa=$!
    "$ENSCONCE" session update --cas "$CAS_ADDR" --predecessor "$cur" "$TMP/b.yaml" >"$TMP/b.out" 2>"$TMP/b.err" &
    pb=$!
    ra=0; rb=0
    wait $pa || ra=$?
    wait $pb || rb=$?
    if [ $ra = 0 ] && [ $rb != 0 ]; then win=a lose=b
    elif [ $rb = 0 ] && [ $ra != 0 ]; then win=b lose=a
    else fail "round $round: expected exactly one winner (a=$ra b=$rb): $(cat "$TMP/a.err" "$TMP/b.err")"; fi
    new=$(cat "$TMP/$win.out")
    assert_contains "$(cat "$TMP/$lose.err")" "conflict: predecessor $cur is not the current hash $new" "loser's message"
    assert_eq "$("$ENSCONCE" session read --cas "$CAS_ADDR" --hash race)" "$new" "current hash after round $round"
    cur=$new
done
pass "concurrent updates: exactly one wins, the other gets a conflict naming the current hash"

# --- `update` fills in the predecessor itself
gen race " --auto" >"$TMP/auto.yaml"
"$ENSCONCE" session update --cas "$CAS_ADDR" "$TMP/auto.yaml" >/dev/null
# an update without predecessor straight to the API is refused (curl as independent client)
ID=$TMP/client-admin
code=$(curl -sk --cert "$ID/identity.crt" --key "$ID/identity.key" -o "$TMP/body" -w '%{http_code}' \
    -H 'Content-Type: application/x-yaml' --data-binary @"$TMP/auto.yaml" "https://$CAS_ADDR/session")
assert_eq "$code" 409 "update without predecessor"
assert_contains "$(cat "$TMP/body")" "already exists with hash"
pass "update fills in the predecessor; a missing predecessor is a conflict"

# --- generated secrets are stable across updates
cfg() { runtime "$LAS_ADDR_a" "$1/svc" "$M1"; [ "$RC" = 0 ] || fail "attestation of $1 failed: $ERR"; echo "$OUT"; }
gen stable "" >"$TMP/s1.yaml"
"$ENSCONCE" session create --cas "$CAS_ADDR" "$TMP/s1.yaml" >/dev/null
c1=$(cfg stable)
gen stable " --changed" >"$TMP/s2.yaml"
"$ENSCONCE" session update --cas "$CAS_ADDR" "$TMP/s2.yaml" >/dev/null
c2=$(cfg stable)
assert_eq "$(jq -r .command[0] <<<"$c2")" "./x" "updated command"
assert_eq "$(jq -r .command[1] <<<"$c2")" "--changed" "updated command argument"
for k in PW KEY CRT; do
    assert_eq "$(jq -r .environment.$k <<<"$c2")" "$(jq -r .environment.$k <<<"$c1")" "secret $k after an update"
done
# a kind change makes a new value
sed -e 's/{name: k, kind: binary, size: 32}/{name: k, kind: binary, size: 16}/' "$TMP/s2.yaml" >"$TMP/s3.yaml"
sed -i 's/--changed/--changed2/' "$TMP/s3.yaml"
"$ENSCONCE" session update --cas "$CAS_ADDR" "$TMP/s3.yaml" >/dev/null
c3=$(cfg stable)
assert_eq "$(jq -r .environment.PW <<<"$c3")" "$(jq -r .environment.PW <<<"$c1")" "unchanged secret"
[ "$(jq -r .environment.KEY <<<"$c3" | wc -c)" = 33 ] || fail "secret k was not regenerated with its new size"
pass "generated secrets stable across updates"

# --- imports: only with the exporter's grant
imp() { # NAME SECRET
    cat <<YAML
name: $1
version: "0.3"
security: {attestation: {mode: none}}
services:
  - {name: svc, mrenclaves: [$M1], command: ./y, environment: {S: "\$\$SCONE::imported\$\$"}}
secrets:
  - {name: imported, import: {session: stable, secret: $2}}
YAML
}
imp friend shared >"$TMP/friend.yaml"
"$ENSCONCE" session create --cas "$CAS_ADDR" "$TMP/friend.yaml" >/dev/null || fail "granted import refused"
f=$(cfg friend)
S=$(jq -r .environment.S <<<"$f")
[ ${#S} = 20 ] || fail "imported ascii secret has the wrong length: '$S'"
imp stranger shared >"$TMP/stranger.yaml"
expect_fail "$ENSCONCE" session create --cas "$CAS_ADDR" "$TMP/stranger.yaml"
assert_contains "$OUT" "stranger"
imp friend2 pw >"$TMP/friend2.yaml"
sed -i 's/^name: friend2/name: friend2/' "$TMP/friend2.yaml"
expect_fail "$ENSCONCE" session create --cas "$CAS_ADDR" "$TMP/friend2.yaml"
audit_has session.create stranger refused
pass "import refused without the exporter's grant"

# --- public values (GET /v1/values/session=NAME)
vals=$(curl -sk "https://$CAS_ADDR/v1/values/session=stable")
assert_eq "$(jq -r .values.pub.value <<<"$vals")" "public-value" "export_public value"
[ "$(jq -r '.values.pw // empty' <<<"$vals")" = "" ] || fail "a private secret is public: $vals"
pass "public values"

"$ENSCONCE" cas audit verify --data "$CAS_DATA" >/dev/null
finish
