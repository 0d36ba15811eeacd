/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shield over FUSE (libfuse3 low-level API, one thread).  Read-only
 * mounts let the kernel page cache keep verified plaintext.  Writable mounts
 * never modify a committed object: the first write after a commit copies the
 * file into a fresh object (new id, so a new key and a fresh nonce counter),
 * and a commit makes the new objects durable before the manifest is renamed
 * into place, so a crash leaves the old or the new version.
 */
#define FUSE_USE_VERSION 35
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "crypto/digest.h"
#include "shield/shield_internal.h"

struct sh_obj *sh_obj_new(const uint8_t id[SH_OBJ_ID_LEN]);
int sh_manifest_objs(const struct sh_manifest *m, uint8_t **ids, size_t *n);
bool sh_ids_contain(const uint8_t *ids, size_t n, const uint8_t id[SH_OBJ_ID_LEN]);
void sh_commit_pause(void);

struct fs {
    const char *shield;
    uint8_t vk[32];
    struct sh_manifest *m;
    const struct ens_shield_mount_opts *opts;
    bool rw;
    bool dirty;      /* changes since the last commit */
    bool pending;    /* a close asked for a commit */
    struct timespec pending_since;
    uint8_t *cur_ids, *prev_ids;
    size_t ncur, nprev;
    uint8_t *tmp; /* chunk-sized scratch (ciphertext) */
    int commit_errors;
    bool inited;         /* INIT seen */
    bool mt;             /* read-only mount served by several threads */
    pthread_mutex_t lock; /* everything but the decryption of read-only reads */
    const char *mountpoint;
};

static double ttl(struct fs *fs) { return fs->rw ? 1.0 : 3600.0; }

static void now_ts(int64_t *s, uint32_t *ns)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    *s = t.tv_sec;
    *ns = (uint32_t)t.tv_nsec;
}

static void touch(struct sh_node *n, bool mtime)
{
    now_ts(&n->ctime, &n->ctime_ns);
    if (mtime) {
        n->mtime = n->ctime;
        n->mtime_ns = n->ctime_ns;
    }
}

static void fill_stat(struct fs *fs, const struct sh_node *n, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = n->ino;
    st->st_mode = n->mode | (n->type == SH_DIR ? S_IFDIR : n->type == SH_LNK ? S_IFLNK : S_IFREG);
    st->st_nlink = n->nlink;
    st->st_uid = n->uid;
    st->st_gid = n->gid;
    st->st_size = n->type == SH_REG ? (off_t)n->size : n->type == SH_LNK ? (off_t)strlen(n->target) : 4096;
    st->st_blksize = (blksize_t)fs->m->chunk;
    st->st_blocks = (blkcnt_t)((st->st_size + 511) / 512);
    st->st_mtim.tv_sec = n->mtime;
    st->st_mtim.tv_nsec = n->mtime_ns;
    st->st_atim = st->st_mtim;
    st->st_ctim.tv_sec = n->ctime;
    st->st_ctim.tv_nsec = n->ctime_ns;
}

/* The entry of a lookup-like reply; the kernel now holds one more lookup of n. */
static void fill_entry(struct fs *fs, struct sh_node *n, struct fuse_entry_param *e)
{
    memset(e, 0, sizeof(*e));
    e->ino = n->ino;
    e->generation = 1;
    e->attr_timeout = e->entry_timeout = ttl(fs);
    fill_stat(fs, n, &e->attr);
    n->lookups++;
}

static void reply_entry(fuse_req_t req, struct fs *fs, struct sh_node *n)
{
    struct fuse_entry_param e;
    fill_entry(fs, n, &e);
    fuse_reply_entry(req, &e);
}

static void log_err(ens_error_t *e)
{
    ens_log(ENS_LOG_ERROR, "shield: %s", ens_error_msg(*e));
    ens_error_release(e);
}

/* Logs what went wrong (the kernel only sees errnum) and answers the request. */
static void reply_err_logged(fuse_req_t req, ens_error_t *e, int errnum)
{
    log_err(e);
    fuse_reply_err(req, errnum);
}

/* ---- objects of writable mounts ---- */

static void obj_unlink(struct fs *fs, const uint8_t id[SH_OBJ_ID_LEN])
{
    _cleanup_free_ char *d = sh_obj_path(fs->shield, id, NULL);
    _cleanup_free_ char *t = sh_obj_path(fs->shield, id, ".t");
    if (d)
        unlink(d);
    if (t)
        unlink(t);
}

/* Takes n out of the node table and frees it. */
static void discard_node(struct fs *fs, struct sh_node *n)
{
    fs->m->nodes[n->ino] = NULL;
    sh_node_free(n);
}

static void maybe_free(struct fs *fs, struct sh_node *n)
{
    if (!n || n->ino == 1 || n->nlink > 0 || n->lookups > 0 || n->opens > 0)
        return;
    if (n->type == SH_REG && n->o && n->o->mutable_)
        obj_unlink(fs, n->obj); /* never committed: nobody else refers to it */
    discard_node(fs, n);
}

static int obj_create(struct fs *fs, struct sh_node *n, ens_error_t *err)
{
    uint8_t id[SH_OBJ_ID_LEN];
    if (sh_new_obj_id(id, err) < 0)
        return -1;
    struct sh_obj *o = sh_obj_new(id);
    if (!o)
        return ens_error(err, ENOMEM, "out of memory");
    _cleanup_free_ char *dp = sh_obj_path(fs->shield, id, NULL);
    o->cbuf = malloc(fs->m->chunk);
    if (!dp || !o->cbuf || sh_obj_keys(o, fs->vk) < 0) {
        sh_obj_free(o);
        return ens_error(err, ENOMEM, "out of memory");
    }
    o->fd = open(dp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644); /* objects/xx exist (mount) */
    if (o->fd < 0) {
        sh_obj_free(o);
        return ens_error_errno(err, "create %s", dp);
    }
    o->mutable_ = o->loaded = o->dirty = true;
    memcpy(n->obj, id, SH_OBJ_ID_LEN);
    n->o = o;
    return 0;
}

static int flush_cache(struct fs *fs, struct sh_node *n, ens_error_t *err);

/* A loaded object's fd and chunk buffer are released when the file is closed (so that
 * many files do not pin memory and descriptors); this brings them back. */
