/* SPDX-License-Identifier: Apache-2.0 */
/* Reading layers without unpacking them: an entry walk, and single files as the container sees them. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "image/internal.h"

struct ens_image_data {
    struct archive *ar;
    bool failed;
};

long ens_image_data_read(struct ens_image_data *d, void *buf, size_t len)
{
    la_ssize_t n = archive_read_data(d->ar, buf, len);
    if (n < 0)
        d->failed = true;
    return (long)n;
}

int ens_image_layer_info(const ens_image *img, size_t i, struct ens_image_layer *out)
{
    if (i >= img->n_layers)
        return -1;
    const struct blob *b = &img->layers[i];
    out->digest = b->digest;
    out->diff_id = b->diff_id;
    out->media_type = b->media_type;
    out->size = b->size;
    return 0;
}

int ens_image_layer_walk(ens_image *img, size_t i, ens_image_entry_cb cb, void *ud, ens_error_t *err)
{
    if (i >= img->n_layers)
        return ens_error(err, EINVAL, "layer %zu: the image has %zu layers", i, img->n_layers);
    struct blob *b = &img->layers[i];
    if (image_blob_fetch(img, b, err) < 0)
        return -1;
    _cleanup_close_ int fd = open(b->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ens_error_errno(err, "layer %s: open", b->digest);
    struct layer_reader *lr;
    if (layer_reader_open_blob(fd, b, &lr, err) < 0) {
        blob_prefer_digest_error(b, err);
        return -1;
    }
    struct archive *ar = layer_reader_archive(lr);
    struct archive_entry *e;
    int r, ret = -1;
    bool stopped = false;
    while ((r = archive_read_next_header(ar, &e)) == ARCHIVE_OK) {
        if (entry_check(e, b->digest, err) < 0)
            goto out;
        bool esc;
        _cleanup_free_ char *p = path_clean(archive_entry_pathname(e), &esc);
        _cleanup_free_ char *hl = archive_entry_hardlink(e) ? path_clean(archive_entry_hardlink(e), &esc) : NULL;
        if (!p) {
            ens_error(err, ENOMEM, "out of memory");
            goto out;
        }
        struct ens_image_entry ie = {
            .path = p,
            .mode = archive_entry_mode(e),
            .uid = (unsigned)archive_entry_uid(e),
            .gid = (unsigned)archive_entry_gid(e),
            .size = archive_entry_size(e),
            .linkname = hl ? hl : archive_entry_symlink(e),
            .hardlink = hl != NULL,
        };
        struct ens_image_data d = { ar, false };
        int c = cb(ud, &ie, &d, err);
        if (d.failed) {
            layer_reader_error(lr, err);
            goto out;
        }
        if (c < 0)
            goto out;
        if (c > 0) {
            stopped = true;
            break;
        }
    }
    if (!stopped && r != ARCHIVE_EOF) {
        layer_reader_error(lr, err);
        goto out;
    }
    /* Only a complete pass proves the digest; an early stop leaves the blob unverified. */
    if (!stopped) {
        if (layer_reader_finish_blob(lr, b, err) < 0)
            goto out;
    }
    ret = 0;
out:
    layer_reader_free(lr);
    if (ret < 0)
        blob_prefer_digest_error(b, err);
    return ret;
}

/* ---- read_file: top layer first ---- */

struct find {
    const char *want;   /* cleaned path we look for */
    size_t max;
    int state;          /* 0 not seen, 1 found data, 2 hidden (whiteout), 3 link to follow */
    char *buf;
    size_t len;
    char *next;         /* symlink/hardlink target to look up instead */
    bool is_symlink;
};

static bool is_parent(const char *dir, const char *p)
{
    size_t n = strlen(dir);
    return n == 0 || (strncmp(p, dir, n) == 0 && p[n] == '/');
}

static int find_cb(void *ud, const struct ens_image_entry *e, struct ens_image_data *d, ens_error_t *err)
{
    struct find *f = ud;
    const char *base = strrchr(e->path, '/');
    size_t dl = base ? (size_t)(base - e->path) : 0;
    base = base ? base + 1 : e->path;
    if (strncmp(base, ".wh.", 4) == 0) {
        char dir[4096];
        snprintf(dir, sizeof(dir), "%.*s", (int)dl, e->path);
        if (strcmp(base, ".wh..wh..opq") == 0) {
            if (is_parent(dir, f->want) && f->state == 0)
                f->state = 2; /* lower layers are hidden, unless this layer has it (seen later) */
            return 0;
        }
        char victim[8200];
        snprintf(victim, sizeof(victim), "%s%s%s", dir, *dir ? "/" : "", base + 4);
        if ((strcmp(victim, f->want) == 0 || is_parent(victim, f->want)) && f->state == 0)
            f->state = 2;
        return 0;
    }
    if (strcmp(e->path, f->want) != 0)
        return 0;
    free(f->buf);
    f->buf = NULL;
    free(f->next);
    f->next = NULL;
    if (e->hardlink || S_ISLNK(e->mode)) {
        f->next = strdup(e->linkname);
        f->is_symlink = !e->hardlink;
        f->state = 3;
        return f->next ? 0 : ens_error(err, ENOMEM, "out of memory");
    }
    if (!S_ISREG(e->mode))
        return ens_error(err, EISDIR, "/%s is not a regular file", f->want);
    if (e->size < 0 || (uint64_t)e->size > f->max)
        return ens_error(err, EFBIG, "/%s: %lld bytes exceeds the limit of %zu", f->want, (long long)e->size, f->max);
    f->buf = malloc((size_t)e->size + 1);
    if (!f->buf)
        return ens_error(err, ENOMEM, "out of memory");
    f->len = 0;
    long n;
    while (f->len < (size_t)e->size && (n = ens_image_data_read(d, f->buf + f->len, (size_t)e->size - f->len)) > 0)
        f->len += (size_t)n;
    f->buf[f->len] = '\0';
    f->state = 1;
    return 0; /* a later entry of the same layer may replace it */
}

int ens_image_read_file(ens_image *img, const char *path, size_t max, char **buf, size_t *len, ens_error_t *err)
{
    *buf = NULL;
    bool esc;
    _cleanup_free_ char *want = path_clean(path, &esc);
    if (!want || !*want)
        return ens_error(err, EINVAL, "read_file: invalid path '%s'", path);
    for (int hops = 0; hops < 16; hops++) {
        struct find f = { .want = want, .max = max };
        for (size_t i = img->n_layers; i-- > 0 && f.state == 0;) {
            if (ens_image_layer_walk(img, i, find_cb, &f, err) < 0) {
                free(f.buf);
                free(f.next);
                return -1;
            }
        }
        if (f.state == 1) {
            *buf = f.buf;
            if (len)
                *len = f.len;
            return 0;
        }
        if (f.state != 3) {
            free(f.buf);
            return 1;
        }
        /* Follow the link: a symlink relative to the link's directory (absolute = from the root). */
        _cleanup_free_ char *next = NULL;
        if (f.is_symlink && f.next[0] != '/') {
            char *slash = strrchr(want, '/');
            if (asprintf(&next, "%.*s/%s", slash ? (int)(slash - want) : 0, want, f.next) < 0)
                next = NULL;
        } else {
            next = strdup(f.next);
        }
        free(f.next);
        free(want);
        want = next ? path_clean(next, &esc) : NULL;
        if (!want || !*want)
            return ens_error(err, EINVAL, "read_file: %s: a link leads out of the image", path);
    }
    return ens_error(err, ELOOP, "read_file: %s: too many levels of links", path);
}
