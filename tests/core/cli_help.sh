#!/bin/bash
# The CLI answers --help for every command group and refuses unknown commands with status 2.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
out=$("$ENSCONCE" --help)
for g in sconify image chart fs session cas evidence up down ps logs; do
    assert_contains "$out" "$g"
done
pass "top-level help lists every command"
set +e; "$ENSCONCE" no-such-command >/dev/null 2>&1; rc=$?; set -e
assert_eq "$rc" 2 "exit status for an unknown command"
pass "unknown command gives usage status 2"
"$ENSCONCE" --version | grep -q '^ensconce ' || fail "--version"
pass "--version"
