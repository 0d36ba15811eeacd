/* SPDX-License-Identifier: Apache-2.0 */
/* Layer blobs as tar streams: we do the (de)compression ourselves (zlib, zstd) so that one pass
 * gives libarchive the tar, and us both the blob digest and the uncompressed digest (diff_id). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "crypto/digest.h"
#include "image/internal.h"

#define IOBUF (1u << 20)
/* Layers at least this big are read, hashed and decompressed by a second thread while the caller
 * consumes the tar (see produce()). */
#define PIPE_MIN_SIZE (4 << 20)
#define PIPE_SLOTS 4

int64_t source_date_epoch(void)
{
    const char *s = getenv("SOURCE_DATE_EPOCH");
    if (!s || !*s)
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < 0)
        return 0;
    return v;
}

int parse_compression(const char *s, enum comp *c, ens_error_t *err)
{
    if (!s || strcmp(s, "gzip") == 0)
        *c = COMP_GZIP;
    else if (strcmp(s, "zstd") == 0)
        *c = COMP_ZSTD;
    else if (strcmp(s, "none") == 0)
        *c = COMP_NONE;
    else
        return ens_error(err, EINVAL, "unknown compression '%s' (gzip, zstd or none)", s);
    return 0;
}

const char *comp_layer_media_type(enum comp c)
{
    return c == COMP_GZIP ? MT_OCI_LAYER_GZIP : c == COMP_ZSTD ? MT_OCI_LAYER_ZSTD : MT_OCI_LAYER;
}

static void digest_of(ens_sha256_ctx *c, char out[72])
{
    uint8_t d[ENS_SHA256_LEN];
    ens_sha256_final(c, d);
    ens_sha256_free(c);
    memcpy(out, "sha256:", 7);
    ens_hex_encode(d, sizeof(d), out + 7);
}

/* ------------------------------------------------------------------ reader */

/* The reading thread hands filled buffers to the consumer through a ring of slots. */
struct pipe {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned char *slot[PIPE_SLOTS];
    const void *ptr[PIPE_SLOTS]; /* where slot i's data is */
    size_t len[PIPE_SLOTS];
    size_t head, tail; /* filled slots: tail .. head-1 (modulo PIPE_SLOTS) */
    bool holding;      /* the reader still uses slot tail (until its next call) */
    bool done, failed, cancel;
};

struct layer_reader {
    int fd;
    struct pipe *pipe;
    bool pipe_failed; /* the thread stopped on an error: no restart */
    bool hu_by_reader; /* with the thread: the reading side hashes the uncompressed data */
    char *name;
    char digest[72];
    int64_t size, nread;
    enum comp comp;
    bool sniffed;
    z_stream z;
    bool z_init, z_member_done;
    ZSTD_DStream *zs;
    size_t zs_last;
    ens_sha256_ctx *hc, *hu;
    bool want_u; /* compute the uncompressed digest (diff_id) */
    unsigned char *in, *in_mem, *out, *out_mem; /* in/out: where reads and the decompressor write (own or a slot) */
    size_t in_len, in_pos;
    bool in_eof, end;
    struct archive *ar;
    ens_error_t err;
};

static int fill_in(struct layer_reader *lr)
{
    if (lr->in_eof)
        return 0;
    ssize_t r;
    do
        r = read(lr->fd, lr->in, IOBUF);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return ens_error_errno(&lr->err, "layer %s: read", lr->name);
    if (r == 0) {
        lr->in_eof = true;
        lr->in_len = lr->in_pos = 0;
        return 0;
    }
    lr->nread += r;
    if (lr->size >= 0 && lr->nread > lr->size)
        return ens_error(&lr->err, EBADMSG, "layer %s: blob is larger than its descriptor's size %lld", lr->name,
                         (long long)lr->size);
    /* Hash only what is to be checked: SHA-256 is most of the CPU time of reading a layer. */
    if (lr->digest[0])
        ens_sha256_update(lr->hc, lr->in, (size_t)r);
    lr->in_len = (size_t)r;
    lr->in_pos = 0;
    return 0;
}

