#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# make images: the Online Boutique's eleven images (frontend, nine back ends, load generator) plus
# Redis, built with `ensconce image build` from this build and this machine's files -- no Docker.
#   OUT=DIR (default build/boutique/images): one OCI layout per image, tag 1 (oci:DIR/NAME:1)
#   BUILD=DIR (default build): the Meson build tree with the service binaries
# Layout inside each image: the binary in /usr/local/bin (measured by the runtime), the data the
# service reads in /app (what sconify-all.sh encrypts).  Dockerfile builds the same for Docker users.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-$root/build}
OUT=${OUT:-$BUILD/boutique/images}
E=${ENSCONCE:-$BUILD/src/ensconce/ensconce}
bin=$BUILD/examples/online-boutique/src
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
mkdir -p "$OUT"
empty=$(mktemp -d)
trap 'rm -rf "$empty"' EXIT

step() { printf '==> %s\n' "$*"; }
build() { # name args...
    local name=$1; shift
    rm -rf "$OUT/$name.tmp"
    "$E" image build "$@" --label org.opencontainers.image.title="$name" \
        --label org.opencontainers.image.source=ensconce/examples/online-boutique "oci:$OUT/$name.tmp:1" >/dev/null
    rm -rf "$OUT/$name"
    mv "$OUT/$name.tmp" "$OUT/$name"
    printf '    %-24s %s\n' "$name" "$(du -sh "$OUT/$name" | cut -f1)"
}
svc() { # name port [extra args]
    local name=$1 port=$2; shift 2
    build "$name" --exe "$bin/$name:/usr/local/bin/$name" --entrypoint "[\"/usr/local/bin/$name\"]" \
        --env PORT="$port" --expose "$port" "$@"
}

step "building the Online Boutique images into $OUT"
for b in productcatalogservice currencyservice cartservice paymentservice shippingservice emailservice \
    checkoutservice recommendationservice adservice; do
    [ -x "$bin/$b" ] || { echo "make-images: $bin/$b is missing: build first (make)" >&2; exit 1; }
done
svc productcatalogservice 3550 --file "$here/src/data/products.json:/app/data/products.json" \
    --env CATALOG_FILE=/app/data/products.json
svc currencyservice 7000
svc cartservice 7070 --env REDIS_ADDR=redis-cart:6379
svc paymentservice 50051
svc shippingservice 50051
svc emailservice 8080
svc checkoutservice 5050 --env PRODUCT_CATALOG_SERVICE_ADDR=productcatalogservice:3550 \
    --env SHIPPING_SERVICE_ADDR=shippingservice:50051 --env PAYMENT_SERVICE_ADDR=paymentservice:50051 \
    --env EMAIL_SERVICE_ADDR=emailservice:5000 --env CURRENCY_SERVICE_ADDR=currencyservice:7000 \
    --env CART_SERVICE_ADDR=cartservice:7070
svc recommendationservice 8080 --env PRODUCT_CATALOG_SERVICE_ADDR=productcatalogservice:3550
svc adservice 9555
build frontend --exe "$BUILD/examples/online-boutique/frontend/frontend:/usr/local/bin/frontend" \
    --file "$here/frontend/templates:/app/templates" --file "$here/frontend/static:/app/static" \
    --entrypoint '["/usr/local/bin/frontend"]' --env PORT=8080 --expose 8080 --env FRONTEND_DATA_DIR=/app \
    --env PRODUCT_CATALOG_SERVICE_ADDR=productcatalogservice:3550 --env CURRENCY_SERVICE_ADDR=currencyservice:7000 \
    --env CART_SERVICE_ADDR=cartservice:7070 --env RECOMMENDATION_SERVICE_ADDR=recommendationservice:8080 \
    --env CHECKOUT_SERVICE_ADDR=checkoutservice:5050 --env SHIPPING_SERVICE_ADDR=shippingservice:50051 \
    --env AD_SERVICE_ADDR=adservice:9555
# Redis from Debian's redis-server binary; its data directory becomes an encrypted volume.
build redis-cart --exe /usr/bin/redis-server --entrypoint '["/usr/bin/redis-server"]' \
    --cmd '["--port", "6379", "--dir", "/data", "--appendonly", "yes", "--protected-mode", "no"]' \
    --file "$empty:/data" --expose 6379
# The load generator: Debian's python3 and locust with the locustfile.
build loadgenerator --exe /usr/bin/python3 --file /usr/lib/python3.11:/usr/lib/python3.11 \
    --file /usr/lib/python3/dist-packages:/usr/lib/python3/dist-packages --file /usr/bin/locust:/usr/bin/locust \
    --file "$here/loadgenerator:/loadgen" --entrypoint '["/usr/bin/python3", "/usr/bin/locust"]' \
    --cmd '["-f", "/loadgen/locustfile.py", "--headless"]' --env USERS=10 --env RATE=1
step "done: $(ls "$OUT" | grep -vc '\.tmp$') images"
