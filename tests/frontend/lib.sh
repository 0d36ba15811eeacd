# SPDX-License-Identifier: Apache-2.0
# Helpers for the frontend tests: the nine back ends and the frontend on loopback.
# Source after tests/lib/common.sh.
BOUTIQUE_BIN=${ENSCONCE_BUILD_ROOT:?}/examples/online-boutique/src
FRONTEND_BIN=$ENSCONCE_BUILD_ROOT/examples/online-boutique/frontend/frontend
BOUTIQUE_SERVICES="productcatalogservice currencyservice cartservice paymentservice shippingservice
  emailservice adservice recommendationservice checkoutservice"

# The addresses the frontend and checkout read, one variable per service.
declare -A SVC_VAR=(
    [productcatalogservice]=PRODUCT_CATALOG_SERVICE_ADDR [currencyservice]=CURRENCY_SERVICE_ADDR
    [cartservice]=CART_SERVICE_ADDR [paymentservice]=PAYMENT_SERVICE_ADDR
    [shippingservice]=SHIPPING_SERVICE_ADDR [emailservice]=EMAIL_SERVICE_ADDR
    [adservice]=AD_SERVICE_ADDR [recommendationservice]=RECOMMENDATION_SERVICE_ADDR
    [checkoutservice]=CHECKOUT_SERVICE_ADDR)
declare -A SVC_PORT=() SVC_PID=()

RUN_NATIVE=${ENSCONCE_SOURCE_ROOT:?}/examples/online-boutique/run-native.sh
REDIS_ADDR_NATIVE=""

# start_service NAME [PORT]: (re)starts one back end on 127.0.0.1 (its pid file
# in the run-native directory is updated so that `run-native.sh stop` stops it).
start_service() {
    local name=$1 port=${2:-${SVC_PORT[$1]:-}}
    [ -n "$port" ] || port=$(free_port)
    SVC_PORT[$name]=$port
    local envs=(PORT="$port" LISTEN_ADDR=127.0.0.1)
    local s
    for s in "${!SVC_PORT[@]}"; do envs+=("${SVC_VAR[$s]}=127.0.0.1:${SVC_PORT[$s]}"); done
    [ "$name" = cartservice ] && [ -n "$REDIS_ADDR_NATIVE" ] && envs+=(REDIS_ADDR="$REDIS_ADDR_NATIVE")
    env "${envs[@]}" "$BOUTIQUE_BIN/$name" >>"$TMP/$name.log" 2>&1 &
    SVC_PID[$name]=$!
    [ -d "$TMP/native" ] && echo "${SVC_PID[$name]}" >"$TMP/native/$name.pid"
    add_cleanup "kill ${SVC_PID[$name]}"
    wait_port 127.0.0.1 "$port" 20
    kill -0 "${SVC_PID[$name]}" 2>/dev/null || { tail -5 "$TMP/$name.log" >&2; fail "$name exited after start"; }
}

stop_service() { # NAME: SIGKILL, as a crash would; returns once it is gone and its port is closed
    local pid=${SVC_PID[$1]} i
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true  # only our own children can be waited for
    # Gone = no /proc entry, or a zombie (its reaper may be slow: it holds no port any more).
    for ((i = 0; i < 100; i++)); do
        [ -e "/proc/$pid" ] || break
        [ "$(sed 's/^.*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
        sleep 0.05
    done
    for ((i = 0; i < 100; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/${SVC_PORT[$1]}") 2>/dev/null || return 0
        sleep 0.05
    done
    fail "$1 (pid $pid) still holds port ${SVC_PORT[$1]} after SIGKILL"
}

# start_backends: the nine back ends (and Redis for the cart) with the
# boutique's run-native.sh on a random port offset; without that script, each
# one on a free port, callers last so that they know the others' addresses.
start_backends() {
    local s
    [ -x "$BOUTIQUE_BIN/checkoutservice" ] || skip "boutique back ends not built"
    if [ -x "$RUN_NATIVE" ]; then
        local try off ok=""
        for try in 1 2 3 4 5; do
            off=$(( (RANDOM % 140 + 10) * 100 ))  # 1000..14900: every port stays below 65536
            if PORT_OFFSET=$off "$RUN_NATIVE" start "$TMP/native" >"$TMP/run-native.log" 2>&1; then
                ok=1
                break
            fi
        done
        [ -n "$ok" ] || { cat "$TMP/run-native.log" >&2; fail "run-native.sh could not start the back ends"; }
        add_cleanup "'$RUN_NATIVE' stop '$TMP/native'"
        for s in $BOUTIQUE_SERVICES; do
            local var=${SVC_VAR[$s]}
            local addr
            addr=$(sed -n "s/^export $var=//p" "$TMP/native/env")
            [ -n "$addr" ] || fail "run-native.sh wrote no $var"
            SVC_PORT[$s]=${addr##*:}
            SVC_PID[$s]=$(cat "$TMP/native/$s.pid")
        done
        REDIS_ADDR_NATIVE=$("$RUN_NATIVE" status "$TMP/native" | sed -n 's/^redis-cart running pid [0-9]* port \([0-9]*\)$/127.0.0.1:\1/p')
        return 0
    fi
    for s in $BOUTIQUE_SERVICES; do SVC_PORT[$s]=$(free_port); done
    for s in $BOUTIQUE_SERVICES; do start_service "$s" "${SVC_PORT[$s]}"; done
}

# start_frontend [VAR=value...]: sets FE_PORT, FE_URL, FE_PID.
start_frontend() {
    [ -x "$FRONTEND_BIN" ] || skip "frontend not built"
    FE_PORT=$(free_port)
    local envs=(PORT="$FE_PORT" LISTEN_ADDR=127.0.0.1 "$@")
    local s
    for s in "${!SVC_PORT[@]}"; do envs+=("${SVC_VAR[$s]}=127.0.0.1:${SVC_PORT[$s]}"); done
    env "${envs[@]}" "$FRONTEND_BIN" >>"$TMP/frontend.log" 2>&1 &
    FE_PID=$!
    add_cleanup "kill $FE_PID"
    wait_port 127.0.0.1 "$FE_PORT" 20
    FE_URL=http://127.0.0.1:$FE_PORT
}

# stop_frontend: SIGTERM, then the frontend must exit 0 (a graceful stop) with
# no sanitizer report in its log (the ASan/UBSan tree runs these tests too).
stop_frontend() {
    kill -TERM "$FE_PID"
    local rc=0
    wait "$FE_PID" || rc=$?
    if grep -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$TMP/frontend.log" >&2; then
        fail "sanitizer report in the frontend's log"
    fi
    [ $rc = 0 ] || { tail -5 "$TMP/frontend.log" >&2; fail "the frontend exited with status $rc on SIGTERM"; }
}
