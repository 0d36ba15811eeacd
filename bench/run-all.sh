#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Runs every benchmark under bench/<area>/run.sh, each printing its own figures.
set -euo pipefail
cd "$(dirname "$0")"
for b in */run.sh; do
    [ -x "$b" ] || continue
    echo "== bench: ${b%/run.sh}"
    "./$b"
done
