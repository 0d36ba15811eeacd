#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The shield benchmark: on the same files and in one run, sequential write and read of 1 GiB,
# random 4 KiB reads and unpacking a tree of many small files, through
#   shield      our FUSE mount (one column per chunk size in SHIELD_BENCH_CHUNKS): a writable volume
#               for the write phases, mounted read-only (as an image's regions are) for the reads
#   passthrough a plain libfuse high-level passthrough (bench/shield/passthrough.c), no crypto
#   gocryptfs   and securefs (Debian packages), initialised non-interactively
# with `openssl speed -evp aes-256-gcm` as the ceiling, and prints ratios.  Needs root + /dev/fuse.
# Knobs: SHIELD_BENCH_MB (1024), SHIELD_BENCH_FILES (5000), SHIELD_BENCH_RANDOM (20000 reads),
#        SHIELD_BENCH_CHUNKS ("16384 65536 262144"), ENSCONCE_BUILD (build dir), SHIELD_BENCH_DIR.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${ENSCONCE_BUILD:-$ROOT/build}
ENSCONCE=${ENSCONCE:-$BUILD/src/ensconce/ensconce}
PT=$BUILD/bench/shield/shield-passthrough
MB=${SHIELD_BENCH_MB:-1024}
NFILES=${SHIELD_BENCH_FILES:-5000}
NRAND=${SHIELD_BENCH_RANDOM:-20000}
CHUNKS=${SHIELD_BENCH_CHUNKS:-"16384 65536 262144"}
DEFAULT_CHUNK=65536
PY=/usr/bin/python3

if [ "$(id -u)" != 0 ] || [ ! -c /dev/fuse ]; then
    echo "SKIP: shield bench: needs root and /dev/fuse"
    exit 0
fi
for t in "$ENSCONCE" "$PT"; do
    [ -x "$t" ] || { echo "shield bench: $t not built (make, or set ENSCONCE_BUILD)" >&2; exit 1; }
done
WORK=$(mktemp -d "${SHIELD_BENCH_DIR:-/var/tmp}/ens-shield-bench-XXXXXX")
PIDS=()
cleanup() {
    for m in "$WORK"/mnt*; do mountpoint -q "$m" 2>/dev/null && fusermount3 -uz "$m"; done
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 130" INT TERM
cd "$WORK"
now() { date +%s.%N; }
calc() { awk "BEGIN{printf \"%.3f\", $1}"; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
wait_mounted() { for _ in $(seq 100); do mountpoint -q "$1" && return 0; sleep 0.1; done; echo "mount of $1 failed" >&2; exit 1; }

# --- the file systems: setup NAME, mount NAME MNT, umount NAME MNT
"$ENSCONCE" fs keygen shield.key >/dev/null
setup() {
    case $1 in
    shield-*) "$ENSCONCE" fs init -k shield.key -c "${1#shield-}" "back-$1" >/dev/null ;;
    passthrough) mkdir "back-$1" ;;
    gocryptfs) mkdir "back-$1" && gocryptfs -init -q -extpass "echo bench" -scryptn 10 "back-$1" >/dev/null ;;
    securefs) mkdir "back-$1" && securefs create --pass bench "back-$1" >/dev/null 2>&1 ;;
    esac
}
mountfs() { # NAME MNT [ro]: ours is mounted read-only for the read phases (an image's regions)
    mkdir -p "$2"
    case $1 in
    shield-*)
        local rw=--rw
        [ "${3:-}" = ro ] && rw=
        "$ENSCONCE" fs mount -k shield.key -T "$("$ENSCONCE" fs tag "back-$1")" $rw "back-$1" "$2" >/dev/null 2>"$1.log" &
        PIDS+=($!) ;;
    passthrough) "$PT" "back-$1" "$2" 2>"$1.log" & PIDS+=($!) ;;
    gocryptfs) gocryptfs -q -extpass "echo bench" "back-$1" "$2" ;;
    securefs) securefs mount -b --pass bench --log "$WORK/$1.log" "back-$1" "$2" >/dev/null 2>&1 ;;
    esac
    wait_mounted "$2"
}
umountfs() {
    fusermount3 -u "$2"
    for _ in $(seq 600); do mountpoint -q "$2" || break; sleep 0.1; done
    case $1 in shield-* | passthrough) wait "${PIDS[-1]}" || { echo "$1 exited with an error: $(cat "$1.log")" >&2; exit 1; } ;; esac
}

