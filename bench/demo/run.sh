#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The Online Boutique under the same load, native and confidential, in one run (issue: demo):
#   native:        the nine back ends + Redis (run-native.sh) and the frontend, plain processes
#   confidential:  make demo's pipeline: every service converted and run by ensconce-run in runc
# Loads: Locust (the upstream locustfile, LOCUST_USERS users for BENCH_SECONDS) and ab (closed loop,
# AB_CONC connections on the home page, which fans out to six back ends).  Prints throughput and p99
# for each, the ratios (goal: throughput >= 0.95, p99 <= 1.10) and each service's memory (RSS)
# next to upstream's Kubernetes limits.  Needs root (runc).
#   BENCH_SECONDS=60 LOCUST_USERS=50 AB_CONC=16 bench/demo/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
BUILD=${BUILD:-$root/build}
E=$BUILD/src/ensconce/ensconce
EX=$root/examples/online-boutique
SECS=${BENCH_SECONDS:-60}
USERS=${LOCUST_USERS:-50}
CONC=${AB_CONC:-16}
[ "$(id -u)" = 0 ] || { echo "bench/demo: needs root (runc)"; exit 1; }
W=$(mktemp -d /var/tmp/ens-bench-demo-XXXXXX)
NATIVE=$W/native
cleanup() {
    "$EX/run-native.sh" stop "$NATIVE" >/dev/null 2>&1 || true
    [ -n "${FE_PID:-}" ] && kill "$FE_PID" 2>/dev/null || true
    "$E" down -p boutique --state-dir "$W/boutique/state" -v >/dev/null 2>&1 || true
    rm -rf "$W"
}
trap cleanup EXIT
declare -A limit=([frontend]=128 [cartservice]=128 [productcatalogservice]=128 [currencyservice]=128
    [paymentservice]=128 [shippingservice]=128 [emailservice]=128 [checkoutservice]=128
    [recommendationservice]=450 [adservice]=300 [redis-cart]=256)

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
locust_run() { # label -> "rps p99"
    FRONTEND_ADDR=127.0.0.1:8080 USERS=$USERS RATE=$((USERS / 5 + 1)) DURATION=${SECS}s \
        "$EX/loadgenerator/run.sh" >"$W/$1.locust" 2>&1 || true
    grep '^loadgenerator:' "$W/$1.locust" | sed 's/.*rps=\([0-9.]*\).*/\1/;' | tr '\n' ' '
    grep '^loadgenerator:' "$W/$1.locust" | sed 's/.*p99_ms=\([0-9.]*\).*/\1/'
}
ab_run() { # label -> "rps p99"
    ab -q -k -c "$CONC" -t "$SECS" -n 10000000 -C shop_session-id=bench -C shop_currency=EUR \
        http://127.0.0.1:8080/ >"$W/$1.ab" 2>&1 || true
    awk '/^Requests per second/ {r=$4} /^  99%/ {p=$2} END {print r, p}' "$W/$1.ab"
}

echo "== native"
"$EX/run-native.sh" start "$NATIVE" >/dev/null
set -a; . "$NATIVE/env"; set +a
PORT=8080 FRONTEND_DATA_DIR=$EX/frontend "$BUILD/examples/online-boutique/frontend/frontend" >"$W/fe.log" 2>&1 &
FE_PID=$!
for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:8080/_healthz && break; sleep 0.1; done
read -r n_lrps n_lp99 <<<"$(locust_run native)"
read -r n_arps n_ap99 <<<"$(ab_run native)"
declare -A nmem
for s in "${!limit[@]}"; do
    [ "$s" = frontend ] && pid=$FE_PID || pid=$(cat "$NATIVE/$s.pid" 2>/dev/null || echo 0)
    nmem[$s]=$(( $(rss_kb "$pid") / 1024 ))
done
kill "$FE_PID"; FE_PID=""
"$EX/run-native.sh" stop "$NATIVE" >/dev/null

echo "== confidential (make demo's pipeline)"
DEMO_DIR=$W/boutique DEMO_SECONDS=1 DEMO_KEEP=1 BUILD=$BUILD "$EX/demo.sh" >"$W/demo.log" 2>&1 ||
    { tail -30 "$W/demo.log"; exit 1; }
read -r c_lrps c_lp99 <<<"$(locust_run confidential)"
read -r c_arps c_ap99 <<<"$(ab_run confidential)"
declare -A cmem
for s in "${!limit[@]}"; do
    kb=0
    for pid in $(runc --root "$W/boutique/state/runc" ps "boutique-$s" 2>/dev/null | awk 'NR>1 {print $2}'); do
        kb=$((kb + $(rss_kb "$pid")))
    done
    cmem[$s]=$((kb / 1024))
done

ratio() { echo "scale=3; $1 / $2" | bc 2>/dev/null || echo "n/a"; }
echo
printf '%-22s %12s %12s %8s\n' "load (${SECS} s)" native confidential ratio
printf '%-22s %12s %12s %8s\n' "locust req/s" "$n_lrps" "$c_lrps" "$(ratio "$c_lrps" "$n_lrps")"
printf '%-22s %12s %12s %8s\n' "locust p99 ms" "$n_lp99" "$c_lp99" "$(ratio "$c_lp99" "$n_lp99")"
printf '%-22s %12s %12s %8s\n' "ab -c $CONC req/s" "$n_arps" "$c_arps" "$(ratio "$c_arps" "$n_arps")"
printf '%-22s %12s %12s %8s\n' "ab -c $CONC p99 ms" "$n_ap99" "$c_ap99" "$(ratio "$c_ap99" "$n_ap99")"
echo "goals: throughput ratio >= 0.95, p99 ratio <= 1.10"
echo
printf '%-24s %10s %14s %16s\n' service "native MiB" "confidential MiB" "upstream limit Mi"
for s in frontend productcatalogservice currencyservice cartservice paymentservice shippingservice emailservice \
    checkoutservice recommendationservice adservice redis-cart; do
    printf '%-24s %10s %14s %16s\n' "$s" "${nmem[$s]}" "${cmem[$s]}" "${limit[$s]}"
done
