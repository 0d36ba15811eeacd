#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The Online Boutique's Dockerfiles (not built here: no Docker) checked statically against the tree and
# against make-images.sh, which builds the same images without Docker:
#   - every SERVICE the build stage accepts is a Meson executable target of that name, in the directory
#     the build stage copies it from (also against `meson introspect` of this build tree), and there is
#     exactly one svc-<SERVICE> stage per service of make-images.sh;
#   - every COPY source (build context = the top of the tree) exists;
#   - per service: PORT, EXPOSE, every --env, the entrypoint, the binary and data paths equal
#     make-images.sh's; redis-cart and the load generator likewise;
#   - the shared libraries a built service links come from packages its runtime stage installs.
# Then the checker must catch drift: edited copies (a port, an env value, a COPY source, a service
# without a target, a missing package) are each refused.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
[ -x "$PYTHON" ] || skip "$PYTHON is not installed"
root=$ENSCONCE_SOURCE_ROOT
ob=$root/examples/online-boutique

cat >"$TMP/check.py" <<'PY'
import json, os, re, shlex, subprocess, sys

root, dockerfile, redisfile, loadfile, makeimages, build = sys.argv[1:7]
OB = "examples/online-boutique"
problems = []
# The drift cases run the checker again on edited copies: the slow look-ups (meson introspect,
# dpkg -S) are cached in CHECK_CACHE between those runs.
cache_file = os.environ.get("CHECK_CACHE")
try:
    cache = json.load(open(cache_file)) if cache_file else {}
except (OSError, ValueError):
    cache = {}


def cached(key, fn):
    if key not in cache:
        cache[key] = fn()
        if cache_file:
            with open(cache_file, "w") as fh:
                json.dump(cache, fh)
    return cache[key]


def bad(msg):
    problems.append(msg)


def logical_lines(path, comment):
    """Lines with backslash continuations joined and comments dropped."""
    out, cur = [], ""
    for raw in open(path, encoding="utf-8"):
        line = raw.rstrip("\n")
        if not cur and line.lstrip().startswith(comment):
            continue
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        if cur.strip():
            out.append(cur.strip())
        cur = ""
    if cur.strip():
        out.append(cur.strip())
    return out


def parse_dockerfile(path):
    """-> (global_args, [stage dicts]); a stage: name, base, run, copy, env, expose, entrypoint, cmd."""
    gargs, stages = {}, []
    for line in logical_lines(path, "#"):
        word, _, rest = line.partition(" ")
        word, rest = word.upper(), rest.strip()
        if word == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            if not m:
                bad("%s: bad FROM %r" % (path, rest))
                continue
            stages.append({"base": m.group(1), "name": m.group(2), "run": [], "copy": [], "env": {},
                           "expose": [], "entrypoint": None, "cmd": None, "args": {}})
        elif word == "ARG":
            k, _, v = rest.partition("=")
            (stages[-1]["args"] if stages else gargs)[k] = v
        elif not stages:
            bad("%s: %s before the first FROM" % (path, word))
        elif word == "RUN":
            stages[-1]["run"].append(rest)
        elif word == "COPY":
            toks = shlex.split(rest)
            frm = None
            opts = [t for t in toks if t.startswith("--")]
            for o in opts:
                if o.startswith("--from="):
                    frm = o[len("--from="):]
            toks = [t for t in toks if not t.startswith("--")]
            stages[-1]["copy"].append({"from": frm, "src": toks[:-1], "dst": toks[-1]})
        elif word == "ENV":
            for t in shlex.split(rest):
                k, eq, v = t.partition("=")
                if not eq:
                    bad("%s: ENV %s without '='" % (path, t))
                stages[-1]["env"][k] = v
        elif word == "EXPOSE":
            stages[-1]["expose"] += rest.split()
        elif word in ("ENTRYPOINT", "CMD"):
            try:
                stages[-1][word.lower()] = json.loads(rest)
            except ValueError:
                bad("%s: %s is not in exec (JSON) form: %s" % (path, word, rest))
    return gargs, stages


