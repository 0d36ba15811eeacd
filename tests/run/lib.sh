# SPDX-License-Identifier: Apache-2.0
# Helpers for the ensconce-run integration tests: a real LAS and CAS on loopback, root file systems
# assembled from this machine's files, shields, sessions, and runc bundles.  Source after common.sh.

BUILD=${ENSCONCE_BUILD_ROOT:?run through meson test}
RUN_BIN=$BUILD/src/ensconce-run/ensconce-run
CAS_BIN=$BUILD/src/ensconce-cas/ensconce-cas
LAS_BIN=$BUILD/src/ensconce-las/ensconce-las
for b in "$RUN_BIN" "$CAS_BIN" "$LAS_BIN" "$ENSCONCE"; do [ -x "$b" ] || skip "$b is not built"; done
need openssl curl

# Starts a LAS and a CAS (simulation), registers the LAS as a platform; sets LAS_ADDR, CAS_ADDR,
# CAS_CLIENT, CAS_PIN and the admin client credentials.
start_services() {
    local lp cp ap
    lp=$(free_port); cp=$(free_port); ap=$(free_port)
    mkdir -p "$TMP/las" "$TMP/cas" "$TMP/client"
    openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/client/key.pem" 2>/dev/null
    openssl req -new -x509 -key "$TMP/client/key.pem" -subj /CN=admin -days 2 -out "$TMP/client/crt.pem" 2>/dev/null
    ADMIN=$(openssl pkey -in "$TMP/client/key.pem" -pubout -outform DER 2>/dev/null | sha256sum | cut -c1-64)
    "$LAS_BIN" --listen "127.0.0.1:$lp" --state-dir "$TMP/las" >"$TMP/las.log" 2>&1 &
    LAS_PID=$!
    add_cleanup "kill $LAS_PID"
    "$CAS_BIN" serve --data "$TMP/cas" --listen "127.0.0.1:$cp" --attest-listen "127.0.0.1:$ap" \
        --admin "$ADMIN" >"$TMP/cas.log" 2>&1 &
    CAS_PID=$!
    add_cleanup "kill $CAS_PID"
    wait_port 127.0.0.1 "$lp"
    wait_port 127.0.0.1 "$ap"
    wait_port 127.0.0.1 "$cp"
    LAS_ADDR=127.0.0.1:$lp
    CAS_ADDR=127.0.0.1:$ap
    CAS_CLIENT=127.0.0.1:$cp
    CAS_PIN=$("$CAS_BIN" identity --data "$TMP/cas")
    [ ${#CAS_PIN} = 64 ] || fail "CAS identity: '$CAS_PIN'"
    local cert
    cert=$("$LAS_BIN" --print-cert --state-dir "$TMP/las")
    cas_api POST /v1/platforms "$(jq -n --arg c "$cert" '{certificate: $c}')" >/dev/null
}

# cas_api METHOD PATH [BODY]: the CAS client API with the admin's client certificate.
cas_api() {
    local out code
    out=$(curl -sS -k --cert "$TMP/client/crt.pem" --key "$TMP/client/key.pem" -X "$1" \
        ${3:+--data-binary "$3"} -w '\n%{http_code}' "https://$CAS_CLIENT$2")
    code=${out##*$'\n'}
    out=${out%$'\n'*}
    case "$code" in 2??) echo "$out" ;; *) fail "CAS $1 $2: HTTP $code: $out" ;; esac
}
post_session() { cas_api POST /session "$(cat "$1")"; }

# copy_into ROOT PATH...: copies host files keeping their paths, symlinks as symlinks.
copy_into() {
    local root=$1
    shift
    for p in "$@"; do
        [ -e "$root$p" ] || [ -L "$root$p" ] && continue
        mkdir -p "$root$(dirname "$p")"
        cp -a "$p" "$root$p"
    done
}

# The files the loader needs for a program (a HOST path), as ensconce-run's measurement lists them:
# symlinks first-class, so copying them in order with copy_into reproduces a loadable layout.
host_deps() { # EXE
    local cfg="$TMP/deps.json"
    jq -n --arg e "$1" '{version: 1, measured: {exe: $e}}' >"$cfg"
    "$RUN_BIN" --measure --verbose --config "$cfg" --root / --runtime "$RUN_BIN" |
        awk '$1 == "K" || $1 == "L" {print $3}'
}

# new_rootfs DIR: the runtime at /.ensconce/bin/ensconce-run and the directories it uses.
new_rootfs() {
    mkdir -p "$1/.ensconce/bin" "$1/.ensconce/mem" "$1/proc" "$1/dev" "$1/sys" "$1/tmp" "$1/etc"
    cp "$RUN_BIN" "$1/.ensconce/bin/ensconce-run"
}

# write_run_json ROOTFS CONFIG_ID MEASURED_JSON [PIN]
write_run_json() {
    jq -n --arg id "$2" --arg cas "$CAS_ADDR" --arg las "$LAS_ADDR" --arg pin "${4:-$CAS_PIN}" \
        --argjson m "$3" \
        '{version: 1, config_id: $id, cas_addr: $cas, las_addr: $las, cas_identity: $pin, timeout_s: 10,
          measured: $m}' >"$1/.ensconce/run.json"
}

