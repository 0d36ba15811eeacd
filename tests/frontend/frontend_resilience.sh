#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# One back end killed: the frontend answers its error page (500, naming the
# failed call), stays up, and recovers once the back end is back on its port.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
. "$ENSCONCE_SOURCE_ROOT/tests/frontend/lib.sh"
need curl

start_backends
start_frontend
code() { curl -s -o "$TMP/body" -w '%{http_code}' -b 'shop_session-id=resilience' "$@"; }
assert_eq "$(code "$FE_URL/")" 200 "home before"

for svc in currencyservice productcatalogservice cartservice; do
    stop_service "$svc"
    assert_eq "$(code "$FE_URL/")" 500 "home with $svc down"
    assert_contains "$(cat "$TMP/body")" "Uh-oh, something went wrong"
    assert_contains "$(cat "$TMP/body")" "code = Unavailable"
    assert_eq "$(code "$FE_URL/_healthz")" 200 "frontend health with $svc down"
    kill -0 "$FE_PID" || fail "the frontend died with $svc down"
    start_service "$svc"
    ok=""
    for _ in $(seq 100); do
        if [ "$(code "$FE_URL/")" = 200 ]; then ok=1; break; fi
        sleep 0.1
    done
    [ -n "$ok" ] || fail "the frontend did not recover after $svc came back"
    pass "$svc down: error page; back: recovered"
done

# Ads are optional on a page: without the ad service the product page still renders.
stop_service adservice
assert_eq "$(code "$FE_URL/product/OLJCESPC7Z")" 200 "product page without ads"
start_service adservice
# Checkout with the payment service down: the error names the charge.
stop_service paymentservice
curl -s -o /dev/null -b 'shop_session-id=resilience' -d product_id=OLJCESPC7Z -d quantity=1 "$FE_URL/cart"
assert_eq "$(code -d email=a@b.co -d street_address=x -d zip_code=1 -d city=x -d state=x -d country=x \
    -d credit_card_number=4432801561520454 -d credit_card_expiration_month=1 \
    -d credit_card_expiration_year=$(( $(date +%Y) + 1 )) -d credit_card_cvv=1 "$FE_URL/cart/checkout")" 500
assert_contains "$(cat "$TMP/body")" "failed to charge card"
pass "payment down: checkout error names the charge"

# A longer outage (10 s, with the shop in use meanwhile): gRPC's reconnect
# backoff would have grown to several seconds; the frontend must be back
# within 3 s of the service.
stop_service currencyservice
end=$((SECONDS + 10))
while [ $SECONDS -lt $end ]; do
    assert_eq "$(code "$FE_URL/")" 500 "home during the outage"
    sleep 0.5
done
start_service currencyservice
t0=$(date +%s%N)
ok=""
for _ in $(seq 60); do
    if [ "$(code "$FE_URL/")" = 200 ]; then ok=1; break; fi
    sleep 0.05
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ -n "$ok" ] && [ "$ms" -lt 3000 ] || fail "not recovered within 3 s after a 10 s outage ($ms ms)"
pass "recovered ${ms} ms after a 10 s outage ended"
stop_frontend