static int sniff(struct layer_reader *lr)
{
    if (fill_in(lr) < 0)
        return -1;
    lr->sniffed = true;
    const unsigned char *p = lr->in;
    if (lr->in_len >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
        lr->comp = COMP_GZIP;
        if (inflateInit2(&lr->z, 15 + 16) != Z_OK)
            return ens_error(&lr->err, ENOMEM, "zlib init failed");
        lr->z_init = true;
    } else if (lr->in_len >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd) {
        lr->comp = COMP_ZSTD;
        lr->zs = ZSTD_createDStream();
        if (!lr->zs)
            return ens_error(&lr->err, ENOMEM, "zstd init failed");
        ZSTD_initDStream(lr->zs);
    } else {
        lr->comp = COMP_NONE;
    }
    return 0;
}

/* Whether the uncompressed data must be hashed on its own: wanted, and not a plain tar whose blob
 * digest is computed anyway (then the two are the same). */
static bool hashes_u(const struct layer_reader *lr)
{
    return lr->want_u && !(lr->comp == COMP_NONE && lr->digest[0]);
}

/* Next piece of uncompressed data: >0 bytes in lr->out (or in place), 0 at the end, -1 on error. */
static ssize_t produce_direct(struct layer_reader *lr, const void **buf)
{
    if (!lr->sniffed && sniff(lr) < 0)
        return -1;
    if (lr->end)
        return 0;
    for (;;) {
        if (lr->in_pos == lr->in_len) {
            if (fill_in(lr) < 0)
                return -1;
        }
        bool have = lr->in_pos < lr->in_len;
        if (lr->comp == COMP_NONE) {
            if (!have) {
                lr->end = true;
                return 0;
            }
            *buf = lr->in + lr->in_pos;
            size_t n = lr->in_len - lr->in_pos;
            lr->in_pos = lr->in_len;
            if (hashes_u(lr) && !lr->hu_by_reader)
                ens_sha256_update(lr->hu, *buf, n);
            return (ssize_t)n;
        }
        if (lr->comp == COMP_GZIP) {
            if (!have) {
                if (lr->z_member_done) {
                    lr->end = true;
                    return 0;
                }
                return ens_error(&lr->err, EBADMSG, "layer %s: truncated gzip stream", lr->name);
            }
            if (lr->z_member_done) {
                /* Another gzip member follows (concatenated gzip is valid). */
                inflateReset(&lr->z);
                lr->z_member_done = false;
            }
            lr->z.next_in = lr->in + lr->in_pos;
            lr->z.avail_in = (uInt)(lr->in_len - lr->in_pos);
            lr->z.next_out = lr->out;
            lr->z.avail_out = IOBUF;
            int r = inflate(&lr->z, Z_NO_FLUSH);
            lr->in_pos = lr->in_len - lr->z.avail_in;
            if (r == Z_STREAM_END)
                lr->z_member_done = true;
            else if (r != Z_OK && r != Z_BUF_ERROR)
                return ens_error(&lr->err, EBADMSG, "layer %s: corrupt gzip data (%s)", lr->name,
                                 lr->z.msg ? lr->z.msg : "inflate failed");
            size_t n = IOBUF - lr->z.avail_out;
            if (n > 0) {
                *buf = lr->out;
                if (hashes_u(lr) && !lr->hu_by_reader)
                    ens_sha256_update(lr->hu, lr->out, n);
                return (ssize_t)n;
            }
            continue;
        }
        /* zstd */
        if (!have) {
            if (lr->zs_last == 0) {
                lr->end = true;
                return 0;
            }
            return ens_error(&lr->err, EBADMSG, "layer %s: truncated zstd stream", lr->name);
        }
        ZSTD_inBuffer ib = { lr->in, lr->in_len, lr->in_pos };
        ZSTD_outBuffer ob = { lr->out, IOBUF, 0 };
        size_t r = ZSTD_decompressStream(lr->zs, &ob, &ib);
        lr->in_pos = ib.pos;
        if (ZSTD_isError(r))
            return ens_error(&lr->err, EBADMSG, "layer %s: corrupt zstd data (%s)", lr->name, ZSTD_getErrorName(r));
        lr->zs_last = r;
        if (ob.pos > 0) {
            *buf = lr->out;
            if (hashes_u(lr) && !lr->hu_by_reader)
                ens_sha256_update(lr->hu, lr->out, ob.pos);
            return (ssize_t)ob.pos;
        }
    }
}

