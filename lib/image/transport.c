/* SPDX-License-Identifier: Apache-2.0 */
/* Local transports: OCI image layout, OCI archive (a tar of a layout), Docker archive (docker save). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "crypto/digest.h"
#include "image/internal.h"

#define MAX_INDEX_SIZE (4u << 20)

int read_small_blob(const char *path, const struct blob *b, size_t max, char **buf, size_t *len, ens_error_t *err)
{
    if (b->size > (int64_t)max)
        return ens_error(err, EFBIG, "blob %s: %lld bytes exceeds the limit of %zu", b->digest, (long long)b->size,
                         max);
    _cleanup_free_ char *data = NULL;
    size_t n;
    if (ens_read_file(path, max, &data, &n, err) < 0)
        return -1;
    if ((int64_t)n != b->size)
        return ens_error(err, EBADMSG, "blob %s: %zu bytes, its descriptor says %lld", b->digest, n,
                         (long long)b->size);
    char d[ENS_DIGEST_STR_LEN];
    ens_digest_string(data, n, d);
    if (!ens_ct_equal(d, b->digest, 71))
        return ens_error(err, EBADMSG, "blob %s: digest mismatch (content is %s)", b->digest, d);
    *buf = ens_steal(&data);
    *len = n;
    return 0;
}

static char *blob_path(const char *dir, const char *digest)
{
    char *p;
    if (asprintf(&p, "%s/blobs/sha256/%s", dir, digest + 7) < 0)
        return NULL;
    return p;
}

int oci_layout_open(ens_image *img, const char *dir, const char *tag, ens_error_t *err)
{
    _cleanup_free_ char *lp = ens_path_join(dir, "oci-layout");
    _cleanup_free_ char *ip = ens_path_join(dir, "index.json");
    if (!lp || !ip)
        return ens_error(err, ENOMEM, "out of memory");
    if (access(lp, R_OK) < 0)
        return ens_error_errno(err, "%s is not an OCI image layout (no oci-layout file)", dir);
    _cleanup_free_ char *ibuf = NULL;
    size_t ilen;
    if (ens_read_file(ip, MAX_INDEX_SIZE, &ibuf, &ilen, err) < 0)
        return -1;
    json_error_t je;
    json_t *idx = json_loadb(ibuf, ilen, JSON_REJECT_DUPLICATES, &je);
    if (!idx)
        return ens_error(err, EBADMSG, "%s: invalid JSON: %s", ip, je.text);
    json_t *ms = json_object_get(idx, "manifests");
    json_t *pick = NULL;
    size_t i, count = 0;
    json_t *m;
    json_array_foreach(ms, i, m) {
        const char *name = json_string_value(json_object_get(json_object_get(m, "annotations"),
                                                             ENS_REF_NAME_ANNOTATION));
        if (tag ? (name && strcmp(name, tag) == 0) : true) {
            pick = m;
            count++;
        }
    }
    int ret = -1;
    struct blob d = { 0 };
    _cleanup_free_ char *p = NULL;
    if (!pick) {
        ens_error(err, ENOENT, "%s: no image%s%s in index.json", dir, tag ? " tagged " : "", tag ? tag : "");
        goto out;
    }
    if (count > 1 && !tag) {
        ens_error(err, EINVAL, "%s holds %zu images: name one as oci:%s:TAG", dir, count, dir);
        goto out;
    }
    if (parse_descriptor(pick, &d, "index.json entry", err) < 0)
        goto out;
    free(img->src_dir);
    img->src_dir = strdup(dir);
    if (media_type_is_index(d.media_type)) {
        _cleanup_free_ char *ixp = blob_path(dir, d.digest);
        _cleanup_free_ char *buf = NULL;
        size_t len;
        if (!ixp || read_small_blob(ixp, &d, MAX_MANIFEST_SIZE, &buf, &len, err) < 0)
            goto out;
        blob_clear(&d);
        if (index_pick(buf, len, img->opts.platform, &d, err) < 0)
            goto out;
    }
    if (!media_type_is_manifest(d.media_type)) {
        ens_error(err, EBADMSG, "%s: unsupported manifest media type '%s'", dir, d.media_type);
        goto out;
    }
    p = blob_path(dir, d.digest);
    char *buf = NULL;
    size_t len;
    if (!p || read_small_blob(p, &d, MAX_MANIFEST_SIZE, &buf, &len, err) < 0)
        goto out;
    if (image_load_manifest(img, buf, len, d.media_type, err) < 0) {
        if (img->manifest_raw != buf)
            free(buf);
        goto out;
    }
    ret = 0;
out:
    blob_clear(&d);
    json_decref(idx);
    return ret;
}

/* Puts a local blob into a layout, unless an identical one is there. */
static int put_blob(ens_image *img, struct blob *b, const char *dir, ens_error_t *err)
{
    _cleanup_free_ char *dst = blob_path(dir, b->digest);
    if (!dst)
        return ens_error(err, ENOMEM, "out of memory");
    struct stat st;
    if (stat(dst, &st) == 0 && st.st_size == b->size)
        return 0;
    if (image_blob_fetch(img, b, err) < 0)
        return -1;
    /* A blob we made or fetched (already verified, in our work dir) can be hard-linked. */
    if (b->verified && strncmp(b->path, img->tmp, strlen(img->tmp)) == 0 && chmod(b->path, 0644) == 0 &&
        link(b->path, dst) == 0)
        return 0;
    /* A blob of a local source on the same file system: blobs are immutable and named by their
     * digest, so once verified a hard link is as good as a copy and writes nothing.  (Permission or
     * cross-device failures fall back to a copy; ENSCONCE_IMAGE_COPY=bytes always copies.) */
    const char *mode = getenv("ENSCONCE_IMAGE_COPY");
    struct stat sst;
    if (!(mode && strcmp(mode, "bytes") == 0) && stat(b->path, &sst) == 0 && S_ISREG(sst.st_mode) &&
        (sst.st_mode & 0444) == 0444 && !(sst.st_mode & 0222 & ~0200)) {
        if (blob_verify(b, err) < 0)
            return -1;
        if (link(b->path, dst) == 0)
            return 0;
    }
    return blob_copy_verified(b, dst, err);
}

