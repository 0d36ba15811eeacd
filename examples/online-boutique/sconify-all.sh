#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Converts all eleven Online Boutique services -- cartservice included -- and Redis (with an
# encrypted writable /data volume) into confidential images, uploads their policies and writes
# their Helm charts, plain manifests and a Compose file.  The same variables as the replaced demo:
#   IMAGE_REPOSITORY  where the confidential images go (required): a registry repository
#                     (registry.example/boutique -> docker://registry.example/boutique/NAME:TAG)
#                     or oci:DIR (-> oci:DIR/NAME:TAG)
#   SCONE_CAS_ADDR    the CAS (also ENSCONCE_CAS_ADDR; default 127.0.0.1)
#   CAS_MRENCLAVE     the CAS measurement: when set, the CAS is attested and pinned first
#   K8S_NAMESPACE     the Kubernetes namespace (default default); only deploy-all.sh uses it --
#                     policies name services by their short names, so they work in any namespace
# and ours:
#   SOURCE_IMAGES     the native images (default build/boutique/images, from `make images`)
#   OUTPUT_DIR        charts, manifests and compose.yaml (default release)
#   TARGET            kubernetes (default: upstream's ports) or local (`ensconce up` on one host, where
#                     all services share the loopback: payment/shipping 50051 -> shipping 50052,
#                     email 5000, recommendation 8080 -> 8085)
#   POLICY_NAMESPACE  the CAS namespace of the sessions (default boutique)
#   ALLOW_DEBUG       1 accepts simulation evidence (default 1 for local, 0 for kubernetes)
#   TAG               image tag (default 1)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-$root/build}
E=${ENSCONCE:-$BUILD/src/ensconce/ensconce}
: "${IMAGE_REPOSITORY:?set IMAGE_REPOSITORY (a registry repository, or oci:DIR)}"
CAS=${SCONE_CAS_ADDR:-${ENSCONCE_CAS_ADDR:-127.0.0.1}}
K8S_NAMESPACE=${K8S_NAMESPACE:-default}
SOURCE_IMAGES=${SOURCE_IMAGES:-$BUILD/boutique/images}
OUTPUT_DIR=${OUTPUT_DIR:-release}
TARGET=${TARGET:-kubernetes}
NS=${POLICY_NAMESPACE:-boutique}
TAG=${TAG:-1}
case "$TARGET" in
    local) ALLOW_DEBUG=${ALLOW_DEBUG:-1}; SHIP=50052; EMAIL=5000; EMAIL_LISTEN=5000; REC=8085 ;;
    kubernetes) ALLOW_DEBUG=${ALLOW_DEBUG:-0}; SHIP=50051; EMAIL=5000; EMAIL_LISTEN=8080; REC=8080 ;;
    *) echo "sconify-all: TARGET is kubernetes or local, not $TARGET" >&2; exit 2 ;;
esac
case "$IMAGE_REPOSITORY" in
    oci:*) dest() { echo "oci:${IMAGE_REPOSITORY#oci:}/$1:$TAG"; }; mkdir -p "${IMAGE_REPOSITORY#oci:}" ;;
    docker://*) dest() { echo "$IMAGE_REPOSITORY/$1:$TAG"; } ;;
    *) dest() { echo "docker://$IMAGE_REPOSITORY/$1:$TAG"; } ;;
esac
[ -d "$SOURCE_IMAGES/frontend" ] || { echo "sconify-all: no images in $SOURCE_IMAGES: run 'make images' first" >&2; exit 1; }
mkdir -p "$OUTPUT_DIR/charts"

if [ -n "${CAS_MRENCLAVE:-}" ]; then
    echo "==> attesting the CAS at $CAS"
    "$E" cas attest "$CAS" --measurement "$CAS_MRENCLAVE"
fi
common=(--cas "$CAS" --namespace "$NS" --create-namespace --k8s-helm-output-dir "$OUTPUT_DIR/charts")
[ "$ALLOW_DEBUG" = 1 ] && common+=(--allow-debug-mode)
[ -n "${K8S_DEVICE_PLUGIN:-}" ] && common+=(--k8s-device-plugin "$K8S_DEVICE_PLUGIN")

