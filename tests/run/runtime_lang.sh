#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The unchanged service in any language, each in its own runc container: a Python script and a
# Node.js script (code in the encrypted region, interpreter measured, Python's standard library in an
# authenticated region), and a C program in an Alpine-like musl root file system (built with
# `ensconce image build` from this machine's musl loader).  Each receives its
# arguments, the policy's environment only, an injected file and a generated secret, and reads a file
# from the encrypted region.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
. "$ENSCONCE_SOURCE_ROOT/tests/run/lib.sh"
need_root
need runc jq
[ "${SANITIZED:-none}" = none ] || skip "the static runtime is not built with sanitizers"
SVC=$ENSCONCE_SOURCE_ROOT/tests/run/svc
start_services

# check_case NAME ROOTFS EXE COMMAND (YAML flow list) [REGIONS...]: shield, session, run, assertions.
check_case() {
    local name=$1 root=$2 exe=$3 cmd=$4
    shift 4
    mkdir -p "$TMP/$name-src/app"
    echo "confidential data 42" >"$TMP/$name-src/app/data.txt"
    cp "$SVC"/main.* "$TMP/$name-src/app/"
    pack_shield "$root" "$TMP/$name-src" "$@"
    local id=$name$$
    write_run_json "$root" "$id/svc" "$(jq -n --arg e "$exe" \
        '{exe: $e, path: "/usr/bin:/bin", shield: {dir: "/.ensconce/shield", mountpoint: "/.ensconce/mem/fs"}}')"
    local m
    m=$(measure "$root")
    cat >"$TMP/$name.yaml" <<YAML
name: $id
version: "0.3"
security:
  attestation: {mode: simulation}
services:
  - name: svc
    mrenclaves: [$m]
    command: $cmd
    image_name: img
    environment: {GREETING: hello, PATH: /usr/bin:/bin, SECRET: "\$\$SCONE::pw\$\$"}
    fspf_path: /.ensconce/shield
    fspf_key: $SHIELD_KEY
    fspf_tag: $SHIELD_TAG
images:
  - name: img
    injection_files:
      - {path: /etc/app/config.txt, content: "password=\$\$SCONE::pw\$\$"}
secrets:
  - {name: pw, kind: ascii, size: 16}
YAML
    post_session "$TMP/$name.yaml" >/dev/null
    make_bundle "$TMP/$name-b" "$root"
    run_ctr "$TMP/$name-b" "$id" CONTAINER_ONLY=x
    local out
    out=$(cat "$TMP/$id.out")
    [ "$RC" = 0 ] || fail "$name: status $RC: $(cat "$TMP/$id.err") $out"
    assert_contains "$out" "ARG=two words" "$name"
    assert_contains "$out" "ENVKEYS=GREETING,PATH,SECRET" "$name (only the policy's environment)"
    assert_contains "$out" "GREETING=hello" "$name"
    assert_contains "$out" "DATA=confidential data 42" "$name"
    local secret
    secret=$(sed -n 's/^SECRET=//p' <<<"$out")
    [ ${#secret} = 16 ] || fail "$name: generated secret '$secret'"
    assert_contains "$out" "INJECT=password=$secret" "$name"
    pass "$name: args, environment, injected file, generated secret, encrypted region"
}

# Python: the interpreter from this machine, its standard library authenticated, the script encrypted.
if [ -x /usr/bin/python3 ]; then
    R=$TMP/py
    new_rootfs "$R"
    PY=$(readlink -f /usr/bin/python3)
    copy_into "$R" /usr/bin/python3 "$PY" $(host_deps "$PY")
    PYLIB=/usr/lib/$(basename "$PY")
    mkdir -p "$TMP/python-src/usr/lib"
    cp -a "$PYLIB" "$TMP/python-src/usr/lib/"
    rm -rf "$TMP/python-src$PYLIB"/{test,idlelib,tkinter,turtledemo,ensurepip,lib2to3,site-packages,dist-packages}
    check_case python "$R" /usr/bin/python3 '[python3, /app/main.py, "two words"]' e:/app "a:$PYLIB"
else
    echo "SKIP part: python3 not installed"
fi

# Node.js: the node binary from this machine, the script encrypted.
if NODE=$(command -v node); then
    R=$TMP/node
    new_rootfs "$R"
    NODE=$(readlink -f "$NODE")
    copy_into "$R" "$NODE" $(host_deps "$NODE")
    [ "$NODE" = /usr/bin/node ] || { mkdir -p "$R/usr/bin"; ln -sf "$NODE" "$R/usr/bin/node"; }
    check_case node "$R" /usr/bin/node '[node, /app/main.js, "two words"]' e:/app
else
    echo "SKIP part: node not installed"
fi

# Alpine-like musl root: musl's loader as /lib/ld-musl-x86_64.so.1, the program linked with musl-gcc.
if command -v musl-gcc >/dev/null && [ -e /lib/x86_64-linux-musl/libc.so ]; then
    # Built with `ensconce image build` from files of this machine, then unpacked.
    mkdir -p "$TMP/musl-stage"
    cp /lib/x86_64-linux-musl/libc.so "$TMP/musl-stage/ld-musl-x86_64.so.1"
    ln -s ld-musl-x86_64.so.1 "$TMP/musl-stage/libc.musl-x86_64.so.1"
    musl-gcc -O2 -o "$TMP/musl-stage/svc" "$SVC/main.c"
    file "$TMP/musl-stage/svc" | grep -q "interpreter /lib/ld-musl-x86_64.so.1" || fail "not a musl program"
    "$ENSCONCE" image build --file "$RUN_BIN:/.ensconce/bin/ensconce-run" \
        --file "$TMP/musl-stage/ld-musl-x86_64.so.1:/lib/ld-musl-x86_64.so.1" \
        --file "$TMP/musl-stage/libc.musl-x86_64.so.1:/lib/libc.musl-x86_64.so.1" \
        --file "$TMP/musl-stage/svc:/usr/bin/svc" --entrypoint /.ensconce/bin/ensconce-run "oci:$TMP/musl-image" >/dev/null
    R=$TMP/musl
    "$ENSCONCE" image unpack "oci:$TMP/musl-image" "$R"
    [ -L "$R/lib/libc.musl-x86_64.so.1" ] || fail "the image lost the musl symlink"
    mkdir -p "$R/.ensconce/mem" "$R/etc"
    # Nothing from glibc in this root.
    find "$R" -name 'libc.so.6' -o -name 'ld-linux*' | grep -q . && fail "glibc in the musl root"
    check_case musl "$R" /usr/bin/svc '[svc, "two words"]' e:/app
else
    echo "SKIP part: musl-tools not installed"
fi