/* Temp + rename without fsync: for content-addressed files that index.json (written last, with
 * fsync) makes reachable; a crash before that leaves only unreferenced files. */
static int write_unsynced(const char *path, const void *data, size_t len, ens_error_t *err)
{
    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return ens_error_errno(err, "create %s", tmp);
    if (ens_write_all(fd, data, len, err) < 0 || fchmod(fd, 0644) < 0 || rename(tmp, path) < 0) {
        if (!*err)
            ens_error_errno(err, "write %s", path);
        unlink(tmp);
        return -1;
    }
    return 0;
}

struct put_job {
    ens_image *img;
    const char *dir;
    size_t next, n; /* blobs 0..n-1: layers, then the config */
    pthread_mutex_t lock;
    ens_error_t err;
};

static void *put_worker(void *arg)
{
    struct put_job *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        size_t i = j->err ? j->n : j->next++;
        pthread_mutex_unlock(&j->lock);
        if (i >= j->n)
            return NULL;
        struct blob *b = i < j->img->n_layers ? &j->img->layers[i] : &j->img->config;
        ens_error_t e = NULL;
        if (put_blob(j->img, b, j->dir, &e) < 0) {
            pthread_mutex_lock(&j->lock);
            if (!j->err)
                j->err = e;
            else
                ens_error_release(&e);
            pthread_mutex_unlock(&j->lock);
        }
    }
}

/* Layers are hashed and copied by up to 4 threads when they come from local files (the registry
 * client is not shared between threads). */
