/* SPDX-License-Identifier: Apache-2.0 */
/* Applying layers to a directory: whiteouts and opaque directories, and a walk that never follows
 * a symlink out of the root (absolute or escaping symlinks in an entry's path are refused). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "image/internal.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define MAX_SYMLINK_HOPS 40

/* A small open-addressing set of the paths written by the current layer (for opaque whiteouts). */
struct strset {
    char **slots;
    size_t cap, n;
};

static size_t str_hash(const char *s)
{
    size_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static bool strset_has(const struct strset *s, const char *k)
{
    if (!s->cap)
        return false;
    for (size_t i = str_hash(k) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->slots[i])
            return false;
        if (strcmp(s->slots[i], k) == 0)
            return true;
    }
}

static int strset_add(struct strset *s, const char *k)
{
    if (strset_has(s, k))
        return 0;
    if ((s->n + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 256;
        char **n = calloc(ncap, sizeof(char *));
        if (!n)
            return -1;
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->slots[i])
                continue;
            size_t j = str_hash(s->slots[i]) & (ncap - 1);
            while (n[j])
                j = (j + 1) & (ncap - 1);
            n[j] = s->slots[i];
        }
        free(s->slots);
        s->slots = n;
        s->cap = ncap;
    }
    char *d = strdup(k);
    if (!d)
        return -1;
    size_t i = str_hash(k) & (s->cap - 1);
    while (s->slots[i])
        i = (i + 1) & (s->cap - 1);
    s->slots[i] = d;
    s->n++;
    return 0;
}

static void strset_clear(struct strset *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->slots[i]);
    free(s->slots);
    memset(s, 0, sizeof(*s));
}

int entry_check(struct archive_entry *e, const char *layer, ens_error_t *err)
{
    const char *p = archive_entry_pathname(e);
    if (!p || !*p)
        return ens_error(err, EBADMSG, "layer %s: entry without a name", layer);
    if (strlen(p) >= PATH_MAX)
        return ens_error(err, EBADMSG, "layer %s: entry name longer than %d bytes", layer, PATH_MAX);
    bool esc;
    _cleanup_free_ char *c = path_clean(p, &esc);
    if (!c)
        return esc ? ens_error(err, EPERM, "layer %s: entry '%s' leaves the root (path traversal)", layer, p)
                   : ens_error(err, ENOMEM, "out of memory");
    const char *hl = archive_entry_hardlink(e);
    if (hl) {
        _cleanup_free_ char *t = path_clean(hl, &esc);
        if (!t)
            return esc ? ens_error(err, EPERM, "layer %s: entry '%s': hard link target '%s' is outside the root",
                                   layer, p, hl)
                       : ens_error(err, ENOMEM, "out of memory");
        if (!*t)
            return ens_error(err, EPERM, "layer %s: entry '%s': hard link to the root directory", layer, p);
        return 0;
    }
    if (archive_entry_size(e) < 0)
        return ens_error(err, EBADMSG, "layer %s: entry '%s' has a negative size", layer, p);
    switch (archive_entry_filetype(e)) {
    case AE_IFREG:
    case AE_IFDIR:
    case AE_IFIFO:
    case AE_IFCHR:
    case AE_IFBLK:
        return 0;
    case AE_IFLNK: {
        const char *t = archive_entry_symlink(e);
        if (!t || !*t || strlen(t) >= PATH_MAX)
            return ens_error(err, EBADMSG, "layer %s: entry '%s': invalid symlink target", layer, p);
        return 0;
    }
    default:
        return ens_error(err, EBADMSG, "layer %s: entry '%s' has an unsupported type (socket or unknown)", layer, p);
    }
}

/* Walks rel (a cleaned relative directory path) below rootfd, creating missing directories when
 * create, following only relative symlinks that stay inside the root.  Returns an O_PATH fd of the
 * directory and its canonical relative path; 1 when missing and !create. */
