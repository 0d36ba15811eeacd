/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared-library resolution inside a root file system, following the search
 * order of glibc's ld.so (DT_RPATH of the loader chain, DT_RUNPATH, ld.so.conf,
 * system directories) or of musl's ldso (DT_RPATH/RUNPATH of the chain,
 * /etc/ld-musl-ARCH.path or /lib:/usr/local/lib:/usr/lib), chosen by the
 * program's PT_INTERP.  LD_LIBRARY_PATH and LD_PRELOAD are not considered: the
 * runtime starts services with the policy's environment, and the measurement
 * covers the settings separately.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "elf/elf.h"
#include "elf/elf_internal.h"

#define MAX_OBJECTS 4096
#define MAX_CONF_DEPTH 8
#define MAX_CONF_SIZE (1u << 20)

/* ---------- string lists ---------- */

int ens_strv_add(struct ens_strv *s, const char *str)
{
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 16;
        char **nv = realloc(s->v, ncap * sizeof(char *));
        if (nv == NULL)
            return -1;
        s->v = nv;
        s->cap = ncap;
    }
    char *d = strdup(str);
    if (d == NULL)
        return -1;
    s->v[s->n++] = d;
    return 0;
}

bool ens_strv_has(const struct ens_strv *s, const char *str)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], str) == 0)
            return true;
    return false;
}