static int put_blobs(ens_image *img, const char *dir, ens_error_t *err)
{
    struct put_job j = { .img = img, .dir = dir, .n = img->n_layers + 1 };
    pthread_mutex_init(&j.lock, NULL);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nt = img->reg ? 1 : (size_t)(cpus > 4 ? 4 : cpus < 1 ? 1 : cpus);
    if (nt > j.n)
        nt = j.n;
    pthread_t th[4];
    size_t started = 0;
    ens_step("writing %zu blobs with %zu thread%s", j.n, nt, nt > 1 ? "s" : "");
    for (size_t t = 1; t < nt; t++)
        if (pthread_create(&th[started], NULL, put_worker, &j) == 0)
            started++;
    put_worker(&j);
    for (size_t t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    pthread_mutex_destroy(&j.lock);
    if (j.err) {
        ens_error(err, ens_error_status(j.err), "%s", ens_error_msg(j.err));
        ens_error_release(&j.err);
        return -1;
    }
    return 0;
}

static int write_manifest_blob(const char *dir, const char *m, size_t len, char digest[72], ens_error_t *err)
{
    ens_digest_string(m, len, digest);
    _cleanup_free_ char *p = blob_path(dir, digest);
    return p ? write_unsynced(p, m, len, err) : ens_error(err, ENOMEM, "out of memory");
}

int oci_layout_write(ens_image *img, const char *dir, const char *tag, ens_error_t *err)
{
    bool created = mkdir(dir, 0755) == 0;
    if (!created && errno != EEXIST)
        return ens_error_errno(err, "create %s", dir);
    _cleanup_free_ char *bdir = NULL, *lp = ens_path_join(dir, "oci-layout"), *ip = ens_path_join(dir, "index.json");
    _cleanup_free_ char *m = NULL, *mt = NULL, *ibuf = NULL;
    size_t len;
    json_t *idx = NULL;
    int ret = -1;
    if (asprintf(&bdir, "%s/blobs/sha256", dir) < 0 || !lp || !ip) {
        ens_error(err, ENOMEM, "out of memory");
        goto out;
    }
    if (ens_mkdir_p(bdir, 0755, err) < 0)
        goto out;
    if (access(lp, F_OK) < 0) {
        static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
        if (write_unsynced(lp, layout, strlen(layout), err) < 0)
            goto out;
    }
    if (image_render(img, true, &m, &len, &mt, err) < 0)
        goto out;
    if (put_blobs(img, dir, err) < 0)
        goto out;
    char digest[72];
    if (write_manifest_blob(dir, m, len, digest, err) < 0)
        goto out;
    if (access(ip, F_OK) == 0) {
        size_t ilen;
        json_error_t je;
        if (ens_read_file(ip, MAX_INDEX_SIZE, &ibuf, &ilen, err) < 0)
            goto out;
        idx = json_loadb(ibuf, ilen, 0, &je);
        if (!idx || !json_is_array(json_object_get(idx, "manifests"))) {
            ens_error(err, EBADMSG, "%s: invalid index.json", dir);
            goto out;
        }
    } else {
        idx = json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX, "manifests");
    }
    json_t *ms = json_object_get(idx, "manifests");
    for (size_t i = json_array_size(ms); i-- > 0;) {
        const char *name = json_string_value(
            json_object_get(json_object_get(json_array_get(ms, i), "annotations"), ENS_REF_NAME_ANNOTATION));
        if (tag ? (name && strcmp(name, tag) == 0) : !name)
            json_array_remove(ms, i);
    }
    json_t *desc = json_pack("{s:s,s:s,s:I}", "mediaType", mt, "digest", digest, "size", (json_int_t)len);
    if (tag)
        json_object_set_new(desc, "annotations", json_pack("{s:s}", ENS_REF_NAME_ANNOTATION, tag));
    json_array_append_new(ms, desc);
    char *text = json_dumps(idx, JSON_COMPACT);
    if (!text) {
        ens_error(err, ENOMEM, "out of memory");
        goto out;
    }
    ret = ens_write_file_atomic(ip, text, strlen(text), 0644, err);
    free(text);
out:
    json_decref(idx);
    if (ret < 0 && created) {
        ens_error_t e = NULL;
        ens_rm_rf(dir, &e);
        ens_error_release(&e);
    }
    return ret;
}