static void *pipe_main(void *arg)
{
    struct layer_reader *lr = arg;
    struct pipe *p = lr->pipe;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->head - p->tail == PIPE_SLOTS && !p->cancel)
            pthread_cond_wait(&p->cond, &p->lock);
        bool cancel = p->cancel;
        size_t i = p->head % PIPE_SLOTS;
        pthread_mutex_unlock(&p->lock);
        if (cancel)
            return NULL;
        if (lr->comp == COMP_NONE) {
            if (lr->in_pos == lr->in_len) /* else the first read is still unconsumed in in_mem */
                lr->in = p->slot[i];      /* plain: the read itself fills the slot */
        } else
            lr->out = p->slot[i];
        const void *buf;
        ssize_t n = produce_direct(lr, &buf);
        pthread_mutex_lock(&p->lock);
        if (n > 0) {
            p->ptr[i] = buf; /* the slot, or (a plain tar's first read) the reader's own buffer */
            p->len[i] = (size_t)n;
            p->head++;
        } else {
            p->done = true;
            p->failed = n < 0; /* lr->err is set before the reader can see this */
        }
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        if (n <= 0)
            return NULL;
    }
}

/* Frees the pipe's memory and synchronisation (the thread is not running). */
static void pipe_free(struct pipe *p)
{
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    for (int i = 0; i < PIPE_SLOTS; i++)
        free(p->slot[i]);
    free(p);
}

static void pipe_stop(struct layer_reader *lr)
{
    struct pipe *p = lr->pipe;
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->cancel = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pipe_free(p);
    lr->pipe = NULL;
    lr->in = lr->in_mem;
    lr->out = lr->out_mem;
}

/* Starts the reading thread; on any failure the reader simply stays single-threaded. */
static void pipe_start(struct layer_reader *lr)
{
    struct pipe *p = calloc(1, sizeof(*p));
    if (!p)
        return;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    for (int i = 0; i < PIPE_SLOTS; i++) {
        if (!(p->slot[i] = malloc(IOBUF))) {
            pipe_free(p); /* free(NULL) for the slots not allocated */
            return;
        }
    }
    lr->pipe = p;
    /* Reading, the blob digest and decompression on that thread, the diff_id on this one: about even
     * halves of the work. */
    lr->hu_by_reader = true;
    if (pthread_create(&p->thread, NULL, pipe_main, lr) != 0) {
        lr->hu_by_reader = false;
        pipe_free(p);
        lr->pipe = NULL;
    }
}

