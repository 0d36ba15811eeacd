#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Interoperability with independent tools: skopeo reads and copies what we write, umoci unpacks our
# images to the same tree as our unpack (whiteouts included), docker-archive both ways, oci-archive
# both ways; building twice gives the same manifest digest.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
need skopeo umoci
E=$ENSCONCE
SK="skopeo --insecure-policy"
digest_of() { "$E" image inspect "$1" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["manifestDigest"])'; }

# A tree with the usual variety.
R=$TMP/root
mkdir -p "$R/etc/conf.d" "$R/usr/bin" "$R/usr/lib/deep/er/still" "$R/var/empty" "$R/srv/gone" "$R/srv/opaque/old"
echo "hello" >"$R/etc/hello"
printf 'a=1\n' >"$R/etc/conf.d/a.conf"
: >"$R/etc/empty"
echo "name with spaces" >"$R/etc/with space.txt"
head -c 1500000 /dev/urandom >"$R/usr/lib/big.bin"
printf '#!/bin/sh\necho hi\n' >"$R/usr/bin/tool" && chmod 755 "$R/usr/bin/tool"
cp "$R/usr/bin/tool" "$R/usr/bin/suid" && chmod 4755 "$R/usr/bin/suid"
ln "$R/usr/bin/tool" "$R/usr/bin/tool-hardlink"
ln -s tool "$R/usr/bin/tool-rel"
ln -s /usr/bin/tool "$R/usr/bin/tool-abs"
ln -s ../../../../../etc/hello "$R/usr/lib/deep/er/still/far"
ln -s /nonexistent "$R/usr/lib/dangling"
echo x >"$R/usr/lib/deep/er/still/leaf"
chmod 700 "$R/var/empty"
echo "will be whited out" >"$R/srv/gone/file"
echo "old" >"$R/srv/opaque/old/f"
echo "keep" >"$R/srv/keep"
mkdir -p "$R/ro/sub" && echo "inside a read-only directory" >"$R/ro/sub/f" && chmod 555 "$R/ro/sub" "$R/ro"

# Layer 2: whiteouts (a file, a directory) and an opaque directory, plus new content.
O=$TMP/overlay
mkdir -p "$O/srv/opaque" "$O/etc"
: >"$O/srv/.wh.gone"
: >"$O/etc/.wh.empty"
: >"$O/srv/opaque/.wh..wh..opq"
echo "new" >"$O/srv/opaque/new"
echo "changed" >"$O/etc/hello"

export SOURCE_DATE_EPOCH=1700000000
d1=$("$E" image build --root "$R" --entrypoint '["/usr/bin/tool"]' --env A=1 --workdir /srv --user 1000:1000 \
    --label org.example=yes --expose 8080/tcp oci:"$TMP/base":v1)
d2=$("$E" image build --from oci:"$TMP/base":v1 --root "$O" oci:"$TMP/img":v2)
# 1. reproducible: same inputs, same digest; another SOURCE_DATE_EPOCH, another digest
d1b=$("$E" image build --root "$R" --entrypoint '["/usr/bin/tool"]' --env A=1 --workdir /srv --user 1000:1000 \
    --label org.example=yes --expose 8080/tcp oci:"$TMP/base2":v1)
assert_eq "$d1b" "$d1" "building twice"
d2b=$("$E" image build --from oci:"$TMP/base2":v1 --root "$O" oci:"$TMP/img2":v2)
assert_eq "$d2b" "$d2" "building a second layer twice"
d1c=$(SOURCE_DATE_EPOCH=1700000001 "$E" image build --root "$R" oci:"$TMP/base3":v1)
[ "$d1c" != "$d1" ] || fail "SOURCE_DATE_EPOCH does not change the digest"
cmp "$TMP/img/index.json" "$TMP/img2/index.json" || fail "index.json differs between builds"
pass "reproducible builds ($d2)"

# 2. skopeo reads and copies our image; the copy keeps our manifest digest
$SK inspect oci:"$TMP/img":v2 >"$TMP/sk.json" || fail "skopeo inspect"
assert_eq "$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["Digest"])' "$TMP/sk.json")" "$d2" "skopeo digest"
assert_eq "$("$PYTHON" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["Layers"]))' "$TMP/sk.json")" "2" "layers"
$SK copy oci:"$TMP/img":v2 oci:"$TMP/skcopy":c >/dev/null || fail "skopeo copy"
assert_eq "$(digest_of oci:"$TMP/skcopy":c)" "$d2" "digest after skopeo copy"
pass "skopeo inspect/copy read our output"

