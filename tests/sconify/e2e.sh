#!/bin/bash
# End to end: a C, a Python and a Node.js image (built with `ensconce image build`) are converted
# with `ensconce sconify`; `ensconce up` runs them as runc containers against a local CAS and LAS;
# each receives its environment, arguments, a generated secret and an injected file from the CAS,
# and reads a file from its encrypted directory.  No byte of a protected file remains in any blob
# of the output images; skopeo reads them; a shield layer changed by one byte (and re-digested)
# makes the runtime refuse to start.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
need_root
need runc skopeo gcc
[ -e /dev/fuse ] || true
for port in 8081 18765 18766; do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && fail "port $port is taken: this test starts its own CAS and LAS"
done
FIX=$ENSCONCE_SOURCE_ROOT/tests/sconify/fixtures
RUNTIME=$ENSCONCE_BUILD_ROOT/src/ensconce-run/ensconce-run
export ENSCONCE_CONFIG_DIR=$TMP/cfg ENSCONCE_RUNTIME=$RUNTIME
STATE=$TMP/state
P=e2e$$
add_cleanup "\"$ENSCONCE\" down -p $P --state-dir $STATE -v"
cd "$TMP"

# --- the native images ------------------------------------------------------------------------
mkdir -p src/c/app/data src/py/app/data src/py/app/code src/node/app/data src/node/app/js
gcc -O2 -o src/c/hello "$FIX/hello.c"
for l in c py node; do echo "recipe-$l: 3 eggs, $RANDOM$RANDOM secret flour" >"src/$l/app/data/recipe.txt"; done
# a first line found nowhere else, so that a search for the file's bytes cannot match by chance
{ echo "# marker-py-$RANDOM$RANDOM$RANDOM"; cat "$FIX/main.py"; } >src/py/app/code/main.py
{ echo "// marker-node-$RANDOM$RANDOM$RANDOM"; cat "$FIX/main.js"; } >src/node/app/js/main.js
"$ENSCONCE" image build --exe "$TMP/src/c/hello" --file "$TMP/src/c/app:/app" \
    --entrypoint "[\"$TMP/src/c/hello\", \"native-arg\"]" oci:img-c:1 >/dev/null
PY=$(readlink -f /usr/bin/python3)
"$ENSCONCE" image build --exe "$PY" --file "/usr/lib/python3.11:/usr/lib/python3.11" --file "$TMP/src/py/app:/app" \
    --entrypoint "[\"$PY\", \"/app/code/main.py\", \"native-arg\"]" oci:img-py:1 >/dev/null
"$ENSCONCE" image build --exe /usr/bin/node --file "$TMP/src/node/app:/app" \
    --entrypoint '["/usr/bin/node", "/app/js/main.js", "native-arg"]' oci:img-node:1 >/dev/null
pass "built C, Python and Node.js images without a daemon"

"$ENSCONCE" up --infra-only -p "$P" --state-dir "$STATE" >/dev/null
pass "local CAS and LAS started, CAS attested and pinned"

# --- convert ----------------------------------------------------------------------------------
dirs_c="--dir /app/data"; dirs_py="--dir /app/data --dir /app/code"; dirs_node="--dir /app/data --dir /app/js"
for l in c py node; do
    d=dirs_$l
    # shellcheck disable=SC2086
    "$ENSCONCE" sconify --from "oci:img-$l:1" --to "oci:out-$l:1" --name "svc-$l" --service-name "svc-$l" \
        ${!d} --allow-debug-mode --dry-run --policy-out "$TMP/svc-$l.policy.yaml" \
        --k8s-helm-output-dir "$TMP/k8s" >"sconify-$l.out" 2>"sconify-$l.err" || { cat "sconify-$l.err"; fail "sconify $l"; }
    assert_eq "$(cat "sconify-$l.out")" "svc-$l" "sconify prints NAMESPACE/SESSION"
    grep -q '^measurement: [0-9a-f]\{64\}$' "sconify-$l.err" || fail "sconify $l prints the measurement"
    assert_eq "$(stat -c %a "svc-$l.policy.yaml")" 600 "policy file mode"
    "$PYTHON" "$FIX/add_secrets.py" "svc-$l.policy.yaml" "$l"
    skopeo inspect --insecure-policy "oci:out-$l:1" >/dev/null || fail "skopeo cannot read out-$l"