static ssize_t produce(struct layer_reader *lr, const void **buf)
{
    if (!lr->sniffed && sniff(lr) < 0)
        return -1;
    if (lr->pipe_failed)
        return -1;
    /* a plain tar is worth a thread only when it is hashed (else unread data is skipped by seeks) */
    if (!lr->pipe && !lr->end && lr->size >= PIPE_MIN_SIZE &&
        (lr->comp != COMP_NONE || lr->digest[0] || lr->want_u))
        pipe_start(lr);
    struct pipe *p = lr->pipe;
    if (!p)
        return produce_direct(lr, buf);
    pthread_mutex_lock(&p->lock);
    if (p->holding) { /* libarchive is done with the previous buffer */
        p->tail++;
        p->holding = false;
        pthread_cond_broadcast(&p->cond);
    }
    while (p->head == p->tail && !p->done)
        pthread_cond_wait(&p->cond, &p->lock);
    ssize_t n;
    if (p->head != p->tail) {
        *buf = p->ptr[p->tail % PIPE_SLOTS];
        n = (ssize_t)p->len[p->tail % PIPE_SLOTS];
        p->holding = true;
    } else {
        n = p->failed ? -1 : 0;
    }
    pthread_mutex_unlock(&p->lock);
    if (n > 0 && hashes_u(lr))
        ens_sha256_update(lr->hu, *buf, (size_t)n);
    if (n <= 0) { /* the thread has ended: its state (digests, input position) is ours again */
        pipe_stop(lr);
        lr->pipe_failed = n < 0;
    }
    return n;
}

static la_ssize_t read_cb(struct archive *a, void *cd, const void **buf)
{
    struct layer_reader *lr = cd;
    ssize_t n = produce(lr, buf);
    if (n < 0) {
        archive_set_error(a, EIO, "%s", ens_error_msg(lr->err));
        return -1;
    }
    return n;
}

/* Data libarchive does not want (removed or unread entries) of a plain tar that is not being
 * hashed is skipped with a seek instead of being read. */
static la_int64_t skip_cb(struct archive *a, void *cd, la_int64_t request)
{
    (void)a;
    struct layer_reader *lr = cd;
    if (!lr->sniffed || lr->comp != COMP_NONE || lr->digest[0] || lr->want_u || lr->in_pos != lr->in_len ||
        request <= 0)
        return 0;
    la_int64_t n = request;
    if (lr->size >= 0 && n > lr->size - lr->nread)
        n = lr->size - lr->nread;
    if (n <= 0 || lseek(lr->fd, (off_t)n, SEEK_CUR) < 0)
        return 0;
    lr->nread += n;
    return n;
}

static struct layer_reader *lr_new(int fd, const char *name, const char *digest, int64_t size, bool want_u)
{
    struct layer_reader *lr = calloc(1, sizeof(*lr));
    if (!lr)
        return NULL;
    lr->fd = fd;
    lr->size = size;
    lr->want_u = want_u;
    lr->name = strdup(name ? name : "(layer)");
    if (digest)
        snprintf(lr->digest, sizeof(lr->digest), "%s", digest);
    lr->hc = ens_sha256_new();
    lr->hu = ens_sha256_new();
    lr->in = lr->in_mem = malloc(IOBUF);
    lr->out = lr->out_mem = malloc(IOBUF);
    if (!lr->name || !lr->hc || !lr->hu || !lr->in || !lr->out) {
        layer_reader_free(lr);
        return NULL;
    }
    return lr;
}

static int reader_open(int fd, const char *name, const char *digest, int64_t size, bool want_u,
                       struct layer_reader **out, ens_error_t *err)
{
    struct layer_reader *lr = lr_new(fd, name, digest, size, want_u);
    if (!lr || !(lr->ar = archive_read_new())) {
        layer_reader_free(lr);
        return ens_error(err, ENOMEM, "out of memory");
    }
    archive_read_support_format_tar(lr->ar);
    archive_read_set_callback_data(lr->ar, lr);
    archive_read_set_read_callback(lr->ar, read_cb);
    archive_read_set_skip_callback(lr->ar, skip_cb);
    if (archive_read_open1(lr->ar) != ARCHIVE_OK) {
        if (lr->err)
            ens_error(err, ens_error_status(lr->err), "%s", ens_error_msg(lr->err));
        else
            ens_error(err, EBADMSG, "layer %s: %s", lr->name, archive_error_string(lr->ar));
        layer_reader_free(lr);
        return -1;
    }
    *out = lr;
    return 0;
}

int layer_reader_open(int fd, const char *name, const char *digest, int64_t size, struct layer_reader **out,
                      ens_error_t *err)
{
    return reader_open(fd, name, digest, size, true, out, err);
}