def parse_make_images(path):
    """The svc/build calls of make-images.sh -> {image: {exe, files, env, expose, entrypoint, cmd}}.
    A `svc NAME PORT args` call is expanded through svc()'s own `build "$name" ... "$@"` line."""
    lines = logical_lines(path, "#")
    svc_tmpl = [shlex.split(l) for l in lines if l.startswith('build "$name" ')]
    if len(svc_tmpl) != 1:
        bad("make-images.sh: cannot find svc()'s build \"$name\" line")
        svc_tmpl = [["build", "$name", "$@"]]
    images = {}
    for line in lines:
        if not re.match(r"(svc|build) [a-z]", line):
            continue
        toks = shlex.split(line)
        if toks[0] == "svc":
            name, port, extra = toks[1], toks[2], toks[3:]
            toks = []
            for t in svc_tmpl[0]:
                if t == "$@":
                    toks += extra
                else:
                    toks.append(t.replace("$name", name).replace("$port", port))
        name, rest = toks[1], toks[2:]
        img = {"exe": [], "files": [], "env": {}, "expose": [], "entrypoint": None, "cmd": None}
        i = 0
        while i < len(rest):
            opt, val = rest[i], rest[i + 1] if i + 1 < len(rest) else ""
            i += 2
            if opt in ("--exe", "--file"):
                src, _, dst = val.partition(":")
                img[opt[2:] if opt == "--exe" else "files"].append((src, dst or src))
            elif opt == "--env":
                k, _, v = val.partition("=")
                img["env"][k] = v
            elif opt == "--expose":
                img["expose"].append(val)
            elif opt in ("--entrypoint", "--cmd"):
                img[opt[2:]] = json.loads(val)
            elif opt == "--label":
                pass
            else:
                bad("make-images.sh: %s: unknown option %s" % (name, opt))
                i -= 1
        images[name] = img
    return images


def repo_path(p):
    """make-images.sh's "$here/x" -> examples/online-boutique/x (None for paths outside the tree)."""
    return OB + p[len("$here"):] if p.startswith("$here") else None


def meson_targets():
    """Executable names declared under examples/online-boutique -> their source directory."""
    t = {}
    src = open(os.path.join(root, OB, "src/meson.build"), encoding="utf-8").read()
    m = re.search(r"boutique_services\s*=\s*\{(.*?)\n\}", src, re.S)
    for name in re.findall(r"^\s*'([a-z]+)'\s*:", m.group(1) if m else "", re.M):
        if re.search(r"foreach name, spec : boutique_services\s*\n\s*exe = executable\(name,", src):
            t[name] = OB + "/src"
    for d in ("src", "frontend"):
        text = open(os.path.join(root, OB, d, "meson.build"), encoding="utf-8").read()
        for name in re.findall(r"executable\('([A-Za-z0-9_-]+)'", text):
            t[name] = OB + "/" + d
    return t


def introspect_targets():
    return cached("introspect", introspect_targets_uncached)


def introspect_targets_uncached():
    """{name: [build-relative output paths]} of this build tree, or None."""
    if not build or not os.path.isdir(os.path.join(build, "meson-info")):
        return None
    try:
        out = subprocess.run(["meson", "introspect", "--targets", build], capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    t = {}
    for x in json.loads(out):
        if x.get("type") == "executable":
            for f in x.get("filename", []):
                t.setdefault(x["name"], []).append(os.path.relpath(f, build))
    return t


def check_copies(path, stages):
    for st in stages:
        for c in st["copy"]:
            if c["from"]:
                continue
            for s in c["src"]:
                if os.path.isabs(s) or ".." in s.split("/") or not os.path.exists(os.path.join(root, s)):
                    bad("%s: COPY source %s does not exist in the tree" % (os.path.basename(path), s))


def installed_packages(run_lines):
    pk = set()
    for r in run_lines:
        for m in re.finditer(r"apt-get install ([^&;|]*)", r):
            pk |= {w for w in m.group(1).split() if not w.startswith("-")}
    return pk


def direct_libs(binary):
    """The files of the libraries the binary links directly (its NEEDED entries, resolved by ldd)."""
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                            subprocess.run(["readelf", "-d", binary], capture_output=True, text=True).stdout))
    libs = set()
    for line in subprocess.run(["ldd", binary], capture_output=True, text=True).stdout.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(/\S+)", line)
        if m and m.group(1) in needed:
            libs.add(m.group(2))
    return libs


def lib_packages(libs):
    """{library file: Debian package}, from one dpkg -S call (/lib and /usr/lib: usrmerge)."""
    cands = sorted({c for l in libs for c in (l, "/usr" + l, os.path.realpath(l))})
    out = subprocess.run(["dpkg", "-S"] + cands, capture_output=True, text=True).stdout if cands else ""
    owner = {}
    for line in out.splitlines():
        pkg, _, path = line.partition(": ")
        owner[path.strip()] = pkg.split(":")[0]
    res = {}
    for l in libs:
        for c in (l, "/usr" + l, os.path.realpath(l)):
            if c in owner:
                res[l] = owner[c]
                break
        else:
            bad("no Debian package ships %s" % l)
    return res


