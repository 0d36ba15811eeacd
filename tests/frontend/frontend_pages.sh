#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The frontend against the nine real back ends on loopback: pages, currency,
# cart, checkout, validation, every route's status and redirects, sessions,
# BASE_URL, and requests served concurrently while back-end calls are slow.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
. "$ENSCONCE_SOURCE_ROOT/tests/frontend/lib.sh"
need curl

start_backends
start_frontend ENV_PLATFORM=aws FRONTEND_MESSAGE="Hello <shoppers>"
JAR=$TMP/jar
# get METHOD PATH [curl args...]: prints the status; the body goes to $TMP/body, headers to $TMP/hdr.
get() {
    local m=$1 p=$2
    shift 2
    curl -s -X "$m" -b "$JAR" -c "$JAR" -D "$TMP/hdr" -o "$TMP/body" -w '%{http_code}' "$@" "$FE_URL$p"
}
body() { cat "$TMP/body"; }
hdr() { grep -i "^$1:" "$TMP/hdr" | tr -d '\r' | sed 's/^[^:]*: //'; }

# /_healthz and robots, without minting a session for probes.
assert_eq "$(get GET /_healthz -H 'Cookie: shop_session-id=x-readiness-probe')" 200 "/_healthz status"
assert_eq "$(body)" ok "/_healthz body"
[ -z "$(hdr Set-Cookie)" ] || fail "/_healthz set a cookie for the probe"
assert_eq "$(get POST /_healthz)" 200 "POST /_healthz"
assert_eq "$(get GET /robots.txt)" 200 "robots.txt"
assert_contains "$(body)" "User-agent: *"
assert_contains "$(body)" "Disallow: /"
rm -f "$JAR"
pass "health and robots"