conv() { # name port [sconify args]
    local name=$1 port=$2; shift 2
    echo "==> $name"
    "$E" sconify --from "oci:$SOURCE_IMAGES/$name:1" --to "$(dest "$name")" --name "$name" --service-name "$name" \
        --k8s-helm-expose "$port" "${common[@]}" "$@" >/dev/null
}
grpc() { local n=$1 p=$2; shift 2; conv "$n" "$p" --k8s-helm-probe "grpc:$p" --env "PORT=$p" "$@"; }

redis_args=()
# on one host every service shares the loopback: Redis listens there only
[ "$TARGET" = local ] && redis_args=(--command "/usr/bin/redis-server --port 6379 --dir /data --appendonly yes --bind 127.0.0.1")
conv redis-cart 6379 --k8s-helm-probe tcp:6379 --volume data:/data --k8s-helm-workload-type statefulset \
    "${redis_args[@]}"
grpc productcatalogservice 3550 --dir /app/data
grpc currencyservice 7000
grpc cartservice 7070 --env REDIS_ADDR=redis-cart:6379
grpc paymentservice 50051
grpc shippingservice "$SHIP"
conv emailservice "$EMAIL_LISTEN" --k8s-helm-probe "grpc:$EMAIL_LISTEN" --env "PORT=$EMAIL_LISTEN"
grpc recommendationservice "$REC" --env PRODUCT_CATALOG_SERVICE_ADDR=productcatalogservice:3550
grpc adservice 9555
grpc checkoutservice 5050 --env PRODUCT_CATALOG_SERVICE_ADDR=productcatalogservice:3550 \
    --env "SHIPPING_SERVICE_ADDR=shippingservice:$SHIP" --env PAYMENT_SERVICE_ADDR=paymentservice:50051 \
    --env "EMAIL_SERVICE_ADDR=emailservice:$EMAIL" --env CURRENCY_SERVICE_ADDR=currencyservice:7000 \
    --env CART_SERVICE_ADDR=cartservice:7070
conv frontend 8080 --dir /app --k8s-helm-probe http:8080/_healthz --env PORT=8080 \
    --env "RECOMMENDATION_SERVICE_ADDR=recommendationservice:$REC" --env "SHIPPING_SERVICE_ADDR=shippingservice:$SHIP" \
    --env "ENV_PLATFORM=${ENV_PLATFORM:-local}" --env "FRONTEND_MESSAGE=${FRONTEND_MESSAGE:-Confidential containers by ensconce}"
conv loadgenerator 8089 --command="/usr/bin/locust -f /loadgen/locustfile.py --headless -u 10 -r 1 --host http://frontend:8080" \
    --k8s-helm-workload-type deployment

# One Compose file for `ensconce up`: the services in dependency order, each waited for.
/usr/bin/python3 - "$OUTPUT_DIR" <<'PY'
import os, sys, yaml
out = sys.argv[1]
deps = {
    "cartservice": ["redis-cart"],
    "recommendationservice": ["productcatalogservice"],
    "checkoutservice": ["productcatalogservice", "shippingservice", "paymentservice", "emailservice",
                        "currencyservice", "cartservice"],
    "frontend": ["productcatalogservice", "currencyservice", "cartservice", "recommendationservice",
                 "checkoutservice", "shippingservice", "adservice"],
}
compose = {"name": "boutique", "services": {}, "volumes": {}}
for f in sorted(os.listdir(os.path.join(out, "charts"))):
    if not f.endswith(".compose.yaml") or f.startswith("loadgenerator"):
        continue
    c = yaml.safe_load(open(os.path.join(out, "charts", f)))
    for name, svc in c["services"].items():
        if name in deps:
            svc["depends_on"] = {d: {"condition": "service_healthy"} for d in deps[name]}
        compose["services"][name] = svc
    compose["volumes"].update(c.get("volumes") or {})
with open(os.path.join(out, "compose.yaml"), "w") as fh:
    fh.write("# The confidential Online Boutique for `ensconce up`, written by sconify-all.sh.\n")
    yaml.safe_dump(compose, fh, sort_keys=False)
PY
echo "==> done: charts in $OUTPUT_DIR/charts, Compose file $OUTPUT_DIR/compose.yaml (policies in CAS namespace $NS)"