int layer_reader_open_blob(int fd, const struct blob *b, struct layer_reader **out, ens_error_t *err)
{
    return reader_open(fd, b->digest, b->verified ? NULL : b->digest, b->size, !b->diff_id_ok, out, err);
}

int layer_reader_finish_blob(struct layer_reader *lr, struct blob *b, ens_error_t *err)
{
    bool checks_u = lr->want_u && b->diff_id[0];
    if (layer_reader_finish(lr, b->diff_id, NULL, err) < 0)
        return -1;
    b->verified = true;
    b->diff_id_ok |= checks_u;
    return 0;
}

int layer_decompress(int in, const char *name, const char *digest, int64_t size, int out, const char *diff_id,
                     char out_diff_id[72], ens_error_t *err)
{
    struct layer_reader *lr = lr_new(in, name, digest, size, true);
    if (!lr)
        return ens_error(err, ENOMEM, "out of memory");
    const void *buf;
    ssize_t n;
    int ret = -1;
    while ((n = produce(lr, &buf)) > 0)
        if (ens_write_all(out, buf, (size_t)n, err) < 0)
            goto done;
    if (n < 0) {
        layer_reader_error(lr, err);
        goto done;
    }
    ret = layer_reader_finish(lr, diff_id, out_diff_id, err);
done:
    layer_reader_free(lr);
    return ret;
}

struct archive *layer_reader_archive(struct layer_reader *lr) { return lr->ar; }

int layer_reader_error(struct layer_reader *lr, ens_error_t *err)
{
    if (lr->err)
        return ens_error(err, ens_error_status(lr->err), "%s", ens_error_msg(lr->err));
    const char *m = lr->ar ? archive_error_string(lr->ar) : NULL;
    return ens_error(err, EBADMSG, "layer %s: invalid tar stream: %s", lr->name, m ? m : "unknown error");
}

int layer_reader_finish(struct layer_reader *lr, const char *diff_id, char out_diff_id[72], ens_error_t *err)
{
    if (out_diff_id)
        out_diff_id[0] = '\0';
    if (!lr->digest[0] && !lr->want_u)
        return 0; /* verified before: nothing left to check, no need to read the rest */
    const void *buf;
    ssize_t n;
    while ((n = produce(lr, &buf)) > 0)
        ;
    if (n < 0)
        return layer_reader_error(lr, err);
    /* Bytes after the end of a compressed stream would change the digest without being seen. */
    while (lr->in_pos < lr->in_len || !lr->in_eof) {
        if (lr->in_pos < lr->in_len)
            return ens_error(err, EBADMSG, "layer %s: trailing data after the compressed stream", lr->name);
        if (fill_in(lr) < 0)
            return layer_reader_error(lr, err);
    }
    char got[72] = "", got_u[72] = "";
    if (lr->digest[0]) {
        digest_of(lr->hc, got);
        lr->hc = NULL;
    }
    if (lr->want_u && !hashes_u(lr)) {
        memcpy(got_u, got, sizeof(got)); /* a plain tar: the uncompressed digest is the blob's */
    } else if (lr->want_u) {
        digest_of(lr->hu, got_u);
        lr->hu = NULL;
    }
    if (lr->digest[0] && !ens_ct_equal(got, lr->digest, 71))
        return ens_error(err, EBADMSG, "layer %s: digest mismatch: content is %s", lr->name, got);
    if (lr->size >= 0 && lr->nread != lr->size)
        return ens_error(err, EBADMSG, "layer %s: size %lld differs from its descriptor's %lld", lr->name,
                         (long long)lr->nread, (long long)lr->size);
    if (lr->want_u && diff_id && *diff_id && strcmp(diff_id, got_u) != 0)
        return ens_error(err, EBADMSG, "layer %s: uncompressed digest %s differs from the config's diff_id %s",
                         lr->name, got_u, diff_id);
    if (out_diff_id && lr->want_u)
        memcpy(out_diff_id, got_u, 72);
    return 0;
}