static int obj_ready(struct fs *fs, struct sh_node *n, ens_error_t *err)
{
    struct sh_obj *o = n->o;
    if (o->fd < 0) {
        _cleanup_free_ char *dp = sh_obj_path(fs->shield, n->obj, NULL);
        o->fd = dp ? open(dp, (o->mutable_ ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW) : -1;
        if (o->fd < 0) {
            _cleanup_free_ char *path = sh_node_path(fs->m, n);
            return ens_error(err, EIO, "%s: data object missing or unreadable", path ? path : "?");
        }
    }
    if (!o->cbuf && !(o->cbuf = malloc(fs->m->chunk)))
        return ens_error(err, ENOMEM, "out of memory");
    return 0;
}

/* Called at the last close: write the cached chunk back, then let go of the fd and buffer
 * (a committed object entirely; it is verified again at the next open). */
static void obj_park(struct fs *fs, struct sh_node *n)
{
    struct sh_obj *o = n->o;
    _cleanup_error_ ens_error_t e = NULL;
    if (!o)
        return;
    if (o->cvalid && o->cdirty && flush_cache(fs, n, &e) < 0) {
        log_err(&e);
        return; /* keep everything: the next commit retries */
    }
    if (!o->mutable_) {
        sh_obj_free(o);
        n->o = NULL;
        return;
    }
    free(o->cbuf);
    o->cbuf = NULL;
    o->cvalid = false;
    if (o->fd >= 0) {
        close(o->fd);
        o->fd = -1;
    }
}

static int obj_open(struct fs *fs, struct sh_node *n, ens_error_t *err)
{
    if (n->o && n->o->loaded)
        return obj_ready(fs, n, err);
    if (sh_obj_load(fs->shield, fs->vk, fs->m, n, err) < 0)
        return -1;
    if (!n->o->cbuf && !(n->o->cbuf = malloc(fs->m->chunk)))
        return ens_error(err, ENOMEM, "out of memory");
    return 0;
}

static int ensure_tab(struct sh_obj *o, size_t n)
{
    if (n <= o->captab)
        return 0;
    size_t nc = o->captab ? o->captab : 16;
    while (nc < n)
        nc *= 2;
    struct sh_tent *t = realloc(o->tab, nc * sizeof(*t));
    if (!t)
        return -1;
    memset(t + o->captab, 0, (nc - o->captab) * sizeof(*t));
    o->tab = t;
    o->captab = nc;
    return 0;
}

static int flush_cache(struct fs *fs, struct sh_node *n, ens_error_t *err)
{
    struct sh_obj *o = n->o;
    if (!o || !o->cvalid || !o->cdirty)
        return 0;
    if (obj_ready(fs, n, err) < 0)
        return -1;
    o->cdirty = false;
    size_t len = sh_chunk_len(fs->m, n, o->cidx);
    if (len == 0 || o->cidx >= o->ntab)
        return 0; /* cut off by a truncate */
    uint64_t ctr = ++o->ctr; /* never reused under this object's key */
    if (sh_chunk_seal(o, n->region, o->cidx, ctr, o->cbuf, len, fs->tmp, o->tab[o->cidx].tag) < 0)
        return ens_error(err, EIO, "chunk encryption failed");
    o->tab[o->cidx].ctr = ctr;
    off_t off = (off_t)(o->cidx * fs->m->chunk);
    for (size_t done = 0; done < len;) {
        ssize_t w = pwrite(o->fd, fs->tmp + done, len - done, off + (off_t)done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return ens_error_errno(err, "write data object");
        done += (size_t)w;
    }
    return 0;
}

/* Sequential reads: ask the kernel for the next chunks of the backing file ahead of time,
 * so the disk works while this single-threaded server decrypts and replies. */
static void prefetch(struct fs *fs, struct sh_obj *o, uint64_t idx)
{
    uint64_t C = fs->m->chunk, at = idx * C;
    if (o->next_read == idx && idx > 0 && at + C > o->ra_until) {
        uint64_t ahead = C * 4 > (4u << 20) ? C * 4 : (4u << 20);
        posix_fadvise(o->fd, (off_t)(at + C), (off_t)ahead, POSIX_FADV_WILLNEED);
        o->ra_until = at + C + ahead;
    }
    o->next_read = idx + 1;
}

/* Makes chunk idx the cached one (verified plaintext, zero-padded to a full chunk). */
static int load_chunk(struct fs *fs, struct sh_node *n, uint64_t idx, bool skip_read, ens_error_t *err)
{
    struct sh_obj *o = n->o;
    if (obj_ready(fs, n, err) < 0)
        return -1;
    if (o->cvalid && o->cidx == idx)
        return 0;
    if (flush_cache(fs, n, err) < 0)
        return -1;
    o->cvalid = false;
    size_t len = idx < o->ntab ? sh_chunk_len(fs->m, n, idx) : 0;
    if (skip_read || len == 0) {
        memset(o->cbuf, 0, fs->m->chunk);
    } else {
        prefetch(fs, o, idx);
        if (sh_obj_read_chunk(fs->m, n, idx, o->cbuf, len, err) < 0)
            return -1;
        memset(o->cbuf + len, 0, fs->m->chunk - len);
    }
    o->cidx = idx;
    o->cvalid = true;
    o->cdirty = false;
    return 0;
}

/* Copy-on-write: the first change after a commit moves the file to a new object. */
static int make_mutable(struct fs *fs, struct sh_node *n, ens_error_t *err)
{
    if (n->o && n->o->mutable_)
        return 0;
    if (obj_open(fs, n, err) < 0)
        return -1;
    struct sh_obj *old = n->o;
    uint8_t oldid[SH_OBJ_ID_LEN];
    memcpy(oldid, n->obj, sizeof(oldid));
    n->o = NULL;
    if (obj_create(fs, n, err) < 0) {
        n->o = old;
        return -1;
    }
    struct sh_obj *nw = n->o;
    int rc = 0;
    if (ensure_tab(nw, old->ntab) < 0)
        rc = ens_error(err, ENOMEM, "out of memory");
    nw->ntab = old->ntab;
    for (uint64_t i = 0; rc == 0 && i < old->ntab; i++) {
        if (old->tab[i].ctr == 0)
            continue;
        size_t len = sh_chunk_len(fs->m, n, i);
        n->o = old;
        rc = sh_obj_read_chunk(fs->m, n, i, nw->cbuf, len, err);
        n->o = nw;
        if (rc < 0)
            break;
        nw->cidx = i;
        nw->cvalid = nw->cdirty = true;
        rc = flush_cache(fs, n, err);
    }
    nw->cvalid = false;
    n->o = nw;
    if (rc < 0) {
        obj_unlink(fs, n->obj);
        sh_obj_free(nw);
        memcpy(n->obj, oldid, sizeof(oldid));
        n->o = old;
        return -1;
    }
    sh_obj_free(old);
    fs->dirty = true;
    return 0;
}

static int resize(struct fs *fs, struct sh_node *n, uint64_t size, ens_error_t *err)
{
    if (size > SH_MAX_SIZE)
        return ens_error(err, EFBIG, "file too large");
    if (make_mutable(fs, n, err) < 0)
        return -1;
    struct sh_obj *o = n->o;
    uint32_t C = fs->m->chunk;
    uint64_t old = n->size;
    /* The cached chunk stays valid: bytes past the old size are zero in it, and a
     * flush seals it with the length the size gives at that time. */
    if (size > old) {
        /* the old last chunk gets longer: it must be sealed again (zero-padded) */
        if (old % C && (o->tab[old / C].ctr || (o->cvalid && o->cidx == old / C))) {
            if (load_chunk(fs, n, old / C, false, err) < 0)
                return -1;
            o->cdirty = true;
        }
        uint64_t nch = sh_nchunks(size, C);
        if (ensure_tab(o, nch) < 0)
            return ens_error(err, ENOMEM, "out of memory");
        o->ntab = nch;
        n->size = size;
    } else if (size < old) {
        uint64_t nch = sh_nchunks(size, C);
        if (o->cvalid && o->cidx >= nch) {
            o->cvalid = o->cdirty = false; /* cut off entirely */
        }
        if (size % C && (o->tab[size / C].ctr || (o->cvalid && o->cidx == size / C))) {
            if (load_chunk(fs, n, size / C, false, err) < 0)
                return -1;
            memset(o->cbuf + size % C, 0, C - size % C);
            o->cdirty = true;
        }
        memset(o->tab + nch, 0, (o->ntab - nch) * sizeof(*o->tab));
        o->ntab = nch;
        n->size = size;
        if (obj_ready(fs, n, err) < 0)
            return -1;
        if (ftruncate(o->fd, (off_t)size) < 0)
            return ens_error_errno(err, "truncate data object");
    }
    o->dirty = true;
    fs->dirty = true;
    return 0;
}

/* ---- commit ---- */

static int write_table(struct fs *fs, struct sh_node *n, bool sync, ens_error_t *err)
{
    struct sh_obj *o = n->o;
    n->tab_inline = o->ntab <= SH_INLINE_MAX;
    if (n->tab_inline) { /* small file: the table goes into the manifest */
        sh_table_encode(o->tab, o->ntab, n->itab);
        return 0;
    }
    _cleanup_free_ char *tp = sh_obj_path(fs->shield, n->obj, ".t");
    _cleanup_free_ uint8_t *tb = malloc(o->ntab * SH_TENT_LEN + 1);
    if (!tp || !tb)
        return ens_error(err, ENOMEM, "out of memory");
    sh_table_encode(o->tab, o->ntab, tb);
    sh_table_root(o->tab, o->ntab, n->root);
    _cleanup_close_ int fd = open(tp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ens_write_all(fd, tb, o->ntab * SH_TENT_LEN, err) < 0 || (sync && fdatasync(fd) < 0))
        return ens_error_errno(err, "write %s", tp);
    return 0;
}

static int commit(struct fs *fs, ens_error_t *err)
{
    fs->pending = false;
    if (!fs->rw || !fs->dirty)
        return 0;
    uint8_t touched[256] = {0};
    size_t nsync = 0;
    for (size_t i = 1; i < fs->m->nnodes; i++) {
        struct sh_node *n = fs->m->nodes[i];
        if (n && n->type == SH_REG && n->o && n->o->mutable_ && n->nlink > 0)
            nsync++;
    }
    /* Many new objects: one syncfs() is far cheaper than an fdatasync() per file. */
    bool use_syncfs = nsync > 8;
    for (size_t i = 1; i < fs->m->nnodes; i++) {
        struct sh_node *n = fs->m->nodes[i];
        if (!n || n->type != SH_REG || !n->o || !n->o->mutable_)
            continue;
        if (n->nlink == 0)
            continue; /* unlinked but open: not part of this version */
        struct sh_obj *o = n->o;
        if (flush_cache(fs, n, err) < 0 || obj_ready(fs, n, err) < 0 || ftruncate(o->fd, (off_t)n->size) < 0 ||
            (!use_syncfs && fdatasync(o->fd) < 0) || write_table(fs, n, !use_syncfs, err) < 0) {
            if (err && !*err)
                ens_error_errno(err, "sync data object");
            return ens_error_wrap(err, "commit");
        }
        o->mutable_ = false;
        o->dirty = false;
        touched[n->obj[0]] = 1;
        if (n->opens == 0) { /* nobody has it open: let go of fd and buffers */
            sh_obj_free(o);
            n->o = NULL;
        }
    }
    if (use_syncfs) {
        _cleanup_close_ int dfd = open(fs->shield, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || syncfs(dfd) < 0)
            return ens_error_errno(err, "commit: syncfs %s", fs->shield);
    } else {
        for (int b = 0; b < 256; b++) {
            if (!touched[b])
                continue;
            char sub[8];
            snprintf(sub, sizeof(sub), "%02x", b);
            _cleanup_free_ char *od = ens_path_join(fs->shield, "objects");
            _cleanup_free_ char *p = od ? ens_path_join(od, sub) : NULL;
            _cleanup_close_ int dfd = p ? open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
            if (dfd < 0 || fsync(dfd) < 0)
                return ens_error_errno(err, "fsync %s", p ? p : "objects");
        }
    }
    sh_commit_pause();
    /* objects created and still open but unlinked stay mutable and are not in the manifest */
    struct sh_manifest *m = fs->m;
    uint8_t tag[32];
    if (sh_commit_manifest(fs->shield, fs->vk, m, tag, err) < 0)
        return ens_error_wrap(err, "commit");
    fs->dirty = false;
    uint8_t *ids = NULL;
    size_t nids = 0;
    if (sh_manifest_objs(m, &ids, &nids) == 0) {
        /* objects only the replaced previous version referenced are garbage now */
        for (size_t i = 0; i < fs->nprev; i++) {
            const uint8_t *id = fs->prev_ids + i * SH_OBJ_ID_LEN;
            if (!sh_ids_contain(fs->cur_ids, fs->ncur, id) && !sh_ids_contain(ids, nids, id))
                obj_unlink(fs, id);
        }
        free(fs->prev_ids);
        fs->prev_ids = fs->cur_ids;
        fs->nprev = fs->ncur;
        fs->cur_ids = ids;
        fs->ncur = nids;
    }
    char hex[65];
    ens_hex_encode(tag, 32, hex);
    ens_log(ENS_LOG_INFO, "shield: committed generation %llu, tag %s", (unsigned long long)m->generation, hex);
    if (fs->opts->on_commit)
        fs->opts->on_commit(tag, m->generation, fs->opts->cb_arg);
    return 0;
}

static int do_commit(struct fs *fs)
{
    _cleanup_error_ ens_error_t e = NULL;
    if (commit(fs, &e) < 0) {
        fs->commit_errors++;
        ens_log(ENS_LOG_ERROR, "shield: %s", ens_error_msg(e));
        return -EIO;
    }
    return 0;
}

/* ---- operations ---- */

#define FS(req) ((struct fs *)fuse_req_userdata(req))

static struct sh_node *node(struct fs *fs, fuse_ino_t ino) { return sh_get(fs->m, ino); }

/* The node ino if it has the given type; else replies ENOENT (no such node) or wrong_type. */
static struct sh_node *typed_node(fuse_req_t req, fuse_ino_t ino, int type, int wrong_type)
{
    struct sh_node *n = node(FS(req), ino);
    if (!n || n->type != type)
        return fuse_reply_err(req, n ? wrong_type : ENOENT), NULL;
    return n;
}

static void op_init(void *ud, struct fuse_conn_info *conn)
{
    struct fs *fs = ud;
    fs->inited = true;
    if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
        conn->want &= ~FUSE_CAP_EXPORT_SUPPORT;
    conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
    if (!fs->rw && (conn->capable & FUSE_CAP_CACHE_SYMLINKS))
        conn->want |= FUSE_CAP_CACHE_SYMLINKS;
    conn->max_write = 1u << 20;
    conn->max_readahead = 1u << 20; /* clamped to the kernel's 128 KiB; see tune_readahead() */
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fs *fs = FS(req);
    struct sh_node *d = typed_node(req, parent, SH_DIR, ENOTDIR);
    if (!d)
        return;
    struct sh_dirent *e = sh_dir_find(d, name);
    if (!e) {
        struct fuse_entry_param ep;
        memset(&ep, 0, sizeof(ep));
        ep.entry_timeout = fs->rw ? 0 : ttl(fs); /* negative entries only cached when nothing changes */
        return (void)fuse_reply_entry(req, &ep);
    }
    reply_entry(req, fs, node(fs, e->ino));
}

static void forget_node(struct fs *fs, fuse_ino_t ino, uint64_t nlookup)
{
    struct sh_node *n = node(fs, ino);
    if (n) {
        n->lookups = n->lookups > nlookup ? n->lookups - nlookup : 0;
        maybe_free(fs, n);
    }
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    forget_node(FS(req), ino, nlookup);
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    struct fs *fs = FS(req);
    for (size_t i = 0; i < count; i++)
        forget_node(fs, forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    struct fs *fs = FS(req);
    struct sh_node *n = node(fs, ino);
    if (!n)
        return (void)fuse_reply_err(req, ENOENT);
    struct stat st;
    fill_stat(fs, n, &st);
    fuse_reply_attr(req, &st, ttl(fs));
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
    (void)fi;
    struct fs *fs = FS(req);
    struct sh_node *n = node(fs, ino);
    if (!n)
        return (void)fuse_reply_err(req, ENOENT);
    if (!fs->rw)
        return (void)fuse_reply_err(req, EROFS);
    if (to_set & FUSE_SET_ATTR_SIZE) {
        if (n->type != SH_REG)
            return (void)fuse_reply_err(req, n->type == SH_DIR ? EISDIR : EINVAL);
        _cleanup_error_ ens_error_t e = NULL;
        if ((uint64_t)attr->st_size != n->size && resize(fs, n, (uint64_t)attr->st_size, &e) < 0)
            return reply_err_logged(req, &e, ens_error_status(e) == EFBIG ? EFBIG : EIO);
        touch(n, true);
    }
    if (to_set & FUSE_SET_ATTR_MODE)
        n->mode = attr->st_mode & 07777;
    if (to_set & FUSE_SET_ATTR_UID)
        n->uid = attr->st_uid;
    if (to_set & FUSE_SET_ATTR_GID)
        n->gid = attr->st_gid;
    if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))
        touch(n, false);
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
        touch(n, true);
    } else if (to_set & FUSE_SET_ATTR_MTIME) {
        n->mtime = attr->st_mtim.tv_sec;
        n->mtime_ns = (uint32_t)attr->st_mtim.tv_nsec;
    }
    fs->dirty = true;
    struct stat st;
    fill_stat(fs, n, &st);
    fuse_reply_attr(req, &st, ttl(fs));
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    struct sh_node *n = typed_node(req, ino, SH_LNK, EINVAL);
    if (n)
        fuse_reply_readlink(req, n->target);
}