# 3. umoci unpack and ours give identical trees
umoci unpack --image "$TMP/img":v2 "$TMP/umoci" >/dev/null || fail "umoci unpack"
"$E" image unpack --bundle oci:"$TMP/img":v2 "$TMP/ours" || fail "our unpack"
diff -r --no-dereference "$TMP/umoci/rootfs" "$TMP/ours/rootfs" || fail "trees differ (umoci vs ours)"
[ ! -e "$TMP/ours/rootfs/srv/gone" ] || fail "whiteout not applied"
[ ! -e "$TMP/ours/rootfs/srv/opaque/old" ] || fail "opaque whiteout not applied"
[ -e "$TMP/ours/rootfs/srv/keep" ] || fail "sibling of a whiteout lost"
assert_eq "$(cat "$TMP/ours/rootfs/etc/hello")" "changed" "upper layer wins"
assert_eq "$(stat -c %a "$TMP/ours/rootfs/usr/bin/suid")" "4755" "setuid mode"
assert_eq "$(stat -c %a "$TMP/ours/rootfs/var/empty")" "700" "directory mode"
assert_eq "$(stat -c %i "$TMP/ours/rootfs/usr/bin/tool")" "$(stat -c %i "$TMP/ours/rootfs/usr/bin/tool-hardlink")" "hard link"
# runc bundle: config.json from the image config
"$PYTHON" - "$TMP/ours/config.json" <<'PY' || fail "bundle config.json"
import json, sys
c = json.load(open(sys.argv[1]))
p = c["process"]
assert p["args"] == ["/usr/bin/tool"], p["args"]
assert "A=1" in p["env"] and any(e.startswith("PATH=") for e in p["env"]), p["env"]
assert p["cwd"] == "/srv", p["cwd"]
assert p["user"]["uid"] == 1000 and p["user"]["gid"] == 1000, p["user"]
assert c["root"]["path"] == "rootfs"
assert c["annotations"]["org.example"] == "yes"
PY
pass "umoci unpack and ours give identical trees; bundle config.json"

# 4. docker-archive: skopeo writes, we read; we write, skopeo reads
$SK copy oci:"$TMP/img":v2 docker-archive:"$TMP/sk-docker.tar":example/app:v2 >/dev/null || fail "skopeo docker-archive"
"$E" image unpack docker-archive:"$TMP/sk-docker.tar" "$TMP/from-skd" || fail "read skopeo's docker-archive"
diff -r --no-dereference "$TMP/umoci/rootfs" "$TMP/from-skd" || fail "tree from skopeo's docker-archive"
"$E" image copy docker-archive:"$TMP/sk-docker.tar":example/app:v2 oci:"$TMP/from-skd-oci":x || fail "by name"
"$E" image copy oci:"$TMP/img":v2 docker-archive:"$TMP/ours-docker.tar":example/app:v2 || fail "write docker-archive"
$SK inspect docker-archive:"$TMP/ours-docker.tar" >/dev/null || fail "skopeo reads our docker-archive"
$SK copy docker-archive:"$TMP/ours-docker.tar" oci:"$TMP/sk-from-ours":y >/dev/null || fail "skopeo copy of ours"
umoci unpack --image "$TMP/sk-from-ours":y "$TMP/umoci2" >/dev/null || fail "umoci unpack of it"
diff -r --no-dereference "$TMP/umoci/rootfs" "$TMP/umoci2/rootfs" || fail "tree through our docker-archive"
tar -tf "$TMP/ours-docker.tar" | grep -qx manifest.json || fail "no manifest.json in our docker-archive"
pass "docker-archive both ways"

# 5. oci-archive both ways
"$E" image copy oci:"$TMP/img":v2 oci-archive:"$TMP/ours-oci.tar" || fail "write oci-archive"
assert_eq "$($SK inspect oci-archive:"$TMP/ours-oci.tar" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')" "$d2" "oci-archive digest"
$SK copy oci:"$TMP/img":v2 oci-archive:"$TMP/sk-oci.tar" >/dev/null
assert_eq "$(digest_of oci-archive:"$TMP/sk-oci.tar")" "$d2" "reading skopeo's oci-archive"
pass "oci-archive both ways"

# 6. zstd and uncompressed layers read back to the same tree
"$E" image copy --compression=zstd oci:"$TMP/img":v2 oci:"$TMP/dummy":z  # compression applies to new layers only
"$E" image build --compression=zstd --root "$R" oci:"$TMP/zstd":z >/dev/null
"$E" image build --compression=none --root "$R" oci:"$TMP/plain":p >/dev/null
"$E" image inspect oci:"$TMP/zstd":z | grep -q 'tar+zstd' || fail "zstd media type"
$SK inspect oci:"$TMP/zstd":z >/dev/null || fail "skopeo reads zstd"
"$E" image unpack oci:"$TMP/zstd":z "$TMP/uz"
"$E" image unpack oci:"$TMP/plain":p "$TMP/up"
"$E" image unpack oci:"$TMP/base":v1 "$TMP/ug"
diff -r --no-dereference "$TMP/ug" "$TMP/uz" || fail "zstd tree"
diff -r --no-dereference "$TMP/ug" "$TMP/up" || fail "uncompressed tree"
diff -r --no-dereference "$R" "$TMP/ug" || fail "unpacked tree differs from the source"
pass "gzip, zstd and uncompressed layers"

