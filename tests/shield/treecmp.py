#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""treecmp.py A B [--times] [--owner]: compares two trees (types, modes, sizes, contents,
symlink targets, hard-link structure; optionally mtimes and owners).  Exit 1 on a difference.
Contents are hashed as (offset, block) for every non-zero 64 KiB block, skipping holes found
with SEEK_DATA, so sparse and dense copies of a file compare equal."""
import hashlib
import os
import stat
import sys

BLK = 1 << 16
ZERO = bytes(BLK)


def content_hash(p, size):
    h = hashlib.sha256()
    with open(p, "rb", buffering=0) as f:
        fd = f.fileno()
        pos = 0
        while pos < size:
            try:
                pos = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break  # no data after pos
            try:
                end = os.lseek(fd, pos, os.SEEK_HOLE)
            except OSError:
                end = size
            pos -= pos % BLK
            os.lseek(fd, pos, os.SEEK_SET)
            while pos < end:
                b = f.read(min(1 << 20, size - pos))
                if not b:
                    break
                for i in range(0, len(b), BLK):
                    blk = b[i:i + BLK]
                    if blk != ZERO[:len(blk)]:
                        h.update((pos + i).to_bytes(8, "big"))
                        h.update(blk)
                pos += len(b)
    return h.hexdigest()


def walk(root, times, owner):
    out, links = {}, {}
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            p = os.path.join(d, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            e = {"mode": oct(st.st_mode)}
            if stat.S_ISREG(st.st_mode):
                e["size"] = st.st_size
                e["sha256"] = content_hash(p, st.st_size)
                e["nlink"] = st.st_nlink
                e["link_group"] = links.setdefault((st.st_dev, st.st_ino), rel)
            elif stat.S_ISLNK(st.st_mode):
                e["target"] = os.readlink(p)
            if times and not stat.S_ISLNK(st.st_mode):
                e["mtime"] = st.st_mtime_ns
            if owner:
                e["owner"] = (st.st_uid, st.st_gid)
            out[rel] = e
    if times or owner:
        st = os.lstat(root)
        out["."] = {"mode": oct(st.st_mode), **({"mtime": st.st_mtime_ns} if times else {}),
                    **({"owner": (st.st_uid, st.st_gid)} if owner else {})}
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    times, owner = "--times" in sys.argv, "--owner" in sys.argv
    a, b = walk(args[0], times, owner), walk(args[1], times, owner)
    bad = 0
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            print(f"differs: {k}: {a.get(k)} != {b.get(k)}")
            bad += 1
            if bad > 20:
                break
    if bad:
        sys.exit(1)
    print(f"identical: {len(a)} entries")


main()
