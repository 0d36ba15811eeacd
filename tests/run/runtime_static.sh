#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ensconce-run is ONE static executable with no ELF interpreter and no shared libraries, cross-checked
# with file(1), ldd(1) and readelf; its --help and usage errors follow the CLI conventions.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
RUN_BIN=$ENSCONCE_BUILD_ROOT/src/ensconce-run/ensconce-run
[ -x "$RUN_BIN" ] || skip "ensconce-run is not built"
[ "${SANITIZED:-none}" = none ] || skip "the sanitizer build links ensconce-run dynamically"
need file ldd readelf
F=$(file -L "$RUN_BIN")
assert_contains "$F" "statically linked"
set +e
L=$(ldd "$RUN_BIN" 2>&1)
set -e
assert_contains "$L" "not a dynamic executable"
readelf -lW "$RUN_BIN" | grep -q INTERP && fail "ensconce-run has an ELF interpreter"
readelf -dW "$RUN_BIN" | grep -q NEEDED && fail "ensconce-run needs shared libraries"
SIZE=$(stat -c %s "$RUN_BIN")
STRIPPED=$(strip -o "$TMP/s" "$RUN_BIN" && stat -c %s "$TMP/s")
echo "size: $SIZE bytes ($STRIPPED stripped)"
[ "$STRIPPED" -lt $((8 * 1024 * 1024)) ] || fail "stripped ensconce-run is larger than 8 MiB"
pass "static, no interpreter, no NEEDED, $STRIPPED bytes stripped"

"$RUN_BIN" --help | grep -q -- "--measure" || fail "--help"
set +e
"$RUN_BIN" --bogus >/dev/null 2>&1
RC=$?
set -e
assert_eq "$RC" 2 "usage error status"
# Without a run.json and environment: one line, non-zero, no crash.
expect_fail env -i "$RUN_BIN" --config "$TMP/none.json"
[ "$(wc -l <<<"$OUT")" = 1 ] || fail "expected one line: $OUT"
assert_contains "$OUT" "ensconce-run: config (none):"
# A malformed run.json names the problem.
echo '{"version": 1, "cas_identity": "xyz"}' >"$TMP/bad.json"
expect_fail "$RUN_BIN" --config "$TMP/bad.json"
assert_contains "$OUT" "cas_identity"
pass "help, usage and configuration errors"
