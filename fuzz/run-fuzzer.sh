#!/bin/sh
# Usage: run-fuzzer.sh HARNESS CORPUS_DIR — a bounded libFuzzer run (FUZZ_SECONDS,
# default 20) over a copy of the seed corpus; any crash, leak, timeout or sanitizer report fails.
# (libFuzzer's own exit status for a finding is 77, which meson would count as a skip: ask for 1.)
set -eu
harness=$1 corpus=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$corpus"/. "$work"/ 2>/dev/null || true
exec "$harness" -max_total_time="${FUZZ_SECONDS:-20}" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -error_exitcode=1 -timeout_exitcode=1 \
    -artifact_prefix="$work/" "$work"
