#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Attestation end to end with real CAS and LAS processes: an honest runtime gets its
# configuration (substitutions done, a certificate from the session CA for its own key);
# replayed, tampered, wrongly bound, unknown-platform and wrong-measurement evidence gets
# nothing and leaves an audit entry; sim evidence only where the policy allows it;
# volume tags only move forward.
. "$ENSCONCE_SOURCE_ROOT/tests/cas/lib.sh"
need openssl
client admin
start_cas
attest_cas
start_las a
start_las b
"$ENSCONCE" cas platform add --cas "$CAS_ADDR" --cert "$TMP/las-a/node.crt" >/dev/null
"$ENSCONCE" cas platform list --cas "$CAS_ADDR" | grep -q . || fail "platform list empty"

cat >"$TMP/app.yaml" <<YAML
name: app
version: "0.3"
security:
  attestation: {tolerate: [debug-mode]}
services:
  - name: svc
    mrenclaves: [$M1]
    command: ./app --pw \$\$SCONE::pw\$\$
    pwd: /app
    image_name: img
    environment:
      PW_HEX: "\$\$SCONE::pw:hex\$\$"
      PW_B64: "\$\$SCONE::pw:base64\$\$"
      PLAIN: "x"
images:
  - name: img
    volumes: [{name: data, path: /data}]
    injection_files:
      - {path: /tls/cert.pem, content: "\$\$SCONE::cert:crt\$\$"}
      - {path: /tls/key.pem, content: "\$\$SCONE::cert:privatekey\$\$"}
volumes:
  - {name: data}
secrets:
  - {name: pw, kind: ascii, size: 16}
  - {name: ca, kind: x509-ca}
  - {name: cert, kind: x509, issuer: ca, dns: [svc.local]}
YAML
"$ENSCONCE" session create --cas "$CAS_ADDR" "$TMP/app.yaml" >/dev/null

