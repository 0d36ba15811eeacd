#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `ensconce session verify|hash` and lib/policy's secrets, checked with the openssl CLI.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
need openssl
DATA=$ENSCONCE_SOURCE_ROOT/tests/policy/data
TOOL=$ENSCONCE_BUILD_ROOT/tests/policy/policy_tool

# --- verify and hash
OUT=$("$ENSCONCE" session verify "$DATA/spec_example.yaml")
assert_contains "$OUT" "ok: session shop/cartservice"
H=$("$ENSCONCE" session hash "$DATA/spec_example.yaml")
[[ $H =~ ^[0-9a-f]{64}$ ]] || fail "hash is not 64 hex digits: $H"
assert_contains "$OUT" "$H"
# canonical form hashes to the same value (documented definition: sha256 of the compact sorted JSON)
C=$("$ENSCONCE" session hash --canonical "$DATA/spec_example.yaml")
H2=$(printf '%s' "$C" | openssl dgst -sha256 -r | cut -d' ' -f1)
assert_eq "$H2" "$H" "sha256 of the canonical form"
# same session in another layout: same hash
cat > "$TMP/reordered.yaml" <<'YAML'
# the spec example, keys and lists reordered, block style
version: '0.3'
secrets:
  - name: cart_cert
    dns: [cartservice]
    issuer: shop_ca
    kind: x509
  - {kind: x509-ca, name: shop_ca}
  - {name: redis_pw, size: 24, kind: ascii}
images:
  - injection_files:
      - content: "$$SCONE::cart_cert:crt$$"
        path: /tls/cert.pem
    name: cart_image
services:
  - name: cartservice
    image_name: cart_image
    pwd: /app
    environment:
      REDIS_PASSWORD: "$$SCONE::redis_pw$$"
      REDIS_ADDR: redis-cart:6379
    command: [./cartservice]
    mrenclaves:
      - 3F5C3F5C3F5C3F5C3F5C3F5C3F5C3F5C3F5C3F5C3F5C3F5C3F5C3F5C3F5C3F5C
security:
  attestation:
    ignore_advisories: "*"
    tolerate: [outdated-tcb, debug-mode]
name: shop/cartservice
YAML
assert_eq "$("$ENSCONCE" session hash "$TMP/reordered.yaml")" "$H" "hash of the reordered session"
sed 's/size: 24/size: 25/' "$TMP/reordered.yaml" > "$TMP/changed.yaml"
[ "$("$ENSCONCE" session hash "$TMP/changed.yaml")" != "$H" ] || fail "a semantic change kept the hash"
# standard input
assert_eq "$("$ENSCONCE" session hash - < "$DATA/spec_example.yaml")" "$H" "hash from stdin"
pass "verify and hash"

# --- errors with line:column, exit codes
printf 'name: x\nversion: "0.3"\nservices:\n  - name: a\n    pwd: relative\n' > "$TMP/bad.yaml"
expect_fail "$ENSCONCE" session verify "$TMP/bad.yaml"
assert_contains "$OUT" "$TMP/bad.yaml:5:10: services[0].pwd: expected an absolute path"
printf 'name: x\nversion: "0.3"\nsecrets:\n  - {name: s, kind: ascii, value: hunter2, size: 3}\n' > "$TMP/secret.yaml"
expect_fail "$ENSCONCE" session verify "$TMP/secret.yaml"
assert_contains "$OUT" "secret.yaml:4:"
grep -q hunter2 <<<"$OUT" && fail "an error message shows a secret value: $OUT"
printf 'name: x\xff\n' > "$TMP/utf8.yaml"
expect_fail "$ENSCONCE" session verify "$TMP/utf8.yaml"
assert_contains "$OUT" "utf8.yaml:1:8: invalid UTF-8"
head -c 1100000 /dev/zero | tr '\0' '#' > "$TMP/big.yaml"
expect_fail "$ENSCONCE" session verify "$TMP/big.yaml"
expect_fail "$ENSCONCE" session verify "$TMP/missing.yaml"
set +e
"$ENSCONCE" session verify >/dev/null 2>&1; rc=$?
"$ENSCONCE" session verify --bogus x >/dev/null 2>&1; rc2=$?
"$ENSCONCE" session frobnicate >/dev/null 2>&1; rc3=$?
set -e
assert_eq "$rc$rc2$rc3" "222" "usage errors exit 2"
"$ENSCONCE" session verify --help | grep -q "Usage: ensconce session verify" || fail "verify --help"
"$ENSCONCE" session hash --help | grep -q "Usage: ensconce session hash" || fail "hash --help"
# predecessor forbidden on create
{ echo "predecessor: $H"; cat "$DATA/spec_example.yaml"; } > "$TMP/pred.yaml"
"$ENSCONCE" session verify -q "$TMP/pred.yaml" || fail "a predecessor is fine for verify"
expect_fail "$ENSCONCE" session verify --create "$TMP/pred.yaml"
assert_contains "$OUT" "predecessor is forbidden"
pass "errors"