static int region_for(struct fs *fs, struct sh_node *dir, const char *name)
{
    _cleanup_free_ char *dp = sh_node_path(fs->m, dir);
    _cleanup_free_ char *p = NULL;
    if (!dp || asprintf(&p, "%s/%s", strcmp(dp, "/") == 0 ? "" : dp, name) < 0)
        return ENS_SHIELD_ENCRYPTED;
    size_t best = 0;
    int r = fs->m->default_region;
    for (size_t i = 0; i < fs->m->nrules; i++) {
        const char *rp = fs->m->rules[i].path;
        size_t l = strlen(rp);
        bool match = (l == 1) || (strncmp(p, rp, l) == 0 && (p[l] == '\0' || p[l] == '/'));
        if (match && l >= best) {
            best = l;
            r = fs->m->rules[i].region;
        }
    }
    return r == ENS_SHIELD_PLAIN ? ENS_SHIELD_ENCRYPTED : r; /* a volume protects everything */
}

/* Creates a node named name in parent; replies the error itself when it returns NULL. */
static struct sh_node *new_node(fuse_req_t req, fuse_ino_t parent, const char *name, int type, mode_t mode)
{
    struct fs *fs = FS(req);
    struct sh_node *d = node(fs, parent);
    if (!fs->rw)
        return fuse_reply_err(req, EROFS), NULL;
    if (!d || d->type != SH_DIR)
        return fuse_reply_err(req, d ? ENOTDIR : ENOENT), NULL;
    if (strlen(name) > 255)
        return fuse_reply_err(req, ENAMETOOLONG), NULL;
    if (sh_dir_find(d, name))
        return fuse_reply_err(req, EEXIST), NULL;
    struct sh_node *n = sh_node_new(fs->m, type);
    if (!n)
        return fuse_reply_err(req, ENOSPC), NULL;
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    n->mode = mode & 07777;
    n->uid = ctx->uid;
    n->gid = (d->mode & S_ISGID) ? d->gid : ctx->gid;
    if (type == SH_DIR && (d->mode & S_ISGID))
        n->mode |= S_ISGID;
    n->nlink = type == SH_DIR ? 2 : 1;
    n->parent = d->ino;
    n->name = strdup(name);
    touch(n, true);
    if (type == SH_REG) {
        n->region = region_for(fs, d, name);
        _cleanup_error_ ens_error_t e = NULL;
        if (obj_create(fs, n, &e) < 0) {
            discard_node(fs, n);
            return reply_err_logged(req, &e, EIO), NULL;
        }
    }
    if (!n->name || sh_dir_add(d, name, n->ino) < 0) {
        discard_node(fs, n);
        return fuse_reply_err(req, ENOMEM), NULL;
    }
    if (type == SH_DIR)
        d->nlink++;
    touch(d, true);
    fs->dirty = true;
    return n;
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    (void)rdev;
    if (!S_ISREG(mode))
        return (void)fuse_reply_err(req, EPERM); /* only files, dirs and symlinks are shielded */
    struct sh_node *n = new_node(req, parent, name, SH_REG, mode);
    if (n)
        reply_entry(req, FS(req), n);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    struct sh_node *n = new_node(req, parent, name, SH_DIR, mode);
    if (n)
        reply_entry(req, FS(req), n);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    if (strlen(link) == 0 || strlen(link) > 4095)
        return (void)fuse_reply_err(req, ENAMETOOLONG);
    char *t = strdup(link);
    if (!t)
        return (void)fuse_reply_err(req, ENOMEM);
    struct sh_node *n = new_node(req, parent, name, SH_LNK, 0777);
    if (!n)
        return free(t);
    n->target = t;
    reply_entry(req, FS(req), n);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
    struct fs *fs = FS(req);
    struct sh_node *n = new_node(req, parent, name, SH_REG, mode);
    if (!n)
        return;
    struct fuse_entry_param e;
    fill_entry(fs, n, &e);
    n->opens++;
    fi->keep_cache = 1;
    fuse_reply_create(req, &e, fi);
}

