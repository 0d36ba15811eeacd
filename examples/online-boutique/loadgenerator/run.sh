#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Headless load against the boutique frontend with Debian's locust.
#   FRONTEND_ADDR   host:port or URL of the frontend (required)
#   USERS (10)      simulated users;  RATE (1) users started per second
#   DURATION        run time like 60s or 5m (default: until Ctrl-C)
#   CSV_PREFIX      where locust writes its CSV statistics (default: a temp dir)
# Waits until the frontend answers 200, runs locust (its usual statistics
# tables), then prints one line:
#   loadgenerator: requests=N failures=N p50_ms=N p99_ms=N rps=N
# Exit status: 0 when no request failed, 1 otherwise, 2 on bad settings.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
: "${FRONTEND_ADDR:?FRONTEND_ADDR (host:port) is required}"
USERS=${USERS:-10}
RATE=${RATE:-1}
case "$USERS" in ''|*[!0-9]*) echo "run.sh: USERS must be a number (got $USERS)" >&2; exit 2 ;; esac
case "$RATE" in ''|*[!0-9.]*) echo "run.sh: RATE must be a number (got $RATE)" >&2; exit 2 ;; esac
url=$FRONTEND_ADDR
case "$url" in *://*) ;; *) url=http://$url ;; esac
command -v locust >/dev/null || { echo "run.sh: locust is not installed (apt-get install python3-locust)" >&2; exit 2; }

# Like upstream's loadgenerator: wait for the frontend first (up to WAIT_SECONDS).
for ((i = 0; ; i++)); do
    code=$("$PY" - "$url/" <<'PYEOF' 2>/dev/null || true
import sys, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=5).status)
except Exception:
    print(0)
PYEOF
)
    [ "$code" = 200 ] && break
    if [ "$i" -ge "${WAIT_SECONDS:-120}" ]; then
        echo "run.sh: the frontend at $url did not answer 200 within ${WAIT_SECONDS:-120} s" >&2
        exit 1
    fi
    sleep 1
done

tmp=""
if [ -z "${CSV_PREFIX:-}" ]; then
    tmp=$(mktemp -d /tmp/loadgen-XXXXXX)
    trap 'rm -rf "$tmp"' EXIT
    CSV_PREFIX=$tmp/stats
fi
args=(-f "$here/locustfile.py" --headless -u "$USERS" -r "$RATE" --host "$url" --csv "$CSV_PREFIX"
      --exit-code-on-error 1)
[ -n "${DURATION:-}" ] && args+=(-t "$DURATION" --stop-timeout 10)
set +e
locust "${args[@]}"
rc=$?
set -e
"$PY" - "${CSV_PREFIX}_stats.csv" <<'PYEOF'
import csv, sys
try:
    rows = list(csv.DictReader(open(sys.argv[1])))
except OSError:
    print("loadgenerator: no statistics written")
    sys.exit(0)
agg = [r for r in rows if r.get("Name") == "Aggregated"]
if agg:
    r = agg[0]
    print("loadgenerator: requests=%s failures=%s p50_ms=%s p99_ms=%s rps=%.2f" % (
        r["Request Count"], r["Failure Count"], r["50%"], r["99%"], float(r["Requests/s"] or 0)))
PYEOF
exit $rc
