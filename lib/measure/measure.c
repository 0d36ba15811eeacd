/* SPDX-License-Identifier: Apache-2.0 */
/* The service measurement: see measure.h and docs/measurement.md for the exact byte stream. */
#include "measure/measure.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "crypto/digest.h"
#include "elf/elf.h"
#include "elf/elf_internal.h"

#define MEASURE_MAGIC "ensconce-measurement-v1"
#define SHEBANG_MAX 256
#define MAX_SETTINGS (1u << 20)
#define MAX_ITEMS 8192

const char *ens_interp_kind_name(enum ens_interp_kind k)
{
    switch (k) {
    case ENS_INTERP_NONE: return "native";
    case ENS_INTERP_PYTHON: return "python";
    case ENS_INTERP_NODE: return "node";
    case ENS_INTERP_JAVA: return "java";
    case ENS_INTERP_SHELL: return "shell";
    case ENS_INTERP_OTHER: return "script";
    }
    return "unknown";
}

void ens_measurement_free(struct ens_measurement *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nitems; i++)
        free(m->items[i].path);
    free(m->items);
    free(m->exe);
    free(m->interpreter);
    memset(m, 0, sizeof(*m));
}

static int add_item(struct ens_measurement *m, char kind, const char *path, const uint8_t d[32], ens_error_t *err)
{
    if (m->nitems >= MAX_ITEMS)
        return ens_error(err, E2BIG, "more than %d measured files", MAX_ITEMS);
    struct ens_measure_item *n = realloc(m->items, (m->nitems + 1) * sizeof(*n));
    if (n == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    m->items = n;
    n[m->nitems].path = strdup(path);
    if (n[m->nitems].path == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    n[m->nitems].kind = kind;
    memcpy(n[m->nitems].digest, d, 32);
    m->nitems++;
    return 0;
}

/* Hashes a host file through an fd opened without following a final symlink. */
static int hash_fd(int fd, const char *what, uint8_t out[32], ens_error_t *err)
{
    ens_sha256_ctx *c = ens_sha256_new();
    if (c == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    _cleanup_free_ uint8_t *buf = malloc(1 << 16);
    if (buf == NULL) {
        ens_sha256_free(c);
        return ens_error(err, ENOMEM, "out of memory");
    }
    off_t off = 0;
    for (;;) {
        ssize_t n = pread(fd, buf, 1 << 16, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ens_sha256_free(c);
            return ens_error_errno(err, "read %s", what);
        }
        if (n == 0)
            break;
        ens_sha256_update(c, buf, (size_t)n);
        off += n;
    }
    ens_sha256_final(c, out);
    ens_sha256_free(c);
    return 0;
}

static int hash_in_root(const char *root, const char *resolved, uint8_t out[32], ens_error_t *err)
{
    _cleanup_close_ int fd = ens_root_open_file(root, resolved, err);
    if (fd < 0)
        return -1;
    return hash_fd(fd, resolved, out, err);
}

/* Files are hashed in parallel once everything to measure is known: the items are added first with
 * a pending digest, then worker threads fill the digests in.  The order of the items, and so the
 * value, does not depend on the threads. */
struct hash_job {
    size_t item;
    const char *root;  /* NULL: path is a host path (the runtime) */
    char *path;
    ens_error_t err;
};

struct hash_jobs {
    struct hash_job *v;
    size_t n, cap;
    _Atomic size_t next;
    struct ens_measurement *m;
};

static int add_pending(struct ens_measurement *m, struct hash_jobs *jobs, char kind, const char *item_path,
                       const char *root, const char *path, ens_error_t *err)
{
    static const uint8_t zero[32];
    if (add_item(m, kind, item_path, zero, err) < 0)
        return -1;
    if (jobs->n == jobs->cap) {
        size_t ncap = jobs->cap ? jobs->cap * 2 : 32;
        struct hash_job *nv = realloc(jobs->v, ncap * sizeof(*nv));
        if (nv == NULL)
            return ens_error(err, ENOMEM, "out of memory");
        jobs->v = nv;
        jobs->cap = ncap;
    }
    struct hash_job *j = &jobs->v[jobs->n];
    memset(j, 0, sizeof(*j));
    j->item = m->nitems - 1;
    j->root = root;
    j->path = strdup(path);
    if (j->path == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    jobs->n++;
    return 0;
}

static void *hash_worker(void *arg)
{
    struct hash_jobs *jobs = arg;
    for (;;) {
        size_t i = jobs->next++;
        if (i >= jobs->n)
            return NULL;
        struct hash_job *j = &jobs->v[i];
        uint8_t d[32];
        int rc;
        if (j->root == NULL) {
            int fd = open(j->path, O_RDONLY | O_CLOEXEC);
            rc = fd < 0 ? ens_error_errno(&j->err, "measure runtime %s", j->path) : hash_fd(fd, j->path, d, &j->err);
            if (fd >= 0)
                close(fd);
        } else {
            rc = hash_in_root(j->root, j->path, d, &j->err);
        }
        if (rc == 0)
            memcpy(jobs->m->items[j->item].digest, d, 32);
    }
}

static int run_jobs(struct hash_jobs *jobs, ens_error_t *err)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nthreads = ncpu > 1 ? (size_t)ncpu : 1;
    if (nthreads > 8)
        nthreads = 8;
    if (nthreads > jobs->n)
        nthreads = jobs->n;
    pthread_t th[8];
    size_t started = 0;
    for (size_t i = 1; i < nthreads; i++)
        if (pthread_create(&th[started], NULL, hash_worker, jobs) == 0)
            started++;
    hash_worker(jobs); /* this thread works too */
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    for (size_t i = 0; i < jobs->n; i++)
        if (jobs->v[i].err) {
            *err = jobs->v[i].err;
            jobs->v[i].err = NULL;
            return -1;
        }
    return 0;
}

static void jobs_free(struct hash_jobs *jobs)
{
    for (size_t i = 0; i < jobs->n; i++) {
        free(jobs->v[i].path);
        ens_error_release(&jobs->v[i].err);
    }
    free(jobs->v);
}

static bool is_exec_file(const char *root, const char *resolved)
{
    _cleanup_free_ char *host = ens_root_path(root, resolved);
    struct stat st;
    return host && stat(host, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

int ens_measure_which(const char *root, const char *name, const char *path, char **found, ens_error_t *err)
{
    if (name == NULL || name[0] == '\0')
        return ens_error(err, EINVAL, "empty program name");
    if (strchr(name, '/')) {
        if (name[0] != '/')
            return ens_error(err, EINVAL, "%s: program paths must be absolute", name);
        _cleanup_free_ char *res = NULL;
        if (ens_root_resolve(root, name, &res, NULL, err) < 0)
            return -1;
        if (!is_exec_file(root, res))
            return ens_error(err, EACCES, "%s (inside %s): not an executable file", name, root);
        *found = strdup(name);
        return *found ? 0 : ens_error(err, ENOMEM, "out of memory");
    }
    _cleanup_free_ char *copy = strdup(path ? path : ENS_MEASURE_DEFAULT_PATH);
    if (copy == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    char *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        if (d[0] != '/')
            continue;
        _cleanup_free_ char *cand = ens_path_join(d, name);
        _cleanup_free_ char *res = NULL;
        _cleanup_error_ ens_error_t e = NULL;
        if (cand == NULL)
            return ens_error(err, ENOMEM, "out of memory");
        if (ens_root_resolve(root, cand, &res, NULL, &e) == 0 && is_exec_file(root, res)) {
            *found = ens_steal(&cand);
            return 0;
        }
    }
    return ens_error(err, ENOENT, "%s: not found in PATH inside %s", name, root);
}

static enum ens_interp_kind kind_of(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    if (strncmp(b, "python", 6) == 0 || strncmp(b, "pypy", 4) == 0)
        return ENS_INTERP_PYTHON;
    if (strcmp(b, "node") == 0 || strcmp(b, "nodejs") == 0 || strncmp(b, "node-", 5) == 0)
        return ENS_INTERP_NODE;
    if (strcmp(b, "java") == 0)
        return ENS_INTERP_JAVA;
    if (strcmp(b, "sh") == 0 || strcmp(b, "bash") == 0 || strcmp(b, "dash") == 0 || strcmp(b, "ash") == 0 ||
        strcmp(b, "busybox") == 0 || strcmp(b, "zsh") == 0)
        return ENS_INTERP_SHELL;
    return ENS_INTERP_NONE;
}

/* Reads a "#!" line: interpreter and optional single argument (the kernel's rules). 1 = script. */
static int read_shebang(const char *root, const char *resolved, char **interp, char **arg, ens_error_t *err)
{
    _cleanup_close_ int fd = ens_root_open_file(root, resolved, err);
    if (fd < 0)
        return -1;
    char buf[SHEBANG_MAX + 1];
    ssize_t n = pread(fd, buf, SHEBANG_MAX, 0);
    if (n < 0)
        return ens_error_errno(err, "read %s", resolved);
    buf[n] = '\0';
    if (n < 2 || buf[0] != '#' || buf[1] != '!')
        return 0;
    char *nl = memchr(buf, '\n', (size_t)n);
    if (nl == NULL)
        return ens_error(err, ENOEXEC, "%s: \"#!\" line longer than %d bytes", resolved, SHEBANG_MAX);
    *nl = '\0';
    char *p = buf + 2;
    while (*p == ' ' || *p == '\t')
        p++;
    char *end = p;
    while (*end && *end != ' ' && *end != '\t')
        end++;
    if (end == p)
        return ens_error(err, ENOEXEC, "%s: empty \"#!\" line", resolved);
    char *a = NULL;
    if (*end) {
        *end++ = '\0';
        while (*end == ' ' || *end == '\t')
            end++;
        size_t l = strlen(end);
        while (l > 0 && (end[l - 1] == ' ' || end[l - 1] == '\t' || end[l - 1] == '\r'))
            end[--l] = '\0';
        if (l > 0)
            a = end;
    }
    size_t l = strlen(p);
    while (l > 0 && p[l - 1] == '\r')
        p[--l] = '\0';
    *interp = strdup(p);
    *arg = a ? strdup(a) : NULL;
    if (*interp == NULL || (a && *arg == NULL))
        return ens_error(err, ENOMEM, "out of memory");
    return 1;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Resolves an ELF program's dependencies and adds them to the sorted set. */
static int collect_deps(const char *root, const char *exe, struct ens_strv *set, ens_error_t *err)
{
    struct ens_elf_deps d = {0};
    if (ens_elf_resolve(root, exe, &d, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < d.count && rc == 0; i++)
        if (!ens_strv_has(set, d.paths[i]) && ens_strv_add(set, d.paths[i]) < 0)
            rc = ens_error(err, ENOMEM, "out of memory");
    ens_elf_deps_free(&d);
    return rc;
}

static int canonical_settings(const char *json, char **out, ens_error_t *err)
{
    json_error_t je;
    json_t *doc = json_loads(json ? json : "{}", JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL)
        return ens_error(err, EINVAL, "measured settings: invalid JSON at line %d: %s", je.line, je.text);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return ens_error(err, EINVAL, "measured settings: not a JSON object");
    }
    *out = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    json_decref(doc);
    if (*out == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    return 0;
}

static int measure_impl(const struct ens_measure_spec *s, struct ens_measurement *m, struct hash_jobs *jobs,
                        ens_error_t *err)
{
    uint8_t d[32];
    if (s->root == NULL || s->exe == NULL)
        return ens_error(err, EINVAL, "measurement: root and executable are required");
    if (strlen(s->exe) >= PATH_MAX)
        return ens_error(err, ENAMETOOLONG, "measurement: executable name too long");
    _cleanup_free_ char *settings = NULL;
    if (s->settings_json && strlen(s->settings_json) > MAX_SETTINGS)
        return ens_error(err, E2BIG, "measured settings larger than %u bytes", MAX_SETTINGS);
    if (canonical_settings(s->settings_json, &settings, err) < 0)
        return -1;

    /* 1. The runtime itself. */
    if (s->runtime && add_pending(m, jobs, 'R', "ensconce-run", NULL, s->runtime, err) < 0)
        return -1;

    /* 2. The service executable. */
    _cleanup_free_ char *found = NULL;
    if (ens_measure_which(s->root, s->exe, s->path, &found, err) < 0)
        return ens_error_wrap(err, "service executable");
    if (ens_root_resolve(s->root, found, &m->exe, NULL, err) < 0)
        return -1;
    if (add_pending(m, jobs, 'X', m->exe, s->root, m->exe, err) < 0)
        return -1;

    struct ens_strv deps = {0};
    int rc = 0;
    _cleanup_free_ char *sb_interp = NULL, *sb_arg = NULL;
    int script = read_shebang(s->root, m->exe, &sb_interp, &sb_arg, err);
    if (script < 0)
        return -1;
    if (script == 0) {
        m->kind = kind_of(m->exe);
        rc = collect_deps(s->root, m->exe, &deps, err);
        if (rc < 0)
            ens_error_wrap(err, "%s", s->exe);
    } else {
        /* 2b. The script's interpreter; with "env NAME", also NAME from PATH. */
        if (sb_interp[0] != '/') {
            ens_strv_free(&deps);
            return ens_error(err, ENOEXEC, "%s: relative \"#!\" interpreter %s", m->exe, sb_interp);
        }
        _cleanup_free_ char *ires = NULL;
        if (ens_root_resolve(s->root, sb_interp, &ires, NULL, err) < 0 ||
            add_pending(m, jobs, 'I', ires, s->root, ires, err) < 0) {
            ens_strv_free(&deps);
            return ens_error_wrap(err, "interpreter of %s", m->exe);
        }
        rc = collect_deps(s->root, ires, &deps, err);
        const char *b = strrchr(sb_interp, '/') + 1;
        if (rc == 0 && strcmp(b, "env") == 0 && sb_arg) {
            /* "#!/usr/bin/env [-S] NAME ...": the first word that is not an option. */
            _cleanup_free_ char *words = strdup(sb_arg);
            char *save = NULL, *name = NULL;
            for (char *w = words ? strtok_r(words, " \t", &save) : NULL; w; w = strtok_r(NULL, " \t", &save))
                if (w[0] != '-' && strchr(w, '=') == NULL) {
                    name = w;
                    break;
                }
            if (name == NULL) {
                rc = ens_error(err, ENOEXEC, "%s: cannot tell the interpreter from \"#!%s %s\"", m->exe,
                               sb_interp, sb_arg);
            } else {
                _cleanup_free_ char *f2 = NULL, *r2 = NULL;
                if (ens_measure_which(s->root, name, s->path, &f2, err) < 0 ||
                    ens_root_resolve(s->root, f2, &r2, NULL, err) < 0 ||
                    add_pending(m, jobs, 'I', r2, s->root, r2, err) < 0 ||
                    collect_deps(s->root, r2, &deps, err) < 0)
                    rc = ens_error_wrap(err, "interpreter of %s", m->exe);
                else
                    m->interpreter = ens_steal(&r2);
            }
        } else if (rc == 0) {
            m->interpreter = ens_steal(&ires);
        }
        if (rc == 0) {
            m->kind = kind_of(m->interpreter);
            if (m->kind == ENS_INTERP_NONE)
                m->kind = ENS_INTERP_OTHER;
        }
    }
    if (rc < 0) {
        ens_strv_free(&deps);
        return -1;
    }

    /* 3. ELF interpreter, libraries and their symlinks, sorted by path. */
    qsort(deps.v, deps.n, sizeof(char *), cmp_path);
    for (size_t i = 0; i < deps.n && rc == 0; i++) {
        _cleanup_free_ char *host = ens_root_path(s->root, deps.v[i]);
        struct stat st;
        if (host == NULL || lstat(host, &st) < 0) {
            rc = ens_error_errno(err, "%s (inside %s)", deps.v[i], s->root);
            break;
        }
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t tl = readlink(host, target, sizeof(target) - 1);
            if (tl < 0) {
                rc = ens_error_errno(err, "readlink %s (inside %s)", deps.v[i], s->root);
                break;
            }
            ens_sha256(target, (size_t)tl, d);
            rc = add_item(m, 'K', deps.v[i], d, err);
        } else {
            rc = add_pending(m, jobs, 'L', deps.v[i], s->root, deps.v[i], err);
        }
    }
    ens_strv_free(&deps);
    if (rc < 0)
        return -1;

    /* The file digests, in parallel. */
    if (run_jobs(jobs, err) < 0)
        return -1;

    /* 4. The measured settings. */
    ens_sha256(settings, strlen(settings), d);
    if (add_item(m, 'S', "settings", d, err) < 0)
        return -1;

    /* The digest over the item list. */
    ens_sha256_ctx *c = ens_sha256_new();
    if (c == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    ens_sha256_update(c, MEASURE_MAGIC, sizeof(MEASURE_MAGIC)); /* including the NUL */
    for (size_t i = 0; i < m->nitems; i++) {
        uint32_t len = htonl((uint32_t)strlen(m->items[i].path));
        ens_sha256_update(c, &m->items[i].kind, 1);
        ens_sha256_update(c, &len, 4);
        ens_sha256_update(c, m->items[i].path, strlen(m->items[i].path));
        ens_sha256_update(c, m->items[i].digest, 32);
    }
    ens_sha256_final(c, m->digest);
    ens_sha256_free(c);
    ens_hex_encode(m->digest, 32, m->hex);
    return 0;
}

int ens_measure(const struct ens_measure_spec *spec, struct ens_measurement *out, ens_error_t *err)
{
    memset(out, 0, sizeof(*out));
    struct hash_jobs jobs = {.m = out};
    int rc = measure_impl(spec, out, &jobs, err);
    jobs_free(&jobs);
    if (rc < 0)
        ens_measurement_free(out);
    return rc;
}