static void drop_link(struct fs *fs, struct sh_node *d, const char *name, struct sh_node *n)
{
    sh_dir_remove(d, name);
    if (n->type == SH_DIR) {
        n->nlink = 0;
        d->nlink--;
    } else {
        n->nlink--;
        touch(n, false);
    }
    touch(d, true);
    fs->dirty = true;
    maybe_free(fs, n);
}

/* unlink (dir false) and rmdir (dir true): the same checks but for the node's type. */
static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir)
{
    struct fs *fs = FS(req);
    if (!fs->rw)
        return (void)fuse_reply_err(req, EROFS);
    struct sh_node *d = node(fs, parent);
    struct sh_dirent *e = d && d->type == SH_DIR ? sh_dir_find(d, name) : NULL;
    if (!e)
        return (void)fuse_reply_err(req, ENOENT);
    struct sh_node *n = node(fs, e->ino);
    if ((n->type == SH_DIR) != dir)
        return (void)fuse_reply_err(req, dir ? ENOTDIR : EISDIR);
    if (dir && n->nents)
        return (void)fuse_reply_err(req, ENOTEMPTY);
    drop_link(fs, d, name, n);
    fuse_reply_err(req, 0);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) { remove_entry(req, parent, name, false); }

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) { remove_entry(req, parent, name, true); }

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    struct fs *fs = FS(req);
    if (!fs->rw)
        return (void)fuse_reply_err(req, EROFS);
    if (flags & ~RENAME_NOREPLACE)
        return (void)fuse_reply_err(req, EINVAL);
    struct sh_node *d = node(fs, parent), *nd = node(fs, newparent);
    if (!d || !nd || d->type != SH_DIR || nd->type != SH_DIR)
        return (void)fuse_reply_err(req, ENOENT);
    struct sh_dirent *e = sh_dir_find(d, name);
    if (!e)
        return (void)fuse_reply_err(req, ENOENT);
    if (strlen(newname) > 255)
        return (void)fuse_reply_err(req, ENAMETOOLONG);
    struct sh_node *n = node(fs, e->ino);
    if (n->type == SH_DIR) /* not into its own subtree */
        for (struct sh_node *a = nd; a; a = a->ino == 1 ? NULL : node(fs, a->parent))
            if (a == n)
                return (void)fuse_reply_err(req, EINVAL);
    struct sh_dirent *te = sh_dir_find(nd, newname);
    if (te) {
        if (flags & RENAME_NOREPLACE)
            return (void)fuse_reply_err(req, EEXIST);
        struct sh_node *t = node(fs, te->ino);
        if (t == n)
            return (void)fuse_reply_err(req, 0);
        if (t->type == SH_DIR && n->type != SH_DIR)
            return (void)fuse_reply_err(req, EISDIR);
        if (t->type != SH_DIR && n->type == SH_DIR)
            return (void)fuse_reply_err(req, ENOTDIR);
        if (t->type == SH_DIR && t->nents)
            return (void)fuse_reply_err(req, ENOTEMPTY);
        drop_link(fs, nd, newname, t);
    }
    uint64_t ino = n->ino;
    sh_dir_remove(d, name);
    if (sh_dir_add(nd, newname, ino) < 0)
        return (void)fuse_reply_err(req, ENOMEM);
    if (n->type == SH_DIR && d != nd) {
        d->nlink--;
        nd->nlink++;
    }
    if (n->type == SH_DIR || (n->parent == d->ino && n->name && strcmp(n->name, name) == 0)) {
        n->parent = nd->ino;
        free(n->name);
        n->name = strdup(newname);
    }
    touch(d, true);
    touch(nd, true);
    touch(n, false);
    fs->dirty = true;
    fuse_reply_err(req, 0);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    struct fs *fs = FS(req);
    if (!fs->rw)
        return (void)fuse_reply_err(req, EROFS);
    struct sh_node *n = node(fs, ino), *d = node(fs, newparent);
    if (!n || !d || d->type != SH_DIR)
        return (void)fuse_reply_err(req, ENOENT);
    if (n->type == SH_DIR)
        return (void)fuse_reply_err(req, EPERM);
    if (sh_dir_find(d, newname))
        return (void)fuse_reply_err(req, EEXIST);
    if (n->nlink >= 65000)
        return (void)fuse_reply_err(req, EMLINK);
    if (sh_dir_add(d, newname, n->ino) < 0)
        return (void)fuse_reply_err(req, ENOMEM);
    n->nlink++;
    touch(n, false);
    touch(d, true);
    fs->dirty = true;
    reply_entry(req, fs, n);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = FS(req);
    struct sh_node *n = typed_node(req, ino, SH_REG, EISDIR);
    if (!n)
        return;
    if (!fs->rw && (fi->flags & O_ACCMODE) != O_RDONLY)
        return (void)fuse_reply_err(req, EROFS);
    _cleanup_error_ ens_error_t e = NULL;
    if (obj_open(fs, n, &e) < 0)
        return reply_err_logged(req, &e, EIO);
    n->opens++;
    fi->keep_cache = 1; /* every byte reaching the page cache was verified */
    fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    struct fs *fs = FS(req);
    struct sh_node *n = node(fs, ino);
    if (!n || n->type != SH_REG || !n->o)
        return (void)fuse_reply_err(req, EBADF);
    if ((uint64_t)off >= n->size)
        return (void)fuse_reply_buf(req, NULL, 0);
    if ((uint64_t)off + size > n->size)
        size = (size_t)(n->size - (uint64_t)off);
    _cleanup_free_ char *buf = malloc(size ? size : 1);
    if (!buf)
        return (void)fuse_reply_err(req, ENOMEM);
    uint32_t C = fs->m->chunk;
    size_t done = 0;
    while (done < size) {
        uint64_t pos = (uint64_t)off + done, idx = pos / C;
        size_t coff = pos % C, k = C - coff < size - done ? C - coff : size - done;
        _cleanup_error_ ens_error_t e = NULL;
        struct sh_obj *o = n->o;
        if (coff == 0 && k == sh_chunk_len(fs->m, n, idx) && !(o->cvalid && o->cidx == idx)) {
            /* a whole chunk: read and decrypt it in place in the reply (one copy less) */
            if (obj_ready(fs, n, &e) < 0 || (prefetch(fs, o, idx), sh_obj_read_chunk(fs->m, n, idx, (uint8_t *)buf + done, k, &e)) < 0)
                return reply_err_logged(req, &e, EIO);
            done += k;
            continue;
        }
        if (load_chunk(fs, n, idx, false, &e) < 0)
            return reply_err_logged(req, &e, EIO);
        memcpy(buf + done, n->o->cbuf + coff, k);
        done += k;
    }
    fuse_reply_buf(req, buf, size);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    (void)fi;
    struct fs *fs = FS(req);
    struct sh_node *n = node(fs, ino);
    if (!fs->rw)
        return (void)fuse_reply_err(req, EROFS);
    if (!n || n->type != SH_REG)
        return (void)fuse_reply_err(req, EBADF);
    _cleanup_error_ ens_error_t e = NULL;
    if ((uint64_t)off + size > SH_MAX_SIZE)
        return (void)fuse_reply_err(req, EFBIG);
    if (make_mutable(fs, n, &e) < 0 ||
        ((uint64_t)off + size > n->size && resize(fs, n, (uint64_t)off + size, &e) < 0))
        return reply_err_logged(req, &e, EIO);
    uint32_t C = fs->m->chunk;
    size_t done = 0;
    while (done < size) {
        uint64_t pos = (uint64_t)off + done, idx = pos / C;
        size_t coff = pos % C, k = C - coff < size - done ? C - coff : size - done;
        bool whole = coff == 0 && k >= sh_chunk_len(fs->m, n, idx);
        if (load_chunk(fs, n, idx, whole, &e) < 0)
            return reply_err_logged(req, &e, EIO);
        memcpy(n->o->cbuf + coff, buf + done, k);
        n->o->cdirty = true;
        done += k;
    }
    n->o->dirty = true;
    touch(n, true);
    fs->dirty = true;
    fuse_reply_write(req, size);
}

