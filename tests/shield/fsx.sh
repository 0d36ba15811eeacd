#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# fsx-style randomized read/write/truncate/rename/link/symlink/chmod workload on a writable
# volume, compared op by op with a plain directory (offsets past 4 GiB, sparse files); then
# remount with the reported tag and compare again; then permission checks as another user.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
. "$SHIELD_TESTS/lib.sh"
need_fuse
cd "$TMP"
"$ENSCONCE" fs keygen key
SEEDS=${SHIELD_FSX_SEEDS:-"1 2 3"}
NOPS=${SHIELD_FSX_OPS:-1500}
for seed in $SEEDS; do
    rm -rf vol plain && mkdir plain
    T0=$("$ENSCONCE" fs init -k key vol)
    # a short commit interval so that commits (and copy-on-write after them) happen mid-workload
    shield_mount vol mnt "$TMP/fsx$seed.log" -k key -T "$T0" --rw -i 20 -t tag
    "$PYTHON" "$SHIELD_TESTS/fsx.py" mnt plain "$seed" "$NOPS" || fail "seed $seed: workload diverged"
    shield_umount mnt "$TMP/fsx$seed.log"
    T=$(cat tag)
    assert_eq "$("$ENSCONCE" fs tag vol)" "$T" "tag reported at the last commit"
    [ "$(wc -l <"$TMP/fsx$seed.log.out")" -ge 2 ] || fail "seed $seed: expected several commits"
    "$ENSCONCE" fs verify -k key -T "$T" vol >/dev/null || fail "seed $seed: verify after the workload"
    shield_mount vol mnt "$TMP/fsx$seed-ro.log" -k key -T "$T"
    "$PYTHON" "$SHIELD_TESTS/fsx.py" mnt plain "$seed" 0 || fail "seed $seed: remounted volume differs"
    shield_umount mnt "$TMP/fsx$seed-ro.log"
    pass "seed $seed: $NOPS ops identical to a plain directory, and after remount"
done

# permissions are enforced by the kernel (default_permissions) for other users
chmod 755 "$TMP"
rm -rf vol plain && mkdir plain
T0=$("$ENSCONCE" fs init -k key vol)
shield_mount vol mnt "$TMP/perm.log" -k key -T "$T0" --rw -i 0 --allow-other -t tag
for d in mnt plain; do
    chmod 755 $d
    echo secret >$d/private && chmod 600 $d/private
    echo public >$d/public && chmod 644 $d/public
    mkdir $d/locked && chmod 700 $d/locked && echo x >$d/locked/f
    mkdir $d/shared && chmod 1777 $d/shared
    chown 65534:65534 $d/public
done
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
for d in mnt plain; do
    res=""
    for cmd in "cat $d/private" "cat $d/public" "ls $d/locked" "touch $d/shared/n" "touch $d/new" "sh -c 'echo y >>$d/public'"; do
        if as_nobody sh -c "$cmd" >/dev/null 2>&1; then res="$res 1"; else res="$res 0"; fi
    done
    eval "res_$d='$res'"
done
assert_eq "$res_mnt" "$res_plain" "permission results (private public locked sticky-dir new-file owner-append)"
assert_eq "$res_mnt" " 0 1 0 1 0 1" "expected permission pattern"
stat -c '%a %u %g %h %F' mnt/private mnt/public mnt/locked mnt/shared >perm.mnt
(cd plain && stat -c '%a %u %g %h %F' private public locked shared) >perm.plain
cmp perm.mnt perm.plain || fail "stat differs: $(cat perm.mnt) vs $(cat perm.plain)"
shield_umount mnt "$TMP/perm.log"
T=$(cat tag)
shield_mount vol mnt "$TMP/perm2.log" -k key -T "$T"
stat -c '%a %u %g %h %F' mnt/private mnt/public mnt/locked mnt/shared >perm.mnt2
cmp perm.mnt2 perm.plain || fail "permissions not kept across remount"
shield_umount mnt "$TMP/perm2.log"
pass "permissions, owners and the sticky bit enforced and kept across remount"

# big directories: listing while removing must not skip entries (rm -rf), names stay sorted-stable
rm -rf vol && T0=$("$ENSCONCE" fs init -k key vol)
shield_mount vol mnt "$TMP/big.log" -k key -T "$T0" --rw -i 1000
mkdir mnt/big
for i in $(seq 1 2000); do : >"mnt/big/file-with-a-longish-name-$i"; done
[ "$(ls mnt/big | wc -l)" = 2000 ] || fail "listing of 2000 entries: $(ls mnt/big | wc -l)"
[ "$(find mnt/big -type f | wc -l)" = 2000 ] || fail "find in 2000 entries"
rm -rf mnt/big || fail "rm -rf of a 2000-entry directory"
[ ! -e mnt/big ] || fail "mnt/big still exists"
shield_umount mnt "$TMP/big.log"
pass "2000-entry directory listed and removed with rm -rf"
