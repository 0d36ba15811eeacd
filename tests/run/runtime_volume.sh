#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A writable volume through FUSE in a runc container: created fresh, each commit's tag reported to the
# CAS, data kept across restarts; then the volume's backing store rolled back to an older state:
# refused at the next start (one line, config id, non-zero).  The image's shield is served with FUSE
# too (mode auto, /dev/fuse usable).
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
. "$ENSCONCE_SOURCE_ROOT/tests/run/lib.sh"
need_root
need runc jq gcc
[ "${SANITIZED:-none}" = none ] || skip "the static runtime is not built with sanitizers"
[ -c /dev/fuse ] || skip "/dev/fuse is absent"
cc -static -O2 -o "$TMP/svc" "$ENSCONCE_SOURCE_ROOT/tests/run/svc/svc.c" 2>/dev/null || skip "no static libc"

start_services
ROOT=$TMP/rootfs
new_rootfs "$ROOT"
mkdir -p "$ROOT/bin" "$ROOT/data" "$ROOT/.ensconce/volumes"
cp "$TMP/svc" "$ROOT/bin/svc"
mkdir -p "$TMP/src/app"
echo "confidential data 42" >"$TMP/src/app/data.txt"
pack_shield "$ROOT" "$TMP/src"
ID=rtv$$
write_run_json "$ROOT" "$ID/svc" '{"exe": "/bin/svc", "volumes": {"data": "/.ensconce/volumes/data"},
    "shield": {"dir": "/.ensconce/shield", "mountpoint": "/.ensconce/mem/fs", "mode": "auto"}}'
M=$(measure "$ROOT")
VERSION_HASH=""
set_line() {
    cat >"$TMP/s.yaml" <<YAML
name: $ID
version: "0.3"
security:
  attestation: {mode: simulation}
services:
  - {name: svc, mrenclaves: [$M], command: [/bin/svc, append, /data/log, "$1", /app/data.txt, /proc/self/mounts],
     image_name: img, fspf_path: /.ensconce/shield, fspf_key: $SHIELD_KEY, fspf_tag: $SHIELD_TAG}
images:
  - {name: img, volumes: [{name: data, path: /data}]}
volumes:
  - {name: data}
YAML
    [ -z "$VERSION_HASH" ] || echo "predecessor: $VERSION_HASH" >>"$TMP/s.yaml"
    VERSION_HASH=$(post_session "$TMP/s.yaml" | jq -r .hash)
}
make_bundle "$TMP/b" "$ROOT" fuse

# a line long and random enough that finding it in ciphertext by chance is impossible
FIRST=one-marker-$RANDOM$RANDOM$RANDOM
set_line "$FIRST"
run_ctr "$TMP/b" "$ID-1"
[ "$RC" = 0 ] || fail "first start: $RC: $(cat "$TMP/$ID-1.err") $(cat "$TMP/$ID-1.out")"
assert_contains "$(cat "$TMP/$ID-1.out")" "file /data/log: $FIRST"
grep -rqF "$FIRST" "$ROOT/.ensconce/volumes/data" && fail "plaintext in the volume's backing store"
cp -a "$ROOT/.ensconce/volumes/data" "$TMP/data.old"
pass "fresh volume created, written, tags reported"
assert_contains "$(cat "$TMP/$ID-1.out")" "file /app/data.txt: confidential data 42"
grep -E "^[^ ]+ /.ensconce/mem/fs fuse" "$TMP/$ID-1.out" >/dev/null || fail "the image shield is not a FUSE mount: $(cat "$TMP/$ID-1.out")"
grep -E "^[^ ]+ /data fuse" "$TMP/$ID-1.out" >/dev/null || fail "the volume is not a FUSE mount"
pass "image shield and volume served with FUSE"

set_line two
run_ctr "$TMP/b" "$ID-2"
[ "$RC" = 0 ] || fail "second start: $RC: $(cat "$TMP/$ID-2.err")"
assert_contains "$(cat "$TMP/$ID-2.out")" "file /data/log: $FIRST"$'\n'"two"
cp -a "$ROOT/.ensconce/volumes/data" "$TMP/data.new"
pass "data kept across restarts"

# Roll the backing store back to the state after the first run.
rm -rf "$ROOT/.ensconce/volumes/data"
cp -a "$TMP/data.old" "$ROOT/.ensconce/volumes/data"
set_line three
run_ctr "$TMP/b" "$ID-3"
[ "$RC" != 0 ] || fail "a rolled-back volume was accepted: $(cat "$TMP/$ID-3.out")"
ERR=$(cat "$TMP/$ID-3.err")
[ "$(wc -l <"$TMP/$ID-3.err")" = 1 ] || fail "expected one line: $ERR"
assert_contains "$ERR" "config $ID/svc"
assert_contains "$ERR" "volume data"
[ -s "$TMP/$ID-3.out" ] && fail "the service ran on a rolled-back volume"
echo "  $ERR"
pass "a rolled-back volume is refused"

# A tag report that fails (the CAS is gone when the service commits) makes the exit status non-zero.
rm -rf "$ROOT/.ensconce/volumes/data"
cp -a "$TMP/data.new" "$ROOT/.ensconce/volumes/data"
cat >"$TMP/s.yaml" <<YAML
name: $ID
version: "0.3"
security:
  attestation: {mode: simulation}
services:
  - {name: svc, mrenclaves: [$M], command: [/bin/svc, append-on-term, /data/log, four],
     image_name: img, fspf_path: /.ensconce/shield, fspf_key: $SHIELD_KEY, fspf_tag: $SHIELD_TAG}
images:
  - {name: img, volumes: [{name: data, path: /data}]}
volumes:
  - {name: data}
predecessor: $VERSION_HASH
YAML
post_session "$TMP/s.yaml" >/dev/null
runc run --bundle "$TMP/b" "$ID-4" >"$TMP/$ID-4.out" 2>"$TMP/$ID-4.err" </dev/null &
BG=$!
for _ in $(seq 100); do grep -q ready "$TMP/$ID-4.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$TMP/$ID-4.out" || fail "the service did not start: $(cat "$TMP/$ID-4.err")"
kill "$CAS_PID"
wait "$CAS_PID" 2>/dev/null || true
runc kill "$ID-4" TERM
set +e
wait "$BG"
RC=$?
set -e
runc delete -f "$ID-4" >/dev/null 2>&1 || true
[ "$RC" != 0 ] || fail "the service's commit was not reported, yet the status is 0"
assert_contains "$(cat "$TMP/$ID-4.err")" "volume data: reporting tag"
assert_contains "$(cat "$TMP/$ID-4.err")" "config $ID/svc"
pass "a failed tag report makes the exit status non-zero ($RC)"