# Home: the 9 products, a new session cookie, the platform banner, the message.
assert_eq "$(get GET /)" 200 "GET /"
cookie=$(hdr Set-Cookie)
[[ $cookie =~ ^shop_session-id=[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\;\ Max-Age=172800 ]] ||
    fail "session cookie: $cookie"
sid=$(sed 's/^shop_session-id=\([^;]*\);.*/\1/' <<<"$cookie")
home=$(body)
assert_eq "$(grep -c 'class="card product-card"' <<<"$home")" 9 "products on the home page"
for id in OLJCESPC7Z 66VCHSJNUP 1YMWWN1N4O L9ECAV7KIM 2ZYFJ3GM2N 0PUK6V6EV0 LS4PSXUNUM 9SIQT8TOJO 6E92ZMYYFZ; do
    assert_contains "$home" "href=\"/product/$id\""
done
assert_contains "$home" '$19.99'
assert_contains "$home" "Amazon Web Services"
assert_contains "$home" "Hello &lt;shoppers&gt;"
assert_contains "$home" "session-id: <code>$sid</code>"
assert_contains "$home" 'value="USD" selected'
# The second request keeps the session.
get GET / >/dev/null
[ -z "$(hdr Set-Cookie)" ] || fail "a second request minted another session"
assert_eq "$(curl -s -I -b "$JAR" -o /dev/null -w '%{http_code} %{size_download}' "$FE_URL/")" "200 0" "HEAD /"
pass "home page: 9 products, session cookie, banner"

# Currency: EUR changes the prices (19.99 USD = 17.68 EUR by the currency service).
assert_eq "$(get POST /setCurrency -d currency_code=EUR -H "Referer: $FE_URL/product/OLJCESPC7Z")" 302 "setCurrency"
assert_eq "$(hdr Location)" "$FE_URL/product/OLJCESPC7Z" "setCurrency goes back to the Referer"
assert_contains "$(hdr Set-Cookie)" "shop_currency=EUR; Max-Age=172800"
get GET / >/dev/null
assert_contains "$(body)" '€17.68'
[ "$(grep -c '\$19.99' "$TMP/body")" = 0 ] || fail "USD prices still shown after switching to EUR"
assert_contains "$(body)" 'value="EUR" selected'
assert_eq "$(get POST /setCurrency -d currency_code=USD -H 'Referer: https://elsewhere.example/x')" 302
assert_eq "$(hdr Location)" "/" "a foreign Referer is not followed"
assert_eq "$(get POST /setCurrency -d currency_code=XYZ)" 422 "setCurrency XYZ"
assert_eq "$(get POST /setCurrency)" 422 "setCurrency without a code"
pass "currency switch"

# Product page.
assert_eq "$(get GET /product/L9ECAV7KIM)" 200 "product page"
assert_contains "$(body)" 'name="product_id" value="L9ECAV7KIM"'
assert_contains "$(body)" '<option value="10">10</option>'
assert_contains "$(body)" 'You may also like'
assert_eq "$(get GET /product/NOSUCHPROD)" 500 "unknown product"
assert_contains "$(body)" "no product with ID NOSUCHPROD"
pass "product page"

# Cart: add, view (badge, lines, shipping, total), validation, empty.
assert_eq "$(get GET /cart)" 200 "empty cart"
assert_contains "$(body)" "Your shopping cart is empty"
assert_eq "$(get POST /cart -d product_id=OLJCESPC7Z -d quantity=2)" 302 "add to cart"
assert_eq "$(hdr Location)" /cart
assert_eq "$(get POST /cart -d product_id=6E92ZMYYFZ -d quantity=1)" 302
assert_eq "$(get GET /cart)" 200 "cart"
cart=$(body)
assert_contains "$cart" 'SKU #OLJCESPC7Z'
assert_contains "$cart" '<span class="badge">3</span>'
assert_contains "$cart" '$39.98'   # 2 x 19.99
assert_contains "$cart" '$8.99'    # shipping
assert_contains "$cart" '$57.96'   # 39.98 + 8.99 + 8.99
for q in 0 11 abc ""; do
    assert_eq "$(get POST /cart -d product_id=OLJCESPC7Z -d "quantity=$q")" 422 "quantity '$q'"
done
assert_eq "$(get POST /cart -d quantity=1)" 422 "missing product_id"
assert_eq "$(get POST /cart -d product_id=NOSUCHPROD -d quantity=1)" 500 "unknown product to the cart"
pass "cart"

# Checkout: an order with a tracking id; the cart is empty afterwards.
form=(-d email=someone@example.com -d "street_address=1600 Amphitheatre Parkway" -d zip_code=94043
      -d "city=Mountain View" -d state=CA -d "country=United States" -d credit_card_expiration_month=1
      -d "credit_card_expiration_year=$(( $(date +%Y) + 1 ))" -d credit_card_cvv=672)
assert_eq "$(get POST /cart/checkout "${form[@]}" -d "credit_card_number=4432 8015 6152 0454")" 200 "checkout"
order=$(body)
assert_contains "$order" "Your order is complete"
[[ $order =~ class=\"order-id\"\>[0-9a-f-]{36}\< ]] || fail "no order id on the order page"
[[ $order =~ class=\"tracking-id\"\>[A-Y]{2}-[0-9]+-[0-9]+\< ]] || fail "no tracking id on the order page"
assert_contains "$order" 'class="total-paid">$57.96<'
get GET /cart >/dev/null
assert_contains "$(body)" "Your shopping cart is empty"
pass "checkout: order with tracking id"

# Invalid cards: the form check (422) and the payment service's refusals (500 with its message).
assert_eq "$(get POST /cart/checkout "${form[@]}" -d credit_card_number=4432-8015-6152-0454)" 422 "dashes"
assert_contains "$(body)" "Field &#39;credit_card_number&#39; is invalid"
assert_eq "$(get POST /cart/checkout "${form[@]}" -d credit_card_number=4432801561520455)" 422 "bad Luhn"
get POST /cart -d product_id=OLJCESPC7Z -d quantity=1 >/dev/null
assert_eq "$(get POST /cart/checkout "${form[@]}" -d credit_card_number=378282246310005)" 500 "amex"
assert_contains "$(body)" "Sorry, we cannot process amex credit cards. Only VISA or MasterCard is accepted."
expired=(-d email=someone@example.com -d "street_address=1 Main St" -d zip_code=94043 -d city=X -d state=CA
         -d country=US -d credit_card_expiration_month=1 -d credit_card_expiration_year=2020 -d credit_card_cvv=672)
assert_eq "$(get POST /cart/checkout "${expired[@]}" -d credit_card_number=4432801561520454)" 500 "expired"
assert_contains "$(body)" "Your credit card (ending 0454) expired on 1/2020"
assert_eq "$(get POST /cart/checkout -d email=nope)" 422 "empty checkout form"
for f in email street_address zip_code city state country credit_card_number credit_card_expiration_month \
         credit_card_expiration_year credit_card_cvv; do
    assert_contains "$(body)" "Field &#39;$f&#39; is invalid"
done
pass "invalid cards and form errors"

# Empty cart, logout, unknown routes and methods, static files.
assert_eq "$(get POST /cart/empty)" 302 "empty cart"
assert_eq "$(hdr Location)" / "empty cart redirect"
assert_eq "$(get GET /logout)" 302 "logout"
assert_eq "$(hdr Location)" / "logout redirect"
logout_cookies=$(hdr Set-Cookie)
assert_contains "$logout_cookies" "shop_session-id=; Max-Age=0"
assert_contains "$logout_cookies" "shop_currency=; Max-Age=0"
assert_eq "$(get GET /no/such/page)" 404 "unknown path"
assert_eq "$(get GET /cart/checkout)" 405 "GET /cart/checkout"
assert_eq "$(get GET /cart/empty)" 405 "GET /cart/empty"
assert_eq "$(get GET /setCurrency)" 405 "GET /setCurrency"
assert_eq "$(get PUT /)" 405 "PUT /"
assert_eq "$(get GET /static/css/shop.css)" 200 "stylesheet"
assert_contains "$(hdr Content-Type)" "text/css"
assert_eq "$(get GET /static/img/products/mug.svg)" 200 "picture"
assert_contains "$(hdr Content-Type)" "image/svg+xml"
assert_eq "$(get GET /static/../meson.build)" 404 "path traversal"
assert_eq "$(get GET /static/nope.css)" 404 "missing static file"
pass "routes, statuses, redirects"

# BASE_URL: everything moves below the prefix.
stop_frontend
start_frontend BASE_URL=/shop
rm -f "$JAR"
assert_eq "$(get GET /shop/)" 200 "BASE_URL home"
assert_contains "$(body)" 'href="/shop/static/css/shop.css"'
assert_eq "$(get GET /)" 404 "outside BASE_URL"
assert_eq "$(get POST /shop/cart -d product_id=OLJCESPC7Z -d quantity=1)" 302
assert_eq "$(hdr Location)" /shop/cart "BASE_URL redirect"
assert_eq "$(get GET /shop/_healthz)" 200
assert_eq "$(get GET /shop/static/css/shop.css)" 200
pass "BASE_URL"

# Missing configuration is a clear startup error.
set +e
out=$(env -i PATH="$PATH" PORT=1 "$FRONTEND_BIN" 2>&1)
rc=$?
set -e
[ $rc = 1 ] || fail "frontend without *_SERVICE_ADDR exited $rc"
assert_contains "$out" "environment variable PRODUCT_CATALOG_SERVICE_ADDR not set"
# Usage and bad settings: clear messages, exit 1 (2 for arguments).
"$FRONTEND_BIN" --help | grep -q FRONTEND_DATA_DIR || fail "--help does not list the settings"
set +e
"$FRONTEND_BIN" extra >/dev/null 2>&1; rc_args=$?
out_port=$(PORT=99999 "$FRONTEND_BIN" 2>&1); rc_port=$?
out_base=$(BASE_URL=shop PORT=1 "$FRONTEND_BIN" 2>&1); rc_base=$?
mkdir -p "$TMP/emptydata"
out_data=$(env FRONTEND_DATA_DIR="$TMP/emptydata" PORT=1 "$FRONTEND_BIN" 2>&1); rc_data=$?
set -e
assert_eq "$rc_args" 2 "unexpected argument"
assert_eq "$rc_port" 1 "PORT=99999"
assert_contains "$out_port" "PORT must be a number between 1 and 65535"
assert_eq "$rc_base" 1 "BASE_URL=shop"
assert_contains "$out_base" "BASE_URL must start with '/'"
assert_eq "$rc_data" 1 "no templates"
assert_contains "$out_data" "$TMP/emptydata/templates"
pass "missing configuration and bad settings"

# Concurrency: while four home pages wait on a catalog slowed by 1 s, requests
# that need no slow call (health, a currency switch through the worker pool)
# are answered at once, and the slow ones all complete.
stop_frontend
stop_service productcatalogservice
EXTRA_LATENCY=1s start_service productcatalogservice
start_frontend
pids=()
for i in $(seq 4); do
    curl -s -o "$TMP/parbody.$i" -w '%{http_code}\n' "$FE_URL/" >"$TMP/par.$i" &
    pids+=($!)
done
sleep 0.2
start=$(date +%s%N)
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' -d currency_code=EUR "$FE_URL/setCurrency")" 302
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "$FE_URL/_healthz")" 200
ms=$(( ($(date +%s%N) - start) / 1000000 ))
wait "${pids[@]}"
for i in $(seq 4); do
    [ "$(cat "$TMP/par.$i")" = 200 ] || fail "slow request $i: $(cat "$TMP/par.$i"): $(grep -A1 'class="detail"' "$TMP/parbody.$i")"
done
# A loop or pool blocked by the slow calls would take a second or more.
[ "$ms" -lt 900 ] || fail "fast requests took $ms ms while slow back-end calls were running"
pass "fast requests answered in $ms ms while 4 slow ones were in flight"

# Graceful stop: a request in flight (slow catalog) when SIGTERM arrives is still answered.
curl -s -o /dev/null -w '%{http_code}' "$FE_URL/" >"$TMP/inflight" &
cpid=$!
sleep 0.3
stop_frontend
wait "$cpid" || true
assert_eq "$(cat "$TMP/inflight")" 200 "request in flight during SIGTERM"
pass "graceful stop answers the request in flight"
