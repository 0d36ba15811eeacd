#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Push and pull against Debian's docker-registry started here: once anonymous over HTTP, once with
# htpasswd (Basic) auth over TLS with a self-signed certificate.  Digests must equal skopeo's view,
# and images pushed by skopeo must be read by us.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
need skopeo docker-registry htpasswd openssl umoci

E=$ENSCONCE
mkdir -p "$TMP/root/etc" "$TMP/root/bin"
echo "registry test" >"$TMP/root/etc/motd"
head -c 300000 /dev/urandom >"$TMP/root/bin/blob"
ln -s ../etc/motd "$TMP/root/bin/motd"
"$E" image build --root "$TMP/root" --cmd /bin/true oci:"$TMP/img":v1 >/dev/null

start_registry() { # name auth(0|1) -> sets PORT
    local name=$1 auth=$2 dir=$TMP/$1
    mkdir -p "$dir/data"
    PORT=$(free_port)
    {
        echo "version: 0.1"
        echo "log: {level: error}"
        echo "storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}}"
        echo "http:"
        echo "  addr: 127.0.0.1:$PORT"
        if [ "$auth" = 1 ]; then
            echo "  tls: {certificate: $dir/cert.pem, key: $dir/key.pem}"
            echo "auth: {htpasswd: {realm: ens-test, path: $dir/htpasswd}}"
        fi
    } >"$dir/config.yml"
    if [ "$auth" = 1 ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
            -addext subjectAltName=IP:127.0.0.1 -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
        htpasswd -Bbn tester 's3cret-pw' >"$dir/htpasswd"
    fi
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    local pid=$!
    add_cleanup "kill $pid"
    wait_port 127.0.0.1 "$PORT"
}

check_roundtrip() { # base-ref extra-skopeo-args... (uses $OPTS for ours)
    local base=$1
    shift
    # ours -> registry; skopeo must see the same manifest digest as ours.
    local ours theirs
    "$E" image copy $OPTS oci:"$TMP/img":v1 "docker://$base/test/app:v1" || fail "push to $base"
    ours=$("$E" image inspect $OPTS "docker://$base/test/app:v1" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["manifestDigest"])')
    theirs=$(skopeo inspect "$@" "docker://$base/test/app:v1" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')
    assert_eq "$ours" "$theirs" "manifest digest (ours vs skopeo) on $base"
    local local_digest
    local_digest=$("$E" image inspect oci:"$TMP/img":v1 | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["manifestDigest"])')
    assert_eq "$ours" "$local_digest" "pushed manifest digest equals the local one"
    # pull by digest with ours, unpack, compare with the source tree
    rm -rf "$TMP/pulled" "$TMP/unp"
    "$E" image copy $OPTS "docker://$base/test/app@$ours" oci:"$TMP/pulled":p || fail "pull by digest"
    "$E" image unpack oci:"$TMP/pulled":p "$TMP/unp"
    diff -r --no-dereference "$TMP/root" "$TMP/unp" || fail "pulled tree differs"
    # cross-repository mount path: push from the registry to another repo of the same registry
    "$E" image copy $OPTS "docker://$base/test/app:v1" "docker://$base/other/app:v2" || fail "registry to registry"
    theirs=$(skopeo inspect "$@" "docker://$base/other/app:v2" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')
    assert_eq "$theirs" "$ours" "digest after registry-to-registry copy"
    # skopeo -> registry; we read it, digests agree
    skopeo copy --insecure-policy "$@" oci:"$TMP/img":v1 "docker://$base/byskopeo/app:s1" >/dev/null 2>&1 ||
        fail "skopeo push"
    theirs=$(skopeo inspect "$@" "docker://$base/byskopeo/app:s1" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')
    ours=$("$E" image inspect $OPTS "docker://$base/byskopeo/app:s1" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["manifestDigest"])')
    assert_eq "$ours" "$theirs" "digest of skopeo's push as we read it"
    rm -rf "$TMP/unp2"
    "$E" image unpack $OPTS "docker://$base/byskopeo/app:s1" "$TMP/unp2"
    diff -r --no-dereference "$TMP/root" "$TMP/unp2" || fail "tree of skopeo's push differs"
}

# 1. anonymous, plain HTTP (needs --tls-verify=false, like skopeo)
start_registry anon 0
expect_fail "$E" image inspect "docker://127.0.0.1:$PORT/test/app:v1"
OPTS="--tls-verify=false" check_roundtrip "127.0.0.1:$PORT" --tls-verify=false
# chunked upload (PATCH + Content-Range) for blobs above the chunk size
ENSCONCE_REGISTRY_CHUNK_SIZE=100000 "$E" image copy --tls-verify=false oci:"$TMP/img":v1 \
    "docker://127.0.0.1:$PORT/chunked/app:v1" || fail "chunked push"
theirs=$(skopeo inspect --tls-verify=false "docker://127.0.0.1:$PORT/chunked/app:v1" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')
assert_eq "$theirs" "$("$E" image inspect oci:"$TMP/img":v1 | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["manifestDigest"])')" "chunked push digest"
rm -rf "$TMP/unc"
"$E" image unpack --tls-verify=false "docker://127.0.0.1:$PORT/chunked/app:v1" "$TMP/unc"
diff -r --no-dereference "$TMP/root" "$TMP/unc" || fail "tree after chunked push"
pass "anonymous registry: push/pull, digests equal skopeo's"

# 2. htpasswd over TLS: credentials from REGISTRY_AUTH_FILE
start_registry auth 1
expect_fail env REGISTRY_AUTH_FILE=/nonexistent "$E" image copy --tls-verify=false oci:"$TMP/img":v1 "docker://127.0.0.1:$PORT/test/app:v1"
assert_contains "$OUT" "credentials"
# TLS verification is on by default: the self-signed certificate is refused.
expect_fail "$E" image inspect "docker://127.0.0.1:$PORT/test/app:v1"
echo "{\"auths\":{\"127.0.0.1:$PORT\":{\"auth\":\"$(printf 'tester:wrong' | base64)\"}}}" >"$TMP/bad-auth.json"
expect_fail env REGISTRY_AUTH_FILE="$TMP/bad-auth.json" "$E" image copy --tls-verify=false oci:"$TMP/img":v1 "docker://127.0.0.1:$PORT/test/app:v1"
echo "{\"auths\":{\"https://127.0.0.1:$PORT\":{\"auth\":\"$(printf 'tester:s3cret-pw' | base64)\"}}}" >"$TMP/auth.json"
export REGISTRY_AUTH_FILE=$TMP/auth.json
OPTS="--tls-verify=false" check_roundtrip "127.0.0.1:$PORT" --tls-verify=false --authfile "$TMP/auth.json"
# The password never shows up in our output, even on errors.
expect_fail "$E" image inspect --tls-verify=false "docker://127.0.0.1:$PORT/test/missing:v1"
case "$OUT" in *s3cret*) fail "password in an error message" ;; esac
# ~/.docker/config.json is read too
unset REGISTRY_AUTH_FILE
mkdir -p "$TMP/home/.docker"
cp "$TMP/auth.json" "$TMP/home/.docker/config.json"
HOME=$TMP/home "$E" image inspect --tls-verify=false "docker://127.0.0.1:$PORT/test/app:v1" >/dev/null ||
    fail "credentials from ~/.docker/config.json"
pass "htpasswd registry over TLS: push/pull, digests equal skopeo's"

# 3. Bearer tokens (the Docker Hub scheme): a registry that answers 401 + WWW-Authenticate: Bearer,
# a token service taking Basic credentials, and blob downloads redirected to another host name.
unset REGISTRY_AUTH_FILE
PORT=$(free_port)
"$PYTHON" "$ENSCONCE_SOURCE_ROOT/tests/image/fake_registry.py" "$PORT" "$TMP/img" "tester:tok-pw" "$TMP/fake.log" &
add_cleanup "kill $!"
wait_port 127.0.0.1 "$PORT"
echo "{\"auths\":{\"127.0.0.1:$PORT\":{\"auth\":\"$(printf 'tester:tok-pw' | base64)\"}}}" >"$TMP/tok-auth.json"
rm -rf "$TMP/bearer"
REGISTRY_AUTH_FILE=$TMP/tok-auth.json "$E" image copy --tls-verify=false "docker://127.0.0.1:$PORT/test/app:v1" \
    oci:"$TMP/bearer":b || fail "pull with a Bearer token"
assert_eq "$("$E" image inspect oci:"$TMP/bearer":b | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["manifestDigest"])')" \
    "$("$E" image inspect oci:"$TMP/img":v1 | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["manifestDigest"])')" "digest via Bearer"
grep -q "token: issued for scope=repository%3Atest%2Fapp%3Apull&service=fake" "$TMP/fake.log" || fail "no token request with scope and service"
grep -q "authorized /v2/test/app/blobs/" "$TMP/fake.log" || fail "blobs not fetched with the token"
grep -q "storage: ok" "$TMP/fake.log" || fail "redirect not followed"
grep -q "auth header leaked" "$TMP/fake.log" && fail "Authorization sent to the redirect host"
echo "{\"auths\":{\"127.0.0.1:$PORT\":{\"auth\":\"$(printf 'tester:nope' | base64)\"}}}" >"$TMP/tok-bad.json"
expect_fail env REGISTRY_AUTH_FILE=$TMP/tok-bad.json "$E" image inspect --tls-verify=false "docker://127.0.0.1:$PORT/test/app:v1"
assert_contains "$OUT" "token service answered HTTP 401"
pass "Bearer token auth (challenge, token service, redirects without credentials)"