void layer_reader_free(struct layer_reader *lr)
{
    if (!lr)
        return;
    pipe_stop(lr); /* before anything the thread uses */
    if (lr->ar)
        archive_read_free(lr->ar);
    if (lr->z_init)
        inflateEnd(&lr->z);
    if (lr->zs)
        ZSTD_freeDStream(lr->zs);
    ens_sha256_free(lr->hc);
    ens_sha256_free(lr->hu);
    free(lr->in_mem);
    free(lr->out_mem);
    free(lr->name);
    ens_error_release(&lr->err);
    free(lr);
}

/* ------------------------------------------------------------------ writer */

struct layer_writer {
    int fd;
    char *path;
    enum comp comp;
    z_stream z;
    bool z_init;
    ZSTD_CStream *zc;
    ens_sha256_ctx *hc, *hu;
    int64_t csize;
    unsigned char *obuf;
    struct archive *aw;
    ens_error_t err;
};

static int emit(struct layer_writer *lw, const void *p, size_t n)
{
    ens_sha256_update(lw->hc, p, n);
    lw->csize += (int64_t)n;
    return ens_write_all(lw->fd, p, n, &lw->err);
}

static int compress_chunk(struct layer_writer *lw, const void *p, size_t n, bool finish)
{
    if (lw->comp == COMP_NONE)
        return n ? emit(lw, p, n) : 0;
    if (lw->comp == COMP_GZIP) {
        lw->z.next_in = (Bytef *)p;
        lw->z.avail_in = (uInt)n;
        for (;;) {
            lw->z.next_out = lw->obuf;
            lw->z.avail_out = IOBUF;
            int r = deflate(&lw->z, finish ? Z_FINISH : Z_NO_FLUSH);
            if (r == Z_STREAM_ERROR)
                return ens_error(&lw->err, EIO, "gzip compression failed");
            size_t out = IOBUF - lw->z.avail_out;
            if (out && emit(lw, lw->obuf, out) < 0)
                return -1;
            if (finish ? r == Z_STREAM_END : (lw->z.avail_in == 0 && lw->z.avail_out != 0))
                return 0;
        }
    }
    ZSTD_inBuffer ib = { p, n, 0 };
    for (;;) {
        ZSTD_outBuffer ob = { lw->obuf, IOBUF, 0 };
        size_t r = ZSTD_compressStream2(lw->zc, &ob, &ib, finish ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(r))
            return ens_error(&lw->err, EIO, "zstd compression failed: %s", ZSTD_getErrorName(r));
        if (ob.pos && emit(lw, lw->obuf, ob.pos) < 0)
            return -1;
        if (finish ? r == 0 : ib.pos == ib.size)
            return 0;
    }
}

static la_ssize_t write_cb(struct archive *a, void *cd, const void *buf, size_t n)
{
    struct layer_writer *lw = cd;
    if (lw->comp != COMP_NONE) /* a plain tar's diff_id is its digest: hashed once, in emit() */
        ens_sha256_update(lw->hu, buf, n);
    if (compress_chunk(lw, buf, n, false) < 0) {
        archive_set_error(a, EIO, "%s", ens_error_msg(lw->err));
        return -1;
    }
    return (la_ssize_t)n;
}

