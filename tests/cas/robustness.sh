#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Hostile input to the CAS: malformed YAML, invalid UTF-8, oversized bodies and headers,
# wrong methods, bad JSON, slow clients, old TLS versions.  Each gets a 4xx with a clear
# message (or the connection is closed), and the CAS keeps serving.  Independent clients:
# curl, openssl s_client and Python's ssl module.
. "$ENSCONCE_SOURCE_ROOT/tests/cas/lib.sh"
need curl openssl
client admin
start_cas --timeout 2
attest_cas
ID=$TMP/client-admin
req() { # METHOD URL [curl args] -> CODE and BODY
    local m=$1 u=$2
    shift 2
    CODE=$(curl -sk --cert "$ID/identity.crt" --key "$ID/identity.key" -X "$m" -o "$TMP/body" -w '%{http_code}' "$@" "$u" || true)
    BODY=$(cat "$TMP/body" 2>/dev/null || true)
}
C=https://$CAS_ADDR A=https://$CAS_AADDR

printf 'name: x\nversion: "0.3"\nservices: [\n  - {name: a\n' >"$TMP/bad.yaml"
req POST "$C/session" --data-binary @"$TMP/bad.yaml"
assert_eq "$CODE" 400 "malformed YAML"
assert_contains "$BODY" "session:" "parser message names the input"
grep -qE ':[0-9]+:[0-9]+' <<<"$BODY" || fail "no line:column in '$BODY'"
pass "malformed YAML: 400 with line and column"

printf 'name: x\nversion: "0.3"\nservices:\n  - {name: "\xff\xfe", command: x, mrenclaves: [%s]}\n' "$M1" >"$TMP/utf8.yaml"
req POST "$C/session" --data-binary @"$TMP/utf8.yaml"
assert_eq "$CODE" 400 "invalid UTF-8 YAML"
req POST "$A/v1/attest" --data-binary $'{"config_id":"\xff","nonce":"x","evidence":{}}'
[ "$CODE" = 400 ] || [ "$CODE" = 401 ] || fail "invalid UTF-8 JSON: $CODE $BODY"
pass "invalid UTF-8: 400"

head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$TMP/big"
req POST "$C/session" --data-binary @"$TMP/big"
assert_eq "$CODE" 413 "oversized body"
req POST "$A/v1/attest" --data-binary @"$TMP/big"
assert_eq "$CODE" 413 "oversized attestation body"
req GET "$C/healthz" -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' b)"
[ "$CODE" -ge 400 ] 2>/dev/null && [ "$CODE" -lt 500 ] || [ "$CODE" = 000 ] || fail "oversized headers: $CODE"
pass "oversized bodies (413) and headers (refused)"

req PUT "$C/session" --data-binary @"$TMP/bad.yaml"
assert_eq "$CODE" 405 "PUT /session"
req GET "$C/session"
assert_eq "$CODE" 405 "GET /session"
req DELETE "$C/v1/sessions/x"
assert_eq "$CODE" 405 "DELETE /v1/sessions/x"
req GET "$A/v1/attest/nothing"
assert_eq "$CODE" 404 "unknown endpoint"
req PUT "$A/v1/volumes/tag"
assert_eq "$CODE" 405 "PUT /v1/volumes/tag"
req TRACE "$C/healthz"
[ "$CODE" -ge 400 ] && [ "$CODE" -lt 500 ] || fail "TRACE: $CODE"
req PUT "$C/session"; assert_contains "$BODY" "use POST" "method message"
pass "wrong methods: 405 with a message naming the method to use"

req POST "$A/v1/attest" --data-binary '{"config_id": 3'
assert_eq "$CODE" 400 "truncated JSON"
req POST "$A/v1/attest" --data-binary '{"config_id":"a/b","nonce":"zz","evidence":{"type":"sim"}}'
assert_eq "$CODE" 400 "bad nonce"
req GET "$C/v1/sessions/a%00b"
assert_eq "$CODE" 400 "NUL in path"
req GET "$C/v1/sessions/..%2F..%2Fetc"
[ "$CODE" = 400 ] || [ "$CODE" = 404 ] || fail "traversal-looking name: $CODE"
req GET "$A/v1/attest?nonce=abc"
assert_eq "$CODE" 400 "short nonce on /v1/attest"
pass "bad JSON, nonces and paths: 400"

# Slow clients: a TLS connection that sends half a request, and a TCP connection that never
# starts the handshake, are both dropped after --timeout (2 s) while others are served.
"$PYTHON" - "$CAS_PORT" <<'PY' || fail "slow clients were not dropped"
import socket, ssl, sys, time
port = int(sys.argv[1])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")      # never finishes the headers
raw = socket.create_connection(("127.0.0.1", port))  # never says hello
t0 = time.time()
s.settimeout(10); raw.settimeout(10)
# meanwhile a normal client is served
c = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
assert b"200" in c.recv(100), "healthy client not served"
for sock in (s, raw):
    try:
        data = sock.recv(100)
    except (ssl.SSLError, ConnectionResetError, OSError):
        data = b""
    took = time.time() - t0
    assert took < 8, "slow client kept for %.1fs" % took
print("slow clients dropped after %.1fs" % (time.time() - t0))
PY
pass "slow clients dropped"

# Clients that vanish before their (batched, audited) attestation reply: no crash, no leak,
# and every decision is still in the audit log.
"$PYTHON" - "$CAS_APORT" "$ID" <<'PY' || fail "vanishing clients"
import json, socket, ssl, sys
port, d = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ctx.load_cert_chain(d + "/identity.crt", d + "/identity.key")
body = json.dumps({"config_id": "a/b", "nonce": "00" * 32, "evidence": {"type": "sim"}}).encode()
for i in range(40):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
    s.send(b"POST /v1/attest HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    if i % 2:
        r = s.recv(4096)
        assert r.startswith(b"HTTP/1.1 403 "), r
    s.close()
PY
n=$("$ENSCONCE" cas audit verify --data "$CAS_DATA" -v | grep -c " attest a/b refused ")
[ "$n" -ge 40 ] || fail "only $n of 40 refused attestations audited"
pass "clients vanishing before the reply; every decision audited"

# TLS 1.3 only (openssl s_client as the independent client).
if echo | openssl s_client -connect "$CAS_ADDR" -tls1_2 >/dev/null 2>&1; then fail "TLS 1.2 accepted"; fi
tls13=$(openssl s_client -connect "$CAS_ADDR" -tls1_3 </dev/null 2>&1 || true)
assert_contains "$tls13" "TLSv1.3" "openssl s_client -tls1_3"
pass "TLS 1.3 only"

kill -0 "$CAS_PID" || fail "the CAS died"
req GET "$C/healthz"
assert_eq "$CODE" 200 "healthz after the abuse"
pass "CAS alive and healthy"
finish
