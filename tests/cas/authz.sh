#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The authorization matrix: read / update / create_sessions x CREATOR / ANY / NONE / key hash,
# each allowed and refused, with three clients (owner = creator, other, third) identified by
# their certificates' public keys.
. "$ENSCONCE_SOURCE_ROOT/tests/cas/lib.sh"
client admin
start_cas
for c in owner other third; do client $c; attest_cas; done
OTHER=$(key_of other)

session() { # NAME READ UPDATE CREATE [extra-line]
    cat <<YAML
name: $1
version: "0.3"
services:
  - {name: svc, mrenclaves: [$M1], command: ./x}
access_policy: {read: [$2], update: [$3], create_sessions: [$4]}
YAML
}
as() { local who=$1; shift; ENSCONCE_CONFIG_DIR=$TMP/client-$who "$ENSCONCE" "$@" --cas "$CAS_ADDR"; }
hash_of() { ENSCONCE_CONFIG_DIR=$TMP/client-owner "$ENSCONCE" session hash "$1" 2>/dev/null | awk '{print $NF}'; }
allowed() { "$@" >/dev/null 2>"$TMP/err" || fail "refused but should be allowed: $* : $(cat "$TMP/err")"; }
refused() {
    expect_fail "$@"
    assert_contains "$OUT" "${EXPECT:-may not}" "refusal message of $*"
}
n=0
create() { # P_READ P_UPDATE P_CREATE -> $s (created by owner)
    n=$((n + 1))
    s=s$n
    session "$s" "$1" "$2" "$3" >"$TMP/$s.yaml"
    as owner session create "$TMP/$s.yaml" >/dev/null
}
update() { # WHO NAME
    local who=$1 name=$2 h
    h=$(ENSCONCE_CONFIG_DIR=$TMP/client-admin "$ENSCONCE" session hash "$TMP/$name.yaml" | grep -oE '[0-9a-f]{64}' | head -1)
    # a semantic change, so the new hash differs
    sed -e "s|command: ./x}|command: ./x$RANDOM}|" "$TMP/$name.yaml" >"$TMP/$name.next.yaml"
    as "$who" session update --predecessor "$h" "$TMP/$name.next.yaml"
}

# read
create CREATOR CREATOR CREATOR
allowed as owner session read "$s"
refused as other session read "$s"
create ANY CREATOR CREATOR
allowed as other session read "$s"
allowed as third session read "$s"
create NONE CREATOR CREATOR
refused as owner session read "$s"
refused as other session read "$s"
create "$OTHER" CREATOR CREATOR
allowed as other session read "$s"
refused as third session read "$s"
refused as owner session read "$s"
pass "read: CREATOR, ANY, NONE, key hash"

# update
create ANY CREATOR CREATOR
refused update other "$s"
allowed update owner "$s"
create ANY ANY CREATOR
allowed update third "$s"
create ANY NONE CREATOR
refused update owner "$s"
refused update other "$s"
create ANY "$OTHER" CREATOR
refused update third "$s"
refused update owner "$s"
allowed update other "$s"
pass "update: CREATOR, ANY, NONE, key hash"

# create_sessions in a namespace
child() { # WHO PARENT
    cat >"$TMP/child.yaml" <<YAML
name: $2/child-$1-$RANDOM
version: "0.3"
services:
  - {name: svc, mrenclaves: [$M1], command: ./x}
YAML
    as "$1" session create "$TMP/child.yaml"
}
create ANY CREATOR CREATOR
allowed child owner "$s"
refused child other "$s"
create ANY CREATOR ANY
allowed child other "$s"
allowed child third "$s"
create ANY CREATOR NONE
refused child owner "$s"
refused child other "$s"
create ANY CREATOR "$OTHER"
allowed child other "$s"
refused child third "$s"
refused child owner "$s"
EXPECT="does not exist" refused child owner no-such-parent
pass "create_sessions: CREATOR, ANY, NONE, key hash; missing namespace"

# Default access_policy is CREATOR for everything.
cat >"$TMP/def.yaml" <<YAML
name: default-policy
version: "0.3"
services:
  - {name: svc, mrenclaves: [$M1], command: ./x}
YAML
as owner session create "$TMP/def.yaml" >/dev/null
allowed as owner session read default-policy
refused as other session read default-policy
# Creating over an existing session is a conflict naming the current hash.
EXPECT="already exists with hash" refused as other session create "$TMP/def.yaml"
pass "default policy is CREATOR; create over an existing session is a conflict"

# A client without a certificate gets 401 (independent client: curl).
code=$(curl -sk -o "$TMP/body" -w '%{http_code}' "https://$CAS_ADDR/v1/sessions/default-policy")
assert_eq "$code" 401 "no client certificate"
# Admin-only endpoints refuse other clients.
ENSCONCE_CONFIG_DIR=$TMP/client-other expect_fail "$ENSCONCE" cas platform list --cas "$CAS_ADDR"
assert_contains "$OUT" "not a CAS administrator"
pass "unauthenticated and non-admin clients refused"

# The audit log over the API: administrators only, and it verifies.
client admin
attest_cas
"$ENSCONCE" cas audit verify --cas "$CAS_ADDR" >/dev/null || fail "audit verify over the API"
ENSCONCE_CONFIG_DIR=$TMP/client-other expect_fail "$ENSCONCE" cas audit verify --cas "$CAS_ADDR"
assert_contains "$OUT" "not a CAS administrator"
pass "audit log over the API: administrators only"

# Every refusal is in the (verified) audit log.
audit_has session.update s5 refused "may not update"
"$ENSCONCE" cas audit verify --data "$CAS_DATA" >/dev/null
finish