int layer_writer_open(const char *tmpdir, enum comp c, int gzip_level, struct layer_writer **out, ens_error_t *err)
{
    struct layer_writer *lw = calloc(1, sizeof(*lw));
    if (!lw)
        return ens_error(err, ENOMEM, "out of memory");
    lw->fd = -1;
    lw->comp = c;
    if (asprintf(&lw->path, "%s/layer-XXXXXX", tmpdir) < 0) {
        lw->path = NULL;
        free(lw);
        return ens_error(err, ENOMEM, "out of memory");
    }
    lw->fd = mkostemp(lw->path, O_CLOEXEC);
    if (lw->fd < 0) {
        ens_error_errno(err, "create %s", lw->path);
        free(lw->path);
        lw->path = NULL;
        layer_writer_free(lw);
        return -1;
    }
    lw->hc = ens_sha256_new();
    lw->hu = ens_sha256_new();
    lw->obuf = malloc(IOBUF);
    lw->aw = archive_write_new();
    if (!lw->hc || !lw->hu || !lw->obuf || !lw->aw) {
        layer_writer_free(lw);
        return ens_error(err, ENOMEM, "out of memory");
    }
    if (c == COMP_GZIP) {
        /* zlib's gzip header carries mtime 0 and no name: reproducible. */
        if (deflateInit2(&lw->z, gzip_level >= 1 && gzip_level <= 9 ? gzip_level : 6, Z_DEFLATED, 15 + 16, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK) {
            layer_writer_free(lw);
            return ens_error(err, ENOMEM, "zlib init failed");
        }
        lw->z_init = true;
    } else if (c == COMP_ZSTD) {
        lw->zc = ZSTD_createCStream();
        if (!lw->zc) {
            layer_writer_free(lw);
            return ens_error(err, ENOMEM, "zstd init failed");
        }
        ZSTD_CCtx_setParameter(lw->zc, ZSTD_c_compressionLevel, 3);
    }
    archive_write_set_format_pax_restricted(lw->aw);
    archive_write_add_filter_none(lw->aw);
    archive_write_set_bytes_per_block(lw->aw, 10240);
    if (archive_write_open2(lw->aw, lw, NULL, write_cb, NULL, NULL) != ARCHIVE_OK) {
        ens_error(err, EIO, "layer writer: %s", archive_error_string(lw->aw));
        layer_writer_free(lw);
        return -1;
    }
    *out = lw;
    return 0;
}

struct archive *layer_writer_archive(struct layer_writer *lw) { return lw->aw; }

int layer_writer_close(struct layer_writer *lw, struct blob *b, ens_error_t *err)
{
    if (archive_write_close(lw->aw) != ARCHIVE_OK) {
        if (lw->err)
            return ens_error(err, ens_error_status(lw->err), "%s", ens_error_msg(lw->err));
        return ens_error(err, EIO, "writing layer: %s", archive_error_string(lw->aw));
    }
    if (compress_chunk(lw, NULL, 0, true) < 0)
        return ens_error(err, ens_error_status(lw->err), "%s", ens_error_msg(lw->err));
    if (close(lw->fd) < 0) {
        lw->fd = -1;
        return ens_error_errno(err, "close %s", lw->path);
    }
    lw->fd = -1;
    memset(b, 0, sizeof(*b));
    digest_of(lw->hc, b->digest);
    lw->hc = NULL;
    if (lw->comp == COMP_NONE) {
        memcpy(b->diff_id, b->digest, sizeof(b->diff_id));
    } else {
        digest_of(lw->hu, b->diff_id);
        lw->hu = NULL;
    }
    b->size = lw->csize;
    b->media_type = strdup(comp_layer_media_type(lw->comp));
    b->path = ens_steal(&lw->path);
    b->verified = true;
    b->diff_id_ok = true;
    if (!b->media_type)
        return ens_error(err, ENOMEM, "out of memory");
    return 0;
}

void layer_writer_free(struct layer_writer *lw)
{
    if (!lw)
        return;
    if (lw->aw)
        archive_write_free(lw->aw);
    if (lw->fd >= 0)
        close(lw->fd);
    if (lw->path)
        unlink(lw->path);
    if (lw->z_init)
        deflateEnd(&lw->z);
    if (lw->zc)
        ZSTD_freeCStream(lw->zc);
    ens_sha256_free(lw->hc);
    ens_sha256_free(lw->hu);
    free(lw->obuf);
    free(lw->path);
    ens_error_release(&lw->err);
    free(lw);
}
