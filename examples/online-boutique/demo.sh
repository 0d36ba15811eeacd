#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# make demo: the Online Boutique as confidential containers on this machine, under load.
#   images (make-images.sh) -> a local CAS and LAS (attested, pinned) -> sconify-all.sh (TARGET=local)
#   -> ensconce up -> the load generator for DEMO_SECONDS (default: until Ctrl-C) -> a summary.
# Environment: DEMO_SECONDS, USERS (10), RATE (1), DEMO_STATE (default build/boutique/state),
# DEMO_KEEP=0 stops everything after the summary (default: the shop stays up for you to browse).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-$root/build}
E=$BUILD/src/ensconce/ensconce
W=${DEMO_DIR:-$BUILD/boutique}
STATE=${DEMO_STATE:-$W/state}
P=boutique
export ENSCONCE_CONFIG_DIR=${ENSCONCE_CONFIG_DIR:-$W/client}

if [ "$(id -u)" != 0 ]; then
    echo "make demo: runs runc containers and needs root; run it as root (or with sudo)" >&2
    exit 1
fi
t0=$(date +%s)
OUT=$W/images "$here/make-images.sh"
echo "==> starting a local CAS and LAS"
"$E" down -p "$P" --state-dir "$STATE" >/dev/null 2>&1 || true
rm -rf "$STATE" "$ENSCONCE_CONFIG_DIR"
"$E" up --infra-only -p "$P" --state-dir "$STATE"
echo "==> converting every service (sconify-all.sh)"
rm -rf "$W/confidential" "$W/release"
IMAGE_REPOSITORY=oci:$W/confidential OUTPUT_DIR=$W/release TARGET=local SOURCE_IMAGES=$W/images \
    "$here/sconify-all.sh"
echo "==> ensconce up"
"$E" up -f "$W/release/compose.yaml" -p "$P" --state-dir "$STATE" --no-infra
t1=$(date +%s)
echo "==> the confidential Online Boutique is up after $((t1 - t0)) s: http://127.0.0.1:8080"
"$E" ps -p "$P" --state-dir "$STATE"

echo "==> load: ${USERS:-10} users, ${DEMO_SECONDS:-until Ctrl-C}${DEMO_SECONDS:+ s}"
csv=$(mktemp -d)
set +e
FRONTEND_ADDR=127.0.0.1:8080 USERS=${USERS:-10} RATE=${RATE:-1} CSV_PREFIX=$csv/stats \
    DURATION=${DEMO_SECONDS:+${DEMO_SECONDS}s} "$here/loadgenerator/run.sh" | tee "$csv/out"
load_rc=${PIPESTATUS[0]}
set -e
echo
echo "================ summary ================"
grep '^loadgenerator:' "$csv/out" | sed 's/^loadgenerator: /load: /' || echo "load: no statistics"
echo "services: 10 confidential services + Redis (encrypted volume) in runc containers, CAS and LAS on this host; load from Locust"
echo "frontend: http://127.0.0.1:8080"
echo "logs:     $E logs -p $P --state-dir $STATE SERVICE"
rm -rf "$csv"
if [ "${DEMO_KEEP:-1}" = 0 ]; then
    "$E" down -p "$P" --state-dir "$STATE"
else
    echo "stop:     $E down -p $P --state-dir $STATE"
fi
exit "$load_rc"
