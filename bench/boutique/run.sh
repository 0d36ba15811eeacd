#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Boutique back-end benchmark: currency Convert and checkout PlaceOrder with
# 1, 8 and 32 concurrent callers (closed loop, C load client over our gRPC
# layer), then the resident memory of every service.
#
# The issue's goals are printed next to the figures as ratios: currency
# >= 20,000 req/s (upstream's is single-threaded Node.js) and p99 <= 5 ms at
# 8 callers; memory is compared with upstream's Kubernetes memory request
# per service (64Mi for most).  Upstream's own images are not runnable here
# (no container runtime images offline), so no live upstream figures.
#
# Environment: ENSCONCE_BUILD_ROOT (default <repo>/build), SECONDS_PER_RUN (5),
# PIN=1 pins the services to CPU 0 and the load client to CPU 1 (taskset), so
# the client does not take server CPU; default: both share the 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${ENSCONCE_BUILD_ROOT:-$root/build}
bin=$build/examples/online-boutique/src
loadgen=$build/bench/boutique/boutique-loadgen
secs=${SECONDS_PER_RUN:-5}
[ -x "$loadgen" ] && [ -x "$bin/currencyservice" ] || { echo "bench/boutique: build first (make)"; exit 1; }

tmp=$(mktemp -d /tmp/ens-bench-boutique-XXXXXX)
# a free port range for the ten processes
ports="6379 3550 7000 7070 50051 50052 5000 9555 8081 5050"
# (bind probe: a port can be taken without anything listening on it)
off=$(/usr/bin/python3 -c '
import socket, sys
ports = [int(p) for p in sys.argv[1:]]
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
for base in range(2000, 15400, 53):
    if all(free(p + base) for p in ports):
        print(base)
        break
' $ports)
[ -n "$off" ] || { echo "bench/boutique: no free port range"; exit 1; }

cleanup() { "$root/examples/online-boutique/run-native.sh" stop "$tmp/run" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
server_pin=() client_pin=()
if [ "${PIN:-0}" = 1 ] && command -v taskset >/dev/null; then
    server_pin=(taskset -c 0) client_pin=(taskset -c 1)
fi
BOUTIQUE_BIN=$bin PORT_OFFSET=$off "${server_pin[@]}" "$root/examples/online-boutique/run-native.sh" start "$tmp/run" >/dev/null
. "$tmp/run/env"

echo "boutique back ends: $(nproc) CPUs, ${secs}s per run, load client on the same machine${PIN:+ (PIN=$PIN)}"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine lowers req/s; the"
echo "services' CPU per request does not depend on it: their own CPU time / requests)"
printf '%-11s %7s %11s %9s %9s %7s %12s   %s\n' rpc callers "req/s" "p50 ms" "p99 ms" errors "svc CPU us" "vs goal"
tck=$(getconf CLK_TCK)
svc_ticks() { # utime+stime of all the back ends (not redis), in clock ticks
    local t=0 f
    for f in "$tmp"/run/*service.pid; do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$(cat "$f")/stat")))
    done
    echo $t
}
run() { # rpc target callers [extra]
    local rpc=$1 target=$2 n=$3
    shift 3
    local j t0 t1
    t0=$(svc_ticks)
    j=$("${client_pin[@]}" "$loadgen" --json --rpc "$rpc" --target "$target" --callers "$n" --seconds "$secs" --warmup 1 "$@")
    t1=$(svc_ticks)
    /usr/bin/python3 - "$j" "$rpc" "$n" "$((t1 - t0))" "$tck" "$secs" <<'EOF'
import json, sys
j = json.loads(sys.argv[1]); rpc = sys.argv[2]; n = int(sys.argv[3])
ticks, tck, secs = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
# the CPU ticks also cover the 1 s warmup: scale the request count to match
reqs = j["requests"] * (secs + 1) / secs
us = ticks / tck * 1e6 / reqs if reqs else 0
goal = ""
if rpc == "convert":
    goal = f"{j['rps'] / 20000:.2f}x of 20,000 req/s"
    if us:
        goal += f" (one core serves ~{1e6 / us:,.0f}/s)"
    if n == 8:
        goal += f"; p99 {j['p99_ms'] / 5:.2f}x of 5 ms"
name = "Convert" if rpc == "convert" else "PlaceOrder"
print(f"{name:<11} {n:>7} {j['rps']:>11.1f} {j['p50_ms']:>9.3f} {j['p99_ms']:>9.3f} {j['errors']:>7} {us:>12.1f}   {goal}")
EOF
}
for n in 1 8 32; do run convert "$CURRENCY_SERVICE_ADDR" $n; done
for n in 1 8 32; do run placeorder "$CHECKOUT_SERVICE_ADDR" $n --cart "$CART_SERVICE_ADDR"; done

echo
echo "memory after the load (VmRSS now / VmHWM peak), vs upstream's Kubernetes memory request"
printf '%-22s %9s %9s %10s %8s\n' service "RSS MiB" "peak MiB" "upstream" ratio
for s in cartservice productcatalogservice currencyservice paymentservice shippingservice emailservice \
    checkoutservice recommendationservice adservice redis-cart; do
    pid=$(cat "$tmp/run/$s.pid")
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
    case $s in recommendationservice) req=220 ;; adservice) req=180 ;; redis-cart) req=200 ;; *) req=64 ;; esac
    awk -v s="$s" -v r="$rss" -v h="$hwm" -v q="$req" \
        'BEGIN { printf "%-22s %9.1f %9.1f %8dMi %7.2fx\n", s, r / 1024, h / 1024, q, (r / 1024) / q }'
done
