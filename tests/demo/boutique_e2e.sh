#!/bin/bash
# The main job end to end: `make demo`'s pipeline (images -> local CAS/LAS -> sconify-all ->
# ensconce up -> Locust) with the whole Online Boutique as confidential runc containers:
# Locust headless for DEMO_SECONDS (>= 60) with zero failures; page checks (9 products, EUR prices,
# add to cart, checkout with a tracking id, an invalid card's error); every service's gRPC health
# check; /_healthz; a headless Chromium screenshot with no failed loads; one back-end container
# killed -> the error page, then `ensconce up` brings it back and the shop recovers.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
need_root
need runc curl locust
for port in 8080 8081 18765 18766 6379 3550 7000 7070 50051 50052 5000 8085 9555 5050; do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && fail "port $port is taken: the demo needs it"
done
EX=$ENSCONCE_SOURCE_ROOT/examples/online-boutique
export BUILD=$ENSCONCE_BUILD_ROOT DEMO_DIR=$TMP/boutique DEMO_STATE=$TMP/boutique/state
export ENSCONCE_CONFIG_DIR=$TMP/boutique/client
STATE=$DEMO_STATE
add_cleanup "\"$ENSCONCE\" down -p boutique --state-dir $STATE -v"
FE=http://127.0.0.1:8080

# --- the pipeline, as make demo runs it -------------------------------------------------------
DEMO_SECONDS=${DEMO_SECONDS:-60} USERS=10 RATE=2 DEMO_KEEP=1 "$EX/demo.sh" >"$TMP/demo.out" 2>&1 ||
    { tail -60 "$TMP/demo.out"; fail "demo.sh failed"; }
summary=$(grep '^load: ' "$TMP/demo.out") || { tail -40 "$TMP/demo.out"; fail "no load summary"; }
[[ $summary =~ requests=([0-9]+)\ failures=0\  ]] || fail "load had failures: $summary"
[ "${BASH_REMATCH[1]}" -gt 100 ] || fail "too few requests: $summary"
pass "confidential boutique up; Locust ${DEMO_SECONDS:-60} s with zero failures: $summary"

# every service is a converted image run by ensconce-run
for s in frontend productcatalogservice currencyservice cartservice paymentservice shippingservice emailservice \
    checkoutservice recommendationservice adservice redis-cart; do
    grep -q '"/.ensconce/bin/ensconce-run"' "$STATE/bundles/$s/config.json" || fail "$s does not run ensconce-run"
done
pass "all 11 containers (10 services + Redis) run ensconce-run as PID 1"

# --- pages ------------------------------------------------------------------------------------
JAR=$TMP/jar
get() { local m=$1 p=$2; shift 2; curl -s -X "$m" -b "$JAR" -c "$JAR" -o "$TMP/body" -w '%{http_code}' "$@" "$FE$p"; }
assert_eq "$(get GET /_healthz)" 200 "/_healthz"
assert_eq "$(get GET /)" 200 "home"
assert_eq "$(grep -c 'class="card product-card"' "$TMP/body")" 9 "products on the home page"
grep -q '\$19.99' "$TMP/body" || fail "USD price of the sunglasses"
assert_eq "$(get POST /setCurrency -d currency_code=EUR)" 302 "setCurrency"
get GET / >/dev/null
grep -q '\$19.99' "$TMP/body" && fail "prices unchanged after switching to EUR"
grep -q 'value="EUR" selected' "$TMP/body" || fail "EUR not selected"
assert_eq "$(get POST /setCurrency -d currency_code=USD)" 302 "back to USD"
assert_eq "$(get POST /cart -d product_id=OLJCESPC7Z -d quantity=2)" 302 "add to cart"
get GET /cart >/dev/null
grep -q 'SKU #OLJCESPC7Z' "$TMP/body" || fail "cart does not list the product"
form=(-d email=someone@example.com -d "street_address=1600 Amphitheatre Parkway" -d zip_code=94043
      -d "city=Mountain View" -d state=CA -d "country=United States" -d credit_card_expiration_month=1
      -d "credit_card_expiration_year=$(( $(date +%Y) + 1 ))" -d credit_card_cvv=672)