static void request_commit(struct fs *fs)
{
    if (!fs->dirty)
        return;
    if (fs->opts->commit_interval_ms == 0) {
        do_commit(fs);
    } else if (!fs->pending) {
        fs->pending = true;
        clock_gettime(CLOCK_MONOTONIC, &fs->pending_since);
    }
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = FS(req);
    struct sh_node *n = node(fs, ino);
    if (n) {
        if (n->opens && --n->opens == 0 && n->type == SH_REG)
            obj_park(fs, n);
        if ((fi->flags & O_ACCMODE) != O_RDONLY)
            request_commit(fs);
        maybe_free(fs, n);
    }
    fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)ino;
    (void)datasync;
    (void)fi;
    fuse_reply_err(req, -do_commit(FS(req)));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = FS(req);
    if (!typed_node(req, ino, SH_DIR, ENOTDIR))
        return;
    if (!fs->rw) {
        fi->cache_readdir = 1;
        fi->keep_cache = 1;
    }
    fuse_reply_open(req, fi);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    struct fs *fs = FS(req);
    struct sh_node *d = node(fs, ino);
    if (!d || d->type != SH_DIR)
        return (void)fuse_reply_err(req, ENOTDIR);
    _cleanup_free_ char *buf = malloc(size);
    if (!buf)
        return (void)fuse_reply_err(req, ENOMEM);
    /* Offsets: 1 after ".", 2 after "..", then 2 + the entry's cookie, so that entries
     * removed between calls (rm -rf) make nothing else be skipped. */
    size_t used = 0;
    for (off_t k = off; k < 2; k++) {
        struct stat st;
        memset(&st, 0, sizeof(st));
        st.st_ino = k == 0 ? d->ino : (d->ino == 1 ? 1 : d->parent);
        st.st_mode = S_IFDIR;
        size_t l = fuse_add_direntry(req, buf + used, size - used, k == 0 ? "." : "..", &st, k + 1);
        if (l > size - used)
            return (void)fuse_reply_buf(req, buf, used);
        used += l;
    }
    uint64_t after = off > 2 ? (uint64_t)off - 2 : 0;
    size_t lo = 0, hi = d->nents; /* first entry with cookie > after */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (d->ents[mid].cookie <= after)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < d->nents; i++) {
        struct stat st;
        memset(&st, 0, sizeof(st));
        struct sh_node *c = node(fs, d->ents[i].ino);
        st.st_ino = c->ino;
        st.st_mode = c->type == SH_DIR ? S_IFDIR : c->type == SH_LNK ? S_IFLNK : S_IFREG;
        size_t l = fuse_add_direntry(req, buf + used, size - used, d->ents[i].name, &st,
                                     (off_t)(d->ents[i].cookie + 2));
        if (l > size - used)
            break;
        used += l;
    }
    fuse_reply_buf(req, buf, used);
}

