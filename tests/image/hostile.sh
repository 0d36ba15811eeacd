#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Hostile and broken images are refused with an error naming the problem (the entry, for layers),
# and leave no partial output behind (no unpack directory, no copy destination).
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
E=$ENSCONCE
"$PYTHON" "$ENSCONCE_SOURCE_ROOT/tests/image/mkhostile.py" "$TMP/cases"
mkdir "$TMP/out"
canary=/tmp/escaped
rm -f "$canary"

refused() { # case expected-substring
    local c=$1 want=$2
    expect_fail "$E" image unpack oci:"$TMP/cases/$c":t "$TMP/out/$c"
    assert_contains "$OUT" "$want" "error for $c"
    [ ! -e "$TMP/out/$c" ] || fail "$c: partial output left in $TMP/out/$c"
    [ -z "$(ls -A "$TMP/out")" ] || fail "$c: leftovers: $(ls -A "$TMP/out")"
    [ ! -e "$canary" ] || fail "$c: wrote outside the root"
    [ ! -e "$TMP/escaped" ] && [ ! -e "$TMP/out/escaped" ] || fail "$c: wrote outside the root"
    echo "  $c: $OUT"
}

"$E" image unpack oci:"$TMP/cases/good":t "$TMP/good" || fail "the good image does not unpack"
refused traversal "'../../escaped' leaves the root"
refused traversal-deep "etc/../../escaped' leaves the root"
refused symlink-abs "entry 'link/escaped' goes through symlink 'link' to absolute path"
refused symlink-rel "'up/tmp/escaped' goes through symlink 'up'"
refused symlink-chain "which leaves the root"
refused symlink-cross-layer "entry 'etc/escaped' goes through symlink 'etc'"
refused hardlink-out "hard link target '../../etc/passwd' is outside the root"
refused hardlink-missing "hard link target 'etc/shadow' does not exist"
refused hardlink-via-symlink "entry 'h' goes through symlink 's'"
refused corrupted-blob "digest mismatch"
refused wrong-digest "digest mismatch"
refused truncated-gzip "truncated gzip stream"
refused wrong-diff-id "differs from the config's diff_id"
refused wrong-size ""
expect_fail "$E" image inspect oci:"$TMP/cases/config-digest":t
assert_contains "$OUT" "digest mismatch"

# Corruption that a streaming reader sees only at the end still fails the whole unpack.
cp -r "$TMP/cases/good" "$TMP/late"
"$PYTHON" - "$TMP/late" <<'PY'
import json, os, sys
d = sys.argv[1]
m = json.load(open(os.path.join(d, "index.json")))["manifests"][0]["digest"][7:]
layer = json.load(open(os.path.join(d, "blobs/sha256", m)))["layers"][0]["digest"][7:]
p = os.path.join(d, "blobs/sha256", layer)
b = bytearray(open(p, "rb").read()); b[-3] ^= 0x55; open(p, "wb").write(bytes(b))
PY
expect_fail "$E" image unpack oci:"$TMP/late":t "$TMP/out/late"
assert_contains "$OUT" "digest mismatch"
[ ! -e "$TMP/out/late" ] || fail "late corruption: partial output"

# Device nodes: refused when not root.  As root, try as an unprivileged user if setpriv exists.
if [ "$(id -u)" != 0 ]; then
    refused device "entry 'dev/mem2': device node refused"
elif command -v setpriv >/dev/null; then
    chmod 755 "$TMP" "$TMP/out"
    chmod -R a+rX "$TMP/cases"
    chmod 777 "$TMP/out"
    set +e
    OUT=$(TMPDIR=$TMP/out setpriv --reuid=65534 --regid=65534 --clear-groups "$E" image unpack \
        oci:"$TMP/cases/device":t "$TMP/out/device" 2>&1)
    rc=$?
    set -e
    if [ $rc -eq 0 ] || ! grep -q "device node refused" <<<"$OUT"; then
        # setpriv may be unable to run the binary from a private build path; only fail on success
        [ $rc -ne 0 ] || fail "device node accepted when not root"
    fi
    [ ! -e "$TMP/out/device" ] || fail "device: partial output"
    echo "  device (as uid 65534): $OUT"
    rm -rf "$TMP/out"/* 2>/dev/null || true
fi

# copy verifies every blob: a corrupted layer fails the copy and leaves no destination.
expect_fail "$E" image copy oci:"$TMP/cases/corrupted-blob":t oci:"$TMP/copy-dest":x
assert_contains "$OUT" "digest mismatch"
[ ! -e "$TMP/copy-dest" ] || fail "copy left a partial destination"
expect_fail "$E" image copy oci:"$TMP/cases/corrupted-blob":t oci-archive:"$TMP/copy.tar"
[ ! -e "$TMP/copy.tar" ] || fail "copy left a partial archive"
ls "$TMP" | grep -q 'copy.tar.tmp' && fail "temporary archive left behind"
expect_fail "$E" image copy oci:"$TMP/cases/truncated-gzip":t docker-archive:"$TMP/d.tar"
assert_contains "$OUT" "truncated gzip"
[ ! -e "$TMP/d.tar" ] || fail "docker-archive partial output"

# Broken documents: invalid JSON, oversized manifest, unknown transport.
cp -r "$TMP/cases/good" "$TMP/badjson"
echo '{"schemaVersion": 2, "manifests": [' >"$TMP/badjson/index.json"
expect_fail "$E" image inspect oci:"$TMP/badjson"
assert_contains "$OUT" "invalid JSON"
expect_fail "$E" image inspect nosuch:transport
assert_contains "$OUT" "unknown transport"
expect_fail "$E" image inspect "docker://Bad_Repo/x:y"
assert_contains "$OUT" "invalid"
pass "hostile layers and broken images refused"
