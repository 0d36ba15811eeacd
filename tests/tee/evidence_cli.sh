#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `ensconce evidence verify` and `ensconce cas collateral add/list` on the real
# vectors (../shared/vectors/attestation, skipped when absent): claims as JSON,
# the failing step on rejection, exit codes, a collateral store filled by the CLI.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
V=$(shared_dir)/vectors/attestation
[ -d "$V" ] || skip "attestation vectors not found at $V"
E=$ENSCONCE
STORE=$TMP/store

# Exit codes and help.
"$E" evidence verify --help | grep -q -- "--collateral" || fail "verify --help"
"$E" cas collateral add --help | grep -q -- "--store" || fail "collateral add --help"
set +e; "$E" evidence verify >/dev/null 2>&1; rc=$?; set -e
assert_eq "$rc" 2 "usage error exit code"
set +e; "$E" evidence verify --at yesterday "$V/dcap-qvl/sgx_quote" >/dev/null 2>&1; rc=$?; set -e
assert_eq "$rc" 2 "bad --at exit code"

# Fill a store the way an operator does.
"$E" cas collateral add --store "$STORE" "$V/dcap-qvl/sgx_quote_collateral.json" "$V/dcap-qvl/tdx_quote_collateral.json" \
    "$V/roots/intel_sgx_root_ca.der" "$V/roots/amd_ark_milan.pem" "$V/roots/amd_ask_milan.pem" \
    "$V/trustee-snp/test-vcek.der" "$V/go-sev-guest/vcek.testcer" >"$TMP/add.out"
assert_eq "$(wc -l <"$TMP/add.out")" 7 "seven documents added"
grep -q "added intel-bundle" "$TMP/add.out" || fail "bundle kind: $(cat "$TMP/add.out")"
# Adding the same file again is idempotent (content-addressed names).
"$E" cas collateral add --store "$STORE" "$V/roots/intel_sgx_root_ca.der" >/dev/null
assert_eq "$(ls "$STORE" | wc -l)" 7 "store size after re-adding"
# Garbage is refused and never enters the store.
echo "not collateral" >"$TMP/junk"
expect_fail "$E" cas collateral add --store "$STORE" "$TMP/junk"
assert_contains "$OUT" "not recognised as collateral"
assert_eq "$(ls "$STORE" | wc -l)" 7 "store unchanged after a refused file"
"$E" cas collateral list --store "$STORE" >/dev/null

# SGX: the README's result at a pinned time.
OUT=$("$E" evidence verify "$V/dcap-qvl/sgx_quote" --collateral "$STORE" --at 2025-07-01T00:00:00Z)
"$PYTHON" - "$OUT" <<'PY' || fail "SGX claims: $OUT"
import json, sys
c = json.loads(sys.argv[1])
assert c["tee"] == "sgx" and c["verified"] is True
assert c["tcb_status"] == "ConfigurationAndSWHardeningNeeded", c["tcb_status"]
assert c["advisory_ids"] == ["INTEL-SA-00289", "INTEL-SA-00615"], c["advisory_ids"]
assert len(c["measurements"]["mrenclave"]) == 64
PY
pass "sgx claims"
expect_fail "$E" evidence verify "$V/dcap-qvl/sgx_quote" --collateral "$STORE" --at 2025-08-01T00:00:00Z
assert_contains "$OUT" "expired"
assert_contains "$OUT" "rejected: "

# TDX.
OUT=$("$E" evidence verify "$V/dcap-qvl/tdx_quote" -c "$STORE" --at @1751328000)
assert_contains "$OUT" '"tcb_status": "UpToDate"'
assert_contains "$OUT" '"mrtd":'

# go-tdx-guest: no TCB level matches.
G=$V/go-tdx-guest
expect_fail "$E" evidence verify "$G/tdx_prod_quote_SPR_E4.dat" --allow-trailing --at 2023-06-25T00:00:00Z \
    -c "$G/sample_tcbInfo_response" -c "$G/sample_qeIdentity_response" -c "$G/pckcrl" -c "$G/rootcrl.der" \
    -c "$G/pck_crl_issuer_chain.pem" -c "$G/tcb_info_issuer_chain.pem" -c "$G/qe_identity_issuer_chain.pem"
assert_contains "$OUT" "tcb-level: no TCB level matches"

# SNP: go-sev-guest has DEBUG in its guest policy.
OUT=$("$E" evidence verify "$V/go-sev-guest/attestation.bin" -c "$STORE" --at 2025-01-01)
assert_contains "$OUT" '"debug": true'
echo '{"attestation": {"tolerate": ["hyperthreading"]}}' >"$TMP/nodebug.json"
expect_fail "$E" evidence verify "$V/go-sev-guest/attestation.bin" -c "$STORE" --at 2025-01-01 --policy "$TMP/nodebug.json"
assert_contains "$OUT" "policy: the snp TEE runs in debug mode"
echo '{"attestation": {"tolerate": ["hyperthreading", "debug-mode"]}}' >"$TMP/debug.json"
"$E" evidence verify "$V/go-sev-guest/attestation.bin" -c "$STORE" --at 2025-01-01 --policy "$TMP/debug.json" \
    | grep -q '"policy": "accepted"' || fail "debug tolerated"

