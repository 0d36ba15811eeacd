#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Image engine benchmark: copy (oci -> oci) and unpack of an image of >= 200 MB built from this
# machine's /usr/lib, side by side with `skopeo copy` and `umoci unpack`, in one run.
# Prints the best of N runs (warm page cache for everyone) and ratios ours/theirs (goal <= 1.0).
# On a loaded machine the figures are noisy: compare them from one run only.
#   ENSCONCE=path/to/ensconce  BENCH_MB=250  BENCH_RUNS=3  bench/image/run.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
E=${ENSCONCE:-$ROOT/build/src/ensconce/ensconce}
MB=${BENCH_MB:-250}
RUNS=${BENCH_RUNS:-5}
for t in skopeo umoci "$E"; do command -v "$t" >/dev/null || { echo "bench/image: $t not found" >&2; exit 1; }; done
W=$(mktemp -d /var/tmp/ens-bench-image-XXXXXX)
trap 'rm -rf "$W"' EXIT

# The input: regular files from /usr/lib (largest libraries first) until MB megabytes.
mkdir -p "$W/root"
/usr/bin/python3 - "$W/root" "$MB" <<'PY'
import os, shutil, sys
dst, want = sys.argv[1], int(sys.argv[2]) << 20
files = []
for d, _, names in os.walk("/usr/lib"):
    for n in names:
        p = os.path.join(d, n)
        if os.path.isfile(p) and not os.path.islink(p):
            try:
                files.append((os.path.getsize(p), p))
            except OSError:
                pass
files.sort(key=lambda x: (-x[0], x[1]))
total = 0
for size, p in files:
    if total >= want:
        break
    if size > 64 << 20:
        continue
    t = os.path.join(dst, p.lstrip("/"))
    os.makedirs(os.path.dirname(t), exist_ok=True)
    try:
        shutil.copy2(p, t)
    except OSError:
        continue
    total += size
print(f"input: {total >> 20} MB in {sum(1 for _ in os.walk(dst))} directories", file=sys.stderr)
PY
# Two layers, like a base and an application.
first=$(ls "$W/root/usr/lib" | head -n $(( $(ls "$W/root/usr/lib" | wc -l) / 2 )) )
mkdir -p "$W/l1/usr/lib" "$W/l2/usr/lib"
for f in $(ls "$W/root/usr/lib"); do
    if grep -qxF "$f" <<<"$first"; then mv "$W/root/usr/lib/$f" "$W/l1/usr/lib/"; else mv "$W/root/usr/lib/$f" "$W/l2/usr/lib/"; fi
done
"$E" image build --root "$W/l1" oci:"$W/src":base >/dev/null
"$E" image build --from oci:"$W/src":base --root "$W/l2" oci:"$W/src":bench >/dev/null
size=$(du -sm "$W/src/blobs" | cut -f1)
usize=$(du -sm "$W/l1" "$W/l2" | awk '{s+=$1} END {print s}')
echo "image: $size MB compressed, $usize MB unpacked, 2 layers"

best() { # command... -> best wall time in seconds over RUNS runs (a fresh destination each time)
    local b="" t
    for ((i = 0; i < RUNS; i++)); do
        rm -rf "$W/dst" "$W/dst.tar"
        sync
        local s=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || { echo "bench/image: failed: $*" >&2; exit 1; }
        t=$(awk -v a="$(date +%s.%N)" -v b="$s" 'BEGIN { printf "%.3f", a - b }')
        if [ -z "$b" ] || awk -v t="$t" -v b="$b" 'BEGIN { exit !(t < b) }'; then b=$t; fi
    done
    printf '%.3f' "$b"
}

copy_ours=$(best "$E" image copy oci:"$W/src":bench oci:"$W/dst":bench)
copy_bytes=$(best env ENSCONCE_IMAGE_COPY=bytes "$E" image copy oci:"$W/src":bench oci:"$W/dst":bench)
copy_skopeo=$(best skopeo copy --insecure-policy oci:"$W/src":bench oci:"$W/dst":bench)
unpack_ours=$(best "$E" image unpack --bundle oci:"$W/src":bench "$W/dst")
unpack_umoci=$(best umoci unpack --image "$W/src":bench "$W/dst")

# Same result check (outside the timing): identical trees.
rm -rf "$W/a" "$W/b"
"$E" image unpack --bundle oci:"$W/src":bench "$W/a"
umoci unpack --image "$W/src":bench "$W/b" >/dev/null 2>&1
diff -r --no-dereference "$W/a/rootfs" "$W/b/rootfs" >/dev/null && same=identical || same=DIFFERENT

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
printf '%-22s %10s %10s %8s\n' "operation" "ensconce" "peer" "ratio"
printf '%-22s %9ss %9ss %8s   (peer: skopeo copy; ours hard-links verified blobs on one file system)\n' "copy oci->oci" "$copy_ours" "$copy_skopeo" "$(ratio "$copy_ours" "$copy_skopeo")"
printf '%-22s %9ss %9ss %8s   (peer: skopeo copy; ours with ENSCONCE_IMAGE_COPY=bytes)\n' "copy oci->oci (bytes)" "$copy_bytes" "$copy_skopeo" "$(ratio "$copy_bytes" "$copy_skopeo")"
printf '%-22s %9ss %9ss %8s   (peer: umoci unpack; trees %s)\n' "unpack (bundle)" "$unpack_ours" "$unpack_umoci" "$(ratio "$unpack_ours" "$unpack_umoci")" "$same"