/* SEEK_DATA / SEEK_HOLE at chunk granularity from the chunk table (holes are authenticated). */
static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
    (void)fi;
    struct fs *fs = FS(req);
    struct sh_node *n = node(fs, ino);
    if (!n || n->type != SH_REG || !n->o)
        return (void)fuse_reply_err(req, EBADF);
    if (whence != SEEK_DATA && whence != SEEK_HOLE)
        return (void)fuse_reply_err(req, EINVAL);
    if (off < 0 || (uint64_t)off >= n->size)
        return (void)fuse_reply_err(req, ENXIO);
    struct sh_obj *o = n->o;
    uint32_t C = fs->m->chunk;
    for (uint64_t i = (uint64_t)off / C; i < o->ntab; i++) {
        bool data = o->tab[i].ctr != 0 || (o->cvalid && o->cdirty && o->cidx == i);
        if (data == (whence == SEEK_DATA)) {
            uint64_t at = i * C > (uint64_t)off ? i * C : (uint64_t)off;
            return (void)fuse_reply_lseek(req, (off_t)at);
        }
    }
    if (whence == SEEK_HOLE)
        return (void)fuse_reply_lseek(req, (off_t)n->size);
    fuse_reply_err(req, ENXIO);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    op_fsync(req, ino, datasync, fi);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    struct fs *fs = FS(req);
    struct statvfs sv;
    if (statvfs(fs->shield, &sv) < 0)
        return (void)fuse_reply_err(req, errno);
    sv.f_namemax = 255;
    fuse_reply_statfs(req, &sv);
}

static void tune_readahead(const char *mountpoint);

/* ---- locking wrappers (one lock; uncontended on writable mounts, which use one thread) ---- */

/* Once INIT is answered (the mount exists), and only once. */
static void tune_readahead_once(struct fs *fs)
{
    if (fs->inited && fs->mountpoint) {
        tune_readahead(fs->mountpoint);
        fs->mountpoint = NULL;
    }
}

static void lk(struct fs *fs)
{
    pthread_mutex_lock(&fs->lock);
    if (fs->mt)
        tune_readahead_once(fs);
}

