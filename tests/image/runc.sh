#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End to end: a distroless image built from executables (their ELF interpreter and libraries found
# by lib/elf), unpacked as a runc bundle, runs under runc with the image's args, env, cwd and user.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
need_root
need runc
E=$ENSCONCE
for x in /bin/sh /bin/cat /usr/bin/id; do [ -x "$x" ] || skip "$x missing"; done
echo "from the image" >"$TMP/msg"
"$E" image build --exe /bin/sh --exe /bin/cat --exe /usr/bin/id --file "$TMP/msg:/srv/msg" \
    --entrypoint '["/bin/sh","-c"]' --cmd '["cat msg; echo \"$GREETING\"; id -u"]' --env GREETING=hello \
    --workdir /srv --user 1234:1234 oci:"$TMP/img":t >/dev/null || fail "build --exe"
# Nothing else from the host: a handful of files.
n=$("$E" image unpack oci:"$TMP/img":t "$TMP/flat" && find "$TMP/flat" -type f | wc -l)
[ "$n" -lt 30 ] || fail "too many files in a distroless image: $n"
"$E" image unpack --bundle oci:"$TMP/img":t "$TMP/bundle"
id=ens-image-test-$$
add_cleanup "runc delete -f $id"
out=$(cd "$TMP/bundle" && timeout 30 runc run "$id" 2>&1) || fail "runc run: $out"
assert_eq "$out" "from the image
hello
1234" "container output"
pass "distroless image from executables runs under runc"