images = parse_make_images(makeimages)
bins = [l[4:] for l in logical_lines(makeimages, "#") if l.startswith("bin=")]
bin_dir = bins[0] if len(bins) == 1 else "$bin"
gargs, stages = parse_dockerfile(dockerfile)
by_name = {s["name"]: s for s in stages if s["name"]}
services = sorted(n for n, img in images.items() if any(d.startswith("/usr/local/bin/") for _, d in img["exe"]))
if len(services) < 10:
    bad("make-images.sh: expected ten service images, parsed %d: %s" % (len(services), services))

# SERVICE: the global ARG, the build stage's case arms, the final FROM svc-${SERVICE}.
if "SERVICE" not in gargs:
    bad("Dockerfile: no global ARG SERVICE")
elif gargs["SERVICE"] and gargs["SERVICE"] not in services:
    bad("Dockerfile: default SERVICE=%s is not a service of make-images.sh" % gargs["SERVICE"])
build_stage = by_name.get("build")
case_dirs = {}
if not build_stage:
    bad("Dockerfile: no stage named build")
else:
    text = " ".join(build_stage["run"])
    m = re.search(r'case "\$SERVICE" in(.*?)esac', text, re.S)
    if not m:
        bad("Dockerfile: the build stage has no case \"$SERVICE\" in ... esac")
    else:
        for pats, body in re.findall(r"([a-z|]+)\)(.*?);;", m.group(1), re.S):
            d = re.search(r"dir=(\S+)", body)
            for p in pats.split("|"):
                case_dirs[p] = d.group(1) if d else None
    if 'meson compile -C build "$SERVICE"' not in text:
        bad("Dockerfile: the build stage does not run meson compile -C build \"$SERVICE\"")
    inst = re.search(r'install -D -m 0755 "build/\$dir/\$SERVICE" "/out/usr/local/bin/\$SERVICE"', text)
    if not inst:
        bad("Dockerfile: the build stage does not install build/$dir/$SERVICE as /out/usr/local/bin/$SERVICE")
if stages and stages[-1]["base"] != "svc-${SERVICE}":
    bad("Dockerfile: the last stage is FROM %s, not FROM svc-${SERVICE}" % stages[-1]["base"])
svc_stages = sorted(n[4:] for n in by_name if n.startswith("svc-"))
if sorted(case_dirs) != services:
    bad("Dockerfile: the build stage accepts SERVICE %s, make-images.sh builds %s" % (sorted(case_dirs), services))
if svc_stages != services:
    bad("Dockerfile: svc-* stages %s, make-images.sh builds %s" % (svc_stages, services))

# Each accepted SERVICE is a Meson target, in the directory the build stage takes it from.
targets = meson_targets()
intro = introspect_targets()
for s, d in sorted(case_dirs.items()):
    if s not in targets:
        bad("Dockerfile: SERVICE %s is not a Meson executable target" % s)
    elif d != targets[s]:
        bad("Dockerfile: SERVICE %s is taken from %s but Meson builds it in %s" % (s, d, targets[s]))
    if intro is not None:
        if s not in intro:
            bad("Dockerfile: SERVICE %s: no such target in `meson introspect` of %s" % (s, build))
        elif "%s/%s" % (d, s) not in intro[s]:
            bad("Dockerfile: SERVICE %s: meson builds %s, not %s/%s" % (s, intro[s], d, s))
        elif len(intro[s]) != 1:
            bad("Dockerfile: `meson compile %s` is ambiguous: %s" % (s, intro[s]))