# --- --use-env
printf 'name: $SESSION_NAME\nversion: "0.3"\nservices:\n  - {name: a, command: /a, environment: {PW: "$$SCONE::pw$$", H: "${HOST_DIR}"}}\nsecrets: [{name: pw, kind: ascii}]\n' > "$TMP/env.yaml"
SESSION_NAME=from-env HOST_DIR=/srv "$ENSCONCE" session verify --use-env "$TMP/env.yaml" | grep -q "session from-env" ||
    fail "--use-env did not substitute"
expect_fail env -u SESSION_NAME "$ENSCONCE" session verify --use-env "$TMP/env.yaml"
assert_contains "$OUT" "SESSION_NAME is not set"
expect_fail "$ENSCONCE" session verify "$TMP/env.yaml" # without --use-env, $SESSION_NAME is not a valid name
pass "--use-env"

# --- secrets of every kind, checked with openssl
mkdir -p "$TMP/s1" "$TMP/s2"
"$TOOL" materialize "$DATA/all_kinds.yaml" "$TMP/s1"
cd "$TMP/s1"
[ "$(stat -c %a store.json)" = 600 ] || fail "store.json is not 0600"
[ "$(tr -d '\n' < pw.hex | wc -c)" = 48 ] || fail "ascii size 24"
[ "$(tr -d '\n' < token.hex | wc -c)" = 64 ] || fail "binary size 32"
openssl pkey -in k256.key -noout -text | grep -q "prime256v1" || fail "k256 is not P-256"
openssl pkey -in k384.key -noout -text | grep -q "secp384r1" || fail "k384 is not P-384"
openssl pkey -in ked.key -noout -text | grep -q "ED25519 Private-Key" || fail "ked is not Ed25519"
openssl pkey -in krsa.key -noout -text | grep -q "Private-Key: (3072 bit" || fail "krsa is not RSA-3072"
for k in k256 k384 ked krsa; do openssl pkey -in $k.key -check -noout >/dev/null 2>&1 || openssl pkey -in $k.key -noout || fail "$k does not load"; done
openssl verify -CAfile root.crt -untrusted inter.crt leaf.crt | grep -q "leaf.crt: OK" || fail "leaf chain"
openssl verify -CAfile root.crt rsaleaf.crt edleaf.crt inter.crt >/dev/null || fail "certificates under root"
openssl verify -CAfile root.crt root.crt >/dev/null || fail "root self-signed"
openssl verify -CAfile .session-ca.crt leaf.crt >/dev/null 2>&1 && fail "leaf verifies under the wrong CA"
openssl x509 -in leaf.crt -noout -ext subjectAltName | grep -q "DNS:app.local, DNS:app, IP Address:10.1.2.3" ||
    fail "leaf SANs: $(openssl x509 -in leaf.crt -noout -ext subjectAltName)"
