#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""crash.py write MNT: generation after generation, changes a tree and fsyncs (one commit per
generation), printing "acked K" after each fsync returned, until the file system goes away.
crash.py check MNT ACKED: prints the generation the tree at MNT is in (exit 1 if it is none)."""
import os
import sys

BIG = 4 << 20


def expected(k):
    """The tree after generation k (0 = before the first)."""
    tree = {}
    if k >= 1:
        tree["state"] = (f"gen {k}\n" * 1000).encode()
        big = bytearray(BIG)
        for g in range(1, k + 1):
            off = (g * 69632) % (BIG - 4096)
            big[off:off + 4096] = bytes([g % 256]) * 4096
        tree["big"] = bytes(big)
        for g in range(max(1, k - 2), k + 1):
            tree[f"f{g}"] = f"file {g}\n".encode()
        tree["d/last"] = f"{k}\n".encode()
    return tree


def apply(mnt, k):
    with open(os.path.join(mnt, "state"), "wb") as f:
        f.write((f"gen {k}\n" * 1000).encode())
    p = os.path.join(mnt, "big")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    if k == 1:
        os.ftruncate(fd, BIG)
    os.pwrite(fd, bytes([k % 256]) * 4096, (k * 69632) % (BIG - 4096))
    os.close(fd)
    with open(os.path.join(mnt, f"f{k}"), "w") as f:
        f.write(f"file {k}\n")
    if k >= 4:
        os.unlink(os.path.join(mnt, f"f{k - 3}"))
    os.makedirs(os.path.join(mnt, "d"), exist_ok=True)
    tmp = os.path.join(mnt, "d", "last.tmp")
    with open(tmp, "w") as f:
        f.write(f"{k}\n")
    os.rename(tmp, os.path.join(mnt, "d", "last"))
    fd = os.open(os.path.join(mnt, "state"), os.O_RDONLY)
    os.fsync(fd)  # the commit
    os.close(fd)


def read_tree(mnt):
    tree = {}
    for d, _, files in os.walk(mnt):
        for name in files:
            p = os.path.join(d, name)
            with open(p, "rb") as f:
                tree[os.path.relpath(p, mnt)] = f.read()
    return tree


if sys.argv[1] == "write":
    k = 0
    try:
        while True:
            k += 1
            apply(sys.argv[2], k)
            print(f"acked {k}", flush=True)
    except OSError as e:
        print(f"stopped at {k}: {e}", flush=True)
else:
    acked = int(sys.argv[3])
    tree = read_tree(sys.argv[2])
    for k in (acked, acked + 1):
        if tree == expected(k):
            print(k)
            sys.exit(0)
    print(f"tree matches neither generation {acked} nor {acked + 1}: files {sorted(tree)}", file=sys.stderr)
    sys.exit(1)
