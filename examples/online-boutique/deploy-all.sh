#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Deploys the CAS, the LAS and every chart sconify-all.sh wrote to Kubernetes: with helm where it is
# installed, else by applying manifests rendered by `ensconce chart render` with kubectl.
#   K8S_NAMESPACE              namespace (default default)
#   K8S_IMAGE_PULL_SECRET      image pull secret (default sconeapps; "" for none)
#   K8S_DEVICE_PLUGIN          cvm (default), scone, azure, intel or disabled
#   K8S_FRONTEND_SERVICE_TYPE  NodePort (default) or LoadBalancer
#   OUTPUT_DIR                 where sconify-all.sh wrote charts/ (default release)
#   CAS_IMAGE, LAS_IMAGE       images of ensconce-cas / ensconce-las
#   DRY_RUN=1                  print the manifests instead of applying them
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
E=${ENSCONCE:-$root/build/src/ensconce/ensconce}
NS=${K8S_NAMESPACE:-default}
SECRET=${K8S_IMAGE_PULL_SECRET-sconeapps}
PLUGIN=${K8S_DEVICE_PLUGIN:-cvm}
FRONT=${K8S_FRONTEND_SERVICE_TYPE:-NodePort}
OUT=${OUTPUT_DIR:-release}
case "$PLUGIN" in cvm|scone|azure|intel|disabled) ;; *) echo "deploy-all: K8S_DEVICE_PLUGIN: cvm, scone, azure, intel or disabled" >&2; exit 2 ;; esac
case "$FRONT" in NodePort|LoadBalancer|ClusterIP) ;; *) echo "deploy-all: K8S_FRONTEND_SERVICE_TYPE: NodePort or LoadBalancer" >&2; exit 2 ;; esac
[ -d "$OUT/charts" ] || { echo "deploy-all: no charts in $OUT/charts: run sconify-all.sh first" >&2; exit 1; }
"$E" chart infra cas --k8s-helm-output-dir "$OUT/charts" >/dev/null
"$E" chart infra las --k8s-helm-output-dir "$OUT/charts" >/dev/null

values=$(mktemp)
trap 'rm -f "$values"' EXIT
{
    [ -n "$SECRET" ] && printf 'imagePullSecrets:\n- name: %s\n' "$SECRET"
    printf 'useSGXDevPlugin: %s\n' "$PLUGIN"
} >"$values"

charts=(ensconce-cas ensconce-las)
for c in "$OUT"/charts/*/Chart.yaml; do
    n=$(basename "$(dirname "$c")")
    case "$n" in ensconce-*|loadgenerator) ;; *) charts+=("$n") ;; esac
done
extra() { # chart -> extra --set
    case "$1" in
        frontend) echo "service.type=$FRONT" ;;
        ensconce-cas) echo "image=${CAS_IMAGE:-ensconce/ensconce-cas:latest}" ;;
        ensconce-las) echo "image=${LAS_IMAGE:-ensconce/ensconce-las:latest}" ;;
    esac
}
if [ "${DRY_RUN:-0}" != 1 ] && command -v helm >/dev/null; then
    for n in "${charts[@]}"; do
        set=(); x=$(extra "$n"); [ -n "$x" ] && set=(--set "$x")
        echo "==> helm upgrade --install $n"
        helm upgrade --install "$n" "$OUT/charts/$n" --namespace "$NS" --create-namespace -f "$values" "${set[@]}"
    done
else
    apply=(kubectl apply --namespace "$NS" -f -)
    if [ "${DRY_RUN:-0}" = 1 ]; then
        apply=(cat)
    elif ! command -v kubectl >/dev/null; then
        echo "deploy-all: neither helm nor kubectl is installed (DRY_RUN=1 prints the manifests)" >&2
        exit 1
    fi
    for n in "${charts[@]}"; do
        set=(); x=$(extra "$n"); [ -n "$x" ] && set=(--set "$x")
        [ "${DRY_RUN:-0}" = 1 ] || echo "==> kubectl apply $n"
        "$E" chart render "$OUT/charts/$n" --namespace "$NS" --values "$values" "${set[@]}" | "${apply[@]}"
    done
fi