int extract_plain_archive(const char *file, const char *dir, ens_error_t *err)
{
    struct archive *a = archive_read_new();
    if (!a)
        return ens_error(err, ENOMEM, "out of memory");
    archive_read_support_format_tar(a);
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    int ret = -1;
    json_t *links = json_object();
    _cleanup_free_ char *buf = malloc(1u << 20);
    if (!buf || archive_read_open_filename(a, file, 1u << 20) != ARCHIVE_OK) {
        ens_error(err, EIO, "%s: %s", file, buf ? archive_error_string(a) : "out of memory");
        goto out;
    }
    if (ens_mkdir_p(dir, 0755, err) < 0)
        goto out;
    struct archive_entry *e;
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        bool esc;
        _cleanup_free_ char *p = name ? path_clean(name, &esc) : NULL;
        if (!p) {
            ens_error(err, EPERM, "%s: entry '%s' leaves the archive root", file, name ? name : "");
            goto out;
        }
        if (!*p)
            continue;
        _cleanup_free_ char *full = ens_path_join(dir, p);
        if (!full) {
            ens_error(err, ENOMEM, "out of memory");
            goto out;
        }
        unsigned type = archive_entry_filetype(e);
        if (type == AE_IFLNK && !archive_entry_hardlink(e)) {
            /* docker save / skopeo link layer.tar files to each other: resolved at the end, lexically,
             * into hard links, so that no symlink ever exists below dir. */
            _cleanup_free_ char *lt = NULL;
            const char *t = archive_entry_symlink(e);
            char *ls = strrchr(p, '/');
            if (!t || asprintf(&lt, "%.*s/%s", ls ? (int)(ls - p) : 0, p, t) < 0 || t[0] == '/') {
                ens_error(err, EPERM, "%s: symlink '%s' has an invalid target", file, name);
                goto out;
            }
            char *tc = path_clean(lt, &esc);
            if (!tc) {
                ens_error(err, EPERM, "%s: symlink '%s' points outside the archive", file, name);
                goto out;
            }
            json_object_set_new(links, p, json_string(tc));
            free(tc);
            continue;
        }
        if (archive_entry_hardlink(e) || (type != AE_IFREG && type != AE_IFDIR)) {
            /* Only our own files and directories exist below dir, so nothing can redirect a write. */
            ens_error(err, EPERM, "%s: entry '%s' is not a regular file or directory (refused)", file, name);
            goto out;
        }
        if (type == AE_IFDIR) {
            if (ens_mkdir_p(full, 0755, err) < 0)
                goto out;
            continue;
        }
        char *slash = strrchr(full, '/');
        *slash = '\0';
        if (ens_mkdir_p(full, 0755, err) < 0)
            goto out;
        *slash = '/';
        unlink(full);
        _cleanup_close_ int fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0) {
            ens_error_errno(err, "create %s", full);
            goto out;
        }
        la_ssize_t n;
        while ((n = archive_read_data(a, buf, 1u << 20)) > 0)
            if (ens_write_all(fd, buf, (size_t)n, err) < 0)
                goto out;
        if (n < 0) {
            ens_error(err, EBADMSG, "%s: entry '%s': %s", file, name, archive_error_string(a));
            goto out;
        }
    }
    if (r != ARCHIVE_EOF) {
        ens_error(err, EBADMSG, "%s: %s", file, archive_error_string(a));
        goto out;
    }
    const char *lk;
    json_t *lv;
    json_object_foreach(links, lk, lv) {
        const char *t = json_string_value(lv);
        for (int hops = 0; t && json_object_get(links, t) && hops < 16; hops++)
            t = json_string_value(json_object_get(links, t));
        _cleanup_free_ char *from = ens_path_join(dir, t), *to = ens_path_join(dir, lk);
        struct stat st;
        if (!from || !to || lstat(from, &st) < 0 || !S_ISREG(st.st_mode)) {
            ens_error(err, EBADMSG, "%s: symlink '%s' does not lead to a file in the archive", file, lk);
            goto out;
        }
        char *slash = strrchr(to, '/');
        *slash = '\0';
        if (ens_mkdir_p(to, 0755, err) < 0)
            goto out;
        *slash = '/';
        unlink(to);
        if (link(from, to) < 0) {
            ens_error_errno(err, "link %s", to);
            goto out;
        }
    }
    ret = 0;