# measure ROOTFS: the measurement the converter would compute offline.
measure() {
    "$RUN_BIN" --measure --root "$1" --runtime "$1/.ensconce/bin/ensconce-run" --config "$1/.ensconce/run.json"
}

# pack_shield ROOTFS SRC [REGION:PATH...]: packs SRC (a tree holding the protected paths at their
# absolute places) into ROOTFS/.ensconce/shield, REGION e (encrypted, the default for unmatched paths)
# or a (authenticated); each PATH (default: every top-level directory of SRC) becomes a symbolic link
# into the shield's mount point (docs/runtime.md).  Sets SHIELD_KEY and SHIELD_TAG.
pack_shield() {
    local root=$1 src=$2
    shift 2
    local args=() paths=()
    for r in "$@"; do
        case "$r" in
            e:*) args+=(-e "${r#e:}") ;;
            a:*) args+=(-a "${r#a:}") ;;
            *) fail "pack_shield: bad region $r" ;;
        esac
        paths+=("${r#?:}")
    done
    if [ ${#paths[@]} = 0 ]; then for d in "$src"/*; do paths+=("/$(basename "$d")"); done; fi
    rm -f "$TMP/shield.key"
    "$ENSCONCE" fs pack --new-key -k "$TMP/shield.key" -t "$TMP/shield.tag" "${args[@]}" "$src" \
        "$root/.ensconce/shield" >/dev/null
    SHIELD_KEY=$(tr -d '\n' <"$TMP/shield.key")
    [ ${#SHIELD_KEY} = 64 ] || SHIELD_KEY=$(od -An -tx1 -v "$TMP/shield.key" | tr -d ' \n')
    SHIELD_TAG=$(tr -d '\n' <"$TMP/shield.tag")
    for p in "${paths[@]}"; do
        rm -rf "${root:?}$p"
        mkdir -p "$root$(dirname "$p")"
        ln -s "/.ensconce/mem/fs$p" "$root$p"
    done
}

# make_bundle DIR ROOTFS [fuse]: a runc bundle running ensconce-run as PID 1, with a tmpfs for the
# memory directory, host networking (loopback services), Docker's default capabilities, and for "fuse"
# /dev/fuse + CAP_SYS_ADMIN.
make_bundle() {
    local b=$1 rootfs=$2
    mkdir -p "$b"
    (cd "$b" && runc spec)
    jq --arg r "$rootfs" --arg fuse "${3:-}" '
        .root = {path: $r, readonly: false}
      | .process.terminal = false
      | .process.args = ["/.ensconce/bin/ensconce-run"]
      | .process.env = ["PATH=/usr/bin:/bin"]
      | .linux.namespaces |= map(select(.type != "network"))
      | .process.capabilities |= with_entries(.value += ["CAP_SETUID", "CAP_SETGID", "CAP_CHOWN",
            "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_SETPCAP", "CAP_SYS_CHROOT"])
      | .mounts += [{destination: "/.ensconce/mem", type: "tmpfs", source: "tmpfs",
                     options: ["nosuid", "nodev", "mode=711"]}]
      | if $fuse == "fuse" then
          .process.capabilities |= with_entries(.value += ["CAP_SYS_ADMIN"])
        | .linux.devices += [{path: "/dev/fuse", type: "c", major: 10, minor: 229, fileMode: 438, uid: 0, gid: 0}]
        | .linux.resources.devices += [{allow: true, type: "c", major: 10, minor: 229, access: "rwm"}]
        else . end' "$b/config.json" >"$b/config.json.new"
    mv "$b/config.json.new" "$b/config.json"
}

# run_ctr BUNDLE NAME [ENV=V...]: runs the container in the foreground; output in $TMP/NAME.out/.err,
# exit status in $RC.
run_ctr() {
    local b=$1 n=$2
    shift 2
    if [ $# -gt 0 ]; then
        local e
        e=$(printf '%s\n' "$@" | jq -R . | jq -s .)
        jq --argjson e "$e" '.process.env += $e' "$b/config.json" >"$b/config.json.new" && mv "$b/config.json.new" "$b/config.json"
    fi
    set +e
    runc run --bundle "$b" "$n" >"$TMP/$n.out" 2>"$TMP/$n.err" </dev/null
    RC=$?
    set -e
    runc delete -f "$n" >/dev/null 2>&1 || true
}
