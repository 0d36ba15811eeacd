/* SPDX-License-Identifier: Apache-2.0 */
/* Pack a tree into a shield; verify, unpack (memory mode) and show one. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "crypto/digest.h"
#include "shield/shield_internal.h"

struct sh_obj *sh_obj_new(const uint8_t id[SH_OBJ_ID_LEN]);

struct hardlink {
    dev_t dev;
    ino_t ino;
    uint64_t sino;
};

struct packer {
    const char *src, *out;
    const uint8_t *vk;
    const struct ens_shield_pack_opts *opts;
    struct sh_manifest *m;
    struct hardlink *links;
    size_t nlinks, caplinks;
    uint8_t *buf, *cbuf;
    unsigned long long files;
};

static int region_of(const struct ens_shield_pack_opts *o, const char *rel)
{
    size_t best = 0;
    int r = o->default_region;
    for (size_t i = 0; i < o->nrules; i++) {
        const char *p = o->rules[i].path;
        size_t l = strlen(p);
        while (l > 1 && p[l - 1] == '/')
            l--;
        bool match = (l == 1 && p[0] == '/') ||
                     (strncmp(rel, p, l) == 0 && (rel[l] == '\0' || rel[l] == '/'));
        if (match && l >= best) {
            best = l;
            r = (int)o->rules[i].region;
        }
    }
    return r;
}

static bool rule_below(const struct ens_shield_pack_opts *o, const char *rel)
{
    /* true when some non-plain rule lies strictly inside rel (so a plain dir must be descended) */
    size_t l = strlen(rel);
    for (size_t i = 0; i < o->nrules; i++)
        if (o->rules[i].region != ENS_SHIELD_PLAIN && strncmp(o->rules[i].path, rel, l) == 0 &&
            (l == 1 || o->rules[i].path[l] == '/'))
            return true;
    return false;
}

static void set_attrs(struct sh_node *n, const struct stat *st)
{
    n->mode = st->st_mode & 07777;
    n->uid = st->st_uid;
    n->gid = st->st_gid;
    n->mtime = n->ctime = st->st_mtim.tv_sec;
    n->mtime_ns = n->ctime_ns = (uint32_t)st->st_mtim.tv_nsec;
}