out:
    json_decref(links);
    archive_read_free(a);
    return ret;
}

int oci_archive_open(ens_image *img, const char *file, const char *tag, ens_error_t *err)
{
    _cleanup_free_ char *dir = ens_path_join(img->tmp, "oci-archive");
    if (!dir)
        return ens_error(err, ENOMEM, "out of memory");
    if (extract_plain_archive(file, dir, err) < 0)
        return -1;
    return oci_layout_open(img, dir, tag, err);
}

static int tar_add_file(struct archive *a, const char *name, const char *path, int64_t epoch, char *buf,
                        ens_error_t *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return ens_error_errno(err, "open %s", path);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, st.st_size);
    archive_entry_set_mtime(e, epoch, 0);
    int r = archive_write_header(a, e);
    archive_entry_free(e);
    if (r != ARCHIVE_OK)
        return ens_error(err, EIO, "archive %s: %s", name, archive_error_string(a));
    for (;;) {
        ssize_t n = read(fd, buf, 1u << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ens_error_errno(err, "read %s", path);
        if (n == 0)
            break;
        if (archive_write_data(a, buf, (size_t)n) != n)
            return ens_error(err, EIO, "archive %s: %s", name, archive_error_string(a));
    }
    return 0;
}

static int tar_add_dir(struct archive *a, const char *name, int64_t epoch, ens_error_t *err)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, 0755);
    archive_entry_set_mtime(e, epoch, 0);
    int r = archive_write_header(a, e);
    archive_entry_free(e);
    return r == ARCHIVE_OK ? 0 : ens_error(err, EIO, "archive %s: %s", name, archive_error_string(a));
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Opens a temporary tar next to file; the caller renames it into place. */
static struct archive *tar_create(const char *file, char **tmp, ens_error_t *err)
{
    if (asprintf(tmp, "%s.tmp-XXXXXX", file) < 0)
        return ens_error(err, ENOMEM, "out of memory"), NULL;
    int fd = mkostemp(*tmp, O_CLOEXEC);
    if (fd < 0) {
        ens_error_errno(err, "create %s", *tmp);
        free(*tmp);
        *tmp = NULL;
        return NULL;
    }
    fchmod(fd, 0644);
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_none(a);
    if (archive_write_open_fd(a, fd) != ARCHIVE_OK) {
        ens_error(err, EIO, "%s: %s", *tmp, archive_error_string(a));
        archive_write_free(a);
        close(fd);
        unlink(*tmp);
        free(*tmp);
        *tmp = NULL;
        return NULL;
    }
    return a;
}

static int tar_finish(struct archive *a, char *tmp, const char *file, int ok, ens_error_t *err)
{
    int fd = -1;
    (void)fd;
    if (ok == 0 && archive_write_close(a) != ARCHIVE_OK)
        ok = ens_error(err, EIO, "%s: %s", file, archive_error_string(a));
    archive_write_free(a);
    if (ok == 0 && rename(tmp, file) < 0)
        ok = ens_error_errno(err, "rename to %s", file);
    if (ok < 0)
        unlink(tmp);
    free(tmp);
    return ok;
}

