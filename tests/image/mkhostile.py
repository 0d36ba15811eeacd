# SPDX-License-Identifier: Apache-2.0
"""Writes OCI layouts with hostile or broken layers, one per case, for hostile.sh.

Usage: mkhostile.py OUTDIR   -> OUTDIR/<case>/ (an OCI layout, tag "t")"""
import gzip, hashlib, io, json, os, sys, tarfile

out = sys.argv[1]


def tar_bytes(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            kind, name = e[0], e[1]
            ti = tarfile.TarInfo(name)
            ti.mtime = 0
            data = None
            if kind == "file":
                data = e[2]
                ti.size = len(data)
                ti.mode = 0o644
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
            elif kind == "sym":
                ti.type = tarfile.SYMTYPE
                ti.linkname = e[2]
            elif kind == "hard":
                ti.type = tarfile.LNKTYPE
                ti.linkname = e[2]
            elif kind == "chr":
                ti.type = tarfile.CHRTYPE
                ti.devmajor, ti.devminor = 1, 3
                ti.mode = 0o666
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def layout(case, layers, mutate=None):
    """layers: list of tar byte strings; mutate(blobs, manifest, config) may break things."""
    d = os.path.join(out, case)
    os.makedirs(os.path.join(d, "blobs", "sha256"))
    blobs = {}
    descs, diff_ids = [], []
    for raw in layers:
        gz = gzip.compress(raw, mtime=0)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(gz), "size": len(gz)})
        diff_ids.append(sha(raw))
        blobs[sha(gz)] = gz
    config = {"architecture": "amd64", "os": "linux", "config": {},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": None, "layers": descs}
    if mutate:
        mutate(blobs, manifest, config)
    cb = json.dumps(config).encode()
    blobs.setdefault(sha(cb), cb)
    if manifest["config"] is None:
        manifest["config"] = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(cb),
                              "size": len(cb)}
    mb = json.dumps(manifest).encode()
    blobs[sha(mb)] = mb
    for k, v in blobs.items():
        with open(os.path.join(d, "blobs", "sha256", k[7:]), "wb") as f:
            f.write(v)
    with open(os.path.join(d, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(d, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(mb), "size": len(mb),
             "annotations": {"org.opencontainers.image.ref.name": "t"}}]}, f)


ok = tar_bytes([("dir", "etc"), ("file", "etc/ok", b"fine\n"), ("file", "etc/secret", b"TOPSECRET-PLAINTEXT\n")])

layout("traversal", [ok, tar_bytes([("file", "../../escaped", b"x")])])
layout("traversal-deep", [tar_bytes([("file", "etc/../../escaped", b"x")])])
layout("symlink-abs", [tar_bytes([("sym", "link", "/tmp"), ("file", "link/escaped", b"x")])])
layout("symlink-rel", [tar_bytes([("sym", "up", "../../../../../.."), ("file", "up/tmp/escaped", b"x")])])
layout("symlink-chain", [tar_bytes([("dir", "d"), ("sym", "d/a", "../b"), ("sym", "b", "c/../.."),
                                    ("dir", "c"), ("file", "d/a/escaped", b"x")])])
layout("symlink-cross-layer", [tar_bytes([("sym", "etc", "/")]), tar_bytes([("file", "etc/escaped", b"x")])])
layout("hardlink-out", [tar_bytes([("hard", "h", "../../etc/passwd")])])
layout("hardlink-missing", [tar_bytes([("hard", "h", "etc/shadow")])])
layout("hardlink-via-symlink", [tar_bytes([("sym", "s", "/etc"), ("hard", "h", "s/passwd")])])
layout("device", [tar_bytes([("dir", "dev"), ("chr", "dev/mem2")])])


def corrupt(blobs, manifest, config):
    d = manifest["layers"][0]["digest"]
    b = bytearray(blobs[d])
    b[len(b) // 2] ^= 0xFF
    blobs[d] = bytes(b)


layout("corrupted-blob", [ok], corrupt)


def wrong_digest(blobs, manifest, config):
    # the manifest names a blob whose content is something else (same size)
    d = manifest["layers"][0]["digest"]
    other = gzip.compress(tar_bytes([("file", "x", b"y")]), mtime=0)
    blobs[d] = other[: manifest["layers"][0]["size"]].ljust(manifest["layers"][0]["size"], b"\0")


layout("wrong-digest", [ok], wrong_digest)


def truncated(blobs, manifest, config):
    d = manifest["layers"][0]["digest"]
    t = blobs.pop(d)[:-40]
    manifest["layers"][0] = {"mediaType": manifest["layers"][0]["mediaType"], "digest": sha(t), "size": len(t)}
    blobs[sha(t)] = t


layout("truncated-gzip", [ok], truncated)


def bad_diff_id(blobs, manifest, config):
    config["rootfs"]["diff_ids"][0] = sha(b"not the layer")


layout("wrong-diff-id", [ok], bad_diff_id)


def bad_size(blobs, manifest, config):
    manifest["layers"][0]["size"] += 10


layout("wrong-size", [ok], bad_size)


def bad_config(blobs, manifest, config):
    cb = b'{"rootfs": {"diff_ids": "nope"}}'
    blobs[sha(b"other")] = cb
    manifest["config"] = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(b"other"),
                          "size": len(cb)}


layout("config-digest", [ok], bad_config)
layout("good", [ok])