static int write_full(int fd, const void *b, size_t len, off_t off)
{
    const uint8_t *p = b;
    while (len) {
        ssize_t w = pwrite(fd, p, len, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
        off += w;
    }
    return 0;
}

static int read_full(int fd, void *b, size_t len, off_t off)
{
    uint8_t *p = b;
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, p + got, len - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (int)(got == len ? 0 : -1);
}

/* Encrypts one source file into a new object; fills n->obj, n->root, n->size. */
static int pack_file(struct packer *p, int srcfd, const char *rel, struct sh_node *n, uint64_t size,
                     ens_error_t *err)
{
    if (sh_new_obj_id(n->obj, err) < 0)
        return -1;
    struct sh_obj *o = sh_obj_new(n->obj);
    if (!o)
        return ens_error(err, ENOMEM, "out of memory");
    n->o = o;
    if (sh_obj_keys(o, p->vk) < 0)
        return ens_error(err, EIO, "key derivation failed");
    _cleanup_free_ char *dp = sh_obj_path(p->out, n->obj, NULL);
    _cleanup_free_ char *tp = sh_obj_path(p->out, n->obj, ".t");
    if (!dp || !tp)
        return ens_error(err, ENOMEM, "out of memory");
    char *slash = strrchr(dp, '/');
    *slash = '\0';
    if (mkdir(dp, 0755) < 0 && errno != EEXIST)
        return ens_error_errno(err, "mkdir %s", dp);
    *slash = '/';
    _cleanup_close_ int fd = open(dp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return ens_error_errno(err, "create %s", dp);
    uint64_t nch = sh_nchunks(size, p->m->chunk);
    _cleanup_free_ struct sh_tent *tab = calloc(nch + 1, sizeof(*tab));
    if (!tab)
        return ens_error(err, ENOMEM, "out of memory");
    uint64_t ctr = 0;
    for (uint64_t i = 0; i < nch; i++) {
        off_t off = (off_t)(i * p->m->chunk);
        size_t len = sh_chunk_len(p->m, n, i);
        /* A chunk wholly inside a hole of the source stays a hole (sparse files). */
        off_t data = lseek(srcfd, off, SEEK_DATA);
        if ((data < 0 && errno == ENXIO) || (data >= 0 && (uint64_t)data >= (uint64_t)off + len))
            continue;
        if (read_full(srcfd, p->buf, len, off) < 0)
            return ens_error_errno(err, "read %s (file changed while packing?)", rel);
        tab[i].ctr = ++ctr;
        if (sh_chunk_seal(o, n->region, i, tab[i].ctr, p->buf, len, p->cbuf, tab[i].tag) < 0)
            return ens_error(err, EIO, "%s: encryption failed", rel);
        if (write_full(fd, p->cbuf, len, off) < 0)
            return ens_error_errno(err, "write %s", dp);
    }
    if (ftruncate(fd, (off_t)size) < 0)
        return ens_error_errno(err, "truncate %s", dp);
    _cleanup_free_ uint8_t *tb = malloc(nch * SH_TENT_LEN + 1);
    if (!tb)
        return ens_error(err, ENOMEM, "out of memory");
    sh_table_encode(tab, nch, tb);
    n->tab_inline = nch <= SH_INLINE_MAX;
    if (n->tab_inline) {
        memcpy(n->itab, tb, nch * SH_TENT_LEN);
        sh_obj_free(n->o);
        n->o = NULL;
        return 0;
    }
    sh_table_root(tab, nch, n->root);
    _cleanup_close_ int tfd = open(tp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (tfd < 0 || ens_write_all(tfd, tb, nch * SH_TENT_LEN, err) < 0)
        return ens_error_errno(err, "write %s", tp);
    sh_obj_free(n->o);
    n->o = NULL;
    return 0;
}

static int pack_dir(struct packer *p, const char *abs, const char *rel, struct sh_node *dir, bool *added,
                    ens_error_t *err);

static int pack_entry(struct packer *p, const char *abs, const char *rel, struct sh_node *dir, const char *name,
                      bool *added, ens_error_t *err)
{
    struct stat st;
    if (lstat(abs, &st) < 0)
        return ens_error_errno(err, "stat %s", abs);
    int region = region_of(p->opts, rel);
    if (S_ISDIR(st.st_mode)) {
        if (region == ENS_SHIELD_PLAIN && !rule_below(p->opts, rel))
            return 0;
        struct sh_node *n = sh_node_new(p->m, SH_DIR);
        if (!n)
            return ens_error(err, ENOMEM, "out of memory");
        set_attrs(n, &st);
        bool sub = false;
        if (pack_dir(p, abs, rel, n, &sub, err) < 0)
            return -1;
        if (region == ENS_SHIELD_PLAIN && !sub) {
            /* nothing protected below: drop it again (it is the last node) */
            p->m->nodes[--p->m->nnodes] = NULL;
            sh_node_free(n);
            return 0;
        }
        *added = true;
        return sh_dir_add(dir, name, n->ino) < 0 ? ens_error(err, ENOMEM, "out of memory") : 0;
    }
    if (region == ENS_SHIELD_PLAIN)
        return 0;
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
        ens_log(ENS_LOG_WARN, "shield pack: skipping %s (not a regular file, directory or symlink)", rel);
        return 0;
    }
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
        for (size_t i = 0; i < p->nlinks; i++)
            if (p->links[i].dev == st.st_dev && p->links[i].ino == st.st_ino) {
                *added = true;
                return sh_dir_add(dir, name, p->links[i].sino) < 0 ? ens_error(err, ENOMEM, "out of memory") : 0;
            }
    }
    struct sh_node *n = sh_node_new(p->m, S_ISREG(st.st_mode) ? SH_REG : SH_LNK);
    if (!n)
        return ens_error(err, ENOMEM, "out of memory");
    set_attrs(n, &st);
    if (S_ISLNK(st.st_mode)) {
        char tgt[PATH_MAX];
        ssize_t l = readlink(abs, tgt, sizeof(tgt) - 1);
        if (l <= 0)
            return ens_error_errno(err, "readlink %s", abs);
        tgt[l] = '\0';
        n->target = strdup(tgt);
        if (!n->target)
            return ens_error(err, ENOMEM, "out of memory");
    } else {
        n->region = region;
        n->size = (uint64_t)st.st_size;
        if (n->size > SH_MAX_SIZE)
            return ens_error(err, EFBIG, "%s: file too large", rel);
        _cleanup_close_ int fd = open(abs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            return ens_error_errno(err, "open %s", abs);
        if (pack_file(p, fd, rel, n, n->size, err) < 0)
            return -1;
        p->files++;
        ens_progress("packing files", p->files, 0);
        if (st.st_nlink > 1) {
            if (p->nlinks == p->caplinks) {
                size_t nc = p->caplinks ? p->caplinks * 2 : 16;
                struct hardlink *nl = realloc(p->links, nc * sizeof(*nl));
                if (!nl)
                    return ens_error(err, ENOMEM, "out of memory");
                p->links = nl;
                p->caplinks = nc;
            }
            p->links[p->nlinks++] = (struct hardlink){st.st_dev, st.st_ino, n->ino};
        }
    }
    *added = true;
    return sh_dir_add(dir, name, n->ino) < 0 ? ens_error(err, ENOMEM, "out of memory") : 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int pack_dir(struct packer *p, const char *abs, const char *rel, struct sh_node *dir, bool *added,
                    ens_error_t *err)
{
    DIR *d = opendir(abs);
    if (!d)
        return ens_error_errno(err, "open directory %s", abs);
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(names, cap * sizeof(*nn));
            if (!nn) {
                rc = ens_error(err, ENOMEM, "out of memory");
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = ens_error(err, ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == 0 && n > 1)
        qsort(names, n, sizeof(*names), cmp_str); /* deterministic order */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        _cleanup_free_ char *a = ens_path_join(abs, names[i]);
        _cleanup_free_ char *r = NULL;
        if (!a || asprintf(&r, "%s%s%s", rel, strcmp(rel, "/") == 0 ? "" : "/", names[i]) < 0) {
            rc = ens_error(err, ENOMEM, "out of memory");
            break;
        }
        rc = pack_entry(p, a, r, dir, names[i], added, err);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static int prepare_out(const char *out, char **tmp, ens_error_t *err)
{
    struct stat st;
    if (lstat(out, &st) == 0) {
        if (!S_ISDIR(st.st_mode) || rmdir(out) < 0)
            return ens_error(err, EEXIST, "%s exists and is not an empty directory", out);
    }
    if (asprintf(tmp, "%s.tmp-XXXXXX", out) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    if (!mkdtemp(*tmp))
        return ens_error_errno(err, "create %s", *tmp);
    chmod(*tmp, 0755);
    _cleanup_free_ char *od = ens_path_join(*tmp, "objects");
    if (!od || mkdir(od, 0755) < 0)
        return ens_error_errno(err, "mkdir %s", od ? od : "objects");
    return 0;
}

static int finish_out(const char *tmp, const char *out, ens_error_t *err)
{
    _cleanup_close_ int fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || syncfs(fd) < 0)
        return ens_error_errno(err, "sync %s", tmp);
    if (rename(tmp, out) < 0)
        return ens_error_errno(err, "rename %s to %s", tmp, out);
    _cleanup_free_ char *dup = strdup(out);
    if (dup) {
        char *s = strrchr(dup, '/');
        const char *parent = s ? (s == dup ? "/" : (*s = '\0', dup)) : ".";
        _cleanup_close_ int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd >= 0)
            fsync(pfd);
    }
    return 0;
}

int ens_shield_pack(const char *src_dir, const char *shield_dir, const uint8_t key[ENS_SHIELD_KEY_LEN],
                    const struct ens_shield_pack_opts *opts, uint8_t tag[ENS_SHIELD_TAG_LEN], ens_error_t *err)
{
    struct ens_shield_pack_opts defaults = {0};
    if (!opts)
        opts = &defaults;
    uint32_t chunk = opts->chunk_size ? opts->chunk_size : ENS_SHIELD_DEFAULT_CHUNK;
    if (chunk < SH_MIN_CHUNK || chunk > SH_MAX_CHUNK || (chunk & (chunk - 1)))
        return ens_error(err, EINVAL, "chunk size %u is not a power of two in [4096, 4194304]", chunk);
    for (size_t i = 0; i < opts->nrules; i++)
        if (!opts->rules[i].path || opts->rules[i].path[0] != '/')
            return ens_error(err, EINVAL, "region path '%s' must be absolute (as seen inside the tree)",
                             opts->rules[i].path ? opts->rules[i].path : "");
    struct stat st;
    if (stat(src_dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return ens_error(err, ENOTDIR, "%s is not a directory", src_dir);
    _cleanup_free_ char *tmp = NULL;
    if (prepare_out(shield_dir, &tmp, err) < 0)
        return -1;
    struct packer p = {.src = src_dir, .out = tmp, .vk = key, .opts = opts};
    int rc = -1;
    p.m = sh_manifest_new(chunk);
    p.buf = malloc(chunk);
    p.cbuf = malloc(chunk + 16);
    if (!p.m || !p.buf || !p.cbuf) {
        ens_error(err, ENOMEM, "out of memory");
        goto out;
    }
    p.m->default_region = opts->default_region;
    p.m->rules = calloc(opts->nrules + 1, sizeof(*p.m->rules));
    if (!p.m->rules)
        goto out;
    for (size_t i = 0; i < opts->nrules; i++) {
        p.m->rules[i].path = strdup(opts->rules[i].path);
        p.m->rules[i].region = (int)opts->rules[i].region;
        p.m->nrules++;
    }
    struct sh_node *root = sh_node_new(p.m, SH_DIR);
    if (!root)
        goto out;
    set_attrs(root, &st);
    bool added = false;
    if (pack_dir(&p, src_dir, "/", root, &added, err) < 0)
        goto out;
    ens_progress_done("packing files");
    if (sh_commit_manifest(tmp, key, p.m, tag, err) < 0 || finish_out(tmp, shield_dir, err) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0) {
        if (err && !*err)
            ens_error(err, ENOMEM, "out of memory");
        ens_error_wrap(err, "pack %s", src_dir);
        _cleanup_error_ ens_error_t e2 = NULL;
        ens_rm_rf(tmp, &e2);
    }
    sh_manifest_free(p.m);
    free(p.links);
    free(p.buf);
    free(p.cbuf);
    return rc;
}

int ens_shield_init(const char *shield_dir, const uint8_t key[ENS_SHIELD_KEY_LEN], uint8_t tag[ENS_SHIELD_TAG_LEN],
                    ens_error_t *err)
{
    return ens_shield_init_chunked(shield_dir, key, 0, tag, err);
}

int ens_shield_init_chunked(const char *shield_dir, const uint8_t key[ENS_SHIELD_KEY_LEN], uint32_t chunk,
                            uint8_t tag[ENS_SHIELD_TAG_LEN], ens_error_t *err)
{
    if (chunk == 0)
        chunk = ENS_SHIELD_DEFAULT_CHUNK;
    if (chunk < SH_MIN_CHUNK || chunk > SH_MAX_CHUNK || (chunk & (chunk - 1)))
        return ens_error(err, EINVAL, "chunk size %u is not a power of two in [4096, 4194304]", chunk);
    _cleanup_free_ char *tmp = NULL;
    if (prepare_out(shield_dir, &tmp, err) < 0)
        return -1;
    struct sh_manifest *m = sh_manifest_new(chunk);
    struct sh_node *root = m ? sh_node_new(m, SH_DIR) : NULL;
    int rc = -1;
    if (!root) {
        ens_error(err, ENOMEM, "out of memory");
    } else {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        root->mode = 0755;
        root->uid = getuid();
        root->gid = getgid();
        root->mtime = root->ctime = now.tv_sec;
        root->mtime_ns = root->ctime_ns = (uint32_t)now.tv_nsec;
        rc = sh_commit_manifest(tmp, key, m, tag, err) < 0 || finish_out(tmp, shield_dir, err) < 0 ? -1 : 0;
    }
    sh_manifest_free(m);
    if (rc < 0) {
        _cleanup_error_ ens_error_t e2 = NULL;
        ens_rm_rf(tmp, &e2);
    }
    return rc;
}

/* ---- verify / unpack ---- */

static int walk_verify(const char *shield, const uint8_t *key, struct sh_manifest *m, ens_error_t *err)
{
    _cleanup_free_ uint8_t *buf = malloc(m->chunk + 16);
    if (!buf)
        return ens_error(err, ENOMEM, "out of memory");
    for (size_t i = 1; i < m->nnodes; i++) {
        struct sh_node *n = m->nodes[i];
        if (n->type != SH_REG)
            continue;
        if (sh_obj_load(shield, key, m, n, err) < 0)
            return -1;
        uint64_t nch = sh_nchunks(n->size, m->chunk);
        for (uint64_t c = 0; c < nch; c++)
            if (sh_obj_read_chunk(m, n, c, buf, sh_chunk_len(m, n, c), err) < 0)
                return -1;
        sh_obj_free(n->o);
        n->o = NULL;
    }
    return 0;
}

int ens_shield_verify(const char *shield_dir, const uint8_t key[ENS_SHIELD_KEY_LEN],
                      const uint8_t tag[ENS_SHIELD_TAG_LEN], ens_error_t *err)
{
    struct sh_manifest *m = NULL;
    if (sh_load(shield_dir, key, tag, false, &m, NULL, err) < 0)
        return -1;
    int rc = walk_verify(shield_dir, key, m, err);
    sh_manifest_free(m);
    return rc;
}

struct unpacker {
    const char *shield;
    const uint8_t *key;
    struct sh_manifest *m;
    char **made; /* first path created for each inode (hard links) */
    uint8_t *buf;
};

static int set_meta(const char *path, const struct sh_node *n, bool is_link, ens_error_t *err)
{
    if (geteuid() == 0 && lchown(path, n->uid, n->gid) < 0)
        return ens_error_errno(err, "chown %s", path);
    if (!is_link && chmod(path, n->mode) < 0)
        return ens_error_errno(err, "chmod %s", path);
    struct timespec ts[2] = {{n->mtime, n->mtime_ns}, {n->mtime, n->mtime_ns}};
    if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return ens_error_errno(err, "set times of %s", path);
    return 0;
}

static int unpack_file(struct unpacker *u, struct sh_node *n, const char *path, ens_error_t *err)
{
    if (sh_obj_load(u->shield, u->key, u->m, n, err) < 0)
        return -1;
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return ens_error_errno(err, "create %s", path);
    uint64_t nch = sh_nchunks(n->size, u->m->chunk);
    for (uint64_t c = 0; c < nch; c++) {
        if (n->o->tab[c].ctr == 0)
            continue; /* hole */
        size_t len = sh_chunk_len(u->m, n, c);
        if (sh_obj_read_chunk(u->m, n, c, u->buf, len, err) < 0)
            return -1;
        if (write_full(fd, u->buf, len, (off_t)(c * u->m->chunk)) < 0)
            return ens_error_errno(err, "write %s", path);
    }
    if (ftruncate(fd, (off_t)n->size) < 0)
        return ens_error_errno(err, "truncate %s", path);
    sh_obj_free(n->o);
    n->o = NULL;
    return 0;
}

static int unpack_dir(struct unpacker *u, struct sh_node *dir, const char *path, ens_error_t *err)
{
    for (size_t i = 0; i < dir->nents; i++) {
        struct sh_node *c = u->m->nodes[dir->ents[i].ino];
        _cleanup_free_ char *p = ens_path_join(path, dir->ents[i].name);
        if (!p)
            return ens_error(err, ENOMEM, "out of memory");
        if (c->type != SH_DIR && u->made[c->ino]) {
            if (link(u->made[c->ino], p) < 0)
                return ens_error_errno(err, "link %s", p);
            continue;
        }
        if (c->type == SH_DIR) {
            if (mkdir(p, 0700) < 0)
                return ens_error_errno(err, "mkdir %s", p);
            if (unpack_dir(u, c, p, err) < 0)
                return -1;
        } else if (c->type == SH_LNK) {
            if (symlink(c->target, p) < 0)
                return ens_error_errno(err, "symlink %s", p);
        } else if (unpack_file(u, c, p, err) < 0) {
            return -1;
        }
        if (set_meta(p, c, c->type == SH_LNK, err) < 0)
            return -1;
        u->made[c->ino] = ens_steal(&p);
    }
    return 0;
}

int ens_shield_unpack(const char *shield_dir, const uint8_t key[ENS_SHIELD_KEY_LEN],
                      const uint8_t tag[ENS_SHIELD_TAG_LEN], const char *dest_dir, ens_error_t *err)
{
    struct sh_manifest *m = NULL;
    if (sh_load(shield_dir, key, tag, false, &m, NULL, err) < 0)
        return -1;
    int rc = -1;
    struct unpacker u = {.shield = shield_dir, .key = key, .m = m};
    if (ens_mkdir_p(dest_dir, 0700, err) < 0)
        goto out;
    {
        _cleanup_closedir_ DIR *d = opendir(dest_dir);
        struct dirent *de;
        while (d && (de = readdir(d)))
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 && strcmp(de->d_name, "lost+found") != 0) {
                ens_error(err, ENOTEMPTY, "unpack: %s is not empty", dest_dir);
                goto out;
            }
    }
    u.made = calloc(m->nnodes, sizeof(*u.made));
    u.buf = malloc(m->chunk + 16);
    if (!u.made || !u.buf) {
        ens_error(err, ENOMEM, "out of memory");
        goto out;
    }
    if (unpack_dir(&u, m->nodes[1], dest_dir, err) < 0 || set_meta(dest_dir, m->nodes[1], false, err) < 0) {
        /* fail closed: nothing half-verified stays behind */
        _cleanup_closedir_ DIR *d = opendir(dest_dir);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            _cleanup_free_ char *p = ens_path_join(dest_dir, de->d_name);
            _cleanup_error_ ens_error_t e2 = NULL;
            if (p)
                ens_rm_rf(p, &e2);
        }
        ens_error_wrap(err, "unpack %s", shield_dir);
        goto out;
    }
    rc = 0;
out:
    if (u.made)
        for (size_t i = 0; i < m->nnodes; i++)
            free(u.made[i]);
    free(u.made);
    free(u.buf);
    sh_manifest_free(m);
    return rc;
}

/* ---- show ---- */

static void show_dir(FILE *out, struct sh_manifest *m, struct sh_node *d, const char *path, bool *seen)
{
    for (size_t i = 0; i < d->nents; i++) {
        struct sh_node *c = m->nodes[d->ents[i].ino];
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "%s/%s", strcmp(path, "/") == 0 ? "" : path, d->ents[i].name) < 0)
            return;
        char kind = c->type == SH_DIR ? 'd' : c->type == SH_LNK ? 'l' : '-';
        fprintf(out, "%c %04o %5u %5u %14llu %-13s %s", kind, c->mode, c->uid, c->gid,
                (unsigned long long)(c->type == SH_REG ? c->size : 0),
                c->type == SH_REG ? ens_shield_region_name(c->region) : "", p);
        if (c->type == SH_LNK)
            fprintf(out, " -> %s", c->target);
        if (c->type == SH_REG && seen[c->ino])
            fprintf(out, " (hard link)");
        fputc('\n', out);
        seen[c->ino] = true;
        if (c->type == SH_DIR)
            show_dir(out, m, c, p, seen);
    }
}

int ens_shield_show(const char *shield_dir, const uint8_t *key, const uint8_t *tag, bool json, FILE *out,
                    ens_error_t *err)
{
    uint8_t cur[32];
    char hex[65];
    if (ens_shield_current_tag(shield_dir, cur, err) < 0)
        return -1;
    ens_hex_encode(tag ? tag : cur, 32, hex);
    if (!key) {
        if (json)
            fprintf(out, "{\"tag\":\"%s\"}\n", hex);
        else
            fprintf(out, "tag: %s\n", hex);
        return 0;
    }
    struct sh_manifest *m = NULL;
    if (sh_load(shield_dir, key, tag ? tag : cur, false, &m, NULL, err) < 0)
        return -1;
    if (json) {
        size_t len;
        char *plain = sh_manifest_serialize(m, &len);
        if (!plain) {
            sh_manifest_free(m);
            return ens_error(err, ENOMEM, "out of memory");
        }
        fprintf(out, "{\"tag\":\"%s\",\"manifest\":%s}\n", hex, plain);
        free(plain);
    } else {
        unsigned long long files = 0, bytes = 0;
        for (size_t i = 1; i < m->nnodes; i++)
            if (m->nodes[i]->type == SH_REG) {
                files++;
                bytes += m->nodes[i]->size;
            }
        fprintf(out, "tag: %s\nformat: %s\ngeneration: %llu\nchunk size: %u\nfiles: %llu (%llu bytes)\n"
                     "default region: %s\n",
                hex, SH_FORMAT, (unsigned long long)m->generation, m->chunk, files, bytes,
                ens_shield_region_name(m->default_region));
        for (size_t i = 0; i < m->nrules; i++)
            fprintf(out, "region: %-13s %s\n", ens_shield_region_name(m->rules[i].region), m->rules[i].path);
        bool *seen = calloc(m->nnodes, sizeof(bool));
        if (seen)
            show_dir(out, m, m->nodes[1], "/", seen);
        free(seen);
    }
    sh_manifest_free(m);
    return 0;
}
