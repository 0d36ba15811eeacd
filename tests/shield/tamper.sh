#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Every tamper class is detected: through FUSE reads fail with EIO and the log names the file;
# 'fs verify' fails naming it too; a wrong expected tag, a wrong key, a flipped manifest and an
# older whole volume are refused at mount.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
. "$SHIELD_TESTS/lib.sh"
need_fuse
cd "$TMP"
mkdir -p src/etc
head -c 300000 /dev/urandom >src/a
head -c 300000 /dev/urandom >src/b
echo small >src/c
echo "setting=1" >src/etc/conf
"$ENSCONCE" fs keygen key
TAG=$("$ENSCONCE" fs pack -k key --authenticated /etc src pristine)
"$ENSCONCE" fs verify -k key -T "$TAG" pristine >/dev/null

# tamper NAME FILE_IN_SHIELD COMMANDS...: applies COMMANDS in a copy, expects reading FILE to fail
tamper() {
    local name=$1 victim=$2
    shift 2
    rm -rf t && cp -a pristine t
    (cd t && eval "$*")
    shield_mount t mnt "$TMP/$name.log" -k key -T "$TAG" || fail "$name: mount refused (only $victim is tampered)"
    if out=$(cat "mnt$victim" 2>&1 >/dev/null); then
        fail "$name: reading $victim succeeded"
    fi
    assert_contains "$out" "Input/output error" "$name: read error"
    # other files stay readable
    if [ "$victim" != /c ]; then cmp -s mnt/c src/c || fail "$name: untouched file /c unreadable"; fi
    shield_umount mnt
    grep -q "error: shield: $victim" "$TMP/$name.log" || fail "$name: no log line naming $victim: $(cat "$TMP/$name.log")"
    expect_fail "$ENSCONCE" fs verify -k key -T "$TAG" t
    assert_contains "$OUT" "$victim" "$name: verify names the file"
    pass "$name detected ($victim)"
}

A=$(objpath pristine key /a); A=${A#pristine/}
B=$(objpath pristine key /b); B=${B#pristine/}
C=$(objpath pristine key /c); C=${C#pristine/}
CONF=$(objpath pristine key /etc/conf); CONF=${CONF#pristine/}
tamper bitflip /a "flip $A 70000"
tamper chunk-swap /a "dd if=$A of=x bs=65536 count=1 status=none; dd if=$A of=y bs=65536 skip=1 count=1 status=none; dd if=y of=$A bs=65536 conv=notrunc status=none; dd if=x of=$A bs=65536 seek=1 conv=notrunc status=none"
tamper truncation /a "truncate -s 200000 $A"
tamper extension /a "echo more >>$A"
tamper table-flip /a "flip $A.t 40"
tamper table-truncation /a "truncate -s 24 $A.t"
tamper file-swap /a "mv $A x; mv $B $A; mv x $B; mv $A.t x; mv $B.t $A.t; mv x $B.t"
tamper data-swap /a "mv $A x; mv $B $A; mv x $B"
tamper removed-object /c "rm -f $C $C.t"
tamper authenticated-flip /etc/conf "flip $CONF 2"
# the authenticated region stores plaintext; the encrypted one does not
grep -q "setting=1" "pristine/$CONF" || fail "authenticated data is not plaintext"
grep -rq "small" pristine/objects && fail "encrypted data found in plaintext"
pass "regions: authenticated stored as plaintext, encrypted not"

# mount refusals
expect_fail "$ENSCONCE" fs mount -k key -T "$(printf '%064d' 0)" pristine mnt
assert_contains "$OUT" "tag mismatch"
pass "wrong expected tag refused"
head -c 32 /dev/urandom >wrongkey
expect_fail "$ENSCONCE" fs mount -k wrongkey -T "$TAG" pristine mnt
assert_contains "$OUT" "authentication failed"
pass "wrong key refused"
rm -rf t && cp -a pristine t && flip t/manifest 100
expect_fail "$ENSCONCE" fs mount -k key -T "$TAG" t mnt
assert_contains "$OUT" "tag mismatch"
NEWTAG=$("$ENSCONCE" fs tag t)
expect_fail "$ENSCONCE" fs mount -k key -T "$NEWTAG" t mnt
assert_contains "$OUT" "authentication failed"
pass "flipped manifest refused (by tag, and by the key even with a matching tag)"
mountpoint -q mnt && fail "a refused mount left a mount behind"

# replays on a writable volume: an older file and an older whole volume
T0=$("$ENSCONCE" fs init -k key vol)
shield_mount vol mnt "$TMP/rw.log" -k key -T "$T0" --rw -i 0 -t tag1
echo "version one" >mnt/x
echo "other" >mnt/y
shield_umount mnt "$TMP/rw.log"
T1=$(cat tag1)
cp -a vol v1
X1=$(objpath vol key /x)
shield_mount vol mnt "$TMP/rw.log" -k key -T "$T1" --rw -i 0 -t tag2
echo "version two" >mnt/x
echo "added" >mnt/z
shield_umount mnt "$TMP/rw.log"
T2=$(cat tag2)
[ "$T1" != "$T2" ] || fail "a change did not change the tag"
X2=$(objpath vol key /x)
cp "v1/${X1#vol/}" "$X2"
[ -e "v1/${X1#vol/}.t" ] && cp "v1/${X1#vol/}.t" "$X2.t"
shield_mount vol mnt "$TMP/replay.log" -k key -T "$T2" || fail "mount after file replay refused"
if cat mnt/x >/dev/null 2>&1; then fail "replayed older file was readable"; fi
shield_umount mnt
grep -q "error: shield: /x" "$TMP/replay.log" || fail "no log line naming /x"
pass "replay of an older file version detected"
expect_fail "$ENSCONCE" fs mount -k key -T "$T2" v1 mnt
assert_contains "$OUT" "tag mismatch"
pass "replay of an older whole volume refused"
cp v1/manifest vol/manifest
expect_fail "$ENSCONCE" fs mount -k key -T "$T2" vol mnt
assert_contains "$OUT" "tag mismatch"
pass "older manifest (other file set) refused"
