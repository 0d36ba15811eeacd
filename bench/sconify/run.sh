#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Conversion benchmark (issue: sconify): an image of >= 200 MB whose --dir holds >= 100 MB, converted
# end to end by `ensconce sconify` (unpack, shield, rewrite of the layers that held the plaintext,
# measurement, write), versus `skopeo copy --dest-compress-format gzip` of the same image, in one run.
# Prints median times over RUNS runs and the ratio (goal: <= 1.5).  A second row converts the same
# image with gzip layers: there skopeo only copies the compressed blobs, which no conversion can
# match (it must decompress to read the files); the row shows what that costs.
#   BUILD=build RUNS=3 bench/sconify/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
RUNS=${RUNS:-3}
E=$PWD/$BUILD/src/ensconce/ensconce
export ENSCONCE_RUNTIME=$PWD/$BUILD/src/ensconce-run/ensconce-run ENSCONCE_NO_PROGRESS=1
command -v skopeo >/dev/null || { echo "skopeo is not installed"; exit 1; }
W=$(mktemp -d /var/tmp/ens-bench-sconify-XXXXXX)
trap 'rm -rf "$W"' EXIT
export ENSCONCE_CONFIG_DIR=$W/cfg

# The image: a service binary, shared libraries as a second layer (~120 MB), and /srv/data (~100 MB,
# text and binaries as real services carry) that is to be encrypted.
mkdir -p "$W/data/srv/data"
cp -r /usr/share/doc "$W/data/srv/data/doc" 2>/dev/null || true
cp -r /usr/lib/python3.11 "$W/data/srv/data/python" 2>/dev/null || true
i=0
while [ "$(du -sm "$W/data/srv/data" | cut -f1)" -lt 100 ]; do
    cp -r /usr/lib/gcc "$W/data/srv/data/gcc$i"; i=$((i + 1))
done
libs=()
for f in /usr/lib/x86_64-linux-gnu/*.so*; do
    [ -f "$f" ] && libs+=(--file "$f")
    [ "$(du -cm "${libs[@]/#--file/}" 2>/dev/null | tail -1 | cut -f1)" -gt 130 ] && break
done 2>/dev/null
# Uncompressed layers, so that skopeo must really compress them (with gzip layers it copies the blobs).
"$E" image build --compression none --exe /bin/ls --file "$W/data/srv:/srv" oci:"$W/img":base >/dev/null
"$E" image build --compression none --from oci:"$W/img":base "${libs[@]}" --entrypoint '["/bin/ls","/srv"]' \
    oci:"$W/img":v1 >/dev/null
size=$(du -sm "$W/img" | cut -f1)
dsize=$(du -sm "$W/data/srv/data" | cut -f1)
echo "image: ${size} MB on disk (uncompressed layers), --dir /srv/data: ${dsize} MB"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
now() { date +%s.%N; }
# The same image with gzip layers (made by skopeo, as a registry would serve it).
skopeo copy --insecure-policy --dest-compress-format gzip oci:"$W/img":v1 oci:"$W/gz":v1 >/dev/null
# compare LABEL SOURCE_TAG: RUNS interleaved runs of both tools on one source image
compare() {
    local ours=() theirs=() label=$1 src=$2
    for r in $(seq "$RUNS"); do
        rm -rf "$W/out" "$W/k8s" "$W/copy"
        t0=$(now)
        "$E" sconify --from "$src" --to oci:"$W/out":v1 --name bench --dir /srv/data --dry-run \
            --k8s-helm-output-dir "$W/k8s" >/dev/null 2>&1
        t1=$(now)
        skopeo copy --insecure-policy --dest-compress-format gzip "$src" oci:"$W/copy":v1 >/dev/null
        t2=$(now)
        ours+=("$(echo "$t1 - $t0" | bc)")
        theirs+=("$(echo "$t2 - $t1" | bc)")
        echo "$label run $r: ensconce sconify $(printf %.2f "${ours[-1]}") s, skopeo copy $(printf %.2f "${theirs[-1]}") s"
    done
    local mo mt
    mo=$(printf '%s\n' "${ours[@]}" | median)
    mt=$(printf '%s\n' "${theirs[@]}" | median)
    printf '%s median: ensconce sconify %.2f s, skopeo copy --dest-compress-format gzip %.2f s, ratio %.2f%s\n' \
        "$label" "$mo" "$mt" "$(echo "$mo / $mt" | bc -l)" "$3"
}
compare "uncompressed layers:" oci:"$W/img":v1 " (goal <= 1.5)"
compare "gzip layers:" oci:"$W/gz":v1 " (skopeo copies the blobs as they are)"