static int resolve_dir(int rootfd, const char *rel, bool create, const char *entry, const char *layer, int *outfd,
                       char **canon_out, ens_error_t *err)
{
    _cleanup_free_ char *todo = strdup(rel);
    _cleanup_free_ char *canon = NULL;
    int hops = 0;
    _cleanup_close_ int cur = -1;
    if (!todo)
        return ens_error(err, ENOMEM, "out of memory");
restart:
    free(canon);
    canon = calloc(1, strlen(todo) + 1);
    if (!canon)
        return ens_error(err, ENOMEM, "out of memory");
    if (cur >= 0)
        close(cur);
    cur = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0)
        return ens_error_errno(err, "open root");
    char *p = todo;
    while (*p) {
        char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        char comp[NAME_MAX + 1];
        if (len > NAME_MAX)
            return ens_error(err, ENAMETOOLONG, "layer %s: entry '%s': path component too long", layer, entry);
        memcpy(comp, p, len);
        comp[len] = '\0';
        const char *rest = slash ? slash + 1 : "";
        struct stat st;
        if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT)
                return ens_error_errno(err, "layer %s: entry '%s': stat %s", layer, entry, comp);
            if (!create)
                return 1;
            if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST)
                return ens_error_errno(err, "layer %s: entry '%s': mkdir %s", layer, entry, comp);
            st.st_mode = S_IFDIR;
        }
        if (S_ISLNK(st.st_mode)) {
            if (++hops > MAX_SYMLINK_HOPS)
                return ens_error(err, ELOOP, "layer %s: entry '%s': too many levels of symlinks", layer, entry);
            char target[PATH_MAX];
            ssize_t n = readlinkat(cur, comp, target, sizeof(target) - 1);
            if (n < 0)
                return ens_error_errno(err, "layer %s: entry '%s': readlink %s", layer, entry, comp);
            target[n] = '\0';
            if (target[0] == '/')
                return ens_error(err, EPERM,
                                 "layer %s: entry '%s' goes through symlink '%s%s%s' to absolute path '%s' (refused)",
                                 layer, entry, canon, *canon ? "/" : "", comp, target);
            _cleanup_free_ char *joined = NULL;
            if (asprintf(&joined, "%s/%s/%s", canon, target, rest) < 0)
                return ens_error(err, ENOMEM, "out of memory");
            bool esc;
            char *next = path_clean(joined, &esc);
            if (!next)
                return esc ? ens_error(err, EPERM, "layer %s: entry '%s' goes through symlink '%s%s%s' -> '%s', "
                                       "which leaves the root (refused)", layer, entry, canon, *canon ? "/" : "",
                                       comp, target)
                           : ens_error(err, ENOMEM, "out of memory");
            free(todo);
            todo = next;
            goto restart;
        }
        if (!S_ISDIR(st.st_mode))
            return ens_error(err, ENOTDIR, "layer %s: entry '%s': '%s' is not a directory", layer, entry, comp);
        int nfd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0)
            return ens_error_errno(err, "layer %s: entry '%s': open %s", layer, entry, comp);
        close(cur);
        cur = nfd;
        if (*canon)
            strcat(canon, "/");
        strcat(canon, comp);
        p += len;
        if (*p == '/')
            p++;
    }
    *outfd = ens_steal_fd(&cur);
    if (canon_out)
        *canon_out = ens_steal(&canon);
    return 0;
}

/* Removes whatever is at (dirfd, name) without following symlinks. */
static int remove_at(int dirfd, const char *rootpath, const char *canon, const char *name, ens_error_t *err)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : ens_error_errno(err, "stat %s/%s", canon, name);
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
            return ens_error_errno(err, "remove %s/%s", canon, name);
        return 0;
    }
    _cleanup_free_ char *full = NULL;
    if (asprintf(&full, "%s/%s%s%s", rootpath, canon, *canon ? "/" : "", name) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    return ens_rm_rf(full, err);
}

static int apply_opaque(int dirfd, const char *rootpath, const char *canon, const struct strset *mine,
                        ens_error_t *err)
{
    int rfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0)
        return ens_error_errno(err, "open %s", canon);
    _cleanup_closedir_ DIR *d = fdopendir(rfd);
    if (!d) {
        close(rfd);
        return ens_error_errno(err, "opendir %s", canon);
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        _cleanup_free_ char *key = NULL;
        if (asprintf(&key, "%s%s%s", canon, *canon ? "/" : "", de->d_name) < 0)
            return ens_error(err, ENOMEM, "out of memory");
        if (strset_has(mine, key))
            continue;
        if (remove_at(dirfd, rootpath, canon, de->d_name, err) < 0)
            return -1;
    }
    return 0;
}