int oci_archive_write(ens_image *img, const char *file, const char *tag, ens_error_t *err)
{
    _cleanup_free_ char *dir = NULL;
    if (asprintf(&dir, "%s/out-XXXXXX", img->tmp) < 0 || !mkdtemp(dir))
        return ens_error_errno(err, "create work directory");
    rmdir(dir);
    int ret = -1;
    char *tmp = NULL;
    struct archive *a = NULL;
    char **names = NULL;
    size_t n = 0;
    _cleanup_free_ char *buf = malloc(1u << 20);
    _cleanup_free_ char *lp = ens_path_join(dir, "oci-layout"), *ip = ens_path_join(dir, "index.json");
    _cleanup_free_ char *bd = ens_path_join(dir, "blobs/sha256");
    _cleanup_closedir_ DIR *d = NULL;
    int64_t epoch = source_date_epoch();
    if (!buf || !lp || !ip || !bd || oci_layout_write(img, dir, tag, err) < 0)
        goto out;
    if (!(a = tar_create(file, &tmp, err)))
        goto out;
    int ok = tar_add_file(a, "oci-layout", lp, epoch, buf, err);
    if (ok == 0)
        ok = tar_add_file(a, "index.json", ip, epoch, buf, err);
    if (ok == 0)
        ok = tar_add_dir(a, "blobs", epoch, err);
    if (ok == 0)
        ok = tar_add_dir(a, "blobs/sha256", epoch, err);
    d = ok == 0 ? opendir(bd) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char **nn = realloc(names, (n + 1) * sizeof(char *));
        if (!nn)
            break;
        names = nn;
        names[n++] = strdup(de->d_name);
    }
    qsort(names, n, sizeof(char *), str_cmp);
    for (size_t i = 0; i < n && ok == 0; i++) {
        _cleanup_free_ char *name = NULL, *path = NULL;
        if (asprintf(&name, "blobs/sha256/%s", names[i]) < 0 || asprintf(&path, "%s/%s", bd, names[i]) < 0)
            ok = ens_error(err, ENOMEM, "out of memory");
        else
            ok = tar_add_file(a, name, path, epoch, buf, err);
    }
    ret = tar_finish(a, tmp, file, ok, err);
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    ens_error_t e = NULL;
    ens_rm_rf(dir, &e);
    ens_error_release(&e);
    return ret;
}

/* ------------------------------------------------------------------ docker-archive */

static enum comp sniff_file(const char *path)
{
    unsigned char m[4] = { 0 };
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, m, 4) < 2)
        return COMP_NONE;
    if (m[0] == 0x1f && m[1] == 0x8b)
        return COMP_GZIP;
    if (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
        return COMP_ZSTD;
    return COMP_NONE;
}

static bool repotag_matches(json_t *tags, const char *ref)
{
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t) {
        const char *s = json_string_value(t);
        if (!s)
            continue;
        if (strcmp(s, ref) == 0)
            return true;
        size_t rl = strlen(ref);
        if (strncmp(s, ref, rl) == 0 && strcmp(s + rl, ":latest") == 0)
            return true;
        if (strncmp(s, "docker.io/", 10) == 0 && strcmp(s + 10, ref) == 0)
            return true;
    }
    return false;
}