openssl x509 -in leaf.crt -noout -subject | grep -q "CN *= *app" || fail "leaf CN"
openssl x509 -in root.crt -noout -ext basicConstraints | grep -q "CA:TRUE" || fail "root is a CA"
openssl x509 -in leaf.crt -noout -ext basicConstraints | grep -q "CA:FALSE" || fail "leaf is not a CA"
openssl x509 -in leaf.crt -noout -checkend $((29 * 86400)) >/dev/null || fail "leaf valid for 30 days"
openssl x509 -in leaf.crt -noout -checkend $((31 * 86400)) >/dev/null && fail "leaf valid for more than 30 days"
for c in leaf rsaleaf edleaf root inter; do
    [ "$(openssl x509 -in $c.crt -noout -pubkey)" = "$(openssl pkey -in $c.key -pubout)" ] || fail "$c key/cert mismatch"
done
[ "$(openssl pkey -in krsa.key -pubout)" = "$(openssl x509 -in rsaleaf.crt -noout -pubkey)" ] || fail "rsaleaf uses krsa"
[ "$(grep -c 'BEGIN CERTIFICATE' leaf.chain)" = 3 ] || fail "leaf chain has 3 certificates"
openssl x509 -in .session-ca.crt -noout -ext basicConstraints | grep -q "CA:TRUE" || fail "session CA"
pass "secrets of every kind verified with openssl"

# --- stable across an update
"$TOOL" materialize "$DATA/all_kinds.yaml" "$TMP/s2" "$TMP/s1/store.json"
for f in "$TMP"/s1/*; do
    b=$(basename "$f")
    [ "$b" = store.json ] && continue
    cmp -s "$f" "$TMP/s2/$b" || fail "$b changed across an update"
done
pass "generated secrets stable across an update"

# --- service configuration with substitutions
"$TOOL" config "$DATA/all_kinds.yaml" app "$TMP/s1/store.json" > "$TMP/config.json"
"$PYTHON" - "$TMP/config.json" "$TMP/s1" <<'PY'
import base64, json, sys
cfg = json.load(open(sys.argv[1])); d = sys.argv[2]
pw = bytes.fromhex(open(d + "/pw.hex").read()).decode()
tok = open(d + "/token.hex").read()
assert cfg["command"] == ["/bin/app", "--password", pw], cfg["command"]
assert cfg["environment"]["TOKEN"] == tok
assert base64.b64decode(cfg["environment"]["TOKEN_B64"]).hex() == tok
files = {f["path"]: base64.b64decode(f["content"]).decode() for f in cfg["injection_files"]}
assert files["/tls/key.pem"] == open(d + "/leaf.key").read()
assert files["/tls/chain.pem"] == open(d + "/leaf.chain").read()
assert cfg["pwd"] == "/srv"
v = cfg["volumes"][0]
assert v["name"] == "data" and v["path"] == "/data" and len(v["key"]) == 64 and v["tag"] is None
PY
pass "service configuration"

# --- a runtime's certificate signed by the session CA
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/rt.key" 2>/dev/null
openssl pkey -in "$TMP/rt.key" -pubout -out "$TMP/rt.pub"
"$TOOL" issue "$TMP/s1/store.json" "$TMP/rt.pub" kinds/app app.local > "$TMP/rt.crt"
openssl verify -CAfile "$TMP/s1/.session-ca.crt" "$TMP/rt.crt" >/dev/null || fail "runtime certificate"
[ "$(openssl x509 -in "$TMP/rt.crt" -noout -pubkey)" = "$(cat "$TMP/rt.pub")" ] || fail "runtime certificate key"
openssl x509 -in "$TMP/rt.crt" -noout -ext extendedKeyUsage | grep -q "TLS Web Client Authentication" || fail "clientAuth"
pass "service certificate"
