#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# CAS benchmark: attestation round trips per second (nonce, LAS evidence, configuration; a new
# TLS connection and a fresh runtime key each) with 1, 8 and 32 concurrent clients, p50/p99
# latency; session create/update throughput.  Real ensconce-cas and ensconce-las on loopback.
# No peer publishes such figures: the comparison column is the issue's goal
# (>= 1000 attestations/s, p99 <= 20 ms at 32 clients).
#   BUILD=build-x bench/cas/run.sh      SECONDS_PER_RUN=5 by default
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
DUR=${SECONDS_PER_RUN:-5}
CAS=$BUILD/src/ensconce-cas/ensconce-cas LAS=$BUILD/src/ensconce-las/ensconce-las
CLI=$BUILD/src/ensconce/ensconce LOAD=$BUILD/bench/cas/ens-cas-load
for b in "$CAS" "$LAS" "$CLI" "$LOAD"; do [ -x "$b" ] || { echo "bench/cas: $b not built (make first)"; exit 1; }; done
T=$(mktemp -d /tmp/ens-bench-cas-XXXXXX)
pids=()
declare -A att_ops
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitp() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 not up"; exit 1; }

export ENSCONCE_CONFIG_DIR=$T/client
P=$(port) AP=$(port) LP=$(port)
THREADS=${CAS_THREADS:-$(nproc)}
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # clock ticks
TCK=$(getconf CLK_TCK)
"$CAS" --data "$T/cas" --listen 127.0.0.1:$P --attest-listen 127.0.0.1:$AP --admin "$("$CLI" cas identity)" \
    --threads "$THREADS" 2>"$T/cas.log" & CASPID=$!; pids+=($CASPID)
"$LAS" --state-dir "$T/las" --listen 127.0.0.1:$LP --threads "$THREADS" 2>"$T/las.log" & LASPID=$!; pids+=($LASPID)
waitp $P; waitp $AP; waitp $LP
"$CLI" cas attest 127.0.0.1:$P --measurement "$("$CAS" measurement)" >/dev/null
"$CLI" cas platform add --cas 127.0.0.1:$P --las 127.0.0.1:$LP >/dev/null
M=$(printf '1%.0s' $(seq 64))
cat >"$T/s.yaml" <<YAML
name: bench
version: "0.3"
security: {attestation: {mode: none}}
services:
  - name: svc
    mrenclaves: [$M]
    command: ./svc --password \$\$SCONE::pw\$\$
    environment: {TOKEN: "\$\$SCONE::tok:hex\$\$"}
secrets:
  - {name: pw, kind: ascii, size: 24}
  - {name: tok, kind: binary, size: 32}
YAML
"$CLI" session create --cas 127.0.0.1:$P "$T/s.yaml" >/dev/null
PIN=$("$CAS" identity --data "$T/cas")

echo "CAS benchmark on $(nproc) cores (load average now: $(cut -d' ' -f1 /proc/loadavg)), ${DUR}s per run, CAS/LAS threads: $THREADS"
echo "CPU ms per attestation: what each party spent (independent of other load on the machine)"
printf '%-28s %10s %9s %9s   %-34s %s\n' "run" "ops/s" "p50 ms" "p99 ms" "goal (ratio)" "CPU ms/op CAS+LAS+client"
for n in 1 8 32; do
    c0=$(cpu $CASPID) l0=$(cpu $LASPID)
    line=$("$LOAD" attest --cas 127.0.0.1:$AP --pin "$PIN" --las 127.0.0.1:$LP --config-id bench/svc \
        --measurement "$M" --clients $n --seconds "$DUR")
    ops=$(sed -E 's/.*ops_per_s=([0-9.]+).*/\1/' <<<"$line")
    p50=$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$line")
    p99=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line")
    err=$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$line")
    nops=$(sed -E 's/.* ops=([0-9]+).*/\1/' <<<"$line")
    ccpu=$(sed -E 's/.*client_cpu_ms_per_op=([0-9.]+).*/\1/' <<<"$line")
    c1=$(cpu $CASPID) l1=$(cpu $LASPID)
    cpuop=$(awk -v c=$((c1 - c0)) -v l=$((l1 - l0)) -v n="$nops" -v t="$TCK" -v k="$ccpu" \
        'BEGIN{ if (n>0) printf "%.2f+%.2f+%.2f", c*1000/t/n, l*1000/t/n, k }')
    goal=""
    [ $n = 32 ] && goal=$(awk -v o="$ops" -v p="$p99" 'BEGIN{printf "1000/s: %.2fx, p99 20ms: %.2fx", o/1000, 20/(p>0?p:1)}')
    printf '%-28s %10s %9s %9s   %-34s %s%s\n' "attestation, $n clients" "$ops" "$p50" "$p99" "$goal" "$cpuop" \
        "$([ "$err" != 0 ] && echo " ($err errors)")"
    att_ops[$n]=$ops
    [ $n = 32 ] && cap32=$(awk -v s="$cpuop" -v p="$(nproc)" 'BEGIN{split(s,a,"+"); t=a[1]+a[2]+a[3]; if (t>0) printf "%.0f", p*1000/t}')
done
# The floor under every row above: what OpenSSL alone costs per round trip (fresh key and
# certificate, new mutual-TLS connection to the same port, GET /healthz).  ratio = attestation / floor.
for n in 1 32; do
    c0=$(cpu $CASPID)
    line=$("$LOAD" handshake --cas 127.0.0.1:$AP --pin "$PIN" --clients $n --seconds "$DUR")
    c1=$(cpu $CASPID)
    ops=$(sed -E 's/.*ops_per_s=([0-9.]+).*/\1/' <<<"$line")
    p50=$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$line")
    p99=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line")
    nops=$(sed -E 's/.* ops=([0-9]+).*/\1/' <<<"$line")
    ccpu=$(sed -E 's/.*client_cpu_ms_per_op=([0-9.]+).*/\1/' <<<"$line")
    att=${att_ops[$n]:-0}
    printf '%-28s %10s %9s %9s   %-34s %s\n' "mTLS handshake only, $n" "$ops" "$p50" "$p99" \
        "attestation/floor: $(awk -v a="$att" -v o="$ops" 'BEGIN{printf "%.2fx", (o>0 ? a/o : 0)}')" \
        "$(awk -v c=$((c1 - c0)) -v n="$nops" -v t="$TCK" -v k="$ccpu" 'BEGIN{ if (n>0) printf "%.2f+0+%.2f", c*1000/t/n, k }')"
done
for n in 1 8; do
    line=$("$LOAD" sessions --cas 127.0.0.1:$P --pin "$PIN" --identity "$ENSCONCE_CONFIG_DIR" --clients $n --seconds "$DUR")
    ops=$(sed -E 's/.*ops_per_s=([0-9.]+).*/\1/' <<<"$line")
    p50=$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$line")
    p99=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line")
    printf '%-28s %10s %9s %9s   %s\n' "session create+update, $n" "$ops" "$p50" "$p99" \
        "$(sed -E 's/.*(creates=[0-9]+ updates=[0-9]+).*/\1/' <<<"$line")"
done
echo "CPU-bound capacity of this machine for the whole round trip (all parties on $(nproc) cores): ~${cap32:-?} attestations/s"
"$CLI" cas audit verify --data "$T/cas" | sed 's/^/after the runs: /'