int docker_archive_open(ens_image *img, const char *file, const char *ref, ens_error_t *err)
{
    _cleanup_free_ char *dir = ens_path_join(img->tmp, "docker-archive");
    if (!dir)
        return ens_error(err, ENOMEM, "out of memory");
    if (extract_plain_archive(file, dir, err) < 0)
        return -1;
    _cleanup_free_ char *mp = ens_path_join(dir, "manifest.json"), *mbuf = NULL;
    size_t mlen;
    if (!mp || ens_read_file(mp, MAX_MANIFEST_SIZE, &mbuf, &mlen, err) < 0)
        return ens_error_wrap(err, "%s: not a docker archive", file);
    json_error_t je;
    json_t *man = json_loadb(mbuf, mlen, JSON_REJECT_DUPLICATES, &je);
    if (!man || !json_is_array(man) || json_array_size(man) == 0) {
        json_decref(man);
        return ens_error(err, EBADMSG, "%s: manifest.json is not a non-empty array", file);
    }
    json_t *pick = NULL;
    int ret = -1;
    bool esc;
    _cleanup_free_ char *cc = NULL, *cpath = NULL, *cbuf = NULL;
    if (ref && ref[0] == '@') {
        pick = json_array_get(man, (size_t)strtoul(ref + 1, NULL, 10));
    } else if (ref) {
        size_t i;
        json_t *m;
        json_array_foreach(man, i, m) if (repotag_matches(json_object_get(m, "RepoTags"), ref)) pick = m;
    } else if (json_array_size(man) == 1) {
        pick = json_array_get(man, 0);
    } else {
        ens_error(err, EINVAL, "%s holds %zu images: name one as docker-archive:%s:NAME:TAG", file,
                  json_array_size(man), file);
        goto out;
    }
    if (!pick) {
        ens_error(err, ENOENT, "%s: no image named %s", file, ref);
        goto out;
    }
    const char *cfg = json_string_value(json_object_get(pick, "Config"));
    json_t *layers = json_object_get(pick, "Layers");
    if (!cfg || !json_is_array(layers) || json_array_size(layers) > MAX_LAYERS) {
        ens_error(err, EBADMSG, "%s: manifest.json entry needs Config and Layers", file);
        goto out;
    }
    cc = path_clean(cfg, &esc);
    cpath = cc ? ens_path_join(dir, cc) : NULL;
    size_t clen;
    if (!cpath) {
        ens_error(err, EPERM, "%s: Config path '%s' leaves the archive", file, cfg);
        goto out;
    }
    if (ens_read_file(cpath, MAX_CONFIG_SIZE, &cbuf, &clen, err) < 0 ||
        parse_config(cbuf, clen, &img->config_json, err) < 0)
        goto out;
    json_t *ids = json_object_get(json_object_get(img->config_json, "rootfs"), "diff_ids");
    if (json_array_size(ids) != json_array_size(layers)) {
        ens_error(err, EBADMSG, "%s: config has %zu diff_ids for %zu layers", file, json_array_size(ids),
                  json_array_size(layers));
        goto out;
    }
    ens_digest_string(cbuf, clen, img->config.digest);
    img->config.size = (int64_t)clen;
    img->config.media_type = strdup(MT_OCI_CONFIG);
    img->config.path = ens_steal(&cpath);
    img->config.verified = true;
    img->layers = calloc(json_array_size(layers) + 1, sizeof(struct blob));
    img->manifest_mt = strdup(MT_OCI_MANIFEST);
    if (!img->layers || !img->manifest_mt || !img->config.media_type) {
        ens_error(err, ENOMEM, "out of memory");
        goto out;
    }
    size_t i;
    json_t *l;
    json_array_foreach(layers, i, l) {
        const char *lp = json_string_value(l);
        _cleanup_free_ char *lc = lp ? path_clean(lp, &esc) : NULL;
        struct blob *b = &img->layers[i];
        b->path = lc ? ens_path_join(dir, lc) : NULL;
        img->n_layers++;
        if (!b->path) {
            ens_error(err, EPERM, "%s: layer path '%s' is invalid or leaves the archive", file, lp ? lp : "");
            goto out;
        }
        struct stat st;
        uint8_t d[ENS_SHA256_LEN];
        if (stat(b->path, &st) < 0 || ens_sha256_file(b->path, d, err) < 0) {
            ens_error_errno(err, "%s: layer %s", file, lp);
            goto out;
        }
        memcpy(b->digest, "sha256:", 7);
        ens_hex_encode(d, sizeof(d), b->digest + 7);
        b->size = st.st_size;
        b->verified = true;
        b->media_type = strdup(comp_layer_media_type(sniff_file(b->path)));
        snprintf(b->diff_id, sizeof(b->diff_id), "%s", json_string_value(json_array_get(ids, i)));
    }
    ret = 0;
out:
    json_decref(man);
    return ret;
}