# 6b. unprivileged unpack: read-only directories get their mode only at the end
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    mkdir -m 777 "$TMP/nobody"
    chmod 755 "$TMP"
    chmod -R a+rX "$TMP/base"
    if TMPDIR=$TMP/nobody setpriv --reuid=65534 --regid=65534 --clear-groups "$E" image unpack oci:"$TMP/base":v1 "$TMP/nobody/u"; then
        assert_eq "$(stat -c %a "$TMP/nobody/u/ro/sub")" 555 "read-only directory mode (unprivileged)"
        assert_eq "$(cat "$TMP/nobody/u/ro/sub/f")" "inside a read-only directory" "file in a read-only directory"
        chmod -R u+w "$TMP/nobody/u"
        pass "unprivileged unpack"
    else
        fail "unprivileged unpack failed"
    fi
fi

# 7. inspect JSON and config edits through copy
"$E" image copy --env A=2 --env B=3 --cmd '["x", "y z"]' --label k=v --user nobody oci:"$TMP/img":v2 oci:"$TMP/edited":e
"$E" image inspect --config oci:"$TMP/edited":e | "$PYTHON" -c '
import json, sys
c = json.load(sys.stdin)["config"]
assert c["Env"] == ["A=2", "B=3"], c["Env"]
assert c["Cmd"] == ["x", "y z"], c["Cmd"]
assert c["Labels"]["k"] == "v" and c["Labels"]["org.example"] == "yes"
assert c["User"] == "nobody" and c["WorkingDir"] == "/srv"
assert "8080/tcp" in c["ExposedPorts"]' || fail "config edits"
$SK inspect oci:"$TMP/edited":e >/dev/null || fail "skopeo reads the edited image"
pass "config edits"

# 8. CLI conventions: --help (0), usage errors (2), failures (1)
for sub in build inspect copy unpack; do
    out=$("$E" image "$sub" --help) || fail "image $sub --help"
    assert_contains "$out" "Usage: ensconce image $sub"
done
rc() { set +e; "$@" >/dev/null 2>&1; echo $?; set -e; }
assert_eq "$(rc "$E" image copy oci:"$TMP/img":v2)" 2 "copy with one argument"
assert_eq "$(rc "$E" image build oci:"$TMP/x")" 2 "build with nothing to build"
assert_eq "$(rc "$E" image inspect --tls-verify=maybe oci:"$TMP/img":v2)" 2 "bad --tls-verify"
assert_eq "$(rc "$E" image inspect --platform=linux oci:"$TMP/img":v2)" 2 "bad --platform"
assert_eq "$(rc "$E" image copy --compression=lz4 oci:"$TMP/img":v2 oci:"$TMP/x")" 2 "bad --compression"
assert_eq "$(rc "$E" image inspect oci:"$TMP/nonexistent")" 1 "missing image"
assert_eq "$(rc "$E" image unpack oci:"$TMP/img":v2 "$TMP/ours")" 1 "unpack into a non-empty directory"
assert_eq "$(stat -c %a "$(ls -d "$TMP"/edited/blobs/sha256/* | head -1)")" 644 "blob permissions"
pass "CLI exit codes"

# 9. image indexes: --platform picks the manifest (an OCI layout whose tag names an index)
"$E" image build --platform linux/arm64/v8 --root "$O" oci:"$TMP/multi":arm >/dev/null
"$E" image build --platform linux/amd64 --root "$O" oci:"$TMP/multi":amd >/dev/null
"$PYTHON" - "$TMP/multi" <<'PY'
import hashlib, json, os, sys
d = sys.argv[1]
idx = json.load(open(os.path.join(d, "index.json")))
plat = {"arm": {"os": "linux", "architecture": "arm64", "variant": "v8"}, "amd": {"os": "linux", "architecture": "amd64"}}
ms = []
for m in idx["manifests"]:
    tag = m["annotations"]["org.opencontainers.image.ref.name"]
    ms.append({"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"], "platform": plat[tag]})
body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": ms}).encode()
dg = "sha256:" + hashlib.sha256(body).hexdigest()
open(os.path.join(d, "blobs", "sha256", dg[7:]), "wb").write(body)
idx["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": dg, "size": len(body),
                         "annotations": {"org.opencontainers.image.ref.name": "multi"}})
json.dump(idx, open(os.path.join(d, "index.json"), "w"))
PY
arch() { "$E" image inspect --config "$@" | "$PYTHON" -c 'import json,sys; c=json.load(sys.stdin); print(c["architecture"] + c.get("variant", ""))'; }
assert_eq "$(arch oci:"$TMP/multi":multi)" "amd64" "default platform"
assert_eq "$(arch --platform linux/arm64 oci:"$TMP/multi":multi)" "arm64v8" "--platform linux/arm64"
assert_eq "$(arch --platform linux/arm64/v8 oci:"$TMP/multi":multi)" "arm64v8" "--platform with variant"
expect_fail "$E" image inspect --platform linux/s390x oci:"$TMP/multi":multi
assert_contains "$OUT" "no manifest for platform linux/s390x"
assert_eq "$(skopeo --override-arch arm64 inspect oci:"$TMP/multi":multi | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Architecture"])')" "arm64" "skopeo agrees"
pass "image index: platform selection"