static int write_file(int pfd, const char *base, struct archive *ar, struct archive_entry *e, const char *entry,
                      const char *layer, ens_error_t *err)
{
    _cleanup_close_ int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return ens_error_errno(err, "layer %s: entry '%s': create", layer, entry);
    const void *buf;
    size_t len;
    la_int64_t off;
    int r;
    while ((r = archive_read_data_block(ar, &buf, &len, &off)) == ARCHIVE_OK) {
        const char *p = buf;
        while (len > 0) {
            ssize_t w = pwrite(fd, p, len, off);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                return ens_error_errno(err, "layer %s: entry '%s': write", layer, entry);
            }
            p += w;
            len -= (size_t)w;
            off += w;
        }
    }
    if (r != ARCHIVE_EOF)
        return -2; /* stream error: the caller reports it */
    if (ftruncate(fd, archive_entry_size(e)) < 0)
        return ens_error_errno(err, "layer %s: entry '%s': truncate", layer, entry);
    if (geteuid() == 0 && fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
        return ens_error_errno(err, "layer %s: entry '%s': chown", layer, entry);
    if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
        return ens_error_errno(err, "layer %s: entry '%s': chmod", layer, entry);
    /* Extended attributes (file capabilities, e.g. ping's cap_net_raw) after chown, which clears
     * security.capability; failures (unsupported, not permitted) are not fatal. */
    const char *xn;
    const void *xv;
    size_t xl;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &xn, &xv, &xl) == ARCHIVE_OK)
        if (xn && fsetxattr(fd, xn, xv, xl, 0) < 0)
            ens_log(ENS_LOG_DEBUG, "layer %s: entry '%s': xattr %s not set: %s", layer, entry, xn, strerror(errno));
    struct timespec ts[2] = { { archive_entry_mtime(e), 0 }, { archive_entry_mtime(e), 0 } };
    futimens(fd, ts);
    return 0;
}

struct dir_modes {
    struct dir_mode { char *path; mode_t mode; } *v;
    size_t n;
};

struct dir_modes *dir_modes_new(void) { return calloc(1, sizeof(struct dir_modes)); }

void dir_modes_free(struct dir_modes *dm)
{
    if (!dm)
        return;
    for (size_t i = 0; i < dm->n; i++)
        free(dm->v[i].path);
    free(dm->v);
    free(dm);
}

/* Records (or forgets, for a normal mode) the final mode of a directory; returns the mode to use now. */
static mode_t dir_modes_note(struct dir_modes *dm, const char *path, mode_t mode)
{
    bool locked = (mode & S_IRWXU) != S_IRWXU;
    for (size_t i = 0; i < dm->n; i++) {
        if (strcmp(dm->v[i].path, path) != 0)
            continue;
        if (locked) {
            dm->v[i].mode = mode;
        } else {
            free(dm->v[i].path);
            dm->v[i] = dm->v[--dm->n];
        }
        return mode | S_IRWXU;
    }
    if (!locked)
        return mode;
    struct dir_mode *n = realloc(dm->v, (dm->n + 1) * sizeof(*n));
    char *p = strdup(path);
    if (!n || !p) {
        free(p);
        if (n)
            dm->v = n;
        return mode; /* out of memory: apply at once */
    }
    dm->v = n;
    dm->v[dm->n++] = (struct dir_mode){ p, mode };
    return mode | S_IRWXU;
}

static int path_depth(const char *p)
{
    int d = 0;
    for (; *p; p++)
        d += *p == '/';
    return d;
}

static int by_depth_desc(const void *a, const void *b)
{
    return path_depth(((const struct dir_mode *)b)->path) - path_depth(((const struct dir_mode *)a)->path);
}

static int resolve_dir(int rootfd, const char *rel, bool create, const char *entry, const char *layer, int *outfd,
                       char **canon_out, ens_error_t *err);

