#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""fsx.py SHIELD_MOUNT PLAIN_DIR SEED NOPS: an fsx-style randomized workload run op by op
on a shield mount and on a plain directory; every result (data read, errno, stat fields,
directory listing) must be the same.  Offsets reach past 4 GiB (sparse files)."""
import errno
import os
import random
import stat
import sys

mnt, plain, seed, nops = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
NAMES = ["f%d" % i for i in range(8)] + ["d0/g%d" % i for i in range(4)] + ["d1/h0", "d1/h1"]
DIRS = ["d0", "d1", "d0/e"]
FOURG = 1 << 32
stats = {}


def run(fn, *paths):
    """Runs fn on both trees; returns (result_mnt, result_plain) with OSErrors as ('err', errno)."""
    res = []
    for root in (mnt, plain):
        try:
            res.append(fn(*[os.path.join(root, p) for p in paths]))
        except OSError as e:
            res.append(("err", errno.errorcode.get(e.errno, e.errno)))
    return res


def check(op, a, b):
    stats[op] = stats.get(op, 0) + 1
    if a != b:
        print(f"FAIL: op {n} {op}: shield={str(a)[:300]} plain={str(b)[:300]}")
        sys.exit(1)


def offset():
    r = rng.random()
    if r < 0.15:
        return FOURG + rng.randrange(0, 1 << 20) - (1 << 19)  # around 4 GiB
    if r < 0.2:
        return rng.randrange(0, 6 << 30)
    return rng.randrange(0, 300000)


def do_write(p, off, data, flags):
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | flags, 0o644)
    try:
        os.lseek(fd, off, os.SEEK_SET)
        return os.write(fd, data)
    finally:
        os.close(fd)


def do_read(p, off, ln):
    with open(p, "rb") as f:
        f.seek(off)
        return f.read(ln)


def st(p):
    s = os.lstat(p)
    t = stat.S_IFMT(s.st_mode)
    return (t, stat.S_IMODE(s.st_mode), s.st_size if not stat.S_ISDIR(s.st_mode) else 0, s.st_nlink)


def listing(p):
    return sorted(os.listdir(p))


def sparse_read(p, size):
    """Reads only the areas this workload wrote (start, around 4 GiB, end) of a big file."""
    out = []
    with open(p, "rb") as f:
        for off in (0, FOURG - (1 << 19), max(0, size - 4096)):
            f.seek(off)
            out.append(f.read(1 << 20 if off else 300000))
    return out


n = -1
if nops > 0:
    for d in DIRS:
        run(os.makedirs, d)
for n in range(nops):
    r = rng.random()
    name = rng.choice(NAMES)
    if r < 0.30:
        off, ln = offset(), rng.choice([1, 17, 4096, 65536, 65537, 200000, rng.randrange(1, 150000)])
        data = rng.randbytes(ln)
        flags = os.O_APPEND if rng.random() < 0.05 else 0
        a, b = run(lambda p: do_write(p, off, data, flags), name)
        check("write", a, b)
    elif r < 0.50:
        off, ln = offset(), rng.choice([1, 4096, 65536, 131072, rng.randrange(1, 300000)])
        a, b = run(lambda p: do_read(p, off, ln), name)
        check("read", a, b)
    elif r < 0.60:
        size = rng.choice([0, rng.randrange(0, 300000), FOURG + rng.randrange(0, 100000), rng.randrange(0, 1 << 16)])
        a, b = run(lambda p: os.truncate(p, size), name)
        check("truncate", a, b)
    elif r < 0.67:
        dst = rng.choice(NAMES)
        a, b = run(os.rename, name, dst)
        check("rename", a, b)
    elif r < 0.71:
        dst = rng.choice(NAMES)
        a, b = run(os.link, name, dst)
        check("link", a, b)
    elif r < 0.74:
        tgt = rng.choice(["f1", "../f2", "nowhere", "d0/g1"])
        a, b = run(lambda p: os.symlink(tgt, p), name)
        check("symlink", a, b)
    elif r < 0.78:
        a, b = run(os.unlink, name)
        check("unlink", a, b)
    elif r < 0.82:
        mode = rng.choice([0o600, 0o644, 0o755, 0o400, 0o4755, 0o640])
        a, b = run(lambda p: os.chmod(p, mode, follow_symlinks=False) if not os.path.islink(p) else None, name)
        check("chmod", a, b)
    elif r < 0.90:
        a, b = run(st, name)
        check("stat", a, b)
    elif r < 0.93:
        d = rng.choice(DIRS + ["."])
        a, b = run(listing, d)
        check("readdir", a, b)
    elif r < 0.95:
        d = rng.choice(DIRS)
        a, b = run(lambda p: os.mkdir(p, 0o755), d)
        check("mkdir", a, b)
    elif r < 0.97:
        d = rng.choice(DIRS)
        a, b = run(os.rmdir, d)
        check("rmdir", a, b)
    else:
        def fsync(p):
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        a, b = run(fsync, name)
        check("fsync", a, b)
# final full comparison of every file's contents (big ones by the written areas)
for name in NAMES:
    a, b = run(lambda p: sparse_read(p, os.stat(p).st_size) if os.path.isfile(p) else None, name)
    check("final-read", a, b)
    check("final-stat", *run(st, name))
for d in DIRS + ["."]:
    check("final-readdir", *run(listing, d))
    check("final-stat", *run(st, d))
print("ok:", nops, "ops", " ".join(f"{k}={v}" for k, v in sorted(stats.items())))
