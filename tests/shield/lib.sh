# SPDX-License-Identifier: Apache-2.0
# Helpers of the shield integration tests (sourced after tests/lib/common.sh).
need_fuse() {
    need_root
    [ -c /dev/fuse ] || skip "/dev/fuse is missing"
    need fusermount3
}

# shield_mount SHIELD MNT LOG [mount options...]: starts 'ensconce fs mount' in the background,
# waits until it serves MNT; MOUNT_PID is its pid.  Fails if it exits first.
shield_mount() {
    local sh=$1 mnt=$2 log=$3
    shift 3
    mkdir -p "$mnt"
    "$ENSCONCE" fs mount "$@" "$sh" "$mnt" >"$log.out" 2>"$log" &
    MOUNT_PID=$!
    add_cleanup "fusermount3 -uz '$mnt'; kill -9 $MOUNT_PID"
    local i
    for ((i = 0; i < 100; i++)); do
        mountpoint -q "$mnt" && return 0
        kill -0 "$MOUNT_PID" 2>/dev/null || { wait "$MOUNT_PID" || true; return 1; }
        sleep 0.1
    done
    fail "mount of $sh did not come up: $(cat "$log")"
}

shield_umount() {
    local mnt=$1
    fusermount3 -u "$mnt" || umount -l "$mnt"
    wait "$MOUNT_PID" || fail "mount process exited with an error: $(cat "${2:-/dev/null}" 2>/dev/null)"
}

# objpath SHIELD KEYFILE PATH [SUFFIX]: the data object (or table with .t) of PATH in the shield.
objpath() {
    "$ENSCONCE" fs show --json -k "$2" "$1" | "$PYTHON" -c '
import json, sys
m = json.load(sys.stdin)["manifest"]["inodes"]
path, suffix = sys.argv[1], sys.argv[2]
cur = 1
for part in [p for p in path.split("/") if p]:
    cur = dict(m[cur - 1]["entries"])[part]
o = m[cur - 1]["object"]
print(f"{sys.argv[3]}/objects/{o[:2]}/{o}{suffix}")' "$3" "${4:-}" "$1"
}

flip() { # FILE OFFSET
    "$PYTHON" -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 1]))' "$1" "$2"
}