# Per service: binary, data, PORT/EXPOSE, env, entrypoint equal make-images.sh's.
runtime_pk = installed_packages(by_name["runtime"]["run"]) if "runtime" in by_name else set()
for s in services:
    st, img = by_name.get("svc-" + s), images[s]
    if not st:
        continue
    if st["base"] != "runtime":
        bad("Dockerfile: svc-%s is FROM %s, not FROM runtime" % (s, st["base"]))
    if st["env"] != img["env"]:
        bad("Dockerfile: svc-%s ENV %s, make-images.sh %s" % (s, st["env"], img["env"]))
    if sorted(st["expose"]) != sorted(img["expose"]):
        bad("Dockerfile: svc-%s EXPOSE %s, make-images.sh %s" % (s, st["expose"], img["expose"]))
    if st["entrypoint"] != img["entrypoint"] and st["entrypoint"] != ["/usr/local/bin/%s" % s]:
        bad("Dockerfile: svc-%s ENTRYPOINT %s, make-images.sh %s" % (s, st["entrypoint"], img["entrypoint"]))
    if st["entrypoint"] != ["/usr/local/bin/%s" % s]:
        bad("Dockerfile: svc-%s ENTRYPOINT %s is not /usr/local/bin/%s" % (s, st["entrypoint"], s))
    if st["cmd"] != img["cmd"]:
        bad("Dockerfile: svc-%s CMD %s, make-images.sh %s" % (s, st["cmd"], img["cmd"]))
    # The binary: make-images.sh takes it from the build tree where the build stage's case arm does.
    want_copy = [("", str(repo_path(src)), dst) for src, dst in img["files"]]
    for src, dst in img["exe"]:
        want_copy.append(("build", "/out" + dst, dst))
        src = src.replace("$bin", bin_dir)
        if case_dirs.get(s) and src != "$BUILD/%s/%s" % (case_dirs[s], s):
            bad("Dockerfile: SERVICE %s is built in %s, make-images.sh takes %s" % (s, case_dirs[s], src))
    have_copy = [(c["from"] or "", " ".join(c["src"]), c["dst"]) for c in st["copy"]]
    if sorted(want_copy) != sorted(have_copy):
        bad("Dockerfile: svc-%s copies %s, make-images.sh puts %s" % (s, have_copy, want_copy))

# The libraries of a built binary come from packages its stages install (not in a sanitizer build).
linked = {}
for s in services:
    binary = os.path.join(build, case_dirs.get(s) or "", s) if build else ""
    if os.environ.get("SANITIZED", "none") in ("", "none") and case_dirs.get(s) and os.path.isfile(binary):
        linked[s] = cached("libs " + binary, lambda: sorted(direct_libs(binary)))
owners = cached("owners", lambda: lib_packages(set().union(*map(set, linked.values())))) if linked else {}
base = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}  # in debian:12-slim already
for s, libs in sorted(linked.items()):
    st = by_name.get("svc-" + s)
    if not st:
        continue
    have = runtime_pk | installed_packages(st["run"])
    missing = sorted({owners[l] for l in libs if l in owners} - have - base)
    if missing:
        bad("Dockerfile: svc-%s: the built %s links libraries of %s, which its stages do not install" %
            (s, s, missing))

check_copies(dockerfile, stages)

# redis-cart.
_, rst = parse_dockerfile(redisfile)
check_copies(redisfile, rst)
img = images.get("redis-cart")
if not img or not rst:
    bad("redis-cart: missing in make-images.sh or redis.Dockerfile")
else:
    r = rst[-1]
    if r["entrypoint"] != img["entrypoint"] or r["cmd"] != img["cmd"]:
        bad("redis.Dockerfile: ENTRYPOINT %s CMD %s, make-images.sh %s %s" % (r["entrypoint"], r["cmd"],
                                                                           img["entrypoint"], img["cmd"]))
    if sorted(r["expose"]) != sorted(img["expose"]) or r["env"] != img["env"]:
        bad("redis.Dockerfile: EXPOSE %s ENV %s, make-images.sh %s %s" % (r["expose"], r["env"], img["expose"],
                                                                       img["env"]))
    if "redis-server" not in installed_packages(r["run"]):
        bad("redis.Dockerfile: does not install Debian's redis-server")
    for _, dst in img["files"]:
        if not any("mkdir -p " + dst in x for x in r["run"]):
            bad("redis.Dockerfile: no %s directory (make-images.sh has one)" % dst)

# The load generator.
_, lst = parse_dockerfile(loadfile)
check_copies(loadfile, lst)
img = images.get("loadgenerator")
if not img or not lst:
    bad("loadgenerator: missing in make-images.sh or loadgenerator/Dockerfile")
else:
    l = lst[-1]
    if l["env"] != img["env"] or l["cmd"] != img["cmd"]:
        bad("loadgenerator/Dockerfile: ENV %s CMD %s, make-images.sh %s %s" % (l["env"], l["cmd"], img["env"],
                                                                            img["cmd"]))
    ep, want = l["entrypoint"] or [], img["entrypoint"] or []
    if len(ep) != len(want) or not ep or not re.fullmatch(r"/usr/bin/python3(\.\d+)?", ep[0]) or ep[1:] != want[1:]:
        bad("loadgenerator/Dockerfile: ENTRYPOINT %s, make-images.sh %s" % (ep, want))
    pk = installed_packages(l["run"])
    for p in ("python3-locust", "python3-fake-factory"):
        if p not in pk:
            bad("loadgenerator/Dockerfile: does not install %s" % p)
    for src, dst in img["files"]:
        rp = repo_path(src)
        if rp is None:
            continue  # Debian's python and locust: installed as packages
        if not os.path.isdir(os.path.join(root, rp)):
            bad("make-images.sh: %s is not a directory of the tree" % rp)
            continue
        copied = {os.path.basename(s) for c in l["copy"] if c["dst"].rstrip("/") == dst for s in c["src"]
                  if os.path.dirname(s) == rp}
        if "locustfile.py" not in copied:
            bad("loadgenerator/Dockerfile: locustfile.py is not copied to %s" % dst)
        for c in l["copy"]:
            for s in c["src"]:
                if os.path.dirname(s) != rp or c["dst"].rstrip("/") != dst:
                    bad("loadgenerator/Dockerfile: COPY %s %s is not make-images.sh's %s:%s" % (s, c["dst"], rp,
                                                                                              dst))

