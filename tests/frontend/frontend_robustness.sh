#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Hostile and malformed HTTP input against the frontend: oversized bodies and
# headers, broken request lines, bad percent-encoding, markup in ids, many
# cookies, many connections at once, a client that goes away mid-request.
# The frontend must answer with an error status (never crash), keep serving,
# and stop cleanly (no sanitizer report: this test also runs under ASan/UBSan).
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
. "$ENSCONCE_SOURCE_ROOT/tests/frontend/lib.sh"
need curl

start_backends
start_frontend
raw() { # raw REQUEST-BYTES (printf format): prints the status line's code, or "closed"
    "$PYTHON" - "$FE_PORT" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
try:
    data = s.recv(4096)
except (ConnectionResetError, socket.timeout):
    data = b""
line = data.split(b"\r\n", 1)[0].split(b" ")
print(line[1].decode() if len(line) > 1 and data.startswith(b"HTTP/") else "closed")
PY
}
code() { curl -s -o "$TMP/body" -w '%{http_code}' -b 'shop_session-id=robust' "$@"; }

# Bodies above 64 KiB are refused.
head -c 100000 /dev/zero | tr '\0' a >"$TMP/big"
assert_eq "$(code --data-binary @"$TMP/big" "$FE_URL/cart")" 413 "100 kB body"
# Headers above 16 KiB are refused (status or a closed connection, no crash).
long=$(head -c 20000 /dev/zero | tr '\0' a)
r=$(code -H "X-Long: $long" "$FE_URL/")
[ "$r" -ge 400 ] || [ "$r" = 000 ] || fail "20 kB header answered $r"
# Broken request lines and versions.
for req in 'GARBAGE\r\n\r\n' 'GET\r\n\r\n' 'GET / HTTP/9.9\r\nHost: x\r\n\r\n' 'GET /%%% HTTP/1.1\r\nHost: x\r\n\r\n' \
           'POST /cart HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n' 'TRACE / HTTP/1.1\r\nHost: x\r\n\r\n'; do
    r=$(raw "$req")
    case "$r" in 4??|5??|closed) ;; *) fail "request '$req' answered $r" ;; esac
done
pass "oversized and malformed requests refused"

# Bad percent-encoding in a form: treated as an empty form (422), not a crash.
assert_eq "$(code -d 'product_id=%zz&quantity=%' "$FE_URL/cart")" 422 "bad form encoding"
assert_eq "$(code --data-binary 'product_id=OLJCESPC7Z&quantity=1&quantity=2' "$FE_URL/cart")" 302 "repeated field"
# Markup in a product id is escaped on the error page.
assert_eq "$(code "$FE_URL/product/%3Cscript%3Ealert(1)%3C%2Fscript%3E")" 500 "markup id"
grep -q '<script>' "$TMP/body" && fail "unescaped markup from the URL on the error page"
assert_contains "$(cat "$TMP/body")" "&lt;script&gt;"
assert_eq "$(code "$FE_URL/product/%00")" 404 "NUL id"
assert_eq "$(code "$FE_URL/product/a/b")" 404 "id with a slash"
# A cookie value that cannot be a session id is replaced by a fresh one.
curl -s -o /dev/null -D "$TMP/hdr" -H 'Cookie: shop_session-id="a b"' "$FE_URL/"
grep -qi '^Set-Cookie: shop_session-id=[0-9a-f-]\{36\};' "$TMP/hdr" || fail "bad session cookie kept"
# Many cookies at logout: each one expired, and only names that are tokens.
cookies=$(for i in $(seq 200); do printf 'c%d=v; ' "$i"; done)
curl -s -o /dev/null -D "$TMP/hdr" -H "Cookie: ${cookies}bad\"name=1" "$FE_URL/logout"
assert_eq "$(grep -ci '^Set-Cookie: c[0-9]*=; Max-Age=0' "$TMP/hdr")" 200 "expired cookies"
grep -qi 'bad"name' "$TMP/hdr" && fail "a malformed cookie name was echoed"
# A referer with a CR/LF never reaches a header.
assert_eq "$(code -d currency_code=EUR -H $'Referer: /x\r\nX-Injected: 1' "$FE_URL/setCurrency")" 302
pass "forms, ids, cookies and headers from clients are contained"

# 200 connections at once: all answered.
"$PYTHON" - "$FE_PORT" <<'PY' || fail "parallel connections"
import concurrent.futures, sys, urllib.request
url = "http://127.0.0.1:%s/" % sys.argv[1]
def get(i):
    req = urllib.request.Request(url + ("" if i % 2 else "cart"), headers={"Cookie": "shop_session-id=p%d" % i})
    return urllib.request.urlopen(req, timeout=30).status
with concurrent.futures.ThreadPoolExecutor(200) as ex:
    codes = list(ex.map(get, range(200)))
bad = [c for c in codes if c != 200]
assert not bad, "non-200 answers: %s" % bad[:10]
print("200 parallel requests: all 200")
PY
# Clients that send half a request or leave before the answer.
"$PYTHON" - "$FE_PORT" <<'PY'
import socket, sys
for i in range(50):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" if i % 2 else b"GET /cart HTTP/1.1\r\nHost: x\r\n\r\n")
    s.close()
PY
sleep 1
assert_eq "$(code "$FE_URL/_healthz")" 200 "health after abuse"
assert_eq "$(code "$FE_URL/")" 200 "home after abuse"
pass "parallel connections and vanishing clients"
stop_frontend
