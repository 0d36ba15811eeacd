#!/bin/bash
# Charts: every workload type x device plugin renders (our renderer), validates against the
# Kubernetes schemas (npm kubernetes-models, an independent validator) and carries the right
# device resources, probes and security context; no namespace is baked in; bad flags leave no output.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
need node npm
NPM_DIR=$ENSCONCE_BUILD_ROOT/npm-kubernetes-models
if [ ! -d "$NPM_DIR/node_modules/kubernetes-models" ]; then
    mkdir -p "$NPM_DIR"
    (cd "$NPM_DIR" && timeout 300 npm install --no-audit --no-fund --silent kubernetes-models@4 js-yaml@4 >/dev/null 2>&1) ||
        skip "cannot install kubernetes-models from the npm registry"
fi
validate() { NODE_PATH=$NPM_DIR/node_modules node "$ENSCONCE_SOURCE_ROOT/tests/sconify/validate-k8s.js" "$1"; }
yq() { "$PYTHON" -c 'import sys, yaml, json; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))' "$1"; }
cd "$TMP"

for plugin in cvm scone azure intel disabled; do
    for wl in deployment statefulset daemonset job; do
        name="svc-$plugin-$wl"
        "$ENSCONCE" chart create "$name" --image reg.example/shop/cart:1 --config-id shop/cartservice \
            --k8s-helm-workload-type "$wl" --k8s-device-plugin "$plugin" --k8s-helm-expose 7070 \
            --k8s-helm-probe grpc:7070 --k8s-helm-volume data:/data --k8s-helm-output-dir charts >/dev/null
        "$ENSCONCE" chart render "charts/$name" -o "$name.yaml"
        validate "$name.yaml" >/dev/null || { validate "$name.yaml"; fail "$name: manifests do not validate"; }
        yq "$name.yaml" >"$name.json"
        "$PYTHON" - "$name.json" "$plugin" "$wl" <<'PY' || fail "$name: content check"
import json, sys
docs, plugin, wl = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
kinds = {"deployment": "Deployment", "statefulset": "StatefulSet", "daemonset": "DaemonSet", "job": "Job"}
work = [d for d in docs if d["kind"] == kinds[wl]]
assert len(work) == 1, f"expected one {kinds[wl]}, got {[d['kind'] for d in docs]}"
assert ("Service" in [d["kind"] for d in docs]) == (wl != "job"), "Service presence"
pod = work[0]["spec"]["template"]["spec"]
c = pod["containers"][0]
limits = c.get("resources", {}).get("limits", {})
want = {"cvm": {}, "disabled": {}, "scone": {"sgx.k8s.io/sgx": 1},
        "azure": {"kubernetes.azure.com/sgx_epc_mem_in_MiB": 16},
        "intel": {"sgx.intel.com/epc": "16Mi", "sgx.intel.com/enclave": 1, "sgx.intel.com/provision": 1}}[plugin]
assert limits == want, f"limits {limits} != {want}"
sc = c["securityContext"]
if plugin == "disabled":
    assert sc.get("privileged") is True and any(v.get("hostPath", {}).get("path") == "/dev/sgx" for v in pod["volumes"])
else:
    assert sc.get("allowPrivilegeEscalation") is False and "ALL" in sc["capabilities"]["drop"], sc
    assert "SYS_ADMIN" not in sc["capabilities"].get("add", []), "memory mode must not add SYS_ADMIN"
