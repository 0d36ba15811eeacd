#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kill -9 of the FUSE process during commits, then remount: the volume on disk is the last
# acknowledged generation or the one being committed, fully readable and verified with its tag;
# and the last tag the mount reported (what the CAS knows) always mounts it (a commit that was
# never reported is dropped).
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
. "$SHIELD_TESTS/lib.sh"
need_fuse
cd "$TMP"
"$ENSCONCE" fs keygen key
T=$("$ENSCONCE" fs init -k key vol)
ROUNDS=${SHIELD_CRASH_ROUNDS:-12}
ahead=0
for ((r = 1; r <= ROUNDS; r++)); do
    # test hook: the commit pauses between its steps so that kills land inside commits
    ENSCONCE_SHIELD_COMMIT_DELAY_MS=$((r % 3 * 100)) shield_mount vol mnt "$TMP/m$r.log" -k key -T "$T" --rw -i 600000
    "$PYTHON" "$SHIELD_TESTS/crash.py" write mnt >"w$r.log" 2>&1 &
    wpid=$!
    sleep "$(awk -v r=$RANDOM 'BEGIN{printf "%.2f", 0.2 + (r % 180) / 100}')"
    kill -9 "$MOUNT_PID"
    wait "$MOUNT_PID" 2>/dev/null || true
    wait $wpid || true
    fusermount3 -uz mnt 2>/dev/null || umount -l mnt 2>/dev/null || true
    acked=$(grep -c '^acked' "w$r.log" || true)
    DISK=$("$ENSCONCE" fs tag vol)
    LAST=$(awk '/^tag /{t=$3} END{print t}' "$TMP/m$r.log.out")
    [ -n "$LAST" ] || LAST=$T
    # what is on disk: a complete generation, verified under its own tag
    "$ENSCONCE" fs verify -k key -T "$DISK" vol >/dev/null || fail "round $r: on-disk version does not verify"
    shield_mount vol mnt "$TMP/d$r.log" -k key -T "$DISK" || fail "round $r: on-disk tag refused"
    gen=$("$PYTHON" "$SHIELD_TESTS/crash.py" check mnt "$acked" 2>&1) || fail "round $r: inconsistent tree: $gen"
    shield_umount mnt "$TMP/d$r.log"
    if [ "$DISK" != "$LAST" ]; then
        ahead=$((ahead + 1))
        grep -q "$DISK" "$TMP/m$r.log.out" && fail "round $r: reported tag is not on disk"
    fi
    # what the CAS knows always mounts (writable); an unreported commit is dropped
    shield_mount vol mnt "$TMP/c$r.log" -k key -T "$LAST" --rw -i 0 ||
        fail "round $r: the last reported tag does not mount: $(cat "$TMP/c$r.log")"
    gen2=$("$PYTHON" "$SHIELD_TESTS/crash.py" check mnt "$acked" 2>&1) || fail "round $r: inconsistent tree: $gen2"
    # start the next round from an empty tree
    rm -rf mnt/*
    shield_umount mnt "$TMP/c$r.log"
    T=$("$ENSCONCE" fs tag vol)
    echo "round $r: acked $acked, on disk generation $gen, last reported generation $gen2"
done
pass "$ROUNDS kill -9 rounds: always the acknowledged or the next generation, tags matching ($ahead ahead of the report)"

# deterministic: a commit the CAS never heard of is dropped when mounting with the known tag
T1=$T
shield_mount vol mnt "$TMP/x.log" -k key -T "$T1" --rw -i 0
echo one >mnt/file
shield_umount mnt "$TMP/x.log"
T2=$("$ENSCONCE" fs tag vol)
shield_mount vol mnt "$TMP/y.log" -k key -T "$T2" --rw -i 0
echo two >mnt/file
shield_umount mnt "$TMP/y.log"
T3=$("$ENSCONCE" fs tag vol)
shield_mount vol mnt "$TMP/z.log" -k key -T "$T2" --rw -i 0 || fail "previous version refused"
assert_eq "$(cat mnt/file)" "one" "content after dropping the unacknowledged commit"
shield_umount mnt "$TMP/z.log"
grep -q "never acknowledged" "$TMP/z.log" || fail "no warning about the dropped commit"
expect_fail "$ENSCONCE" fs mount -k key -T "$T3" vol mnt
pass "unacknowledged commit dropped; the dropped version cannot come back"
expect_fail "$ENSCONCE" fs mount -k key -T "$T1" --rw vol mnt
assert_contains "$OUT" "tag mismatch"
pass "two versions back is refused even for a writable mount"
