#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ensconce-run in a real runc container (Debian-like root fs from this machine's files): a C service
# gets its arguments, the policy's environment only, cwd, uid/gid, an injected file and a generated
# secret from the CAS, and reads a file from an encrypted region.  --measure inside equals offline.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
. "$ENSCONCE_SOURCE_ROOT/tests/run/lib.sh"
need_root
need runc jq gcc
[ "${SANITIZED:-none}" = none ] || skip "the static runtime is not built with sanitizers"

start_services
ROOT=$TMP/rootfs
new_rootfs "$ROOT"
mkdir -p "$ROOT/usr/local/bin"
gcc -O2 -o "$ROOT/usr/local/bin/svc" "$ENSCONCE_SOURCE_ROOT/tests/run/svc/svc.c"
copy_into "$ROOT" $(host_deps "$ROOT/usr/local/bin/svc")

# The encrypted region /app with a data file.
mkdir -p "$TMP/src/app"
echo "confidential data 42" >"$TMP/src/app/data.txt"
pack_shield "$ROOT" "$TMP/src"
[ -L "$ROOT/app" ] || fail "pack_shield did not link /app"

ID=rtc$$
MEASURED=$(jq -n '{exe: "/usr/local/bin/svc", shield: {dir: "/.ensconce/shield", mountpoint: "/.ensconce/mem/fs", mode: "auto"},
                   user: {uid: 1000, gid: 1000}}')
write_run_json "$ROOT" "$ID/svc" "$MEASURED"
M=$(measure "$ROOT")
[ ${#M} = 64 ] || fail "measurement: $M"

cat >"$TMP/session.yaml" <<YAML
name: $ID
version: "0.3"
security:
  attestation: {mode: simulation}
services:
  - name: svc
    mrenclaves: [$M]
    command: [/usr/local/bin/svc, show, "two words", /app/data.txt, /etc/app/config.txt]
    pwd: /app
    image_name: img
    environment: {GREETING: hello, SECRET: "\$\$SCONE::pw\$\$"}
    fspf_path: /.ensconce/shield
    fspf_key: $SHIELD_KEY
    fspf_tag: $SHIELD_TAG
images:
  - name: img
    injection_files:
      - {path: /etc/app/config.txt, content: "password=\$\$SCONE::pw\$\$"}
secrets:
  - {name: pw, kind: ascii, size: 16}
YAML
post_session "$TMP/session.yaml" >/dev/null

make_bundle "$TMP/b1" "$ROOT"
run_ctr "$TMP/b1" "$ID-1" ENSCONCE_LOG=info HOSTILE_VAR=must-not-leak
OUT=$(cat "$TMP/$ID-1.out")
[ "$RC" = 0 ] || fail "service failed ($RC): $(cat "$TMP/$ID-1.err") $OUT"
assert_contains "$OUT" "arg 0: /usr/local/bin/svc"
assert_contains "$OUT" "arg 2: two words"
assert_contains "$OUT" "env GREETING=hello"
# /app is a symbolic link into the memory mount point (docs/runtime.md), so getcwd shows the target.
assert_contains "$OUT" "cwd /.ensconce/mem/fs/app"
# The service runs as the measured user, as a child of ensconce-run, PID 1.
assert_contains "$OUT" "uid 1000 gid 1000 ppid 1"
assert_contains "$OUT" "file /app/data.txt: confidential data 42"
grep -q HOSTILE_VAR <<<"$OUT" && fail "the container's environment leaked into the service"
grep -q ENSCONCE_LOG <<<"$OUT" && fail "the runtime's environment leaked into the service"
SECRET=$(sed -n 's/^env SECRET=//p' <<<"$OUT")
[ ${#SECRET} = 16 ] || fail "generated secret: '$SECRET'"
assert_contains "$OUT" "file /etc/app/config.txt: password=$SECRET"
grep -qF "$SECRET" "$TMP/$ID-1.err" && fail "the runtime printed the secret"
pass "C service: args, env, cwd, uid, injected file, secret, encrypted region"

# The injected file and the decrypted region were never written into the root file system.
grep -rqF "$SECRET" "$ROOT" 2>/dev/null && fail "the secret reached the disk under $ROOT"
grep -rqF "confidential data 42" "$ROOT" 2>/dev/null && fail "plaintext reached the disk under $ROOT"
pass "nothing secret on disk"

# --measure inside the container prints what the converter computed offline.
jq '.process.args = ["/.ensconce/bin/ensconce-run", "--measure"]' "$TMP/b1/config.json" >"$TMP/b1/c.json" && mv "$TMP/b1/c.json" "$TMP/b1/config.json"
run_ctr "$TMP/b1" "$ID-2"
assert_eq "$(cat "$TMP/$ID-2.out")" "$M" "measurement inside vs offline"
pass "--measure in the container equals the offline measurement"

# A changed byte in one of the service's libraries: refused.
jq '.process.args = ["/.ensconce/bin/ensconce-run"]' "$TMP/b1/config.json" >"$TMP/b1/c.json" && mv "$TMP/b1/c.json" "$TMP/b1/config.json"
LIBC=$(find "$ROOT" -name 'libc.so.6' -type f | head -1)
[ -n "$LIBC" ] || fail "no libc.so.6 in the root"
cp "$LIBC" "$TMP/libc.orig"
printf 'X' | dd of="$LIBC" bs=1 seek=$(($(stat -c %s "$LIBC") - 64)) conv=notrunc status=none
run_ctr "$TMP/b1" "$ID-3"
[ "$RC" != 0 ] || fail "a changed libc was accepted"
ERR=$(cat "$TMP/$ID-3.err")
[ "$(wc -l <"$TMP/$ID-3.err")" = 1 ] || fail "expected one line: $ERR"
assert_contains "$ERR" "config $ID/svc: attestation"
assert_contains "$ERR" "is not in the policy"
[ -s "$TMP/$ID-3.out" ] && fail "the service ran with a changed library"
cp "$TMP/libc.orig" "$LIBC"
run_ctr "$TMP/b1" "$ID-4"
assert_eq "$RC" 0 "restored library: $(cat "$TMP/$ID-4.err")"
pass "a changed byte in a shared library is refused"
