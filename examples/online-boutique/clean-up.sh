#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Removes what deploy-all.sh installed (helm releases, or the applied manifests).
#   K8S_NAMESPACE (default default), OUTPUT_DIR (default release)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
E=${ENSCONCE:-$root/build/src/ensconce/ensconce}
NS=${K8S_NAMESPACE:-default}
OUT=${OUTPUT_DIR:-release}
for c in "$OUT"/charts/*/Chart.yaml; do
    n=$(basename "$(dirname "$c")")
    if command -v helm >/dev/null && helm status "$n" --namespace "$NS" >/dev/null 2>&1; then
        helm uninstall "$n" --namespace "$NS"
    elif command -v kubectl >/dev/null; then
        "$E" chart render "$OUT/charts/$n" --namespace "$NS" | kubectl delete --namespace "$NS" --ignore-not-found -f -
    fi
done