static void op_read_mt(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);

/* Defines w_<op>, which calls op_<op> with the lock held: params is the handler's
 * parameter list (req first), the rest the arguments passed on after req. */
#define LOCKED_OP(op, params, ...)           \
    static void w_##op params                \
    {                                        \
        struct fs *fs = FS(req);             \
        lk(fs);                              \
        op_##op(req, __VA_ARGS__);           \
        pthread_mutex_unlock(&fs->lock);     \
    }

LOCKED_OP(lookup, (fuse_req_t req, fuse_ino_t parent, const char *name), parent, name)
LOCKED_OP(forget, (fuse_req_t req, fuse_ino_t ino, uint64_t nlookup), ino, nlookup)
LOCKED_OP(forget_multi, (fuse_req_t req, size_t count, struct fuse_forget_data *forgets), count, forgets)
LOCKED_OP(getattr, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi), ino, fi)
LOCKED_OP(setattr, (fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi),
          ino, attr, to_set, fi)
LOCKED_OP(readlink, (fuse_req_t req, fuse_ino_t ino), ino)
LOCKED_OP(mknod, (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev),
          parent, name, mode, rdev)
LOCKED_OP(mkdir, (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode), parent, name, mode)
LOCKED_OP(symlink, (fuse_req_t req, const char *link, fuse_ino_t parent, const char *name), link, parent, name)
LOCKED_OP(create, (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi),
          parent, name, mode, fi)
LOCKED_OP(unlink, (fuse_req_t req, fuse_ino_t parent, const char *name), parent, name)
LOCKED_OP(rmdir, (fuse_req_t req, fuse_ino_t parent, const char *name), parent, name)
LOCKED_OP(rename, (fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                   const char *newname, unsigned int flags),
          parent, name, newparent, newname, flags)
LOCKED_OP(link, (fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname), ino, newparent, newname)
LOCKED_OP(open, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi), ino, fi)
LOCKED_OP(write, (fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                  struct fuse_file_info *fi),
          ino, buf, size, off, fi)
LOCKED_OP(release, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi), ino, fi)
LOCKED_OP(fsync, (fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi), ino, datasync, fi)
LOCKED_OP(opendir, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi), ino, fi)
LOCKED_OP(readdir, (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi),
          ino, size, off, fi)
LOCKED_OP(lseek, (fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi),
          ino, off, whence, fi)
LOCKED_OP(fsyncdir, (fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi), ino, datasync, fi)
LOCKED_OP(statfs, (fuse_req_t req, fuse_ino_t ino), ino)

/* Not a LOCKED_OP: read-only mounts decrypt outside the lock (op_read_mt). */
static void w_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    struct fs *fs = FS(req);
    if (fs->mt)
        return op_read_mt(req, ino, size, off, fi);
    lk(fs);
    op_read(req, ino, size, off, fi);
    pthread_mutex_unlock(&fs->lock);
}

/* Read-only mounts: whole-chunk reads are decrypted outside the lock, in parallel. */
static void op_read_mt(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    struct fs *fs = FS(req);
    uint32_t C = fs->m->chunk;
    lk(fs);
    struct sh_node *n = node(fs, ino);
    if (!n || n->type != SH_REG || !n->o || (uint64_t)off % C != 0 ||
        ((uint64_t)off + size < n->size && size % C != 0) || (uint64_t)off >= n->size) {
        op_read(req, ino, size, off, fi); /* partial chunks, EOF, errors: the locked path */
        pthread_mutex_unlock(&fs->lock);
        return;
    }
    _cleanup_error_ ens_error_t e = NULL;
    if (obj_ready(fs, n, &e) < 0) {
        log_err(&e);
        pthread_mutex_unlock(&fs->lock);
        return (void)fuse_reply_err(req, EIO);
    }
    struct sh_obj *o = n->o;
    if ((uint64_t)off + size > n->size)
        size = (size_t)(n->size - (uint64_t)off);
    uint64_t first = (uint64_t)off / C, nch = (size + C - 1) / C;
    prefetch(fs, o, first);
    o->next_read = first + nch;
    /* the object stays while the file is open, and a read-only table never changes */
    int fd = o->fd, region = n->region;
    uint8_t key[32], id[SH_OBJ_ID_LEN];
    memcpy(key, o->key, sizeof(key));
    memcpy(id, o->id, sizeof(id));
    const struct sh_tent *tab = o->tab + first;
    pthread_mutex_unlock(&fs->lock);

    _cleanup_free_ uint8_t *buf = malloc(size ? size : 1);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    bool ok = buf && c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, NULL) == 1;
    ens_wipe(key, sizeof(key));
    uint64_t bad = UINT64_MAX;
    for (uint64_t i = 0; ok && i < nch; i++) {
        size_t len = size - i * C < C ? size - i * C : C;
        uint8_t *p = buf + i * C;
        if (tab[i].ctr == 0) {
            memset(p, 0, len);
            continue;
        }
        size_t got = 0;
        while (got < len) {
            ssize_t r = pread(fd, p + got, len - got, (off_t)((first + i) * C + got));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        if (got != len || sh_chunk_open_ctx(c, id, region, first + i, tab[i].ctr, p, len, tab[i].tag, p) < 0)
            bad = first + i, ok = false;
    }
    EVP_CIPHER_CTX_free(c);
    if (!ok) {
        lk(fs);
        _cleanup_free_ char *path = sh_node_path(fs->m, n);
        if (bad != UINT64_MAX)
            ens_log(ENS_LOG_ERROR, "shield: %s: integrity check failed at chunk %llu (tampered data)",
                    path ? path : "?", (unsigned long long)bad);
        pthread_mutex_unlock(&fs->lock);
        return (void)fuse_reply_err(req, bad != UINT64_MAX ? EIO : ENOMEM);
    }
    fuse_reply_buf(req, (const char *)buf, size);
}

static const struct fuse_lowlevel_ops ops = {
    .init = op_init,
    .lookup = w_lookup,
    .forget = w_forget,
    .forget_multi = w_forget_multi,
    .getattr = w_getattr,
    .setattr = w_setattr,
    .readlink = w_readlink,
    .mknod = w_mknod,
    .mkdir = w_mkdir,
    .unlink = w_unlink,
    .rmdir = w_rmdir,
    .symlink = w_symlink,
    .rename = w_rename,
    .link = w_link,
    .open = w_open,
    .read = w_read,
    .write = w_write,
    .release = w_release,
    .fsync = w_fsync,
    .opendir = w_opendir,
    .readdir = w_readdir,
    .fsyncdir = w_fsyncdir,
    .statfs = w_statfs,
    .create = w_create,
    .lseek = w_lseek,
};

static long ms_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* The kernel caps a FUSE mount's read-ahead at 128 KiB, which leaves one request in flight
 * for sequential reads; once INIT is answered, raise it through the mount's bdi (root only,
 * best effort: the device number comes from mountinfo, since a stat() would need this loop). */