void ens_strv_free(struct ens_strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static void strv_cleanup(struct ens_strv *s) { ens_strv_free(s); }
#define _cleanup_strv_ __attribute__((cleanup(strv_cleanup)))

/* ---------- root-confined paths ---------- */

static bool root_is_slash(const char *root)
{
    for (const char *p = root; *p; p++)
        if (*p != '/')
            return false;
    return true;
}

char *ens_root_path(const char *root, const char *inside)
{
    char *s = NULL;
    if (root_is_slash(root))
        return strdup(inside[0] ? inside : "/");
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/')
        rl--;
    if (asprintf(&s, "%.*s%s%s", (int)rl, root, inside[0] == '/' ? "" : "/", inside) < 0)
        return NULL;
    return s;
}

int ens_root_resolve(const char *root, const char *path, char **resolved, struct ens_strv *links,
                     ens_error_t *err)
{
    if (path == NULL || path[0] != '/')
        return ens_error(err, EINVAL, "%s: not an absolute path", path ? path : "(null)");
    if (strlen(path) >= PATH_MAX)
        return ens_error(err, ENAMETOOLONG, "%.64s...: path too long", path);
    /* cur: resolved prefix (no symlinks in it); rest: components still to walk. */
    _cleanup_free_ char *cur = calloc(1, PATH_MAX);
    _cleanup_free_ char *rest = strdup(path);
    if (cur == NULL || rest == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    size_t curlen = 0;
    int nlinks = 0;
    char *p = rest;
    for (;;) {
        while (*p == '/')
            p++;
        if (*p == '\0')
            break;
        char *slash = strchr(p, '/');
        size_t clen = slash ? (size_t)(slash - p) : strlen(p);
        bool last = true;
        for (const char *q = p + clen; *q; q++)
            if (*q != '/') {
                last = false;
                break;
            }
        if (clen == 1 && p[0] == '.') {
            p += clen;
            continue;
        }
        if (clen == 2 && p[0] == '.' && p[1] == '.') {
            /* Never above root. */
            while (curlen > 0 && cur[curlen - 1] != '/')
                curlen--;
            if (curlen > 0)
                curlen--;
            cur[curlen] = '\0';
            p += clen;
            continue;
        }
        if (curlen + 1 + clen >= PATH_MAX)
            return ens_error(err, ENAMETOOLONG, "%s: path too long inside %s", path, root);
        size_t saved = curlen;
        cur[curlen++] = '/';
        memcpy(cur + curlen, p, clen);
        curlen += clen;
        cur[curlen] = '\0';
        p += clen;

        _cleanup_free_ char *host = ens_root_path(root, cur);
        if (host == NULL)
            return ens_error(err, ENOMEM, "out of memory");
        struct stat st;
        if (lstat(host, &st) < 0)
            return ens_error_errno(err, "%s (inside %s)", cur, root);
        if (S_ISLNK(st.st_mode)) {
            if (++nlinks > ENS_ELF_MAX_SYMLINKS)
                return ens_error(err, ELOOP, "%s (inside %s): too many levels of symbolic links", path, root);
            char target[PATH_MAX];
            ssize_t tl = readlink(host, target, sizeof(target) - 1);
            if (tl < 0)
                return ens_error_errno(err, "readlink %s (inside %s)", cur, root);
            if (tl == 0)
                return ens_error(err, ENOENT, "%s (inside %s): empty symbolic link", cur, root);
            target[tl] = '\0';
            if (links && !ens_strv_has(links, cur) && ens_strv_add(links, cur) < 0)
                return ens_error(err, ENOMEM, "out of memory");
            /* New rest = target + "/" + remaining. */
            _cleanup_free_ char *nrest = NULL;
            if (asprintf(&nrest, "%s/%s", target, p) < 0)
                return ens_error(err, ENOMEM, "out of memory");
            if (strlen(nrest) >= PATH_MAX)
                return ens_error(err, ENAMETOOLONG, "%s (inside %s): path too long", path, root);
            free(rest);
            rest = ens_steal(&nrest);
            p = rest;
            if (target[0] == '/')
                curlen = 0; /* absolute targets restart at root */
            else
                curlen = saved;
            cur[curlen] = '\0';
            continue;
        }
        if (!last && !S_ISDIR(st.st_mode))
            return ens_error(err, ENOTDIR, "%s (inside %s): not a directory", cur, root);
    }
    if (curlen == 0) {
        cur[0] = '/';
        cur[1] = '\0';
    }
    *resolved = ens_steal(&cur);
    return 0;
}

int ens_root_open_file(const char *root, const char *resolved, ens_error_t *err)
{
    _cleanup_free_ char *host = ens_root_path(root, resolved);
    if (host == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    int fd = open(host, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return ens_error_errno(err, "open %s (inside %s)", resolved, root);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ens_error(err, EINVAL, "%s (inside %s): not a regular file", resolved, root);
    }
    return fd;
}

/* ---------- the loader model ---------- */

struct object {
    char *found;  /* inside-root path by which it was found */
    char *real;   /* resolved path */
    char *origin; /* $ORIGIN */
    struct ens_elf_info info;
    int parent;
};

struct ctx {
    const char *root;
    bool musl;
    int elf_class;
    uint16_t machine;
    const char *lib_token;      /* $LIB */
    const char *platform_token; /* $PLATFORM */
    struct ens_strv sysdirs;
    struct ens_strv deps;
    struct object *objs;
    size_t nobjs;
    char *interp_real;
    char *interp_soname;
};

static const char *multiarch_triplet(uint16_t machine, int cls)
{
    switch (machine) {
    case EM_X86_64: return cls == ELFCLASS64 ? "x86_64-linux-gnu" : "x86_64-linux-gnux32";
    case EM_386: return "i386-linux-gnu";
    case EM_AARCH64: return "aarch64-linux-gnu";
    case EM_ARM: return "arm-linux-gnueabihf";
    case EM_RISCV: return "riscv64-linux-gnu";
    case EM_PPC64: return "powerpc64le-linux-gnu";
    case EM_S390: return "s390x-linux-gnu";
    default: return NULL;
    }
}

static const char *platform_name(uint16_t machine)
{
    switch (machine) {
    case EM_X86_64: return "x86_64";
    case EM_386: return "i686";
    case EM_AARCH64: return "aarch64";
    case EM_ARM: return "v7l";
    case EM_RISCV: return "riscv64";
    case EM_PPC64: return "power8";
    case EM_S390: return "z900";
    default: return "unknown";
    }
}

static bool root_isdir(const char *root, const char *inside)
{
    _cleanup_free_ char *res = NULL;
    _cleanup_error_ ens_error_t e = NULL;
    if (ens_root_resolve(root, inside, &res, NULL, &e) < 0)
        return false;
    _cleanup_free_ char *host = ens_root_path(root, res);
    struct stat st;
    return host && stat(host, &st) == 0 && S_ISDIR(st.st_mode);
}

static int add_sysdir(struct ctx *c, const char *dir, size_t len)
{
    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (len == 0 || dir[0] != '/')
        return 0; /* relative entries mean nothing to the loader's system search */
    _cleanup_free_ char *d = strndup(dir, len);
    if (d == NULL)
        return -1;
    if (ens_strv_has(&c->sysdirs, d))
        return 0;
    return ens_strv_add(&c->sysdirs, d);
}

static int parse_ld_so_conf(struct ctx *c, const char *path, int depth, ens_error_t *err);

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* include PATTERN: wildcards are honoured in the last component only (what distributions use). */
static int conf_include(struct ctx *c, const char *conf_path, const char *pattern, int depth,
                        ens_error_t *err)
{
    _cleanup_free_ char *full = NULL;
    if (pattern[0] == '/') {
        full = strdup(pattern);
    } else {
        /* Relative includes are relative to the including file's directory. */
        const char *slash = strrchr(conf_path, '/');
        if (asprintf(&full, "%.*s/%s", (int)(slash - conf_path), conf_path, pattern) < 0)
            full = NULL;
    }
    if (full == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    char *slash = strrchr(full, '/');
    *slash = '\0';
    const char *dir = full[0] ? full : "/";
    const char *glob_pat = slash + 1;
    _cleanup_free_ char *rdir = NULL;
    _cleanup_error_ ens_error_t e = NULL;
    if (ens_root_resolve(c->root, dir, &rdir, NULL, &e) < 0)
        return 0; /* a missing include directory is not an error for ldconfig either */
    _cleanup_free_ char *host = ens_root_path(c->root, rdir);
    if (host == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    _cleanup_closedir_ DIR *d = opendir(host);
    if (d == NULL)
        return 0;
    struct ens_strv names _cleanup_strv_ = {0};
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (fnmatch(glob_pat, de->d_name, FNM_PERIOD) == 0 && ens_strv_add(&names, de->d_name) < 0)
            return ens_error(err, ENOMEM, "out of memory");
        if (names.n > 1024)
            return ens_error(err, E2BIG, "%s (inside %s): too many ld.so.conf includes", dir, c->root);
    }
    /* glob() order: sorted. */
    qsort(names.v, names.n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < names.n; i++) {
        _cleanup_free_ char *p = ens_path_join(rdir, names.v[i]);
        if (p == NULL)
            return ens_error(err, ENOMEM, "out of memory");
        if (parse_ld_so_conf(c, p, depth + 1, err) < 0)
            return -1;
    }
    return 0;
}

static int parse_ld_so_conf(struct ctx *c, const char *path, int depth, ens_error_t *err)
{
    if (depth > MAX_CONF_DEPTH)
        return ens_error(err, ELOOP, "%s (inside %s): ld.so.conf includes nested too deeply", path, c->root);
    _cleanup_free_ char *res = NULL;
    _cleanup_error_ ens_error_t e = NULL;
    if (ens_root_resolve(c->root, path, &res, NULL, &e) < 0)
        return 0; /* absent: no configured directories */
    _cleanup_close_ int fd = ens_root_open_file(c->root, res, &e);
    if (fd < 0)
        return 0;
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    if (ens_read_fd(fd, MAX_CONF_SIZE, &buf, &len, err) < 0)
        return ens_error_wrap(err, "%s (inside %s)", path, c->root);
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        while (*line == ' ' || *line == '\t')
            line++;
        size_t l = strlen(line);
        while (l > 0 && (line[l - 1] == ' ' || line[l - 1] == '\t' || line[l - 1] == '\r'))
            line[--l] = '\0';
        if (l == 0)
            continue;
        if (strncmp(line, "include", 7) == 0 && (line[7] == ' ' || line[7] == '\t')) {
            char *pat = line + 8;
            char *save2 = NULL;
            for (char *tok = strtok_r(pat, " \t", &save2); tok; tok = strtok_r(NULL, " \t", &save2))
                if (conf_include(c, res, tok, depth, err) < 0)
                    return -1;
            continue;
        }
        if (strncmp(line, "hwcap", 5) == 0 && (line[5] == ' ' || line[5] == '\t'))
            continue;
        /* A line may hold several directories separated by blanks, ':' or ','; "dir=TYPE" is old syntax. */
        char *save3 = NULL;
        for (char *tok = strtok_r(line, " \t:,", &save3); tok; tok = strtok_r(NULL, " \t:,", &save3)) {
            char *eq = strchr(tok, '=');
            if (add_sysdir(c, tok, eq ? (size_t)(eq - tok) : strlen(tok)) < 0)
                return ens_error(err, ENOMEM, "out of memory");
        }
    }
    return 0;
}

static int setup_sysdirs(struct ctx *c, const char *interp, ens_error_t *err)
{
    if (c->musl) {
        /* musl: /etc/ld-musl-ARCH.path (entries separated by newlines or ':'), else the defaults. */
        const char *base = strrchr(interp, '/');
        base = base ? base + 1 : interp;
        const char *arch = base + strlen("ld-musl-");
        const char *dot = strstr(arch, ".so");
        size_t alen = dot ? (size_t)(dot - arch) : strlen(arch);
        _cleanup_free_ char *pathfile = NULL;
        if (asprintf(&pathfile, "/etc/ld-musl-%.*s.path", (int)alen, arch) < 0)
            return ens_error(err, ENOMEM, "out of memory");
        _cleanup_free_ char *res = NULL;
        _cleanup_error_ ens_error_t e = NULL;
        if (ens_root_resolve(c->root, pathfile, &res, NULL, &e) == 0) {
            _cleanup_close_ int fd = ens_root_open_file(c->root, res, &e);
            _cleanup_free_ char *buf = NULL;
            if (fd >= 0 && ens_read_fd(fd, MAX_CONF_SIZE, &buf, NULL, err) < 0)
                return ens_error_wrap(err, "%s (inside %s)", pathfile, c->root);
            if (buf) {
                char *save = NULL;
                for (char *tok = strtok_r(buf, "\n:", &save); tok; tok = strtok_r(NULL, "\n:", &save))
                    if (add_sysdir(c, tok, strlen(tok)) < 0)
                        return ens_error(err, ENOMEM, "out of memory");
                return 0;
            }
        }
        const char *defs[] = {"/lib", "/usr/local/lib", "/usr/lib"};
        for (size_t i = 0; i < 3; i++)
            if (add_sysdir(c, defs[i], strlen(defs[i])) < 0)
                return ens_error(err, ENOMEM, "out of memory");
        return 0;
    }
    /* glibc: the ld.so.cache is built by ldconfig from ld.so.conf plus the trusted directories. */
    if (parse_ld_so_conf(c, "/etc/ld.so.conf", 0, err) < 0)
        return -1;
    const char *trip = multiarch_triplet(c->machine, c->elf_class);
    char buf[64];
    if (trip) {
        snprintf(buf, sizeof(buf), "/lib/%s", trip);
        if (add_sysdir(c, buf, strlen(buf)) < 0)
            return ens_error(err, ENOMEM, "out of memory");
        snprintf(buf, sizeof(buf), "/usr/lib/%s", trip);
        if (add_sysdir(c, buf, strlen(buf)) < 0)
            return ens_error(err, ENOMEM, "out of memory");
    }
    const char *defs64[] = {"/lib64", "/usr/lib64"};
    const char *defs[] = {"/lib", "/usr/lib"};
    if (c->elf_class == ELFCLASS64)
        for (size_t i = 0; i < 2; i++)
            if (add_sysdir(c, defs64[i], strlen(defs64[i])) < 0)
                return ens_error(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < 2; i++)
        if (add_sysdir(c, defs[i], strlen(defs[i])) < 0)
            return ens_error(err, ENOMEM, "out of memory");
    return 0;
}

/* Expands $ORIGIN, $LIB, $PLATFORM (also ${...}) in one search-path entry.  NULL if the entry has
 * an unknown token (the loader drops such entries) or on allocation failure. */
static char *expand_dst(const struct ctx *c, const char *entry, const char *origin)
{
    size_t cap = strlen(entry) + 1;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    size_t n = 0;
    for (const char *p = entry; *p;) {
        const char *val = NULL;
        size_t skip = 0;
        if (*p == '$') {
            static const struct { const char *name; int which; } toks[] = {
                {"ORIGIN", 0}, {"LIB", 1}, {"PLATFORM", 2}};
            for (size_t i = 0; i < 3 && val == NULL; i++) {
                size_t tl = strlen(toks[i].name);
                const char *v = toks[i].which == 0 ? origin
                                : toks[i].which == 1 ? c->lib_token : c->platform_token;
                if (strncmp(p + 1, toks[i].name, tl) == 0) {
                    char nx = p[1 + tl];
                    if (!((nx >= 'A' && nx <= 'Z') || (nx >= 'a' && nx <= 'z') || (nx >= '0' && nx <= '9') || nx == '_')) {
                        val = v;
                        skip = 1 + tl;
                    }
                } else if (p[1] == '{' && strncmp(p + 2, toks[i].name, tl) == 0 && p[2 + tl] == '}') {
                    val = v;
                    skip = 3 + tl;
                }
            }
            if (val == NULL) {
                free(out);
                return NULL;
            }
        }
        if (val == NULL) {
            val = p;
            skip = 1;
        }
        size_t vl = (val == p) ? 1 : strlen(val);
        if (n + vl + 1 > cap) {
            cap = (n + vl + 1) * 2;
            char *no = realloc(out, cap);
            if (no == NULL) {
                free(out);
                return NULL;
            }
            out = no;
        }
        memcpy(out + n, val, vl);
        n += vl;
        p += skip;
    }
    out[n] = '\0';
    return out;
}

static void object_free(struct object *o)
{
    free(o->found);
    free(o->real);
    free(o->origin);
    ens_elf_info_free(&o->info);
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL || slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Outcome of trying one candidate path. */
enum try_result { TRY_ERROR = -1, TRY_ABSENT = 0, TRY_OTHER_CLASS = 1, TRY_FOUND = 2 };

/* Tries a candidate inside root: resolves it, parses it, checks class and machine.  On TRY_FOUND,
 * *obj is filled and the symlinks met are in *links. */
static enum try_result try_candidate(struct ctx *c, const char *cand, struct object *obj,
                                     struct ens_strv *links, ens_error_t *err)
{
    _cleanup_free_ char *real = NULL;
    _cleanup_error_ ens_error_t e = NULL;
    struct ens_strv l _cleanup_strv_ = {0};
    if (ens_root_resolve(c->root, cand, &real, &l, &e) < 0) {
        if (ens_error_status(e) == ENOENT || ens_error_status(e) == ENOTDIR)
            return TRY_ABSENT;
        *err = ens_steal(&e);
        return TRY_ERROR;
    }
    _cleanup_free_ char *host = ens_root_path(c->root, real);
    struct stat st;
    if (host == NULL || stat(host, &st) < 0 || !S_ISREG(st.st_mode))
        return TRY_ABSENT;
    _cleanup_close_ int fd = ens_root_open_file(c->root, real, err);
    if (fd < 0)
        return TRY_ERROR;
    struct ens_elf_info info = {0};
    if (ens_elf_parse_fd(fd, real, &info, err) < 0)
        return TRY_ERROR;
    if (info.elf_class != c->elf_class || info.machine != c->machine) {
        ens_elf_info_free(&info);
        return TRY_OTHER_CLASS;
    }
    obj->found = strdup(cand);
    obj->real = ens_steal(&real);
    obj->origin = dir_of(cand);
    obj->info = info;
    if (obj->found == NULL || obj->origin == NULL) {
        object_free(obj);
        ens_error(err, ENOMEM, "out of memory");
        return TRY_ERROR;
    }
    *links = l;
    memset(&l, 0, sizeof(l));
    return TRY_FOUND;
}

/* Searches a ':'-separated path list (with tokens expanded against origin). */
static enum try_result search_list(struct ctx *c, const char *list, const char *origin, const char *name,
                                   struct object *obj, struct ens_strv *links, ens_error_t *err)
{
    if (list == NULL)
        return TRY_ABSENT;
    _cleanup_free_ char *copy = strdup(list);
    if (copy == NULL) {
        ens_error(err, ENOMEM, "out of memory");
        return TRY_ERROR;
    }
    char *save = NULL;
    for (char *ent = strtok_r(copy, ":", &save); ent; ent = strtok_r(NULL, ":", &save)) {
        _cleanup_free_ char *dir = expand_dst(c, ent, origin);
        if (dir == NULL || dir[0] != '/')
            continue; /* unknown token or relative (cwd-dependent) entry: not searched */
        _cleanup_free_ char *cand = ens_path_join(dir, name);
        if (cand == NULL) {
            ens_error(err, ENOMEM, "out of memory");
            return TRY_ERROR;
        }
        enum try_result r = try_candidate(c, cand, obj, links, err);
        if (r == TRY_ERROR || r == TRY_FOUND)
            return r;
    }
    return TRY_ABSENT;
}

static bool musl_reserved(const char *name)
{
    /* musl's libc provides these; ldso maps them to itself. */
    static const char *const rs[] = {"c", "pthread", "rt", "m", "dl", "util", "xnet"};
    if (strncmp(name, "lib", 3) != 0)
        return false;
    for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++) {
        size_t l = strlen(rs[i]);
        if (strncmp(name + 3, rs[i], l) == 0 && name[3 + l] == '.')
            return true;
    }
    return false;
}

static int add_links_and_file(struct ctx *c, struct ens_strv *links, const char *real, ens_error_t *err)
{
    for (size_t i = 0; i < links->n; i++)
        if (!ens_strv_has(&c->deps, links->v[i]) && ens_strv_add(&c->deps, links->v[i]) < 0)
            return ens_error(err, ENOMEM, "out of memory");
    if (!ens_strv_has(&c->deps, real) && ens_strv_add(&c->deps, real) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    return 0;
}

static const char *base_of(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Already loaded under this name (by soname or by the name it was found as)? */
static bool already_loaded(const struct ctx *c, const char *name)
{
    if (c->interp_real && ((c->interp_soname && strcmp(c->interp_soname, name) == 0)))
        return true;
    for (size_t i = 1; i < c->nobjs; i++) {
        const struct object *o = &c->objs[i];
        if ((o->info.soname && strcmp(o->info.soname, name) == 0) ||
            (strchr(name, '/') == NULL && strcmp(base_of(o->found), name) == 0) ||
            strcmp(o->found, name) == 0)
            return true;
    }
    return false;
}

static int load_needed(struct ctx *c, size_t idx, const char *name, ens_error_t *err)
{
    if (c->musl && strchr(name, '/') == NULL && musl_reserved(name))
        return 0;
    if (already_loaded(c, name))
        return 0;
    if (c->nobjs >= MAX_OBJECTS)
        return ens_error(err, E2BIG, "%s: more than %d shared objects", c->objs[0].found, MAX_OBJECTS);

    struct object obj = {0};
    struct ens_strv links _cleanup_strv_ = {0};
    enum try_result r = TRY_ABSENT;
    bool other_class = false;
    if (strchr(name, '/') != NULL) {
        _cleanup_free_ char *cand = name[0] == '/' ? strdup(name) : ens_path_join("/", name);
        if (cand == NULL)
            return ens_error(err, ENOMEM, "out of memory");
        r = try_candidate(c, cand, &obj, &links, err);
    } else {
        const struct object *me = &c->objs[idx];
        if (c->musl) {
            /* musl: DT_RUNPATH or DT_RPATH of the object and of every object that needed it. */
            for (int o = (int)idx; o >= 0 && r != TRY_FOUND && r != TRY_ERROR; o = c->objs[o].parent) {
                const struct object *ob = &c->objs[o];
                const char *lp = ob->info.runpath ? ob->info.runpath : ob->info.rpath;
                r = search_list(c, lp, ob->origin, name, &obj, &links, err);
                other_class |= r == TRY_OTHER_CLASS;
            }
        } else if (me->info.runpath == NULL) {
            /* glibc: DT_RPATH of the loader chain up to the executable (objects with DT_RUNPATH have none). */
            for (int o = (int)idx; o >= 0 && r != TRY_FOUND && r != TRY_ERROR; o = c->objs[o].parent) {
                const struct object *ob = &c->objs[o];
                r = search_list(c, ob->info.rpath, ob->origin, name, &obj, &links, err);
                other_class |= r == TRY_OTHER_CLASS;
            }
            if (r != TRY_FOUND && r != TRY_ERROR && c->objs[0].info.runpath == NULL) {
                r = search_list(c, c->objs[0].info.rpath, c->objs[0].origin, name, &obj, &links, err);
                other_class |= r == TRY_OTHER_CLASS;
            }
        }
        if (!c->musl && r != TRY_FOUND && r != TRY_ERROR) {
            r = search_list(c, me->info.runpath, me->origin, name, &obj, &links, err);
            other_class |= r == TRY_OTHER_CLASS;
        }
        for (size_t i = 0; i < c->sysdirs.n && r != TRY_FOUND && r != TRY_ERROR; i++) {
            _cleanup_free_ char *cand = ens_path_join(c->sysdirs.v[i], name);
            if (cand == NULL)
                return ens_error(err, ENOMEM, "out of memory");
            r = try_candidate(c, cand, &obj, &links, err);
            other_class |= r == TRY_OTHER_CLASS;
        }
    }
    if (r == TRY_ERROR)
        return ens_error_wrap(err, "%s needed by %s", name, c->objs[idx].found);
    if (r != TRY_FOUND)
        return ens_error(err, ENOENT, "%s needed by %s: not found inside %s%s", name, c->objs[idx].found,
                         c->root, other_class ? " (only for another ELF class or machine)" : "");
    if (add_links_and_file(c, &links, obj.real, err) < 0) {
        object_free(&obj);
        return -1;
    }
    /* The same file reached under another name is loaded once (the loader compares inodes). */
    for (size_t i = 1; i < c->nobjs; i++)
        if (strcmp(c->objs[i].real, obj.real) == 0) {
            object_free(&obj);
            return 0;
        }
    if (c->interp_real && strcmp(c->interp_real, obj.real) == 0) {
        object_free(&obj);
        return 0;
    }
    obj.parent = (int)idx;
    c->objs[c->nobjs++] = obj;
    return 0;
}

void ens_elf_deps_free(struct ens_elf_deps *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->count; i++)
        free(d->paths[i]);
    free(d->paths);
    d->paths = NULL;
    d->count = 0;
}

static void ctx_free(struct ctx *c)
{
    for (size_t i = 0; i < c->nobjs; i++)
        object_free(&c->objs[i]);
    free(c->objs);
    ens_strv_free(&c->sysdirs);
    ens_strv_free(&c->deps);
    free(c->interp_real);
    free(c->interp_soname);
}

static int resolve_impl(struct ctx *c, const char *exe, ens_error_t *err)
{
    struct stat st;
    _cleanup_free_ char *hroot = ens_root_path(c->root, "/");
    if (hroot == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    if (stat(hroot, &st) < 0 || !S_ISDIR(st.st_mode))
        return ens_error(err, ENOTDIR, "%s: root is not a directory", c->root);

    c->objs = calloc(MAX_OBJECTS, sizeof(struct object));
    if (c->objs == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    struct object *main = &c->objs[0];
    c->nobjs = 1;
    main->parent = -1;
    main->found = strdup(exe);
    if (main->found == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    if (ens_root_resolve(c->root, exe, &main->real, NULL, err) < 0)
        return -1;
    _cleanup_close_ int fd = ens_root_open_file(c->root, main->real, err);
    if (fd < 0)
        return -1;
    if (ens_elf_parse_fd(fd, exe, &main->info, err) < 0)
        return -1;
    /* The loader computes the executable's $ORIGIN from its real path. */
    main->origin = dir_of(main->real);
    if (main->origin == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    c->elf_class = main->info.elf_class;
    c->machine = main->info.machine;
    if (main->info.interp == NULL)
        return 0; /* static (or static-pie): nothing to load */

    const char *interp = main->info.interp;
    if (interp[0] != '/')
        return ens_error(err, ENOEXEC, "%s: relative ELF interpreter %s", exe, interp);
    c->musl = strncmp(base_of(interp), "ld-musl-", 8) == 0;
    struct object iobj = {0};
    struct ens_strv links _cleanup_strv_ = {0};
    enum try_result r = try_candidate(c, interp, &iobj, &links, err);
    if (r == TRY_ERROR)
        return ens_error_wrap(err, "ELF interpreter of %s", exe);
    if (r == TRY_ABSENT)
        return ens_error(err, ENOENT, "%s: ELF interpreter %s not found inside %s", exe, interp, c->root);
    if (r == TRY_OTHER_CLASS)
        return ens_error(err, ENOEXEC, "%s: ELF interpreter %s is for another ELF class or machine", exe, interp);
    if (add_links_and_file(c, &links, iobj.real, err) < 0) {
        object_free(&iobj);
        return -1;
    }
    c->interp_real = ens_steal(&iobj.real);
    if (iobj.info.soname)
        c->interp_soname = ens_steal(&iobj.info.soname);
    else
        c->interp_soname = strdup(base_of(interp));
    object_free(&iobj);

    c->platform_token = platform_name(c->machine);
    const char *trip = multiarch_triplet(c->machine, c->elf_class);
    static char libtok[64];
    c->lib_token = c->elf_class == ELFCLASS64 ? "lib64" : "lib";
    if (!c->musl && trip) {
        char d[80];
        snprintf(d, sizeof(d), "/lib/%s", trip);
        if (root_isdir(c->root, d)) {
            /* Debian's ld.so expands $LIB to the multiarch directory. */
            snprintf(libtok, sizeof(libtok), "lib/%s", trip);
            c->lib_token = libtok;
        }
    }
    if (setup_sysdirs(c, interp, err) < 0)
        return -1;

    /* Breadth-first, like the loader. */
    for (size_t i = 0; i < c->nobjs; i++)
        for (size_t k = 0; k < c->objs[i].info.n_needed; k++)
            if (load_needed(c, i, c->objs[i].info.needed[k], err) < 0)
                return -1;
    return 0;
}

int ens_elf_resolve(const char *root, const char *exe, struct ens_elf_deps *out, ens_error_t *err)
{
    memset(out, 0, sizeof(*out));
    if (root == NULL || root[0] == '\0')
        return ens_error(err, EINVAL, "empty root path");
    if (exe == NULL || exe[0] != '/')
        return ens_error(err, EINVAL, "%s: the executable must be an absolute path inside the root",
                         exe ? exe : "(null)");
    struct ctx c = {.root = root};
    int rc = resolve_impl(&c, exe, err);
    if (rc == 0) {
        if (c.deps.n > 0)
            qsort(c.deps.v, c.deps.n, sizeof(char *), cmp_str);
        out->paths = c.deps.v;
        out->count = c.deps.n;
        memset(&c.deps, 0, sizeof(c.deps));
        if (out->paths == NULL) {
            out->paths = calloc(1, sizeof(char *));
            if (out->paths == NULL)
                rc = ens_error(err, ENOMEM, "out of memory");
        }
    }
    ctx_free(&c);
    return rc;
}
