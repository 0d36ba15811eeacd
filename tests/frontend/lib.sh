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

# start_service NAME [PORT]: (re)starts one back end on 127.0.0.1.
start_service() {
    local name=$1 port=${2:-${SVC_PORT[$1]:-}}
    [ -n "$port" ] || port=$(free_port)
    SVC_PORT[$name]=$port
    local envs=(PORT="$port" LISTEN_ADDR=127.0.0.1)
    local s
    for s in "${!SVC_PORT[@]}"; do envs+=("${SVC_VAR[$s]}=127.0.0.1:${SVC_PORT[$s]}"); done
    env "${envs[@]}" "$BOUTIQUE_BIN/$name" >>"$TMP/$name.log" 2>&1 &
    SVC_PID[$name]=$!
    add_cleanup "kill ${SVC_PID[$name]}"
    wait_port 127.0.0.1 "$port" 20
}

stop_service() { # NAME: SIGKILL, as a crash would
    kill -9 "${SVC_PID[$1]}" 2>/dev/null || true
    wait "${SVC_PID[$1]}" 2>/dev/null || true
}

# start_backends: all nine, callers first so that checkout/recommendation know the others.
start_backends() {
    local s
    [ -x "$BOUTIQUE_BIN/checkoutservice" ] || skip "boutique back ends not built"
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