# Every timed phase ends with its data durable for every file system (fsync, unmount, sync -f).
# --- the small-file tree (same tar for everyone)
$PY - "$NFILES" <<'PYEOF'
import io, os, random, sys, tarfile
n = int(sys.argv[1]); rng = random.Random(7)
with tarfile.open("small.tar", "w") as t:
    for i in range(n):
        data = rng.randbytes(rng.randrange(512, 16384))
        ti = tarfile.TarInfo(f"tree/d{i % 100:03d}/f{i:05d}"); ti.size = len(data); ti.mode = 0o644
        t.addfile(ti, io.BytesIO(data))
PYEOF
rand_reads() { # FILE -> ops/s (cold cache, aligned 4 KiB preads)
    $PY - "$1" "$NRAND" "$MB" <<'PYEOF'
import os, random, sys, time
f, n, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(11); blocks = mb * 256
fd = os.open(f, os.O_RDONLY)
t = time.monotonic()
for _ in range(n):
    if len(os.pread(fd, 4096, rng.randrange(blocks) * 4096)) != 4096: sys.exit("short read")
print(f"{n / (time.monotonic() - t):.0f}")
PYEOF
}

declare -A R
FSLIST=""
for c in $CHUNKS; do FSLIST="$FSLIST shield-$c"; done
FSLIST="$FSLIST passthrough"
command -v gocryptfs >/dev/null && FSLIST="$FSLIST gocryptfs" || echo "note: gocryptfs not installed (scripts/install-deps)"
command -v securefs >/dev/null && FSLIST="$FSLIST securefs" || echo "note: securefs not installed (scripts/install-deps)"
for fs in $FSLIST; do
    setup "$fs"
    m="$WORK/mnt-$fs"
    mountfs "$fs" "$m"
    t0=$(now); dd if=/dev/zero of="$m/big" bs=1M count="$MB" conv=fsync status=none; sync -f "back-$fs"; t1=$(now)
    R[$fs,seqwrite]=$(calc "$MB / ($t1 - $t0)")
    umountfs "$fs" "$m"; drop_caches; mountfs "$fs" "$m" ro
    t0=$(now); dd if="$m/big" of=/dev/null bs=1M status=none; t1=$(now)
    R[$fs,seqread]=$(calc "$MB / ($t1 - $t0)")
    umountfs "$fs" "$m"; drop_caches; mountfs "$fs" "$m" ro
    R[$fs,randread]=$(rand_reads "$m/big")
    umountfs "$fs" "$m"; mountfs "$fs" "$m"
    rm -f "$m/big"
    umountfs "$fs" "$m"; drop_caches; mountfs "$fs" "$m"
    # unpack many small files, until everything is durable (unmount included, which commits)
    t0=$(now); tar -xf small.tar -C "$m"; umountfs "$fs" "$m"; sync -f "back-$fs"; t1=$(now)
    R[$fs,small]=$(calc "$NFILES / ($t1 - $t0)")
    rm -rf "back-$fs"
    echo "done: $fs" >&2
done

GCM=$(openssl speed -evp aes-256-gcm -bytes 65536 -seconds 2 2>/dev/null | awk '/^aes-256-gcm|^AES-256-GCM/{v=$NF} END{sub(/k$/,"",v); printf "%.0f", v/1000}')

printf '\nshield benchmark: %d MiB file, %d random 4 KiB reads (cold cache), %d small files; %s\n' \
    "$MB" "$NRAND" "$NFILES" "$(uname -r)"
printf 'ceiling: openssl speed -evp aes-256-gcm (64 KiB blocks, one core): %s MB/s\n\n' "$GCM"
printf '%-12s' workload; for fs in $FSLIST; do printf '%14s' "$fs"; done; printf '\n'
for w in seqwrite seqread randread small; do
    case $w in seqwrite | seqread) unit="MB/s" ;; randread) unit="reads/s" ;; small) unit="files/s" ;; esac
    printf '%-12s' "$w"; for fs in $FSLIST; do printf '%14.0f' "${R[$fs,$w]}"; done; printf '  %s\n' "$unit"
done
S=shield-$DEFAULT_CHUNK
if [ -n "${R[$S,seqread]:-}" ]; then
    printf '\nratios of %s (default chunk size):\n' "$S"
    for w in seqwrite seqread randread small; do
        line="  $w:"
        for peer in passthrough gocryptfs securefs; do
            [ -n "${R[$peer,$w]:-}" ] && line="$line $(printf 'vs %s %.2f ' "$peer" "$(calc "${R[$S,$w]} / ${R[$peer,$w]}")")"
        done
        echo "$line"
    done
    printf '  seqread vs AES-GCM ceiling: %.2f\n' "$(calc "${R[$S,seqread]} / $GCM")"
    printf 'goals: seqread and small files >= 1.0 x gocryptfs, seqread >= 0.60 x passthrough\n'
fi