assert c["livenessProbe"]["grpc"]["port"] == 7070 and c["readinessProbe"]["grpc"]["port"] == 7070, "probes"
env = {e["name"]: e for e in c["env"]}
assert env["ENSCONCE_CONFIG_ID"]["value"] == "shop/cartservice"
assert env["HOST_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
assert env["ENSCONCE_LAS_ADDR"]["value"] == "$(HOST_IP):18766"
mem = [v for v in pod["volumes"] if v["name"] == "ensconce-mem"][0]
assert mem["emptyDir"]["medium"] == "Memory"
for d in docs:
    assert "namespace" not in d["metadata"], f"namespace baked into {d['kind']}"
if wl == "statefulset":
    assert work[0]["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
PY
    done
done
pass "5 device plugins x 4 workload types render, validate and carry the right resources"

"$ENSCONCE" chart create fusesvc --image i:1 --config-id s/fusesvc --shield-mode fuse --k8s-helm-output-dir charts >/dev/null
"$ENSCONCE" chart render charts/fusesvc -o fuse.yaml
validate fuse.yaml >/dev/null || fail "fuse chart does not validate"
yq fuse.yaml >fuse.json
"$PYTHON" -c '
import json, sys
d = [x for x in json.load(open("fuse.json")) if x["kind"] == "Deployment"][0]["spec"]["template"]["spec"]
c = d["containers"][0]
assert "SYS_ADMIN" in c["securityContext"]["capabilities"]["add"]
assert any(v.get("hostPath", {}).get("path") == "/dev/fuse" for v in d["volumes"])
assert "livenessProbe" not in c, "no probe was asked for"
' || fail "fuse mode security context"
pass "fuse mode adds exactly SYS_ADMIN and /dev/fuse; no probe unless asked"

"$ENSCONCE" chart render charts/svc-cvm-deployment --set replicaCount=3 --set service.type=NodePort \
    --namespace shop --release r1 -o set.yaml
grep -q 'replicas: 3' set.yaml || fail "--set replicaCount"
grep -q 'type: NodePort' set.yaml || fail "--set service.type"
grep -q 'app.kubernetes.io/instance: r1' set.yaml || fail "--release"
pass "render --set/--release"

for infra in cas las; do
    "$ENSCONCE" chart infra "$infra" --k8s-helm-output-dir charts >/dev/null
    "$ENSCONCE" chart render "charts/ensconce-$infra" -o "$infra.yaml"
    validate "$infra.yaml" >/dev/null || { validate "$infra.yaml"; fail "$infra chart does not validate"; }
done
grep -q 'kind: PersistentVolumeClaim' cas.yaml && grep -q 'kind: Deployment' cas.yaml || fail "CAS chart kinds"
grep -q 'containerPort: 8081' cas.yaml && grep -q 'containerPort: 18765' cas.yaml || fail "CAS ports"
grep -q 'kind: DaemonSet' las.yaml && grep -q 'hostPort: 18766' las.yaml || fail "LAS DaemonSet with hostPort 18766"
pass "CAS and LAS charts validate"

"$ENSCONCE" chart create withcompose --image i:1 --config-id s/withcompose --k8s-helm-expose 9555 \
    --k8s-helm-volume data:/data --compose compose.yaml --k8s-helm-output-dir charts >/dev/null
"$PYTHON" -c '
import yaml
c = yaml.safe_load(open("compose.yaml"))
s = c["services"]["withcompose"]
assert s["image"] == "i:1" and s["environment"]["ENSCONCE_CONFIG_ID"] == "s/withcompose"
assert s["expose"] == ["9555"] and "data" in c["volumes"]
' || fail "compose output"
pass "compose service"

expect_fail "$ENSCONCE" chart create badplugin --image i --config-id s/x --k8s-device-plugin nvidia --k8s-helm-output-dir charts
assert_contains "$OUT" "nvidia"
[ ! -e charts/badplugin ] || fail "partial chart left behind"
expect_fail "$ENSCONCE" chart create Bad_Name --image i --config-id s/x --k8s-helm-output-dir charts
assert_contains "$OUT" "DNS-1123"
expect_fail "$ENSCONCE" chart create x --image i --config-id s/x --k8s-helm-probe udp:1
assert_contains "$OUT" "probe kind"
ls -A charts | grep -q '^\.' && fail "temporary directories left in charts/"
echo "apiVersion: v2" >bad-chart.yaml; mkdir -p badchart/templates; echo 'name: b' >badchart/Chart.yaml
echo '{{ lookup "v1" "Secret" "" "" }}' >badchart/templates/x.yaml
expect_fail "$ENSCONCE" chart render badchart
assert_contains "$OUT" "x.yaml:1"
pass "bad input refused with clear errors, no partial output"