int dir_modes_apply(struct dir_modes *dm, int rootfd, ens_error_t *err)
{
    /* Deepest first, so that parents stay traversable while their children are fixed. */
    if (dm->n > 1)
        qsort(dm->v, dm->n, sizeof(*dm->v), by_depth_desc);
    for (size_t i = 0; i < dm->n; i++) {
        _cleanup_free_ char *dir = strdup(dm->v[i].path);
        if (!dir)
            return ens_error(err, ENOMEM, "out of memory");
        char *slash = strrchr(dir, '/');
        const char *base = slash ? slash + 1 : dir;
        if (slash)
            *slash = '\0';
        _cleanup_close_ int pfd = -1;
        int r = resolve_dir(rootfd, slash ? dir : "", false, dm->v[i].path, "-", &pfd, NULL, err);
        if (r < 0)
            return -1;
        struct stat st;
        if (r == 1 || fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
            continue; /* removed or replaced by a later layer */
        if (fchmodat(pfd, base, dm->v[i].mode, 0) < 0)
            return ens_error_errno(err, "chmod %s", dm->v[i].path);
    }
    return 0;
}

int layer_apply_reader(int rootfd, const char *rootpath, struct layer_reader *lr, const char *layer,
                       struct dir_modes *dm, struct layer_names *record, ens_error_t *err)
{
    struct archive *ar = layer_reader_archive(lr);
    struct strset mine = { 0 };
    struct archive_entry *e;
    int r, ret = -1;
    bool is_root = geteuid() == 0;
    while ((r = archive_read_next_header(ar, &e)) == ARCHIVE_OK) {
        if (entry_check(e, layer, err) < 0)
            goto out;
        const char *entry = archive_entry_pathname(e);
        if (record && layer_names_add(record, entry, archive_entry_hardlink(e)) < 0) {
            ens_error(err, ENOMEM, "out of memory");
            goto out;
        }
        bool esc;
        _cleanup_free_ char *path = path_clean(entry, &esc);
        if (!path) {
            ens_error(err, ENOMEM, "out of memory");
            goto out;
        }
        if (!*path) /* the root itself */
            continue;
        char *slash = strrchr(path, '/');
        const char *dir = slash ? path : "";
        const char *base = slash ? slash + 1 : path;
        if (slash)
            *slash = '\0';
        bool opaque = strcmp(base, WH_OPAQUE) == 0;
        bool wh = !opaque && strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) == 0;
        _cleanup_close_ int pfd = -1;
        _cleanup_free_ char *canon = NULL;
        int rr = resolve_dir(rootfd, dir, !(opaque || wh), entry, layer, &pfd, &canon, err);
        if (rr < 0)
            goto out;
        if (rr == 1)
            continue; /* whiteout of something that is not there */
        if (opaque) {
            if (apply_opaque(pfd, rootpath, canon, &mine, err) < 0)
                goto out;
            continue;
        }
        if (wh) {
            const char *victim = base + strlen(WH_PREFIX);
            if (!*victim || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0) {
                ens_error(err, EBADMSG, "layer %s: entry '%s': invalid whiteout", layer, entry);
                goto out;
            }
            if (remove_at(pfd, rootpath, canon, victim, err) < 0)
                goto out;
            continue;
        }
        _cleanup_free_ char *key = NULL;
        if (asprintf(&key, "%s%s%s", canon, *canon ? "/" : "", base) < 0 || strset_add(&mine, key) < 0) {
            ens_error(err, ENOMEM, "out of memory");
            goto out;
        }
        const char *hl = archive_entry_hardlink(e);
        unsigned type = archive_entry_filetype(e);
        struct stat st;
        bool exists = fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
        if (!(type == AE_IFDIR && !hl && exists && S_ISDIR(st.st_mode)) && exists &&
            remove_at(pfd, rootpath, canon, base, err) < 0)
            goto out;
        if (hl) {
            _cleanup_free_ char *t = path_clean(hl, &esc);
            if (!t) {
                ens_error(err, ENOMEM, "out of memory");
                goto out;
            }
            char *ts = strrchr(t, '/');
            const char *tdir = ts ? t : "", *tbase = ts ? ts + 1 : t;
            if (ts)
                *ts = '\0';
            _cleanup_close_ int tfd = -1;
            int tr = resolve_dir(rootfd, tdir, false, entry, layer, &tfd, NULL, err);
            if (tr < 0)
                goto out;
            struct stat tst;
            if (tr == 1 || fstatat(tfd, tbase, &tst, AT_SYMLINK_NOFOLLOW) < 0) {
                ens_error(err, ENOENT, "layer %s: entry '%s': hard link target '%s' does not exist", layer, entry, hl);
                goto out;
            }
            if (S_ISDIR(tst.st_mode)) {
                ens_error(err, EPERM, "layer %s: entry '%s': hard link to a directory", layer, entry);
                goto out;
            }
            if (linkat(tfd, tbase, pfd, base, 0) < 0) {
                ens_error_errno(err, "layer %s: entry '%s': link", layer, entry);
                goto out;
            }
            continue;
        }
        uid_t uid = (uid_t)archive_entry_uid(e);
        gid_t gid = (gid_t)archive_entry_gid(e);
        mode_t perm = archive_entry_perm(e) & 07777;
        switch (type) {
        case AE_IFREG: {
            int wr = write_file(pfd, base, ar, e, entry, layer, err);
            if (wr == -2) {
                layer_reader_error(lr, err);
                goto out;
            }
            if (wr < 0)
                goto out;
            continue;
        }
        case AE_IFDIR:
            if (!(exists && S_ISDIR(st.st_mode)) && mkdirat(pfd, base, 0700) < 0) {
                ens_error_errno(err, "layer %s: entry '%s': mkdir", layer, entry);
                goto out;
            }
            break;
        case AE_IFLNK:
            if (symlinkat(archive_entry_symlink(e), pfd, base) < 0) {
                ens_error_errno(err, "layer %s: entry '%s': symlink", layer, entry);
                goto out;
            }
            break;
        case AE_IFIFO:
            if (mknodat(pfd, base, S_IFIFO | 0600, 0) < 0) {
                ens_error_errno(err, "layer %s: entry '%s': mkfifo", layer, entry);
                goto out;
            }
            break;
        case AE_IFCHR:
        case AE_IFBLK:
            if (!is_root) {
                ens_error(err, EPERM, "layer %s: entry '%s': device node refused (not running as root)", layer, entry);
                goto out;
            }
            if (mknodat(pfd, base, (type == AE_IFCHR ? S_IFCHR : S_IFBLK) | 0600, archive_entry_rdev(e)) < 0) {
                ens_error_errno(err, "layer %s: entry '%s': mknod", layer, entry);
                goto out;
            }
            break;
        }
        if (is_root && fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
            ens_error_errno(err, "layer %s: entry '%s': chown", layer, entry);
            goto out;
        }
        if (type != AE_IFLNK) {
            if (type == AE_IFDIR && dm && !is_root)
                perm = dir_modes_note(dm, key, perm);
            /* O_PATH dirfd + name: fchmodat does not follow (the entry is not a symlink). */
            if (fchmodat(pfd, base, perm, 0) < 0) {
                ens_error_errno(err, "layer %s: entry '%s': chmod", layer, entry);
                goto out;
            }
        }
        struct timespec ts[2] = { { archive_entry_mtime(e), 0 }, { archive_entry_mtime(e), 0 } };
        utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
    }
    if (r != ARCHIVE_EOF) {
        layer_reader_error(lr, err);
        goto out;
    }
    ret = 0;
out:
    strset_clear(&mine);
    return ret;
}

