#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Hardware evidence verification throughput per format, collateral cached, on
# the real vectors (../shared/vectors/attestation).  Goal (issue 9): >= 2,000
# verifications/s per core for each format.  Shown next to OpenSSL's raw ECDSA
# verify rate on this machine: one SNP report needs one P-384 verify, one Intel
# quote two P-256 verifies (QE report, ISV signature) once collateral is cached.
# Usage: bench/tee/run.sh [SECONDS] [THREADS]   (BUILD=dir selects the build tree)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
BIN=$BUILD/bench/tee/bench_tee
SHARED=${ENSCONCE_SHARED:-$ROOT/../shared}
V=$SHARED/vectors/attestation
[ -x "$BIN" ] || { echo "bench/tee: $BIN not built (make build)"; exit 1; }
[ -d "$V" ] || { echo "bench/tee: SKIP: vectors not found at $V (set ENSCONCE_SHARED)"; exit 0; }
SECS=${1:-3}
THREADS=${2:-1}
echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
speed=$(openssl speed -seconds 1 ecdsap256 ecdsap384 2>/dev/null | awk '/nistp256\)/{p256=$NF} /nistp384\)/{p384=$NF} END{print p256, p384}' || true)
read -r P256 P384 <<<"$speed" || true
P256=${P256:-0} P384=${P384:-0}   # 0: openssl(1) unavailable, no ceiling shown
out=$("$BIN" "$V" "$SECS" "$THREADS")
echo "$out"
echo "# goal 2000/s per core; per-core figures use CPU time (like openssl speed), so other load on the machine does not skew them:"
echo "$out" | awk -v p256="$P256" -v p384="$P384" '{
  for (i = 1; i <= NF; i++) if ($(i+1) == "/s" && $(i+2) == "per" && $(i+3) == "core") r = $i;
  name = $1 " " $2;
  ceil = ($1 ~ /^snp/) ? p384 : p256 / 2;
  if (ceil == 0) { printf "%-20s %8.0f/s per core = %.2fx goal\n", name, r, r / 2000; next }
  printf "%-20s %8.0f/s per core = %.2fx goal; raw OpenSSL verify ceiling %.0f/s per core (ratio %.2f)\n", name, r, r / 2000, ceil, r / ceil
}'