for p in problems:
    print("drift: " + p)
if problems:
    sys.exit(1)
print("ok: %d services, redis-cart and the load generator agree with make-images.sh" % len(services))
PY

check() { # dockerfile redis loadgen make-images
    CHECK_CACHE=$TMP/cache.json "$PYTHON" "$TMP/check.py" "$root" "$1" "$2" "$3" "$4" "${ENSCONCE_BUILD_ROOT:-}"
}
out=$(check "$ob/Dockerfile" "$ob/redis.Dockerfile" "$ob/loadgenerator/Dockerfile" "$ob/make-images.sh") ||
    fail "the Dockerfiles drifted from the tree or make-images.sh:
$out"
echo "$out"
pass "Dockerfile, redis.Dockerfile and loadgenerator/Dockerfile agree with make-images.sh and the Meson targets"

# The checker must notice drift: each edit below alone makes it fail, naming the problem.
drift() { # description file-to-edit sed-expression expected-message
    local what=$1 file=$2 expr=$3 msg=$4 d=$TMP/drift
    rm -rf "$d" && mkdir -p "$d/loadgenerator"
    cp "$ob/Dockerfile" "$ob/redis.Dockerfile" "$ob/make-images.sh" "$d/"
    cp "$ob/loadgenerator/Dockerfile" "$d/loadgenerator/"
    sed -i -e "$expr" "$d/$file"
    cmp -s "$d/$file" "$ob/$file" && fail "drift case '$what': the edit changed nothing"
    expect_fail check "$d/Dockerfile" "$d/redis.Dockerfile" "$d/loadgenerator/Dockerfile" "$d/make-images.sh"
    assert_contains "$OUT" "$msg" "drift case '$what'"
    pass "drift refused: $what"
}
drift "cartservice PORT" Dockerfile 's/^ENV PORT=7070 /ENV PORT=7071 /' "svc-cartservice ENV"
drift "make-images.sh port" make-images.sh 's/^svc currencyservice 7000$/svc currencyservice 7001/' \
    "svc-currencyservice ENV"
drift "frontend env value" Dockerfile 's/AD_SERVICE_ADDR=adservice:9555/AD_SERVICE_ADDR=adservice:9556/' \
    "svc-frontend ENV"
drift "CATALOG_FILE dropped" Dockerfile 's/^ENV PORT=3550 CATALOG_FILE=.*/ENV PORT=3550/' \
    "svc-productcatalogservice ENV"
drift "COPY of a missing path" Dockerfile 's#frontend/static /app/static#frontend/statics /app/static#' \
    "COPY source examples/online-boutique/frontend/statics does not exist"
drift "data at another path" Dockerfile 's#products.json /app/data/products.json#products.json /app/products.json#' \
    "svc-productcatalogservice copies"
drift "SERVICE without a target" Dockerfile 's/|adservice) \\/|adservice|giftservice) \\/' \
    "giftservice"
drift "EXPOSE" Dockerfile 's/^EXPOSE 9555$/EXPOSE 9556/' "svc-adservice EXPOSE"
# Needs the built binaries (unsanitized) to see what they link.
if [ "${SANITIZED:-none}" = none ] && [ -x "${ENSCONCE_BUILD_ROOT:-/nonexistent}/examples/online-boutique/src/cartservice" ]; then
    drift "runtime package" Dockerfile 's/libhiredis0.14 //' "svc-cartservice"
else
    echo "note: the runtime-package check needs the unsanitized build's binaries: not run"
fi
drift "redis arguments" redis.Dockerfile 's/"--appendonly", "yes"/"--appendonly", "no"/' "redis.Dockerfile"
drift "load generator env" loadgenerator/Dockerfile 's/USERS=10/USERS=5/' "loadgenerator/Dockerfile"