done
pass "converted three images; skopeo reads the output; policies are 0600"

# --- no plaintext of a protected file in any blob ----------------------------------------------
for l in c py node; do
    for f in $(find "src/$l/app" -type f); do
        needle=$(head -n 1 "$f")
        for b in out-$l/blobs/sha256/*; do
            if { zcat -f "$b" 2>/dev/null || cat "$b"; } | grep -qF -- "$needle"; then
                fail "plaintext of $f found in blob $b"
            fi
        done
    done
done
pass "no protected file's bytes in any (decompressed) blob of the output images"

# --- run them ----------------------------------------------------------------------------------
{
    echo "services:"
    for l in c py node; do
        cat <<YAML
  svc-$l:
    image: oci:$TMP/out-$l:1
    x-ensconce-session: $TMP/svc-$l.policy.yaml
    environment:
      ENSCONCE_CONFIG_ID: svc-$l/svc-$l
YAML
    done
} >compose.yaml
"$ENSCONCE" up -f compose.yaml -p "$P" --state-dir "$STATE" --no-infra >up.out 2>&1 || { cat up.out; fail "ensconce up"; }
for l in c py node; do
    log=$STATE/logs/svc-$l.log
    for _ in $(seq 100); do grep -q '^data:' "$log" 2>/dev/null && break; sleep 0.1; done
    out=$(cat "$log")
    assert_contains "$out" "greeting: hello-$l" "$l: environment from the policy"
    assert_contains "$out" "--from-policy $l" "$l: arguments from the policy"
    grep -q '^api_key: [0-9a-f]\{32\}$' <<<"$out" || fail "$l: generated secret (hex) in the environment: $out"
    grep -q '^token: tok-[[:print:]]\{24\}$' <<<"$out" || fail "$l: injected file with a substituted secret: $out"
    assert_contains "$out" "data: $(cat "src/$l/app/data/recipe.txt")" "$l: encrypted file"
done
# the same secret reaches every language in the same form only when the policy says so: distinct sessions
[ "$(grep '^api_key' "$STATE/logs/svc-c.log")" != "$(grep '^api_key' "$STATE/logs/svc-py.log")" ] ||
    fail "two sessions got the same generated secret"
pass "C, Python and Node.js services got environment, arguments, secret, injected file and encrypted data"

# --- a CAS refusal leaves no output -----------------------------------------------------------------
expect_fail "$ENSCONCE" sconify --from oci:img-c:1 --to oci:out-refused:1 --name svc-c --service-name svc-c \
    --dir /app/data --allow-debug-mode --k8s-helm-output-dir "$TMP/k8s-refused"
assert_contains "$OUT" "refused"
[ ! -e out-refused ] && [ ! -e k8s-refused/svc-c ] || fail "output left behind after the CAS refused the policy"
pass "CAS refusal (the session exists): one clear error, no image, no chart"

# --- tampering --------------------------------------------------------------------------------
cp -a out-c out-c-bad
"$PYTHON" "$FIX/tamper_layer.py" out-c-bad >/dev/null || fail "could not tamper with the layer"
skopeo inspect --insecure-policy oci:out-c-bad:1 >/dev/null || fail "tampered image is not a valid image"
cat >compose-bad.yaml <<YAML
services:
  svc-c:
    image: oci:$TMP/out-c-bad:1
    environment:
      ENSCONCE_CONFIG_ID: svc-c/svc-c
YAML
"$ENSCONCE" up -f compose-bad.yaml -p "$P" --state-dir "$STATE" --no-infra >up-bad.out 2>&1 || true
log=$STATE/logs/svc-c.log
for _ in $(seq 100); do grep -q 'ensconce-run' "$log" 2>/dev/null && break; sleep 0.1; done
out=$(cat "$log")
grep -q 'ensconce-run.*svc-c/svc-c' <<<"$out" || fail "no refusal line naming the config id: $out"
grep -q '^data:' <<<"$out" && fail "the service ran from a tampered shield: $out"
pass "a shield layer changed by one byte is refused: $(grep -m1 ensconce-run <<<"$out")"
