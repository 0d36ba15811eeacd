#!/bin/bash
# sconify's bad input: a bad flag, an unreadable image, an unknown binary, a protected directory that
# holds the binary, a missing directory -- one clear error each, and no output left behind.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
export ENSCONCE_CONFIG_DIR=$TMP/cfg ENSCONCE_RUNTIME=$ENSCONCE_BUILD_ROOT/src/ensconce-run/ensconce-run
cd "$TMP"
mkdir -p src/app/data && echo "secret" >src/app/data/x
"$ENSCONCE" image build --exe /bin/cat --file "$TMP/src/app:/app" --entrypoint '["/bin/cat","/app/data/x"]' \
    oci:img:1 >/dev/null
no_output() { [ ! -e out ] && [ -z "$(ls -A k8s 2>/dev/null)" ] || fail "$1: partial output left: $(ls -A out k8s 2>&1)"; }
base=(--to oci:out:1 --name t --dry-run --k8s-helm-output-dir k8s)

set +e; "$ENSCONCE" sconify --from oci:img:1 "${base[@]}" --no-such-flag >/dev/null 2>&1; rc=$?; set -e
assert_eq "$rc" 2 "exit status of a bad flag"
expect_fail "$ENSCONCE" sconify --from oci:img:1 "${base[@]}" --k8s-device-plugin nvidia
assert_contains "$OUT" "nvidia"
no_output "bad flag"
pass "bad flags: usage error, nothing written"

expect_fail "$ENSCONCE" sconify --from oci:nope:1 "${base[@]}"
assert_contains "$OUT" "oci:nope:1"
no_output "unreadable image"
head -c 100 /dev/urandom >garbage.tar
expect_fail "$ENSCONCE" sconify --from docker-archive:garbage.tar "${base[@]}"
assert_contains "$OUT" "garbage.tar"
no_output "garbage archive"
pass "unreadable images are named"

expect_fail "$ENSCONCE" sconify --from oci:img:1 "${base[@]}" --binary /usr/bin/nonexistent
assert_contains "$OUT" "nonexistent"
no_output "unknown binary"
expect_fail "$ENSCONCE" sconify --from oci:img:1 "${base[@]}" --command "no-such-program --x"
assert_contains "$OUT" "no-such-program"
no_output "unknown command"
pass "an unknown binary is named"

expect_fail "$ENSCONCE" sconify --from oci:img:1 "${base[@]}" --dir /app/nothere
assert_contains "$OUT" "/app/nothere"
expect_fail "$ENSCONCE" sconify --from oci:img:1 "${base[@]}" --dir /bin
assert_contains "$OUT" "holds the service binary"
expect_fail "$ENSCONCE" sconify --from oci:img:1 "${base[@]}" --dir /app --plain /app/data
assert_contains "$OUT" "inside"
expect_fail "$ENSCONCE" sconify --from oci:img:1 "${base[@]}" --volume nocolon
assert_contains "$OUT" "NAME:/PATH"
no_output "bad regions"
pass "bad regions and volumes are refused, naming the path"

# without --dry-run and without an attested CAS: refused before any work, nothing written
expect_fail "$ENSCONCE" sconify --from oci:img:1 --to oci:out:1 --name t --k8s-helm-output-dir k8s --dir /app/data
assert_contains "$OUT" "attest"
no_output "no pinned CAS"
ls /var/tmp | grep -q "^ensconce-sconify-" && [ -n "$(find /var/tmp -maxdepth 1 -name 'ensconce-sconify-*' -newer img -print -quit)" ] &&
    fail "work directory left in /var/tmp"
pass "no pinned CAS: a clear error, no output"