/* ------------------------------------------------------------------ runc bundle */

/* Looks name up in the rootfs's /etc/passwd or /etc/group (field 3 = id, 4 = primary gid). */
static int lookup_db(int rootfd, const char *file, const char *name, long *id, long *gid)
{
    _cleanup_close_ int efd = -1;
    ens_error_t e = NULL;
    if (resolve_dir(rootfd, "etc", false, file, "-", &efd, NULL, &e) != 0) {
        ens_error_release(&e);
        return -1;
    }
    _cleanup_close_ int fd = openat(efd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    _cleanup_free_ char *buf = NULL;
    if (ens_read_fd(fd, 4u << 20, &buf, NULL, &e) < 0) {
        ens_error_release(&e);
        return -1;
    }
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[4] = { 0 };
        char *s2 = NULL, *tok = strtok_r(line, ":", &s2);
        for (int i = 0; i < 4 && tok; i++, tok = strtok_r(NULL, ":", &s2))
            f[i] = tok;
        if (!f[0] || !f[2] || strcmp(f[0], name) != 0)
            continue;
        *id = strtol(f[2], NULL, 10);
        if (gid)
            *gid = f[3] ? strtol(f[3], NULL, 10) : 0;
        return 0;
    }
    return -1;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static int resolve_user(int rootfd, const char *user, long *uid, long *gid, ens_error_t *err)
{
    *uid = 0;
    *gid = 0;
    if (!user || !*user)
        return 0;
    _cleanup_free_ char *u = strdup(user);
    if (!u)
        return ens_error(err, ENOMEM, "out of memory");
    char *g = strchr(u, ':');
    if (g)
        *g++ = '\0';
    long pgid = 0;
    if (all_digits(u)) {
        *uid = strtol(u, NULL, 10);
        char buf[32];
        (void)buf;
    } else if (lookup_db(rootfd, "passwd", u, uid, &pgid) < 0) {
        return ens_error(err, ENOENT, "image user '%s' not found in the image's /etc/passwd", u);
    }
    *gid = pgid;
    if (g && *g) {
        if (all_digits(g))
            *gid = strtol(g, NULL, 10);
        else if (lookup_db(rootfd, "group", g, gid, NULL) < 0)
            return ens_error(err, ENOENT, "image group '%s' not found in the image's /etc/group", g);
    }
    return 0;
}

static json_t *str_array(const char *const *v)
{
    json_t *a = json_array();
    for (; v && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

int bundle_config_write(ens_image *img, const char *bundle, const char *rootfs, ens_error_t *err)
{
    json_t *cfg = json_object_get(img->config_json, "config");
    json_t *args = json_array(), *env = json_array();
    json_t *ep = json_object_get(cfg, "Entrypoint"), *cmd = json_object_get(cfg, "Cmd");
    size_t i;
    json_t *v;
    json_array_foreach(ep, i, v) if (json_is_string(v)) json_array_append(args, v);
    json_array_foreach(cmd, i, v) if (json_is_string(v)) json_array_append(args, v);
    bool has_path = false;
    json_array_foreach(json_object_get(cfg, "Env"), i, v) {
        if (!json_is_string(v))
            continue;
        if (strncmp(json_string_value(v), "PATH=", 5) == 0)
            has_path = true;
        json_array_append(env, v);
    }
    if (!has_path)
        json_array_append_new(env, json_string("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
    if (json_array_size(args) == 0)
        json_array_append_new(args, json_string("sh"));
    const char *wd = json_string_value(json_object_get(cfg, "WorkingDir"));
    _cleanup_close_ int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    long uid, gid;
    if (rootfd < 0 || resolve_user(rootfd, json_string_value(json_object_get(cfg, "User")), &uid, &gid, err) < 0) {
        json_decref(args);
        json_decref(env);
        return rootfd < 0 ? ens_error_errno(err, "open %s", rootfs) : -1;
    }
    static const char *const caps[] = { "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                                        "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                                        "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
                                        NULL };
    static const char *const masked[] = { "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                                          "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                                          "/proc/sched_debug", "/sys/firmware", "/proc/scsi", NULL };
    static const char *const ro[] = { "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
                                      NULL };
    json_t *mounts = json_pack(
        "[{s:s,s:s,s:s},{s:s,s:s,s:s,s:[s,s,s,s]},{s:s,s:s,s:s,s:[s,s,s,s,s,s]},{s:s,s:s,s:s,s:[s,s,s,s,s]},"
        "{s:s,s:s,s:s,s:[s,s,s]},{s:s,s:s,s:s,s:[s,s,s,s]}]",
        "destination", "/proc", "type", "proc", "source", "proc",
        "destination", "/dev", "type", "tmpfs", "source", "tmpfs", "options", "nosuid", "strictatime", "mode=755",
        "size=65536k",
        "destination", "/dev/pts", "type", "devpts", "source", "devpts", "options", "nosuid", "noexec",
        "newinstance", "ptmxmode=0666", "mode=0620", "gid=5",
        "destination", "/dev/shm", "type", "tmpfs", "source", "shm", "options", "nosuid", "noexec", "nodev",
        "mode=1777", "size=65536k",
        "destination", "/dev/mqueue", "type", "mqueue", "source", "mqueue", "options", "nosuid", "noexec", "nodev",
        "destination", "/sys", "type", "sysfs", "source", "sysfs", "options", "nosuid", "noexec", "nodev", "ro");
    json_t *spec = json_pack(
        "{s:s,s:{s:b,s:{s:I,s:I},s:o,s:o,s:s,s:{s:o,s:o,s:o},s:[{s:s,s:I,s:I}],s:b},s:{s:s,s:b},s:s,s:o,"
        "s:{s:{s:[{s:b,s:s}]},s:[{s:s},{s:s},{s:s},{s:s},{s:s}],s:o,s:o}}",
        "ociVersion", "1.0.2",
        "process", "terminal", 0, "user", "uid", (json_int_t)uid, "gid", (json_int_t)gid, "args", args, "env", env,
        "cwd", wd && *wd ? wd : "/", "capabilities", "bounding", str_array(caps), "effective", str_array(caps),
        "permitted", str_array(caps), "rlimits", "type", "RLIMIT_NOFILE", "hard", (json_int_t)1024, "soft",
        (json_int_t)1024, "noNewPrivileges", 1,
        "root", "path", "rootfs", "readonly", 0,
        "hostname", "ensconce",
        "mounts", mounts,
        "linux", "resources", "devices", "allow", 0, "access", "rwm",
        "namespaces", "type", "pid", "type", "network", "type", "ipc", "type", "uts", "type", "mount",
        "maskedPaths", str_array(masked), "readonlyPaths", str_array(ro));
    if (!spec)
        return ens_error(err, ENOMEM, "building config.json failed");
    json_t *labels = json_object_get(cfg, "Labels");
    if (json_is_object(labels) && json_object_size(labels))
        json_object_set(spec, "annotations", labels);
    char *text = json_dumps(spec, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(spec);
    if (!text)
        return ens_error(err, ENOMEM, "out of memory");
    _cleanup_free_ char *path = ens_path_join(bundle, "config.json");
    int r = path ? ens_write_file_atomic(path, text, strlen(text), 0644, err) : ens_error(err, ENOMEM, "oom");
    free(text);
    return r;
}

/* ------------------------------------------------------------------ unpack */

int ens_image_unpack(ens_image *img, const char *dir, bool bundle, ens_error_t *err)
{
    struct stat st;
    bool existed = false;
    if (lstat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return ens_error(err, EEXIST, "unpack: %s exists and is not a directory", dir);
        _cleanup_closedir_ DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                return ens_error(err, ENOTEMPTY, "unpack: %s is not empty", dir);
        existed = true;
    }
    _cleanup_free_ char *tmp = NULL;
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    if (asprintf(&tmp, "%.*s.unpack-XXXXXX", (int)dl, dir) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    if (!mkdtemp(tmp))
        return ens_error_errno(err, "unpack: create %s", tmp);
    _cleanup_free_ char *rootfs = bundle ? ens_path_join(tmp, "rootfs") : strdup(tmp);
    int rootfd = -1;
    struct dir_modes *dm = NULL;
    if (!rootfs)
        goto oom;
    if (bundle && mkdir(rootfs, 0755) < 0) {
        ens_error_errno(err, "mkdir %s", rootfs);
        goto fail;
    }
    chmod(rootfs, 0755);
    rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        ens_error_errno(err, "open %s", rootfs);
        goto fail;
    }
    dm = dir_modes_new();
    if (!dm)
        goto oom;
    for (size_t i = 0; i < img->n_layers; i++) {
        struct blob *b = &img->layers[i];
        ens_step("unpacking layer %zu/%zu %.19s", i + 1, img->n_layers, b->digest);
        if (image_blob_fetch(img, b, err) < 0)
            goto fail;
        _cleanup_close_ int fd = open(b->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            ens_error_errno(err, "layer %s: open %s", b->digest, b->path);
            goto fail;
        }
        struct layer_reader *lr = NULL;
        if (layer_reader_open_blob(fd, b, &lr, err) < 0) {
            blob_prefer_digest_error(b, err);
            goto fail;
        }
        struct layer_names *names = b->names ? NULL : calloc(1, sizeof(*names));
        int r = layer_apply_reader(rootfd, rootfs, lr, b->digest, dm, names, err);
        if (r == 0)
            r = layer_reader_finish_blob(lr, b, err);
        layer_reader_free(lr);
        if (r < 0) {
            layer_names_free(names);
            blob_prefer_digest_error(b, err);
            goto fail;
        }
        if (names)
            b->names = names;
    }
    if (dir_modes_apply(dm, rootfd, err) < 0)
        goto fail;
    dir_modes_free(dm);
    dm = NULL;
    close(rootfd);
    rootfd = -1;
    if (bundle && bundle_config_write(img, tmp, rootfs, err) < 0)
        goto fail;
    if (existed && rmdir(dir) < 0) {
        ens_error_errno(err, "unpack: replace %s", dir);
        goto fail;
    }
    if (rename(tmp, dir) < 0) {
        ens_error_errno(err, "unpack: rename to %s", dir);
        if (existed)
            mkdir(dir, 0755);
        goto fail;
    }
    return 0;
oom:
    ens_error(err, ENOMEM, "out of memory");
fail:
    dir_modes_free(dm);
    if (rootfd >= 0)
        close(rootfd);
    ens_error_t e2 = NULL;
    ens_rm_rf(tmp, &e2);
    ens_error_release(&e2);
    return -1;
}