static void tune_readahead(const char *mountpoint)
{
    _cleanup_free_ char *mp = realpath(mountpoint, NULL);
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!mp || !f)
        return;
    char line[4096], dev[64] = "", *save = NULL;
    while (fgets(line, sizeof(line), f)) {
        char *tok[6] = {0};
        char *s = line;
        for (int i = 0; i < 6 && (tok[i] = strtok_r(s, " ", &save)); i++)
            s = NULL;
        if (tok[4] && strcmp(tok[4], mp) == 0 && strlen(tok[2]) < sizeof(dev))
            strcpy(dev, tok[2]); /* the last match is the topmost mount */
    }
    if (!dev[0])
        return;
    char path[128];
    snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "4096", 4) != 4)
        ens_log(ENS_LOG_DEBUG, "shield: could not raise the read-ahead of %s", mp);
}

/* The session loop, with a timeout so that coalesced close-commits happen on time. */
static void loop(struct fuse_session *se, struct fs *fs)
{
    struct fuse_buf fbuf;
    memset(&fbuf, 0, sizeof(fbuf));
    int fd = fuse_session_fd(se);
    while (!fuse_session_exited(se)) {
        int timeout = -1;
        if (fs->pending) {
            long left = (long)fs->opts->commit_interval_ms - ms_since(&fs->pending_since);
            timeout = left < 0 ? 0 : (int)left;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, timeout);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        if (r > 0) {
            int res = fuse_session_receive_buf(se, &fbuf);
            if (res == -EINTR || res == -EAGAIN)
                continue;
            if (res <= 0)
                break;
            fuse_session_process_buf(se, &fbuf);
            tune_readahead_once(fs);
        }
        if (fs->pending && ms_since(&fs->pending_since) >= (long)fs->opts->commit_interval_ms)
            do_commit(fs);
    }
    free(fbuf.mem);
}

int ens_shield_mount(const char *shield_dir, const uint8_t key[ENS_SHIELD_KEY_LEN],
                     const uint8_t tag[ENS_SHIELD_TAG_LEN], const char *mountpoint,
                     const struct ens_shield_mount_opts *opts, ens_error_t *err)
{
    struct ens_shield_mount_opts defaults = {0};
    if (!opts)
        opts = &defaults;
    struct fs fs = {.shield = shield_dir, .opts = opts, .rw = opts->writable, .mt = !opts->writable};
    pthread_mutex_init(&fs.lock, NULL);
    memcpy(fs.vk, key, 32);
    bool was_prev = false;
    int rc = -1;
    struct fuse_session *se = NULL;
    if (sh_load(shield_dir, key, tag, opts->writable, &fs.m, &was_prev, err) < 0)
        goto out;
    if (opts->writable) {
        if (was_prev) {
            /* the newer commit was never acknowledged: make the expected version current */
            _cleanup_free_ char *prev = ens_path_join(shield_dir, "manifest.prev");
            _cleanup_free_ char *cur = ens_path_join(shield_dir, "manifest");
            _cleanup_free_ char *buf = NULL;
            size_t len;
            if (ens_read_file(prev, SH_MAX_MANIFEST + 128, &buf, &len, err) < 0 ||
                ens_write_file_atomic(cur, buf, len, 0644, err) < 0)
                goto out;
            ens_log(ENS_LOG_WARN, "shield %s: dropped a commit that was never acknowledged", shield_dir);
        }
        if (sh_gc(shield_dir, key, err) < 0)
            goto out;
        if (sh_manifest_objs(fs.m, &fs.cur_ids, &fs.ncur) < 0) {
            ens_error(err, ENOMEM, "out of memory");
            goto out;
        }
        /* all 256 fan-out directories up front: no mkdir per created file */
        _cleanup_free_ char *od = ens_path_join(shield_dir, "objects");
        if (!od || (mkdir(od, 0755) < 0 && errno != EEXIST)) {
            ens_error_errno(err, "mkdir %s/objects", shield_dir);
            goto out;
        }
        for (int b = 0; b < 256; b++) {
            char sub[8];
            snprintf(sub, sizeof(sub), "/%02x", b);
            _cleanup_free_ char *p = NULL;
            if (asprintf(&p, "%s%s", od, sub) < 0 || (mkdir(p, 0755) < 0 && errno != EEXIST)) {
                ens_error_errno(err, "mkdir %s", p ? p : od);
                goto out;
            }
        }
    }
    struct rlimit rl; /* files written since the last commit keep a descriptor until it */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    fs.tmp = malloc(fs.m->chunk + 16);
    if (!fs.tmp) {
        ens_error(err, ENOMEM, "out of memory");
        goto out;
    }
    char optstr[256];
    snprintf(optstr, sizeof(optstr), "fsname=ensconce-shield,subtype=ensconce,default_permissions%s%s",
             opts->allow_other ? ",allow_other" : "", opts->writable ? "" : ",ro");
    char *argv[] = {(char *)"ensconce-shield", (char *)"-o", optstr, (char *)"-d", NULL};
    struct fuse_args args = FUSE_ARGS_INIT(opts->debug ? 4 : 3, argv);
    se = fuse_session_new(&args, &ops, sizeof(ops), &fs);
    fuse_opt_free_args(&args); /* libfuse may have copied them */
    if (!se) {
        ens_error(err, EIO, "cannot create the FUSE session");
        goto out;
    }
    if (fuse_set_signal_handlers(se) != 0) {
        ens_error(err, EIO, "cannot install signal handlers");
        goto out;
    }
    if (fuse_session_mount(se, mountpoint) != 0) {
        fuse_remove_signal_handlers(se);
        ens_error(err, EIO, "cannot mount the shield at %s (is /dev/fuse available and are you root?)",
                  mountpoint);
        goto out;
    }
    ens_log(ENS_LOG_INFO, "shield %s mounted at %s (%s)", shield_dir, mountpoint,
            opts->writable ? "read-write" : "read-only");
    fs.mountpoint = mountpoint;
    if (fs.mt) {
        struct fuse_loop_config lc = {.clone_fd = 0, .max_idle_threads = 4};
        fuse_session_loop_mt(se, &lc);
    } else {
        loop(se, &fs);
    }
    fuse_session_unmount(se);
    fuse_remove_signal_handlers(se);
    if (fs.rw && fs.dirty && do_commit(&fs) < 0) {
        ens_error(err, EIO, "final commit of %s failed", shield_dir);
        goto out;
    }
    rc = fs.commit_errors ? ens_error(err, EIO, "%d commit(s) of %s failed", fs.commit_errors, shield_dir) : 0;
out:
    if (se)
        fuse_session_destroy(se);
    sh_manifest_free(fs.m);
    free(fs.tmp);
    free(fs.cur_ids);
    free(fs.prev_ids);
    ens_wipe(fs.vk, sizeof(fs.vk));
    pthread_mutex_destroy(&fs.lock);
    return rc;
}
