#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# ensconce-run start-up benchmark: time from `runc run` to the service's first instruction, the same
# image run natively (runc) versus with ensconce-run as PID 1 (real CAS and LAS on loopback, simulation
# evidence), interleaved, median and p90, plus the runtime's own breakdown (measure, evidence, CAS
# round trip, mount).  Goal of the issue: <= 50 ms added at the median in simulation mode.
#   BUILD=build-x bench/run/run.sh        RUNS=20, SHIELD_MB=8 by default; needs root and runc
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUNS=${RUNS:-20}
SHIELD_MB=${SHIELD_MB:-8}
export ENSCONCE_BUILD_ROOT=$BUILD ENSCONCE_SOURCE_ROOT=$ROOT ENSCONCE=$BUILD/src/ensconce/ensconce
export PYTHON=/usr/bin/python3 TEST_NAME=bench-run
[ "$(id -u)" = 0 ] || { echo "bench/run: needs root (runc)"; exit 0; }
command -v runc >/dev/null || { echo "bench/run: runc is not installed"; exit 0; }
. "$ROOT/tests/lib/common.sh"
. "$ROOT/tests/run/lib.sh"
trap - ERR

start_services
gcc -static -O2 -o "$TMP/first" "$ROOT/bench/run/first.c"
gcc -O2 -o "$TMP/first-dyn" "$ROOT/bench/run/first.c"

# setup NAME EXE_IN_ROOT HOSTBIN [memory|fuse]: a scratch-like root with the program (and its libraries
# when dynamic), a native bundle and an ensconce-run bundle over the same root.  With a shield mode the
# root also gets an encrypted /app (SHIELD_MB MiB in a few hundred files) that ensconce-run must open
# before the service starts: decrypted into memory, or mounted with FUSE.
setup() {
    local name=$1 exe=$2 bin=$3 mode=${4:-} r=$TMP/$1
    new_rootfs "$r"
    mkdir -p "$r$(dirname "$exe")"
    cp "$bin" "$r$exe"
    copy_into "$r" $(host_deps "$r$exe")
    local measured extra=""
    measured=$(jq -n --arg e "$exe" '{exe: $e}')
    if [ -n "$mode" ]; then
        local src=$TMP/src-$name
        mkdir -p "$src/app/data"
        head -c "$((SHIELD_MB << 20))" /dev/urandom >"$src/app/data/blob.bin"
        cp -r /usr/share/doc/bash /usr/share/doc/coreutils "$src/app/" 2>/dev/null || true
        pack_shield "$r" "$src"
        measured=$(jq -n --arg e "$exe" --arg m "$mode" \
            '{exe: $e, shield: {dir: "/.ensconce/shield", mountpoint: "/.ensconce/mem/fs", mode: $m}}')
        extra=", fspf_path: /.ensconce/shield, fspf_key: $SHIELD_KEY, fspf_tag: $SHIELD_TAG"
    fi
    write_run_json "$r" "bench$$/$name" "$measured"
    local m
    m=$(measure "$r")
    printf '  - {name: %s, mrenclaves: [%s], command: [%s]%s}\n' "$name" "$m" "$exe" "$extra" >>"$TMP/services.yaml"
    make_bundle "$TMP/$name-native" "$r"
    jq --arg e "$exe" '.process.args = [$e]' "$TMP/$name-native/config.json" >"$TMP/c.json"
    mv "$TMP/c.json" "$TMP/$name-native/config.json"
    make_bundle "$TMP/$name-ens" "$r" "$([ "$mode" = fuse ] && echo fuse)"
    jq '.process.env += ["ENSCONCE_TIMING=1"]' "$TMP/$name-ens/config.json" >"$TMP/c.json"
    mv "$TMP/c.json" "$TMP/$name-ens/config.json"
}
: >"$TMP/services.yaml"
setup static /bin/first "$TMP/first"
setup dynamic /usr/local/bin/first "$TMP/first-dyn"
setup shield-mem /bin/first "$TMP/first" memory
setup shield-fuse /bin/first "$TMP/first" fuse
{
    printf 'name: bench%s\nversion: "0.3"\nsecurity:\n  attestation: {mode: simulation}\nservices:\n' "$$"
    cat "$TMP/services.yaml"
} >"$TMP/session.yaml"
post_session "$TMP/session.yaml" >/dev/null

# once BUNDLE: ms from runc start to the service's first instruction.
once() {
    local t0 out
    t0=$(date +%s%N)
    out=$(runc run --bundle "$1" "bench$$-$RANDOM" 2>>"$TMP/timing.log" </dev/null)
    local f=${out#first }
    [ "$f" != "$out" ] || { echo "bench/run: no output from $1: $out $(tail -2 "$TMP/timing.log")" >&2; exit 1; }
    echo $(((f - t0) / 1000))
}
stats() { # values (µs) on stdin -> "median p90" in ms
    sort -n | awk '{v[NR]=$1} END {m=v[int((NR+1)/2)]; p=v[int(NR*0.9+0.999)]; printf "%.1f %.1f", m/1000, p/1000}'
}
printf '%-12s %22s %22s %14s   %s\n' "service" "native median/p90 ms" "ensconce median/p90 ms" "added median" \
    "ensconce-run breakdown (median ms)"
for name in static dynamic shield-mem shield-fuse; do
    : >"$TMP/n" ; : >"$TMP/e"; : >"$TMP/timing.log"
    once "$TMP/$name-native" >/dev/null; once "$TMP/$name-ens" >/dev/null  # warm caches
    : >"$TMP/timing.log"
    for _ in $(seq "$RUNS"); do
        once "$TMP/$name-native" >>"$TMP/n"
        once "$TMP/$name-ens" >>"$TMP/e"
    done
    read -r nm np <<<"$(stats <"$TMP/n")"
    read -r em ep <<<"$(stats <"$TMP/e")"
    bd=""
    for k in measure evidence cas mount total; do
        v=$(grep -o "$k=[0-9.]*" "$TMP/timing.log" | cut -d= -f2 | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
        bd="$bd $k=$v"
    done
    printf '%-12s %10s / %-9s %10s / %-9s %+10.1f ms  %s\n' "$name" "$nm" "$np" "$em" "$ep" "$(awk -v a="$em" -v b="$nm" 'BEGIN{print a-b}')" "$bd"
done
echo "($RUNS runs each, interleaved; goal: <= 50 ms added at the median)"