assert_eq "$(get POST /cart/checkout "${form[@]}" -d "credit_card_number=4432 8015 6152 0454")" 200 "checkout"
grep -Eq 'class="tracking-id">[A-Y]{2}-[0-9]+-[0-9]+<' "$TMP/body" || fail "no tracking id on the order page"
get POST /cart -d product_id=OLJCESPC7Z -d quantity=1 >/dev/null
assert_eq "$(get POST /cart/checkout "${form[@]}" -d credit_card_number=378282246310005)" 500 "amex"
grep -q "Only VISA or MasterCard is accepted" "$TMP/body" || fail "amex error message"
pass "pages: 9 products, EUR prices, cart, checkout with tracking id, invalid card error"

# --- gRPC health of every back end (a raw grpc.health.v1 call with Debian's grpcio) -------------
"$PYTHON" - <<'PY' || fail "gRPC health checks"
import grpc
ports = {"productcatalogservice": 3550, "currencyservice": 7000, "cartservice": 7070, "paymentservice": 50051,
         "shippingservice": 50052, "emailservice": 5000, "checkoutservice": 5050, "recommendationservice": 8085,
         "adservice": 9555}
for name, port in ports.items():
    ch = grpc.insecure_channel(f"127.0.0.1:{port}")
    check = ch.unary_unary("/grpc.health.v1.Health/Check", request_serializer=None, response_deserializer=None)
    reply = check(b"", timeout=5)          # HealthCheckRequest{service: ""}
    assert reply == b"\x08\x01", f"{name}: {reply!r} is not SERVING"
    print(f"{name}: SERVING")
PY
pass "every back end answers its gRPC health check with SERVING"

# --- a screenshot --------------------------------------------------------------------------------
if command -v chromium >/dev/null; then
    CHROMIUM_LOG=$TMP/chromium.log timeout 120 "$PYTHON" "$ENSCONCE_SOURCE_ROOT/tests/frontend/screenshot.py" \
        "$FE/" "$TMP/home.png" 1280 1800 >"$TMP/shot.out" 2>&1 || { cat "$TMP/shot.out"; fail "screenshot"; }
    grep -q "no failed loads" "$TMP/shot.out" || fail "failed resource loads: $(cat "$TMP/shot.out")"
    mkdir -p "$ENSCONCE_BUILD_ROOT/tests/demo" && cp "$TMP/home.png" "$ENSCONCE_BUILD_ROOT/tests/demo/home.png"
    pass "headless Chromium screenshot of the confidential shop, no failed loads"
else
    echo "SKIP: boutique_e2e: screenshot: chromium is not installed"
fi

# --- one back end killed, then brought back by ensconce up -----------------------------------------
runc --root "$STATE/runc" kill boutique-currencyservice KILL
for _ in $(seq 50); do
    st=$(runc --root "$STATE/runc" state boutique-currencyservice 2>/dev/null | grep -o '"status": *"[a-z]*"' || true)
    grep -q stopped <<<"$st" && break
    sleep 0.1
done
assert_eq "$(curl -s -o "$TMP/body" -w '%{http_code}' "$FE/")" 500 "home with currencyservice down"
grep -q "Uh-oh, something went wrong" "$TMP/body" || fail "no error page"
"$ENSCONCE" up -f "$DEMO_DIR/release/compose.yaml" -p boutique --state-dir "$STATE" --no-infra >"$TMP/up2.out" 2>&1 ||
    { cat "$TMP/up2.out"; fail "ensconce up could not restart the stopped service"; }
grep -q "currencyservice .*running" "$TMP/up2.out" || fail "currencyservice was not restarted: $(cat "$TMP/up2.out")"
ok=""
for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$FE/")" = 200 ] && { ok=1; break; }
    sleep 0.2
done
[ -n "$ok" ] || fail "the frontend did not recover"
pass "currencyservice killed: error page; restarted by ensconce up (others kept running): recovered"
