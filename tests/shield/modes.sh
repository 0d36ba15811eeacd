#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Memory mode (unpack, no privileges needed) and FUSE mode give identical trees: contents, modes,
# owners, mtimes, symlinks, hard links, sparse files past 4 GiB; both equal the source tree.
# Also: unpack works as an unprivileged user, and the CLI's exit codes.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
. "$SHIELD_TESTS/lib.sh"
need_fuse
cd "$TMP"
chmod 755 "$TMP"
mkdir -p src/app/lib src/app/empty-dir src/etc src/data
head -c 1000000 /dev/urandom >src/app/bin
: >src/app/empty
printf 'x' >src/app/one-byte
head -c 65536 /dev/urandom >src/app/exact-chunk
head -c 65537 /dev/urandom >src/app/chunk-plus-one
for i in $(seq 1 200); do echo "file $i" >"src/app/lib/f$i"; done
ln -s ../app/bin src/etc/bin-link
ln -s /does/not/exist src/etc/dangling
ln src/app/lib/f1 src/app/lib/hard1
ln src/app/lib/f1 src/etc/hard2
echo "config" >src/etc/conf && chmod 640 src/etc/conf && chown 1234:5678 src/etc/conf
chmod 4755 src/app/bin
chmod 700 src/app/empty-dir
truncate -s 5G src/data/sparse
printf 'tail' | dd of=src/data/sparse bs=1 seek=$((4 * 1024 * 1024 * 1024 + 12345)) conv=notrunc status=none
echo plain >src/data/not-shielded
touch -d '2001-02-03 04:05:06.789' src/app/one-byte
"$ENSCONCE" fs keygen key
TAG=$("$ENSCONCE" fs pack -k key --authenticated /etc --plain /data/not-shielded src shield)
"$ENSCONCE" fs show -k key -T "$TAG" shield >show.txt
grep -q "authenticated /etc/conf" show.txt || fail "show: /etc/conf not authenticated: $(cat show.txt)"
grep -q "^- .*/data/not-shielded" show.txt && fail "plain path packed"
pass "pack with regions (show lists them; plain paths left out)"

touch -r src/data ref && rm src/data/not-shielded && touch -r ref src/data && rm ref
"$ENSCONCE" fs unpack -k key -T "$TAG" shield mem
shield_mount shield mnt "$TMP/m.log" -k key -T "$TAG"
"$PYTHON" "$SHIELD_TESTS/treecmp.py" mem mnt --times --owner || fail "memory mode and FUSE mode differ"
pass "memory mode and FUSE mode identical (contents, modes, owners, mtimes, links)"
"$PYTHON" "$SHIELD_TESTS/treecmp.py" src mnt --times --owner || fail "FUSE mode differs from the source"
pass "FUSE mode equals the source tree"
shield_umount mnt "$TMP/m.log"

# memory mode needs no privileges
if command -v setpriv >/dev/null; then
    mkdir nobody && chown 65534:65534 nobody && cp key nobody/key && chown 65534 nobody/key
    cp -a shield nobody/shield && chown -R 65534:65534 nobody/shield
    setpriv --reuid=65534 --regid=65534 --clear-groups -- "$ENSCONCE" fs unpack -k nobody/key -T "$TAG" nobody/shield nobody/mem ||
        fail "unprivileged unpack"
    "$PYTHON" "$SHIELD_TESTS/treecmp.py" mem nobody/mem --times || fail "unprivileged unpack differs"
    pass "memory mode as an unprivileged user"
fi

# unpack refuses a non-empty target and fails closed on tampering
mkdir full && touch full/x
expect_fail "$ENSCONCE" fs unpack -k key -T "$TAG" shield full
assert_contains "$OUT" "not empty"
BIN=$(objpath shield key /app/bin)
flip "$BIN" 500000
expect_fail "$ENSCONCE" fs unpack -k key -T "$TAG" shield bad
assert_contains "$OUT" "/app/bin"
[ -z "$(ls -A bad)" ] || fail "a failed unpack left files behind: $(ls -A bad)"
pass "unpack: non-empty target refused; tampering fails closed (nothing left)"

# CLI: usage errors exit 2, --help 0, failures 1
for c in pack init verify unpack show mount tag keygen; do
    "$ENSCONCE" fs $c --help >/dev/null || fail "fs $c --help"
done
set +e
"$ENSCONCE" fs verify shield >/dev/null 2>&1; rc1=$?
"$ENSCONCE" fs verify -k key -T "$TAG" shield >/dev/null 2>&1; rc2=$?
"$ENSCONCE" fs nonsense >/dev/null 2>&1; rc3=$?
"$ENSCONCE" fs pack -k key src shield >/dev/null 2>&1; rc4=$?
set -e
assert_eq "$rc1 $rc2 $rc3 $rc4" "2 1 2 1" "exit codes (usage, tampered, unknown, existing output)"
[ "$(stat -c %a key)" = 600 ] || fail "key file mode"
pass "CLI help, exit codes, key file 0600"