# SNP measurement policy (trustee report), REPORTDATA binding.
OUT=$("$E" evidence verify "$V/trustee-snp/test-report.bin" -c "$STORE" --at 2024-01-01)
MEAS=$("$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])["measurements"]["measurement"])' "$OUT")
RD=$("$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])["report_data"])' "$OUT")
printf '{"attestation": {"tolerate": ["hyperthreading"]}, "measurements": {"measurement": "%s"}}' "$MEAS" >"$TMP/m.json"
"$E" evidence verify "$V/trustee-snp/test-report.bin" -c "$STORE" --at 2024-01-01 --policy "$TMP/m.json" --report-data "$RD" >/dev/null
BAD=$(printf '%s' "$MEAS" | sed 's/^./f/;t')
[ "$BAD" != "$MEAS" ] || BAD=$(printf '%s' "$MEAS" | sed 's/^./e/')
printf '{"attestation": {"tolerate": ["hyperthreading"]}, "measurements": {"measurement": "%s"}}' "$BAD" >"$TMP/bad.json"
expect_fail "$E" evidence verify "$V/trustee-snp/test-report.bin" -c "$STORE" --at 2024-01-01 --policy "$TMP/bad.json"
assert_contains "$OUT" "policy: measurement measurement does not match"
expect_fail "$E" evidence verify "$V/trustee-snp/test-report.bin" -c "$STORE" --at 2024-01-01 --policy "$TMP/m.json" \
    --report-data "$(printf '%0128d' 0)"
assert_contains "$OUT" "REPORTDATA"

# Tampering through the CLI: a flipped byte and appended data name their step.
cp "$V/dcap-qvl/sgx_quote" "$TMP/q"
printf '\xff' | dd of="$TMP/q" bs=1 seek=200 conv=notrunc status=none
expect_fail "$E" evidence verify "$TMP/q" -c "$STORE" --at 2025-07-01T00:00:00Z
assert_contains "$OUT" "quote-signature:"
cp "$V/dcap-qvl/sgx_quote" "$TMP/q2"; printf 'extra' >>"$TMP/q2"
expect_fail "$E" evidence verify "$TMP/q2" -c "$STORE" --at 2025-07-01T00:00:00Z
assert_contains "$OUT" "parse:"
# SNP with its certificate table (as configfs-tsm's auxblob gives it): no store needed but the pinned ARK.
"$PYTHON" - "$V" "$TMP/aux.bin" <<'PY'
import struct, sys
v, out = sys.argv[1], sys.argv[2]
certs = [("63da758de6644564adc5f4b93be8accd", open(v + "/trustee-snp/test-vcek.der", "rb").read()),
         ("4ab7b379bbac4fe4a02f05aef327c782", open(v + "/roots/amd_ask_milan.pem", "rb").read()),
         ("c0b406a4a80349529743 3fb6014cd0ae".replace(" ", ""), open(v + "/roots/amd_ark_milan.pem", "rb").read())]
off = 24 * (len(certs) + 1)
table, data = b"", b""
for guid, der in certs:
    table += bytes.fromhex(guid) + struct.pack("<II", off + len(data), len(der))
    data += der
open(out, "wb").write(table + bytes(24) + data)
PY
OUT=$("$E" evidence verify "$V/trustee-snp/test-report.bin" --aux "$TMP/aux.bin" --at 2024-01-01)
assert_contains "$OUT" '"product": "Milan-B0"'
expect_fail "$E" evidence verify "$V/trustee-snp/test-report.bin" --at 2024-01-01
assert_contains "$OUT" "snp-vcek:"
# AMD CRLs are applied when present: a CRL forged under the Milan ARK's name is refused.
if command -v openssl >/dev/null; then
    SUBJ=$(openssl x509 -in "$V/roots/amd_ark_milan.pem" -noout -subject -nameopt compat | sed 's/^subject=//')
    mkdir -p "$TMP/ca" && touch "$TMP/ca/index.txt" && echo 01 >"$TMP/ca/crlnumber"
    printf '[ca]\ndefault_ca=d\n[d]\ndatabase=%s/ca/index.txt\ncrlnumber=%s/ca/crlnumber\ndefault_md=sha384\ndefault_crl_days=3650\n' \
        "$TMP" "$TMP" >"$TMP/ca.cnf"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/fk.pem" -out "$TMP/fakeark.pem" -subj "$SUBJ" -days 10 2>/dev/null
    openssl ca -batch -config "$TMP/ca.cnf" -gencrl -keyfile "$TMP/fk.pem" -cert "$TMP/fakeark.pem" -out "$TMP/fake.crl" 2>/dev/null
    "$E" cas collateral add --store "$TMP/store2" "$TMP/fake.crl" "$V/trustee-snp/test-vcek.der" "$V/roots/amd_ark_milan.pem" \
        "$V/roots/amd_ask_milan.pem" >/dev/null
    expect_fail "$E" evidence verify "$V/trustee-snp/test-report.bin" -c "$TMP/store2" --at 2030-01-01
    assert_contains "$OUT" "snp-chain:"
    assert_contains "$OUT" "CRL signature failure"
    pass "forged AMD CRL refused"
fi
# configfs-tsm absent on this machine (or a wrong root): a clear error, exit 1.
expect_fail "$E" evidence get --tsm-root "$TMP/no-tsm" --report-data "$(printf '%0128d' 0)" -o "$TMP/ev.bin"
assert_contains "$OUT" "configfs-tsm"
[ ! -e "$TMP/ev.bin" ] || fail "evidence get wrote output on failure"
# Parse only (no collateral).
OUT=$("$E" evidence verify --parse-only "$V/dcap-qvl/tdx_quote")
assert_contains "$OUT" '"verified": false'
assert_contains "$OUT" '"fmspc": "b0c06f000000"'
OUT=$("$E" evidence verify --parse-only "$V/go-sev-guest/attestation.bin")
assert_contains "$OUT" '"chip_id":'
assert_contains "$OUT" '"reported_tcb":'
pass "evidence cli"