int docker_archive_write(ens_image *img, const char *file, const char *ref, ens_error_t *err)
{
    _cleanup_free_ char *m = NULL, *mt = NULL, *buf = malloc(1u << 20);
    size_t len;
    if (!buf)
        return ens_error(err, ENOMEM, "out of memory");
    if (image_render(img, true, &m, &len, &mt, err) < 0) /* flushes a changed config */
        return -1;
    if (image_blob_fetch(img, &img->config, err) < 0 || blob_verify(&img->config, err) < 0)
        return -1;
    char *tmp = NULL;
    struct archive *a = tar_create(file, &tmp, err);
    if (!a)
        return -1;
    int64_t epoch = source_date_epoch();
    int ok = 0;
    json_t *lnames = json_array();
    char name[160];
    snprintf(name, sizeof(name), "%s.json", img->config.digest + 7);
    ok = tar_add_file(a, name, img->config.path, epoch, buf, err);
    for (size_t i = 0; i < img->n_layers && ok == 0; i++) {
        struct blob *b = &img->layers[i];
        ens_step("writing layer %zu/%zu %.19s", i + 1, img->n_layers, b->digest);
        if (image_blob_fetch(img, b, err) < 0) {
            ok = -1;
            break;
        }
        /* docker load wants plain tars named by their diff_id. */
        _cleanup_free_ char *tpath = NULL;
        _cleanup_close_ int tfd = -1, in = open(b->path, O_RDONLY | O_CLOEXEC);
        char diff[72];
        if (in < 0) {
            ok = ens_error_errno(err, "open %s", b->path);
            break;
        }
        if (image_tmpfile(img, &tpath, &tfd, err) < 0 ||
            layer_decompress(in, b->digest, b->digest, b->size, tfd, b->diff_id, diff, err) < 0) {
            if (tpath)
                unlink(tpath);
            ok = -1;
            break;
        }
        snprintf(name, sizeof(name), "%s.tar", diff + 7);
        bool dup = false;
        size_t k;
        json_t *v;
        json_array_foreach(lnames, k, v) if (strcmp(json_string_value(v), name) == 0) dup = true;
        if (!dup)
            ok = tar_add_file(a, name, tpath, epoch, buf, err);
        unlink(tpath);
        json_array_append_new(lnames, json_string(name));
    }
    if (ok == 0) {
        json_t *tags = json_array();
        if (ref) {
            if (strchr(ref, ':') && strrchr(ref, ':') > (strrchr(ref, '/') ? strrchr(ref, '/') : ref))
                json_array_append_new(tags, json_string(ref));
            else {
                char t[512];
                snprintf(t, sizeof(t), "%s:latest", ref);
                json_array_append_new(tags, json_string(t));
            }
        }
        snprintf(name, sizeof(name), "%s.json", img->config.digest + 7);
        json_t *man = json_pack("[{s:s,s:o,s:O}]", "Config", name, "RepoTags", tags, "Layers", lnames);
        char *text = man ? json_dumps(man, JSON_COMPACT) : NULL;
        json_decref(man);
        if (!text) {
            ok = ens_error(err, ENOMEM, "out of memory");
        } else {
            _cleanup_free_ char *mp = NULL;
            _cleanup_close_ int fd = -1;
            ok = image_tmpfile(img, &mp, &fd, err);
            if (ok == 0)
                ok = ens_write_all(fd, text, strlen(text), err);
            if (ok == 0)
                ok = tar_add_file(a, "manifest.json", mp, epoch, buf, err);
            free(text);
        }
    }
    json_decref(lnames);
    return tar_finish(a, tmp, file, ok, err);
}
