#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A short headless Locust run (Debian's python3-locust) with the boutique's
# locustfile against the frontend and the real back ends: zero failures,
# every task exercised.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
. "$ENSCONCE_SOURCE_ROOT/tests/frontend/lib.sh"
command -v locust >/dev/null || skip "locust is not installed (python3-locust)"
"$PYTHON" -c 'import faker' 2>/dev/null || skip "python3-fake-factory is not installed"

# The wrapper's own checks: bad settings (2), a frontend that never answers (1).
run=$ENSCONCE_SOURCE_ROOT/examples/online-boutique/loadgenerator/run.sh
set +e
out=$(FRONTEND_ADDR=127.0.0.1:1 USERS=ten "$run" 2>&1); rc=$?
set -e
assert_eq "$rc" 2 "USERS=ten"
assert_contains "$out" "USERS must be a number"
set +e
out=$(FRONTEND_ADDR=127.0.0.1:1 WAIT_SECONDS=1 "$run" 2>&1); rc=$?
set -e
assert_eq "$rc" 1 "unreachable frontend"
assert_contains "$out" "did not answer 200"

start_backends
start_frontend
set +e
FRONTEND_ADDR=127.0.0.1:$FE_PORT USERS=${LOCUST_USERS:-50} RATE=25 DURATION=${LOCUST_SECONDS:-20}s \
    CSV_PREFIX=$TMP/stats HOME=$TMP \
    "$ENSCONCE_SOURCE_ROOT/examples/online-boutique/loadgenerator/run.sh" >"$TMP/locust.out" 2>&1
rc=$?
set -e
tail -25 "$TMP/locust.out"
# On a failure, what the frontend and the back ends logged about it (the tmp dir is removed on exit).
diagnose() {
    grep '"http.resp.status":"5' "$TMP/frontend.log" | tail -5 >&2 || true
    grep -iE 'error|fail' "$TMP/frontend.log" | tail -10 >&2 || true
    for f in "$TMP"/native/*.log; do
        [ -f "$f" ] && grep -iE 'error|fail|refus|unavailable' "$f" | tail -5 | sed "s|^|$(basename "$f"): |" >&2
    done
    return 0
}
[ $rc = 0 ] || { diagnose; fail "locust run failed (status $rc)"; }
summary=$(grep '^loadgenerator: ' "$TMP/locust.out") || fail "no summary line"
[[ $summary =~ requests=([0-9]+)\ failures=([0-9]+) ]] || fail "summary: $summary"
[ "${BASH_REMATCH[2]}" = 0 ] || { diagnose; fail "${BASH_REMATCH[2]} failed requests"; }
[ "${BASH_REMATCH[1]}" -ge 50 ] || fail "only ${BASH_REMATCH[1]} requests"
stats=$(cat "$TMP/stats_stats.csv")
for r in 'GET,/,' 'POST,/setCurrency' 'GET,/product/[id]' 'POST,/cart,' 'GET,/cart,' 'POST,/cart/checkout'; do
    assert_contains "$stats" "$r" "locust statistics"
done
# The frontend saw no server error during the run.
! grep -q '"http.resp.status":"5' "$TMP/frontend.log" || { diagnose; fail "the frontend answered 5xx during the load"; }
pass "locust: $summary"
stop_frontend