# Honest runtime, LAS over TCP and over the Unix socket.
runtime "$LAS_ADDR_a" app/svc "$M1"
[ "$RC" = 0 ] || fail "honest attestation refused: $ERR"
echo "$OUT" >"$TMP/cfg.json"
pw=$(jq -r '.command[2]' "$TMP/cfg.json")
[ ${#pw} = 16 ] || fail "password substitution: command is $(jq -c .command "$TMP/cfg.json")"
assert_eq "$(jq -r .environment.PW_HEX "$TMP/cfg.json")" "$(printf %s "$pw" | od -An -tx1 | tr -d ' \n')" "hex format"
assert_eq "$(jq -r .environment.PW_B64 "$TMP/cfg.json" | base64 -d)" "$pw" "base64 format"
assert_eq "$(jq -r .pwd "$TMP/cfg.json")" /app "pwd"
jq -r '.injection_files[] | select(.path=="/tls/cert.pem") | .content' "$TMP/cfg.json" | base64 -d >"$TMP/inj.crt"
openssl x509 -in "$TMP/inj.crt" -noout -text | grep -q "DNS:svc.local" || fail "crt format: no SAN svc.local"
jq -r '.injection_files[] | select(.path=="/tls/key.pem") | .content' "$TMP/cfg.json" | base64 -d >"$TMP/inj.key"
# The injected key belongs to the injected certificate (independent check with openssl).
assert_eq "$(openssl x509 -in "$TMP/inj.crt" -noout -pubkey | openssl sha256)" \
    "$(openssl pkey -in "$TMP/inj.key" -pubout | openssl sha256)" "privatekey format matches crt"
# The service certificate is issued by the session CA (checked with openssl verify).
jq -r .certificate "$TMP/cfg.json" >"$TMP/svc.crt"
jq -r .ca "$TMP/cfg.json" >"$TMP/ca.crt"
openssl verify -CAfile "$TMP/ca.crt" "$TMP/svc.crt" >/dev/null || fail "service certificate not issued by the session CA"
vkey=$(jq -r '.volumes[] | select(.name=="data") | .key' "$TMP/cfg.json")
[ ${#vkey} -ge 32 ] || fail "volume key missing: $(jq -c .volumes "$TMP/cfg.json")"
pass "honest runtime gets its configuration"

STATIC=$ENSCONCE_BUILD_ROOT/tests/cas/ens-test-attest-static
if [ -x "$STATIC" ]; then
    file "$STATIC" | grep -q "statically linked" || fail "ens-test-attest-static is not static"
    OUT=$(ATTEST_BIN=$STATIC; "$STATIC" --cas "$CAS_AADDR" --pin "$CAS_PIN" --las "$LAS_ADDR_a" --config-id app/svc \
        --measurement "$M1") || fail "the statically linked client failed"
    jq -e .certificate <<<"$OUT" >/dev/null || fail "static client: no configuration"
    pass "a fully static client (lib/attest + OpenSSL + jansson + libc) attests"
fi

runtime "$LAS_SOCK_a" app/svc "$M1"
[ "$RC" = 0 ] || fail "attestation through the LAS Unix socket refused: $ERR"
pass "LAS over a Unix socket"

# Misbehaving runtimes: refused, nothing released, audited.
runtime "$LAS_ADDR_a" app/svc "$M1" replay
[ "$RC" = 3 ] || fail "replayed evidence accepted (rc $RC): $OUT"
assert_contains "$ERR" "nonce"
[ -z "$OUT" ] || fail "configuration released on replay"
audit_has attest app/svc refused "nonce unknown or already used"
pass "replayed evidence refused"

runtime "$LAS_ADDR_a" app/svc "$M1" tamper
[ "$RC" = 3 ] || fail "tampered evidence accepted (rc $RC)"
assert_contains "$ERR" "bad signature"
audit_has attest app/svc refused "bad signature"
pass "tampered evidence refused"

runtime "$LAS_ADDR_a" app/svc "$M1" wrong-key
[ "$RC" = 3 ] || fail "evidence bound to another key accepted (rc $RC)"
assert_contains "$ERR" "not bound"
audit_has attest app/svc refused "not bound"
pass "evidence presented over a TLS channel with another key refused"

runtime "$LAS_ADDR_a" app/svc "$M1" no-cert
[ "$RC" = 3 ] || fail "attestation without a client certificate accepted (rc $RC)"
pass "attestation without a client certificate refused"

runtime "$LAS_ADDR_a" app/svc "$M1" hw-junk
[ "$RC" = 3 ] || fail "garbage hardware evidence accepted (rc $RC)"
case $ERR in *"not supported by this CAS"*) fail "tdx evidence not dispatched to lib/tee: $ERR" ;; esac
audit_has attest app/svc refused
pass "hardware evidence is dispatched to the lib/tee verifier (garbage quote refused)"

runtime "$LAS_ADDR_b" app/svc "$M1"
[ "$RC" = 3 ] || fail "evidence from an unregistered platform accepted (rc $RC)"
assert_contains "$ERR" "not registered"
audit_has attest app/svc refused "not registered"
pass "unknown platform refused"

runtime "$LAS_ADDR_a" app/svc "$M2"
[ "$RC" = 3 ] || fail "measurement outside the policy accepted (rc $RC)"
assert_contains "$ERR" "is not in the policy"
audit_has attest app/svc refused "measurement $M2"
pass "measurement not in the policy refused"

runtime "$LAS_ADDR_a" app/nosuch "$M1"
[ "$RC" = 3 ] || fail "unknown service accepted (rc $RC)"
pass "unknown service refused"

# Sim evidence needs the policy's consent: default mode (hardware) refuses it.
sed -e 's/^name: app$/name: strict/' -e '/tolerate: \[debug-mode\]/d' -e '/^security:/d' "$TMP/app.yaml" >"$TMP/strict.yaml"
"$ENSCONCE" session create --cas "$CAS_ADDR" "$TMP/strict.yaml" >/dev/null
runtime "$LAS_ADDR_a" strict/svc "$M1"
[ "$RC" = 3 ] || fail "simulation evidence accepted by a hardware-only session"
assert_contains "$ERR" "simulation evidence is not accepted"
audit_has attest strict/svc refused "simulation evidence"
sed -e 's/^name: app$/name: simmode/' -e 's/tolerate: \[debug-mode\]/mode: none/' "$TMP/app.yaml" >"$TMP/simmode.yaml"
"$ENSCONCE" session create --cas "$CAS_ADDR" "$TMP/simmode.yaml" >/dev/null
runtime "$LAS_ADDR_a" simmode/svc "$M1"
[ "$RC" = 0 ] || fail "mode: none refused simulation evidence: $ERR"
pass "simulation evidence only where security.attestation allows it"

# Volume tags: forward only.
T1=$(printf 'a%.0s' {1..64}); T2=$(printf 'b%.0s' {1..64}); T3=$(printf 'c%.0s' {1..64})
runtime "$LAS_ADDR_a" app/svc "$M1" honest --tag "data:-:$T1"
[ "$RC" = 0 ] || fail "first tag refused: $ERR"
runtime "$LAS_ADDR_a" app/svc "$M1"
assert_eq "$(jq -r '.volumes[] | select(.name=="data") | .tag' <<<"$OUT")" "$T1" "current tag in the configuration"
runtime "$LAS_ADDR_a" app/svc "$M1" honest --tag "data:-:$T2"
[ "$RC" = 4 ] || fail "a tag report from a stale state was accepted"
assert_contains "$ERR" "is not the current tag"
runtime "$LAS_ADDR_a" app/svc "$M1" honest --tag "data:$T1:$T2"
[ "$RC" = 0 ] || fail "forward tag refused: $ERR"
runtime "$LAS_ADDR_a" app/svc "$M1" honest --tag "data:$T2:$T1"
[ "$RC" = 4 ] || fail "rollback to an older tag was accepted"
assert_contains "$ERR" "rollback refused"
audit_has volume.tag app/svc refused "rollback"
pass "volume tags: older tags refused"

# A key that never attested cannot report tags (no config, no tag): covered by the CAS
# checking attested_keys; the audit chain verifies after all of this.
"$ENSCONCE" cas audit verify --data "$CAS_DATA" >/dev/null || fail "audit chain broken"
metrics=$(curl -sk "https://$CAS_AADDR/metrics")
assert_contains "$metrics" 'ensconce_cas_attestations_total{result="ok"}'
ok=$(grep 'attestations_total{result="ok"}' <<<"$metrics" | awk '{print $2}')
ref=$(grep 'attestations_total{result="refused"}' <<<"$metrics" | awk '{print $2}')
[ "$ok" -ge 5 ] && [ "$ref" -ge 6 ] || fail "metrics: ok=$ok refused=$ref"
assert_contains "$metrics" "ensconce_cas_attestation_duration_seconds_bucket"
pass "metrics count attestations by result"
finish
