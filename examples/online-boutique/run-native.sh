#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Starts or stops the nine Online Boutique back ends (and a redis-server for
# the cart) natively on loopback, without containers.
#
#   run-native.sh start DIR    start everything; logs, pid files and an env file in DIR
#   run-native.sh stop DIR     stop what `start DIR` started (SIGTERM, then SIGKILL after 10 s)
#   run-native.sh status DIR   list the services and whether they run
#
# Ports are upstream's where they do not collide on one host (upstream runs
# each service in its own pod): payment 50051 and shipping 50051 -> 50052;
# email 8080 -> 5000 (its Kubernetes Service port); recommendation 8080 ->
# 8081 (the frontend keeps 8080).  PORT_OFFSET=N adds N to every port (for
# tests running side by side).  After start, DIR/env holds the frontend's
# *_SERVICE_ADDR variables (`. DIR/env`).
#
# Environment: BOUTIQUE_BIN (the directory with the service binaries;
# default <repo>/build/examples/online-boutique/src, or
# $ENSCONCE_BUILD_ROOT/examples/online-boutique/src when that is set),
# REDIS=0 to keep the cart in memory, LISTEN_ADDR (default 127.0.0.1).
set -euo pipefail

usage() { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$2

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ -n "${BOUTIQUE_BIN:-}" ]; then bin=$BOUTIQUE_BIN
elif [ -n "${ENSCONCE_BUILD_ROOT:-}" ]; then bin=$ENSCONCE_BUILD_ROOT/examples/online-boutique/src
else bin=$root/build/examples/online-boutique/src
fi
off=${PORT_OFFSET:-0}
# status/stop use the offset the directory was started with
if [ "$cmd" != start ] && [ -f "$dir/port-offset" ]; then off=$(cat "$dir/port-offset"); fi
host=${LISTEN_ADDR:-127.0.0.1}

# name port (start order: dependencies first)
services="redis-cart:6379 productcatalogservice:3550 currencyservice:7000 cartservice:7070
  paymentservice:50051 shippingservice:50052 emailservice:5000 adservice:9555
  recommendationservice:8081 checkoutservice:5050"

port_of() { # name
    local s
    for s in $services; do
        [ "${s%%:*}" = "$1" ] && { echo $(( ${s##*:} + off )); return; }
    done
}
addr_of() { echo "$host:$(port_of "$1")"; }

wait_port() { # port pid seconds
    local i
    for ((i = 0; i < $3 * 20; i++)); do
        (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

stop_all() {
    local s name pid i pids=() names=()
    for s in $services; do
        name=${s%%:*}
        [ -f "$dir/$name.pid" ] || continue
        pid=$(cat "$dir/$name.pid")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
            names+=("$name")
        fi
        rm -f "$dir/$name.pid"
    done
    # all stop in parallel (each drains its calls); SIGKILL after 10 s
    for ((i = 0; i < 200; i++)); do
        local alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ $alive = 1 ] || break
        sleep 0.05
    done
    for i in "${!pids[@]}"; do
        if kill -0 "${pids[$i]}" 2>/dev/null; then
            echo "run-native: ${names[$i]} (${pids[$i]}) did not stop on SIGTERM; killing" >&2
            kill -KILL "${pids[$i]}" 2>/dev/null || true
        fi
    done
}

start_one() { # name
    local name=$1 port pid
    port=$(port_of "$name")
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
        echo "run-native: port $port ($name) is already in use on $host" >&2
        return 1
    fi
    if [ "$name" = redis-cart ]; then
        mkdir -p "$dir/redis"
        redis-server --port "$port" --bind "$host" --save '' --appendonly no --dir "$dir/redis" \
            >"$dir/$name.log" 2>&1 &
    else
        [ -x "$bin/$name" ] || { echo "run-native: $bin/$name not built (run make)" >&2; return 1; }
        env PORT="$port" LISTEN_ADDR="$host" "${extra_env[@]}" "$bin/$name" >"$dir/$name.log" 2>&1 &
    fi
    pid=$!
    echo "$pid" >"$dir/$name.pid"
    if ! wait_port "$port" "$pid" 20; then
        echo "run-native: $name did not start; last log lines:" >&2
        tail -n 5 "$dir/$name.log" >&2 || true
        return 1
    fi
    echo "run-native: $name listening on $host:$port (pid $pid)"
}

case "$cmd" in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    use_redis=${REDIS:-1}
    if [ "$use_redis" = 1 ] && ! command -v redis-server >/dev/null; then
        echo "run-native: redis-server not installed; the cart stays in memory" >&2
        use_redis=0
    fi
    echo "$off" >"$dir/port-offset"
    trap 'echo "run-native: start failed; stopping what started" >&2; stop_all' ERR
    for s in $services; do
        name=${s%%:*}
        extra_env=(CATALOG_FILE="${CATALOG_FILE:-$bin/products.json}")
        case $name in
        redis-cart) [ "$use_redis" = 1 ] || continue ;;
        cartservice) [ "$use_redis" = 1 ] && extra_env+=(REDIS_ADDR="$(addr_of redis-cart)") ;;
        recommendationservice) extra_env+=(PRODUCT_CATALOG_SERVICE_ADDR="$(addr_of productcatalogservice)") ;;
        checkoutservice)
            extra_env+=(PRODUCT_CATALOG_SERVICE_ADDR="$(addr_of productcatalogservice)"
                CURRENCY_SERVICE_ADDR="$(addr_of currencyservice)" CART_SERVICE_ADDR="$(addr_of cartservice)"
                SHIPPING_SERVICE_ADDR="$(addr_of shippingservice)" PAYMENT_SERVICE_ADDR="$(addr_of paymentservice)"
                EMAIL_SERVICE_ADDR="$(addr_of emailservice)") ;;
        esac
        start_one "$name"
    done
    trap - ERR
    cat >"$dir/env" <<EOF
# The frontend's back-end addresses (written by run-native.sh start)
export PRODUCT_CATALOG_SERVICE_ADDR=$(addr_of productcatalogservice)
export CURRENCY_SERVICE_ADDR=$(addr_of currencyservice)
export CART_SERVICE_ADDR=$(addr_of cartservice)
export RECOMMENDATION_SERVICE_ADDR=$(addr_of recommendationservice)
export CHECKOUT_SERVICE_ADDR=$(addr_of checkoutservice)
export SHIPPING_SERVICE_ADDR=$(addr_of shippingservice)
export AD_SERVICE_ADDR=$(addr_of adservice)
export PAYMENT_SERVICE_ADDR=$(addr_of paymentservice)
export EMAIL_SERVICE_ADDR=$(addr_of emailservice)
EOF
    echo "run-native: all back ends up; addresses in $dir/env"
    ;;
stop)
    [ -d "$dir" ] || { echo "run-native: no such directory $dir" >&2; exit 1; }
    stop_all
    echo "run-native: stopped"
    ;;
status)
    rc=0
    for s in $services; do
        name=${s%%:*}
        if [ -f "$dir/$name.pid" ] && kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then
            echo "$name running pid $(cat "$dir/$name.pid") port $(port_of "$name")"
        else
            echo "$name stopped"; rc=1
        fi
    done
    exit $rc
    ;;
*) usage ;;
esac
