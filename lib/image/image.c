/* SPDX-License-Identifier: Apache-2.0 */
/* The image model: manifest + config + layer descriptors, lazily fetched blobs, edits. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "crypto/digest.h"
#include "image/internal.h"

void ens_image_opts_init(struct ens_image_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->tls_verify = true;
    o->platform = "linux/amd64";
}

int ens_image_set_compression(ens_image *img, const char *compression, ens_error_t *err)
{
    enum comp c;
    if (parse_compression(compression, &c, err) < 0)
        return -1;
    /* the options hold borrowed strings: keep a static one */
    img->opts.compression = c == COMP_GZIP ? "gzip" : c == COMP_ZSTD ? "zstd" : "none";
    return 0;
}

int layer_names_add(struct layer_names *ln, const char *path, const char *link)
{
    if (ln->n == ln->cap) {
        size_t cap = ln->cap ? 2 * ln->cap : 256;
        char **p = realloc(ln->path, cap * sizeof(char *));
        if (!p)
            return -1;
        ln->path = p;
        char **l = realloc(ln->link, cap * sizeof(char *));
        if (!l)
            return -1;
        ln->link = l;
        ln->cap = cap;
    }
    ln->path[ln->n] = strdup(path);
    ln->link[ln->n] = link ? strdup(link) : NULL;
    if (!ln->path[ln->n] || (link && !ln->link[ln->n])) {
        free(ln->path[ln->n]);
        free(ln->link[ln->n]);
        return -1;
    }
    ln->n++;
    return 0;
}

void layer_names_free(struct layer_names *ln)
{
    if (!ln)
        return;
    for (size_t i = 0; i < ln->n; i++) {
        free(ln->path[i]);
        free(ln->link[i]);
    }
    free(ln->path);
    free(ln->link);
    free(ln);
}

void blob_clear(struct blob *b)
{
    layer_names_free(b->names);
    free(b->media_type);
    free(b->path);
    json_decref(b->desc);
    memset(b, 0, sizeof(*b));
}

int parse_descriptor(json_t *j, struct blob *b, const char *what, ens_error_t *err)
{
    memset(b, 0, sizeof(*b));
    if (!json_is_object(j))
        return ens_error(err, EBADMSG, "%s: descriptor is not an object", what);
    const char *mt = json_string_value(json_object_get(j, "mediaType"));
    const char *d = json_string_value(json_object_get(j, "digest"));
    json_t *sz = json_object_get(j, "size");
    if (!mt || !*mt || strlen(mt) > 255)
        return ens_error(err, EBADMSG, "%s: missing or invalid mediaType", what);
    if (!d || !ens_digest_valid(d))
        return ens_error(err, EBADMSG, "%s: missing or unsupported digest (want sha256:<64 hex>)", what);
    if (!json_is_integer(sz) || json_integer_value(sz) < 0)
        return ens_error(err, EBADMSG, "%s: missing or negative size", what);
    snprintf(b->digest, sizeof(b->digest), "%s", d);
    b->size = json_integer_value(sz);
    b->media_type = strdup(mt);
    b->desc = json_incref(j);
    if (!b->media_type)
        return ens_error(err, ENOMEM, "out of memory");
    return 0;
}

json_t *descriptor_json(const struct blob *b)
{
    json_t *j = json_pack("{s:s,s:s,s:I}", "mediaType", b->media_type, "digest", b->digest, "size",
                          (json_int_t)b->size);
    if (j && b->desc) {
        json_t *v;
        if ((v = json_object_get(b->desc, "urls")))
            json_object_set(j, "urls", v);
        if ((v = json_object_get(b->desc, "annotations")))
            json_object_set(j, "annotations", v);
    }
    return j;
}

bool media_type_is_index(const char *mt)
{
    return mt && (strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0);
}

bool media_type_is_manifest(const char *mt)
{
    return mt && (strcmp(mt, MT_OCI_MANIFEST) == 0 || strcmp(mt, MT_DOCKER_MANIFEST) == 0);
}

void manifest_doc_clear(struct manifest_doc *m)
{
    free(m->media_type);
    blob_clear(&m->config);
    for (size_t i = 0; i < m->n_layers; i++)
        blob_clear(&m->layers[i]);
    free(m->layers);
    json_decref(m->annotations);
    memset(m, 0, sizeof(*m));
}

int parse_manifest(const char *buf, size_t len, const char *mt_hint, struct manifest_doc *m, ens_error_t *err)
{
    memset(m, 0, sizeof(*m));
    if (len > MAX_MANIFEST_SIZE)
        return ens_error(err, EFBIG, "manifest: larger than %u bytes", MAX_MANIFEST_SIZE);
    json_error_t je;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return ens_error(err, EBADMSG, "manifest: invalid JSON: %s (line %d)", je.text, je.line);
    int ret = -1;
    if (!json_is_object(j)) {
        ens_error(err, EBADMSG, "manifest: not a JSON object");
        goto out;
    }
    if (json_integer_value(json_object_get(j, "schemaVersion")) != 2) {
        ens_error(err, EBADMSG, "manifest: schemaVersion is not 2 (schema 1 manifests are not supported)");
        goto out;
    }
    const char *mt = json_string_value(json_object_get(j, "mediaType"));
    if (!mt)
        mt = mt_hint && *mt_hint ? mt_hint : MT_OCI_MANIFEST;
    if (!media_type_is_manifest(mt)) {
        ens_error(err, EBADMSG, "manifest: unsupported media type '%s'", mt);
        goto out;
    }
    m->media_type = strdup(mt);
    if (parse_descriptor(json_object_get(j, "config"), &m->config, "manifest config", err) < 0)
        goto out;
    json_t *layers = json_object_get(j, "layers");
    if (!json_is_array(layers)) {
        ens_error(err, EBADMSG, "manifest: 'layers' is not an array");
        goto out;
    }
    if (json_array_size(layers) > MAX_LAYERS) {
        ens_error(err, EFBIG, "manifest: more than %d layers", MAX_LAYERS);
        goto out;
    }
    m->layers = calloc(json_array_size(layers) + 1, sizeof(struct blob));
    if (!m->layers || !m->media_type) {
        ens_error(err, ENOMEM, "out of memory");
        goto out;
    }
    size_t i;
    json_t *l;
    json_array_foreach(layers, i, l) {
        char what[48];
        snprintf(what, sizeof(what), "manifest layer %zu", i);
        if (parse_descriptor(l, &m->layers[i], what, err) < 0)
            goto out;
        m->n_layers++;
    }
    json_t *ann = json_object_get(j, "annotations");
    if (json_is_object(ann))
        m->annotations = json_incref(ann);
    ret = 0;
out:
    json_decref(j);
    if (ret < 0)
        manifest_doc_clear(m);
    return ret;
}

int index_pick(const char *buf, size_t len, const char *platform, struct blob *out, ens_error_t *err)
{
    if (len > MAX_MANIFEST_SIZE)
        return ens_error(err, EFBIG, "index: larger than %u bytes", MAX_MANIFEST_SIZE);
    char os[64] = "linux", arch[64] = "amd64", variant[64] = "";
    if (platform && *platform) {
        int n = sscanf(platform, "%63[^/]/%63[^/]/%63s", os, arch, variant);
        if (n < 2)
            return ens_error(err, EINVAL, "platform '%s': want os/arch[/variant]", platform);
    }
    json_error_t je;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return ens_error(err, EBADMSG, "index: invalid JSON: %s (line %d)", je.text, je.line);
    json_t *ms = json_object_get(j, "manifests");
    int ret = -1;
    if (!json_is_array(ms)) {
        ens_error(err, EBADMSG, "index: 'manifests' is not an array");
        goto out;
    }
    size_t i;
    json_t *m;
    json_array_foreach(ms, i, m) {
        json_t *p = json_object_get(m, "platform");
        const char *mos = json_string_value(json_object_get(p, "os"));
        const char *march = json_string_value(json_object_get(p, "architecture"));
        const char *mvar = json_string_value(json_object_get(p, "variant"));
        if (!mos || !march || strcmp(mos, os) || strcmp(march, arch))
            continue;
        if (*variant && (!mvar || strcmp(mvar, variant)))
            continue;
        char what[48];
        snprintf(what, sizeof(what), "index entry %zu", i);
        if (parse_descriptor(m, out, what, err) < 0)
            goto out;
        if (!media_type_is_manifest(out->media_type)) {
            ens_error(err, EBADMSG, "index entry %zu: unsupported media type '%s'", i, out->media_type);
            blob_clear(out);
            goto out;
        }
        ret = 0;
        goto out;
    }
    ens_error(err, ENOENT, "index: no manifest for platform %s/%s%s%s", os, arch, *variant ? "/" : "", variant);
out:
    json_decref(j);
    return ret;
}

int parse_config(const char *buf, size_t len, json_t **out, ens_error_t *err)
{
    if (len > MAX_CONFIG_SIZE)
        return ens_error(err, EFBIG, "config: larger than %u bytes", MAX_CONFIG_SIZE);
    json_error_t je;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return ens_error(err, EBADMSG, "config: invalid JSON: %s (line %d)", je.text, je.line);
    const char *bad = NULL;
    json_t *rootfs = json_object_get(j, "rootfs");
    json_t *ids = json_object_get(rootfs, "diff_ids");
    json_t *c = json_object_get(j, "config");
    if (!json_is_object(j))
        bad = "not a JSON object";
    else if (!json_is_array(ids))
        bad = "rootfs.diff_ids is not an array";
    else if (c && !json_is_object(c) && !json_is_null(c))
        bad = "'config' is not an object";
    else {
        size_t i;
        json_t *v;
        json_array_foreach(ids, i, v) if (!ens_digest_valid(json_string_value(v))) bad = "invalid diff_id";
        static const char *const arrays[] = { "Entrypoint", "Cmd", "Env", NULL };
        for (int k = 0; arrays[k] && json_is_object(c); k++) {
            json_t *a = json_object_get(c, arrays[k]);
            if (a && !json_is_null(a) && !json_is_array(a))
                bad = "config.Entrypoint/Cmd/Env must be arrays";
            json_array_foreach(a, i, v) if (!json_is_string(v)) bad = "config.Entrypoint/Cmd/Env must hold strings";
        }
        static const char *const strs[] = { "User", "WorkingDir", NULL };
        for (int k = 0; strs[k] && json_is_object(c); k++) {
            json_t *s = json_object_get(c, strs[k]);
            if (s && !json_is_null(s) && !json_is_string(s))
                bad = "config.User/WorkingDir must be strings";
        }
    }
    if (bad) {
        json_decref(j);
        return ens_error(err, EBADMSG, "config: %s", bad);
    }
    *out = j;
    return 0;
}

/* ------------------------------------------------------------------ blobs */

int image_tmpfile(ens_image *img, char **path, int *fd, ens_error_t *err)
{
    if (asprintf(path, "%s/blob-XXXXXX", img->tmp) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    *fd = mkostemp(*path, O_CLOEXEC);
    if (*fd < 0) {
        ens_error_errno(err, "create %s", *path);
        free(*path);
        *path = NULL;
        return -1;
    }
    return 0;
}

/* Small enough to stay in the CPU cache between read, hash and write. */
#define COPY_BUF (128u << 10)

static int copy_hash(int in, int out, const struct blob *b, const char *what, ens_error_t *err)
{
    ens_sha256_ctx *c = ens_sha256_new();
    _cleanup_free_ unsigned char *buf = malloc(COPY_BUF);
    if (!c || !buf) {
        ens_sha256_free(c);
        return ens_error(err, ENOMEM, "out of memory");
    }
    int64_t total = 0;
    int ret = -1;
    for (;;) {
        ssize_t r = read(in, buf, COPY_BUF);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ens_error_errno(err, "%s: read", what);
            goto out;
        }
        if (r == 0)
            break;
        total += r;
        if (total > b->size) {
            ens_error(err, EBADMSG, "%s: blob %s is larger than its descriptor's size %lld", what, b->digest,
                      (long long)b->size);
            goto out;
        }
        ens_sha256_update(c, buf, (size_t)r);
        if (out >= 0 && ens_write_all(out, buf, (size_t)r, err) < 0)
            goto out;
        if (b->size > (4 << 20))
            ens_progress(what, (unsigned long long)total, (unsigned long long)b->size);
    }
    if (total != b->size) {
        ens_error(err, EBADMSG, "%s: blob %s has %lld bytes, its descriptor says %lld", what, b->digest,
                  (long long)total, (long long)b->size);
        goto out;
    }
    uint8_t d[ENS_SHA256_LEN];
    char hex[ENS_DIGEST_STR_LEN];
    ens_sha256_final(c, d);
    memcpy(hex, "sha256:", 7);
    ens_hex_encode(d, sizeof(d), hex + 7);
    if (!ens_ct_equal(hex, b->digest, 71)) {
        ens_error(err, EBADMSG, "%s: blob %s: digest mismatch (content is %s)", what, b->digest, hex);
        goto out;
    }
    ret = 0;
out:
    ens_sha256_free(c);
    if (b->size > (4 << 20))
        ens_progress_done(what);
    return ret;
}

/* Hashes a whole file through a read-only mapping (no copy out of the page cache); 1 = not mappable. */
static int hash_mapped(int fd, const struct blob *b, ens_error_t *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
        return 1;
    if (st.st_size != b->size)
        return ens_error(err, EBADMSG, "blob %s has %lld bytes, its descriptor says %lld", b->digest,
                         (long long)st.st_size, (long long)b->size);
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED)
        return 1;
    madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL | MADV_WILLNEED);
    uint8_t d[ENS_SHA256_LEN];
    ens_sha256_ctx *c = ens_sha256_new();
    if (!c) {
        munmap(m, (size_t)st.st_size);
        return ens_error(err, ENOMEM, "out of memory");
    }
    for (size_t off = 0; off < (size_t)st.st_size; off += 1u << 20) {
        size_t n = (size_t)st.st_size - off < (1u << 20) ? (size_t)st.st_size - off : (1u << 20);
        ens_sha256_update(c, (const unsigned char *)m + off, n);
    }
    ens_sha256_final(c, d);
    ens_sha256_free(c);
    munmap(m, (size_t)st.st_size);
    char hex[ENS_DIGEST_STR_LEN];
    memcpy(hex, "sha256:", 7);
    ens_hex_encode(d, sizeof(d), hex + 7);
    if (!ens_ct_equal(hex, b->digest, 71))
        return ens_error(err, EBADMSG, "blob %s: digest mismatch (content is %s)", b->digest, hex);
    return 0;
}

int blob_verify(struct blob *b, ens_error_t *err)
{
    if (b->verified)
        return 0;
    _cleanup_close_ int fd = open(b->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ens_error_errno(err, "blob %s: open %s", b->digest, b->path);
    int m = hash_mapped(fd, b, err);
    if (m <= 0) {
        if (m == 0)
            b->verified = true;
        return m;
    }
    if (copy_hash(fd, -1, b, "verify", err) < 0)
        return -1;
    b->verified = true;
    return 0;
}

void blob_prefer_digest_error(struct blob *b, ens_error_t *err)
{
    /* A corrupted blob usually breaks decompression before its digest can be checked: name the
     * real cause. */
    ens_error_t e = NULL;
    if (b->verified || blob_verify(b, &e) == 0)
        return;
    ens_error_release(err);
    *err = e;
}

int blob_copy_verified(const struct blob *b, const char *dst, ens_error_t *err)
{
    _cleanup_close_ int in = open(b->path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return ens_error_errno(err, "blob %s: open %s", b->digest, b->path);
    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp-XXXXXX", dst) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    _cleanup_close_ int out = mkostemp(tmp, O_CLOEXEC);
    if (out < 0)
        return ens_error_errno(err, "create %s", tmp);
    char what[32];
    snprintf(what, sizeof(what), "copy %.19s", b->digest);
    if (copy_hash(in, out, b, what, err) < 0 || fchmod(out, 0644) < 0 || rename(tmp, dst) < 0) {
        if (!*err)
            ens_error_errno(err, "write %s", dst);
        unlink(tmp);
        return -1;
    }
    return 0;
}

int image_blob_fetch(ens_image *img, struct blob *b, ens_error_t *err)
{
    if (b->path)
        return 0;
    if (img->reg) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        if (image_tmpfile(img, &path, &fd, err) < 0)
            return -1;
        if (reg_get_blob(img->reg, b, path, err) < 0) {
            unlink(path);
            return -1;
        }
        b->path = ens_steal(&path);
        b->verified = true;
        return 0;
    }
    if (img->src_dir) {
        if (asprintf(&b->path, "%s/blobs/sha256/%s", img->src_dir, b->digest + 7) < 0) {
            b->path = NULL;
            return ens_error(err, ENOMEM, "out of memory");
        }
        if (access(b->path, R_OK) < 0) {
            ens_error_errno(err, "blob %s missing from %s", b->digest, img->src_dir);
            free(b->path);
            b->path = NULL;
            return -1;
        }
        return 0;
    }
    return ens_error(err, ENOENT, "blob %s: no source", b->digest);
}

/* ------------------------------------------------------------------ open / free */

static int image_alloc(const struct ens_image_opts *o, ens_image **out, ens_error_t *err)
{
    ens_image *img = calloc(1, sizeof(*img));
    if (!img)
        return ens_error(err, ENOMEM, "out of memory");
    if (o)
        img->opts = *o;
    else
        ens_image_opts_init(&img->opts);
    const char *t = getenv("TMPDIR");
    if (asprintf(&img->tmp, "%s/ensconce-image-XXXXXX", t && *t ? t : "/var/tmp") < 0) {
        free(img);
        return ens_error(err, ENOMEM, "out of memory");
    }
    if (!mkdtemp(img->tmp)) {
        ens_error_errno(err, "create work directory %s", img->tmp);
        free(img->tmp);
        free(img);
        return -1;
    }
    *out = img;
    return 0;
}

void ens_image_free(ens_image *img)
{
    if (!img)
        return;
    reg_free(img->reg);
    free(img->src_host);
    free(img->src_repo);
    free(img->src_dir);
    free(img->manifest_raw);
    free(img->manifest_mt);
    json_decref(img->manifest_annotations);
    blob_clear(&img->config);
    json_decref(img->config_json);
    for (size_t i = 0; i < img->n_layers; i++)
        blob_clear(&img->layers[i]);
    free(img->layers);
    if (img->tmp) {
        ens_error_t e = NULL;
        ens_rm_rf(img->tmp, &e);
        ens_error_release(&e);
        free(img->tmp);
    }
    free(img);
}

/* Sets the image from a manifest document; loads and checks the config blob. */
int image_load_manifest(ens_image *img, char *raw, size_t len, const char *mt_hint, ens_error_t *err);
int image_load_manifest(ens_image *img, char *raw, size_t len, const char *mt_hint, ens_error_t *err)
{
    struct manifest_doc m;
    if (parse_manifest(raw, len, mt_hint, &m, err) < 0)
        return -1;
    img->manifest_raw = raw;
    img->manifest_len = len;
    img->manifest_mt = ens_steal(&m.media_type);
    img->manifest_annotations = ens_steal(&m.annotations);
    img->config = m.config;
    memset(&m.config, 0, sizeof(m.config));
    img->layers = ens_steal(&m.layers);
    img->n_layers = m.n_layers;
    m.n_layers = 0;
    manifest_doc_clear(&m);
    if (img->config.size > (int64_t)MAX_CONFIG_SIZE)
        return ens_error(err, EFBIG, "config blob larger than %u bytes", MAX_CONFIG_SIZE);
    if (image_blob_fetch(img, &img->config, err) < 0 || blob_verify(&img->config, err) < 0)
        return ens_error_wrap(err, "config");
    _cleanup_free_ char *cbuf = NULL;
    size_t clen;
    if (ens_read_file(img->config.path, MAX_CONFIG_SIZE, &cbuf, &clen, err) < 0)
        return -1;
    if (parse_config(cbuf, clen, &img->config_json, err) < 0)
        return -1;
    json_t *ids = json_object_get(json_object_get(img->config_json, "rootfs"), "diff_ids");
    if (json_array_size(ids) != img->n_layers)
        return ens_error(err, EBADMSG, "config: %zu diff_ids for %zu layers", json_array_size(ids), img->n_layers);
    for (size_t i = 0; i < img->n_layers; i++)
        snprintf(img->layers[i].diff_id, sizeof(img->layers[i].diff_id), "%s",
                 json_string_value(json_array_get(ids, i)));
    return 0;
}

int ens_image_open(const char *ref, const struct ens_image_opts *o, ens_image **out, ens_error_t *err)
{
    struct image_ref r;
    if (image_ref_parse(ref, &r, err) < 0)
        return -1;
    ens_image *img;
    if (image_alloc(o, &img, err) < 0) {
        image_ref_clear(&r);
        return -1;
    }
    int rc;
    switch (r.transport) {
    case T_OCI:
        rc = oci_layout_open(img, r.path, r.tag, err);
        break;
    case T_OCI_ARCHIVE:
        rc = oci_archive_open(img, r.path, r.tag, err);
        break;
    case T_DOCKER_ARCHIVE:
        rc = docker_archive_open(img, r.path, r.tag, err);
        break;
    default:
        rc = registry_open(img, &r, err);
        break;
    }
    image_ref_clear(&r);
    if (rc < 0) {
        ens_error_wrap(err, "%s", ref);
        ens_image_free(img);
        return -1;
    }
    *out = img;
    return 0;
}

static char *epoch_string(void)
{
    time_t t = (time_t)source_date_epoch();
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[32];
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return strdup(buf);
}

int ens_image_new(const struct ens_image_opts *o, ens_image **out, ens_error_t *err)
{
    ens_image *img;
    if (image_alloc(o, &img, err) < 0)
        return -1;
    char os[64] = "linux", arch[64] = "amd64", variant[64] = "";
    const char *plat = img->opts.platform;
    if (plat && *plat && sscanf(plat, "%63[^/]/%63[^/]/%63s", os, arch, variant) < 2) {
        ens_image_free(img);
        return ens_error(err, EINVAL, "platform '%s': want os/arch[/variant]", plat);
    }
    _cleanup_free_ char *created = epoch_string();
    img->config_json = json_pack("{s:s,s:s,s:s,s:{},s:{s:s,s:[]},s:[]}", "created", created ? created : "",
                                 "architecture", arch, "os", os, "config", "rootfs", "type", "layers", "diff_ids",
                                 "history");
    if (*variant)
        json_object_set_new(img->config_json, "variant", json_string(variant));
    img->config_dirty = true;
    img->manifest_mt = strdup(MT_OCI_MANIFEST);
    if (!img->config_json || !img->manifest_mt) {
        ens_image_free(img);
        return ens_error(err, ENOMEM, "out of memory");
    }
    *out = img;
    return 0;
}

json_t *ens_image_config(ens_image *img) { return img->config_json; }
size_t ens_image_layer_count(const ens_image *img) { return img->n_layers; }

/* ------------------------------------------------------------------ rendering */

static void touch(ens_image *img)
{
    free(img->manifest_raw);
    img->manifest_raw = NULL;
}

static const char *oci_layer_type(const char *mt)
{
    if (strcmp(mt, MT_DOCKER_LAYER_GZIP) == 0)
        return MT_OCI_LAYER_GZIP;
    if (strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar") == 0)
        return MT_OCI_LAYER;
    if (strcmp(mt, "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip") == 0)
        return "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    return mt;
}

static int flush_config(ens_image *img, ens_error_t *err)
{
    if (!img->config_dirty)
        return 0;
    char *text = json_dumps(img->config_json, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return ens_error(err, ENOMEM, "serialising config failed");
    _cleanup_free_ char *path = NULL;
    _cleanup_close_ int fd = -1;
    int r = image_tmpfile(img, &path, &fd, err);
    if (r == 0)
        r = ens_write_all(fd, text, strlen(text), err);
    if (r < 0) {
        free(text);
        return -1;
    }
    blob_clear(&img->config);
    ens_digest_string(text, strlen(text), img->config.digest);
    img->config.size = (int64_t)strlen(text);
    img->config.media_type = strdup(MT_OCI_CONFIG);
    img->config.path = ens_steal(&path);
    img->config.verified = true;
    free(text);
    img->config_dirty = false;
    touch(img);
    return img->config.media_type ? 0 : ens_error(err, ENOMEM, "out of memory");
}

int image_render(ens_image *img, bool oci, char **manifest, size_t *len, char **mt, ens_error_t *err)
{
    if (flush_config(img, err) < 0)
        return -1;
    bool docker = img->manifest_mt && strcmp(img->manifest_mt, MT_DOCKER_MANIFEST) == 0;
    if (img->manifest_raw && !(oci && docker)) {
        *manifest = malloc(img->manifest_len + 1);
        *mt = strdup(img->manifest_mt);
        if (!*manifest || !*mt)
            return ens_error(err, ENOMEM, "out of memory");
        memcpy(*manifest, img->manifest_raw, img->manifest_len);
        (*manifest)[img->manifest_len] = '\0';
        *len = img->manifest_len;
        return 0;
    }
    json_t *cfg = descriptor_json(&img->config);
    if (cfg && strcmp(img->config.media_type, MT_DOCKER_CONFIG) == 0)
        json_object_set_new(cfg, "mediaType", json_string(MT_OCI_CONFIG));
    json_t *layers = json_array();
    for (size_t i = 0; i < img->n_layers; i++) {
        json_t *d = descriptor_json(&img->layers[i]);
        if (d)
            json_object_set_new(d, "mediaType", json_string(oci_layer_type(img->layers[i].media_type)));
        json_array_append_new(layers, d);
    }
    json_t *m = json_pack("{s:i,s:s,s:o,s:o}", "schemaVersion", 2, "mediaType", MT_OCI_MANIFEST, "config", cfg,
                          "layers", layers);
    if (m && img->manifest_annotations)
        json_object_set(m, "annotations", img->manifest_annotations);
    /* Key order is the insertion order above (jansson keeps it): deterministic. */
    char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    if (!text)
        return ens_error(err, ENOMEM, "serialising manifest failed");
    *manifest = text;
    *len = strlen(text);
    *mt = strdup(MT_OCI_MANIFEST);
    return *mt ? 0 : ens_error(err, ENOMEM, "out of memory");
}

int ens_image_manifest_digest(ens_image *img, char out[72], ens_error_t *err)
{
    _cleanup_free_ char *m = NULL, *mt = NULL;
    size_t len;
    if (image_render(img, false, &m, &len, &mt, err) < 0)
        return -1;
    ens_digest_string(m, len, out);
    return 0;
}

json_t *ens_image_inspect(ens_image *img, ens_error_t *err)
{
    _cleanup_free_ char *m = NULL, *mt = NULL;
    size_t len;
    if (image_render(img, false, &m, &len, &mt, err) < 0)
        return NULL;
    char d[72];
    ens_digest_string(m, len, d);
    json_t *layers = json_array();
    int64_t total = 0;
    for (size_t i = 0; i < img->n_layers; i++) {
        struct blob *b = &img->layers[i];
        json_array_append_new(layers, json_pack("{s:s,s:s,s:I,s:s}", "digest", b->digest, "diffID", b->diff_id,
                                                "size", (json_int_t)b->size, "mediaType", b->media_type));
        total += b->size;
    }
    json_t *j = json_pack("{s:s,s:s,s:I,s:s,s:I,s:O,s:o,s:I}", "manifestDigest", d, "mediaType", mt,
                          "manifestSize", (json_int_t)len, "configDigest", img->config.digest, "configSize",
                          (json_int_t)img->config.size, "config", img->config_json, "layers", layers, "size",
                          (json_int_t)total);
    if (!j)
        ens_error(err, ENOMEM, "out of memory");
    return j;
}

/* ------------------------------------------------------------------ config edits */

static json_t *cfg_obj(ens_image *img)
{
    json_t *c = json_object_get(img->config_json, "config");
    if (!json_is_object(c)) {
        c = json_object();
        json_object_set_new(img->config_json, "config", c);
    }
    img->config_dirty = true;
    touch(img);
    return c;
}

static int set_argv(ens_image *img, const char *key, const char *const *argv, ens_error_t *err)
{
    json_t *c = cfg_obj(img);
    if (!argv) {
        json_object_del(c, key);
        return 0;
    }
    json_t *a = json_array();
    for (; *argv; argv++)
        json_array_append_new(a, json_string(*argv));
    if (json_object_set_new(c, key, a) < 0)
        return ens_error(err, EINVAL, "config %s: invalid value (not UTF-8?)", key);
    return 0;
}

int ens_image_set_entrypoint(ens_image *img, const char *const *argv, ens_error_t *err)
{
    return set_argv(img, "Entrypoint", argv, err);
}

int ens_image_set_cmd(ens_image *img, const char *const *argv, ens_error_t *err)
{
    return set_argv(img, "Cmd", argv, err);
}

int ens_image_set_env(ens_image *img, const char *kv, ens_error_t *err)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return ens_error(err, EINVAL, "env '%s': want NAME=VALUE", kv);
    json_t *c = cfg_obj(img);
    json_t *env = json_object_get(c, "Env");
    if (!json_is_array(env)) {
        env = json_array();
        json_object_set_new(c, "Env", env);
    }
    size_t klen = (size_t)(eq - kv) + 1, i;
    json_t *v;
    json_t *nv = json_string(kv);
    if (!nv)
        return ens_error(err, EINVAL, "env: not UTF-8");
    json_array_foreach(env, i, v) {
        const char *s = json_string_value(v);
        if (s && strncmp(s, kv, klen) == 0)
            return json_array_set_new(env, i, nv);
    }
    return json_array_append_new(env, nv);
}

static int set_str(ens_image *img, const char *key, const char *val, ens_error_t *err)
{
    json_t *c = cfg_obj(img);
    if (!val) {
        json_object_del(c, key);
        return 0;
    }
    if (json_object_set_new(c, key, json_string(val)) < 0)
        return ens_error(err, EINVAL, "config %s: not UTF-8", key);
    return 0;
}

int ens_image_set_workdir(ens_image *img, const char *dir, ens_error_t *err)
{
    if (dir && *dir != '/')
        return ens_error(err, EINVAL, "workdir '%s': must be absolute", dir);
    return set_str(img, "WorkingDir", dir, err);
}

int ens_image_set_user(ens_image *img, const char *user, ens_error_t *err) { return set_str(img, "User", user, err); }

static int set_in_obj(ens_image *img, const char *obj, const char *key, json_t *val, ens_error_t *err)
{
    json_t *c = cfg_obj(img);
    json_t *o = json_object_get(c, obj);
    if (!json_is_object(o)) {
        o = json_object();
        json_object_set_new(c, obj, o);
    }
    if (!val || json_object_set_new(o, key, val) < 0)
        return ens_error(err, EINVAL, "config %s: invalid key or value", obj);
    return 0;
}

int ens_image_set_label(ens_image *img, const char *key, const char *value, ens_error_t *err)
{
    if (!key || !*key)
        return ens_error(err, EINVAL, "label: empty key");
    return set_in_obj(img, "Labels", key, json_string(value ? value : ""), err);
}

int ens_image_add_exposed_port(ens_image *img, const char *port, ens_error_t *err)
{
    char *end;
    long n = strtol(port, &end, 10);
    if (end == port || n < 1 || n > 65535 || (*end && strcmp(end, "/tcp") && strcmp(end, "/udp") &&
                                              strcmp(end, "/sctp")))
        return ens_error(err, EINVAL, "port '%s': want N[/tcp|/udp|/sctp]", port);
    char key[32];
    snprintf(key, sizeof(key), "%ld%s", n, *end ? end : "/tcp");
    return set_in_obj(img, "ExposedPorts", key, json_object(), err);
}

/* ------------------------------------------------------------------ layer edits */

static int append_layer(ens_image *img, struct blob *b, const char *created_by, ens_error_t *err)
{
    struct blob *n = realloc(img->layers, (img->n_layers + 1) * sizeof(*n));
    if (!n)
        return ens_error(err, ENOMEM, "out of memory");
    img->layers = n;
    img->layers[img->n_layers++] = *b;
    memset(b, 0, sizeof(*b));
    json_t *rootfs = json_object_get(img->config_json, "rootfs");
    if (!json_is_object(rootfs)) {
        rootfs = json_pack("{s:s,s:[]}", "type", "layers", "diff_ids");
        json_object_set_new(img->config_json, "rootfs", rootfs);
    }
    json_array_append_new(json_object_get(rootfs, "diff_ids"), json_string(img->layers[img->n_layers - 1].diff_id));
    json_t *hist = json_object_get(img->config_json, "history");
    if (!json_is_array(hist)) {
        hist = json_array();
        json_object_set_new(img->config_json, "history", hist);
    }
    _cleanup_free_ char *created = epoch_string();
    json_array_append_new(hist, json_pack("{s:s,s:s}", "created", created ? created : "", "created_by", created_by));
    img->config_dirty = true;
    touch(img);
    return 0;
}

/* One entry of a new layer: dest (clean, relative), src (host path) or NULL for a made-up parent dir. */
struct item {
    char *dest;
    char *src;
};
struct items {
    struct item *v;
    size_t n, cap;
};

static int items_add(struct items *it, const char *dest, const char *src)
{
    if (it->n == it->cap) {
        size_t nc = it->cap ? it->cap * 2 : 64;
        struct item *v = realloc(it->v, nc * sizeof(*v));
        if (!v)
            return -1;
        it->v = v;
        it->cap = nc;
    }
    it->v[it->n].dest = strdup(dest);
    it->v[it->n].src = src ? strdup(src) : NULL;
    if (!it->v[it->n].dest || (src && !it->v[it->n].src))
        return -1;
    it->n++;
    return 0;
}

static void items_free(struct items *it)
{
    for (size_t i = 0; i < it->n; i++) {
        free(it->v[i].dest);
        free(it->v[i].src);
    }
    free(it->v);
}

static int items_walk(struct items *it, const char *dest, const char *src, int depth, ens_error_t *err)
{
    if (depth > 256)
        return ens_error(err, ELOOP, "%s: directory tree too deep", src);
    if (items_add(it, dest, src) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    struct stat st;
    if (lstat(src, &st) < 0)
        return ens_error_errno(err, "add %s", src);
    if (!S_ISDIR(st.st_mode))
        return 0;
    _cleanup_closedir_ DIR *d = opendir(src);
    if (!d)
        return ens_error_errno(err, "read directory %s", src);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        _cleanup_free_ char *s = ens_path_join(src, de->d_name);
        _cleanup_free_ char *t = NULL;
        if (!s || asprintf(&t, "%s%s%s", dest, *dest ? "/" : "", de->d_name) < 0)
            return ens_error(err, ENOMEM, "out of memory");
        if (items_walk(it, t, s, depth + 1, err) < 0)
            return -1;
    }
    return 0;
}

static int item_cmp(const void *a, const void *b)
{
    return strcmp(((const struct item *)a)->dest, ((const struct item *)b)->dest);
}

struct inode_map {
    dev_t dev;
    ino_t ino;
    const char *path;
};

static int write_items(ens_image *img, struct items *it, const char *created_by, ens_error_t *err)
{
    /* Parents of every entry, as 0755 root-owned directories unless given. */
    size_t n0 = it->n;
    for (size_t i = 0; i < n0; i++) {
        _cleanup_free_ char *p = strdup(it->v[i].dest);
        if (!p)
            return ens_error(err, ENOMEM, "out of memory");
        for (char *s = strrchr(p, '/'); s; s = strrchr(p, '/')) {
            *s = '\0';
            if (items_add(it, p, NULL) < 0)
                return ens_error(err, ENOMEM, "out of memory");
        }
    }
    qsort(it->v, it->n, sizeof(*it->v), item_cmp);
    /* Drop duplicates: a given source wins over a made-up parent; two sources must agree. */
    size_t w = 0;
    for (size_t i = 0; i < it->n; i++) {
        if (w > 0 && strcmp(it->v[w - 1].dest, it->v[i].dest) == 0) {
            struct item *prev = &it->v[w - 1], *cur = &it->v[i];
            if (prev->src && cur->src && strcmp(prev->src, cur->src) != 0)
                return ens_error(err, EINVAL, "/%s is given twice (%s and %s)", cur->dest, prev->src, cur->src);
            if (!prev->src && cur->src) {
                free(prev->dest);
                *prev = *cur;
            } else {
                free(cur->dest);
                free(cur->src);
            }
            continue;
        }
        it->v[w++] = it->v[i];
    }
    it->n = w;
    enum comp c;
    if (parse_compression(img->opts.compression, &c, err) < 0)
        return -1;
    struct layer_writer *lw;
    if (layer_writer_open(img->tmp, c, img->opts.gzip_level, &lw, err) < 0)
        return -1;
    struct archive *aw = layer_writer_archive(lw);
    int64_t epoch = source_date_epoch();
    struct inode_map *inodes = NULL;
    size_t n_inodes = 0;
    int ret = -1;
    _cleanup_free_ char *buf = malloc(1u << 20);
    if (!buf) {
        ens_error(err, ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < it->n; i++) {
        struct item *x = &it->v[i];
        struct stat st;
        if (x->src) {
            if (lstat(x->src, &st) < 0) {
                ens_error_errno(err, "add %s", x->src);
                goto out;
            }
        } else {
            memset(&st, 0, sizeof(st));
            st.st_mode = S_IFDIR | 0755;
        }
        if (S_ISSOCK(st.st_mode)) {
            ens_log(ENS_LOG_WARN, "skipping socket %s", x->src);
            continue;
        }
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, x->dest);
        archive_entry_set_mode(e, st.st_mode);
        archive_entry_set_uid(e, st.st_uid);
        archive_entry_set_gid(e, st.st_gid);
        archive_entry_set_mtime(e, epoch, 0);
        if (S_ISREG(st.st_mode))
            archive_entry_set_size(e, st.st_size);
        else
            archive_entry_set_size(e, 0);
        if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
            archive_entry_set_rdev(e, st.st_rdev);
        if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t n = readlink(x->src, target, sizeof(target) - 1);
            if (n < 0) {
                archive_entry_free(e);
                ens_error_errno(err, "readlink %s", x->src);
                goto out;
            }
            target[n] = '\0';
            archive_entry_set_symlink(e, target);
        }
        const char *link_to = NULL;
        if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
            for (size_t k = 0; k < n_inodes; k++)
                if (inodes[k].dev == st.st_dev && inodes[k].ino == st.st_ino)
                    link_to = inodes[k].path;
            if (!link_to) {
                struct inode_map *ni = realloc(inodes, (n_inodes + 1) * sizeof(*ni));
                if (!ni) {
                    archive_entry_free(e);
                    ens_error(err, ENOMEM, "out of memory");
                    goto out;
                }
                inodes = ni;
                inodes[n_inodes++] = (struct inode_map){ st.st_dev, st.st_ino, x->dest };
            }
        }
        if (link_to) {
            archive_entry_set_hardlink(e, link_to);
            archive_entry_set_size(e, 0);
        }
        if (archive_write_header(aw, e) != ARCHIVE_OK) {
            ens_error(err, EIO, "layer: /%s: %s", x->dest, archive_error_string(aw));
            archive_entry_free(e);
            goto out;
        }
        archive_entry_free(e);
        if (S_ISREG(st.st_mode) && !link_to) {
            _cleanup_close_ int fd = open(x->src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            if (fd < 0) {
                ens_error_errno(err, "open %s", x->src);
                goto out;
            }
            int64_t left = st.st_size;
            while (left > 0) {
                ssize_t r = read(fd, buf, left < (1 << 20) ? (size_t)left : (1u << 20));
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0) {
                    ens_error(err, EIO, "%s changed size while being read", x->src);
                    goto out;
                }
                if (archive_write_data(aw, buf, (size_t)r) != r) {
                    ens_error(err, EIO, "layer: /%s: %s", x->dest, archive_error_string(aw));
                    goto out;
                }
                left -= r;
            }
        }
    }
    struct blob b;
    if (layer_writer_close(lw, &b, err) < 0)
        goto out;
    if (append_layer(img, &b, created_by, err) < 0) {
        blob_clear(&b);
        goto out;
    }
    ret = 0;
out:
    free(inodes);
    layer_writer_free(lw);
    return ret;
}

static char *clean_dest(const char *d, ens_error_t *err)
{
    bool esc;
    char *c = path_clean(d, &esc);
    if (!c)
        ens_error(err, EINVAL, "image path '%s' %s", d, esc ? "leaves the root" : "(out of memory)");
    return c;
}

int ens_image_add_layer_dir(ens_image *img, const char *dir, const char *dest, ens_error_t *err)
{
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return ens_error(err, ENOTDIR, "%s is not a directory", dir);
    _cleanup_free_ char *d = clean_dest(dest ? dest : "/", err);
    if (!d)
        return -1;
    struct items it = { 0 };
    int r = items_walk(&it, d, dir, 0, err);
    if (r == 0 && !*d) {
        /* The root itself is not an entry (we only add its children). */
        for (size_t i = 0; i < it.n; i++)
            if (!*it.v[i].dest) {
                free(it.v[i].dest);
                free(it.v[i].src);
                it.v[i] = it.v[--it.n];
                break;
            }
    }
    if (r == 0)
        r = write_items(img, &it, "ensconce image build (directory)", err);
    items_free(&it);
    return r;
}

int ens_image_add_layer_files(ens_image *img, const char *const *src, const char *const *dest, size_t n,
                              ens_error_t *err)
{
    struct items it = { 0 };
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        _cleanup_free_ char *d = clean_dest(dest && dest[i] ? dest[i] : src[i], err);
        if (!d || !*d) {
            r = d ? ens_error(err, EINVAL, "%s: cannot be placed at the image root", src[i]) : -1;
            break;
        }
        r = items_walk(&it, d, src[i], 0, err);
    }
    if (r == 0)
        r = write_items(img, &it, "ensconce image build (files)", err);
    items_free(&it);
    return r;
}

/* ------------------------------------------------------------------ remove paths */

static bool path_matches(const char *p, char **set, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(set[i]);
        if (strncmp(p, set[i], l) == 0 && (p[l] == '\0' || p[l] == '/'))
            return true;
    }
    return false;
}

static int name_removed(const char *name, const char *hl, char **set, size_t n, bool *hit, bool warn)
{
    bool esc;
    _cleanup_free_ char *p = path_clean(name, &esc);
    if (!p)
        return -1;
    *hit = path_matches(p, set, n);
    /* A whiteout of a removed path is harmless but would name it: drop it too. */
    const char *base = strrchr(p, '/');
    base = base ? base + 1 : p;
    if (!*hit && strncmp(base, ".wh.", 4) == 0 && strcmp(base, ".wh..wh..opq") != 0) {
        _cleanup_free_ char *q = strdup(p);
        if (!q)
            return -1;
        char *b = strrchr(q, '/');
        b = b ? b + 1 : q;
        memmove(b, b + 4, strlen(b + 4) + 1);
        *hit = path_matches(q, set, n);
    }
    if (!*hit && hl) {
        _cleanup_free_ char *t = path_clean(hl, &esc);
        if (!t)
            return -1;
        if (path_matches(t, set, n)) {
            if (warn)
                ens_log(ENS_LOG_WARN, "dropping /%s: hard link to removed /%s", p, t);
            *hit = true;
        }
    }
    return 0;
}

static int entry_removed(struct archive_entry *e, char **set, size_t n, bool *hit, bool warn)
{
    return name_removed(archive_entry_pathname(e), archive_entry_hardlink(e), set, n, hit, warn);
}

/* The paths removed from one layer: the caller's, plus files outside them that are hard-linked from
 * inside (in a tar the first name of a file carries its data and later names link to it; dropping
 * only the inside name would leave the protected bytes in the layer under the outside one). */
struct removal {
    char **set;
    size_t n, n_given, cap;
};

static int removal_init(struct removal *r, char **set, size_t n)
{
    r->set = calloc(n + 8, sizeof(char *));
    if (!r->set)
        return -1;
    memcpy(r->set, set, n * sizeof(char *));
    r->n = r->n_given = n;
    r->cap = n + 8;
    return 0;
}

static void removal_free(struct removal *r)
{
    for (size_t i = r->n_given; i < r->n; i++)
        free(r->set[i]);
    free(r->set);
}

/* Pass 1 on one entry: does it go, and does it take a hard-link target with it? */
static int removal_note(struct removal *r, const char *path, const char *hl, bool *any)
{
    bool hit, esc;
    if (name_removed(path, hl, r->set, r->n, &hit, false) < 0)
        return -1;
    *any |= hit;
    if (!hit || !hl)
        return 0;
    _cleanup_free_ char *t = path_clean(hl, &esc);
    if (!t)
        return -1;
    if (path_matches(t, r->set, r->n))
        return 0;
    if (r->n == r->cap) {
        char **ns = realloc(r->set, 2 * r->cap * sizeof(char *));
        if (!ns)
            return -1;
        r->set = ns;
        r->cap *= 2;
    }
    _cleanup_free_ char *p = path_clean(path, &esc);
    ens_log(ENS_LOG_WARN, "dropping /%s: the same file (a hard link) as removed /%s", t, p ? p : path);
    r->set[r->n++] = ens_steal(&t);
    return 0;
}

static int open_layer(ens_image *img, struct blob *b, int *fd, struct layer_reader **lr, ens_error_t *err)
{
    if (image_blob_fetch(img, b, err) < 0)
        return -1;
    *fd = open(b->path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return ens_error_errno(err, "layer %s: open", b->digest);
    if (layer_reader_open_blob(*fd, b, lr, err) < 0) {
        close(*fd);
        return -1;
    }
    return 0;
}

static int copy_data(struct archive *ar, struct archive *aw, struct layer_reader *lr, ens_error_t *err)
{
    const void *buf;
    size_t len;
    la_int64_t off, pos = 0;
    int r;
    static const char zeros[4096];
    while ((r = archive_read_data_block(ar, &buf, &len, &off)) == ARCHIVE_OK) {
        while (pos < off) {
            size_t z = off - pos > (la_int64_t)sizeof(zeros) ? sizeof(zeros) : (size_t)(off - pos);
            if (archive_write_data(aw, zeros, z) < 0)
                return ens_error(err, EIO, "write layer: %s", archive_error_string(aw));
            pos += (la_int64_t)z;
        }
        if (len && archive_write_data(aw, buf, len) < 0)
            return ens_error(err, EIO, "write layer: %s", archive_error_string(aw));
        pos += (la_int64_t)len;
    }
    if (r != ARCHIVE_EOF)
        return layer_reader_error(lr, err);
    return 0;
}

/* Pass 1 of a removal: notes what layer b holds of rm's paths (*any), from the names an unpack
 * recorded, else by reading the layer's headers (which also verifies it). */
static int removal_scan(ens_image *img, struct blob *b, struct removal *rm, bool *any, ens_error_t *err)
{
    if (b->names && b->verified && b->diff_id_ok) {
        for (size_t i = 0; i < b->names->n; i++)
            if (removal_note(rm, b->names->path[i], b->names->link[i], any) < 0)
                return ens_error(err, ENOMEM, "out of memory");
        return 0;
    }
    _cleanup_close_ int fd = -1;
    struct layer_reader *lr = NULL;
    if (open_layer(img, b, &fd, &lr, err) < 0)
        return -1;
    struct archive *ar = layer_reader_archive(lr);
    struct archive_entry *e;
    int r, ret = -1;
    while ((r = archive_read_next_header(ar, &e)) == ARCHIVE_OK) {
        if (entry_check(e, b->digest, err) < 0)
            goto out;
        if (removal_note(rm, archive_entry_pathname(e), archive_entry_hardlink(e), any) < 0) {
            ens_error(err, ENOMEM, "out of memory");
            goto out;
        }
    }
    if (r != ARCHIVE_EOF)
        layer_reader_error(lr, err);
    else
        ret = layer_reader_finish_blob(lr, b, err);
out:
    layer_reader_free(lr);
    return ret;
}

static int rewrite_layer(ens_image *img, size_t idx, char **given, size_t n_given, ens_error_t *err)
{
    struct blob *b = &img->layers[idx];
    _cleanup_close_ int fd = -1;
    struct layer_reader *lr = NULL;
    struct layer_writer *lw = NULL;
    int ret = -1;
    bool any = false;
    struct removal rm;
    if (removal_init(&rm, given, n_given) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    if (removal_scan(img, b, &rm, &any, err) < 0)
        goto out;
    if (!any) {
        ret = 0;
        goto out;
    }
    /* Pass 2: the same layer without them, same compression as the media type says. */
    enum comp c = strstr(b->media_type, "zstd") ? COMP_ZSTD : strstr(b->media_type, "gzip") ? COMP_GZIP : COMP_NONE;
    if (open_layer(img, b, &fd, &lr, err) < 0 || layer_writer_open(img->tmp, c, img->opts.gzip_level, &lw, err) < 0)
        goto out;
    struct archive *ar = layer_reader_archive(lr);
    struct archive *aw = layer_writer_archive(lw);
    struct archive_entry *e;
    int r;
    size_t dropped = 0;
    while ((r = archive_read_next_header(ar, &e)) == ARCHIVE_OK) {
        bool hit;
        if (entry_removed(e, rm.set, rm.n, &hit, true) < 0) {
            ens_error(err, ENOMEM, "out of memory");
            goto out;
        }
        if (hit) {
            dropped++;
            continue;
        }
        if (archive_write_header(aw, e) != ARCHIVE_OK) {
            ens_error(err, EIO, "write layer: %s", archive_error_string(aw));
            goto out;
        }
        if (archive_entry_size(e) > 0 && !archive_entry_hardlink(e) && copy_data(ar, aw, lr, err) < 0)
            goto out;
    }
    if (r != ARCHIVE_EOF) {
        layer_reader_error(lr, err);
        goto out;
    }
    if (layer_reader_finish_blob(lr, b, err) < 0)
        goto out;
    struct blob nb;
    if (layer_writer_close(lw, &nb, err) < 0)
        goto out;
    ens_log(ENS_LOG_INFO, "layer %zu: removed %zu entries, %s -> %s", idx, dropped, b->digest, nb.digest);
    if (b->desc && json_object_get(b->desc, "annotations")) {
        nb.desc = json_pack("{s:O}", "annotations", json_object_get(b->desc, "annotations"));
    }
    json_array_set_new(json_object_get(json_object_get(img->config_json, "rootfs"), "diff_ids"), idx,
                       json_string(nb.diff_id));
    blob_clear(b);
    *b = nb;
    img->config_dirty = true;
    touch(img);
    ret = 0;
out:
    removal_free(&rm);
    layer_reader_free(lr);
    layer_writer_free(lw);
    if (ret < 0 && b->path)
        blob_prefer_digest_error(b, err);
    return ret;
}

int ens_image_remove_paths(ens_image *img, const char *const *paths, size_t n, ens_error_t *err)
{
    char **set = calloc(n + 1, sizeof(char *));
    if (!set)
        return ens_error(err, ENOMEM, "out of memory");
    int ret = -1;
    for (size_t i = 0; i < n; i++) {
        set[i] = clean_dest(paths[i], err);
        if (!set[i])
            goto out;
        if (!*set[i]) {
            ens_error(err, EINVAL, "remove: refusing to remove the image root");
            goto out;
        }
    }
    for (size_t i = 0; i < img->n_layers; i++) {
        ens_step("scanning layer %zu/%zu for removed paths", i + 1, img->n_layers);
        if (rewrite_layer(img, i, set, n, err) < 0)
            goto out;
    }
    ret = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(set[i]);
    free(set);
    return ret;
}

/* ------------------------------------------------------------------ write */

int ens_image_write(ens_image *img, const char *ref, const struct ens_image_opts *o, ens_error_t *err)
{
    struct image_ref r;
    if (image_ref_parse(ref, &r, err) < 0)
        return -1;
    struct ens_image_opts saved = img->opts;
    if (o)
        img->opts = *o;
    int rc;
    switch (r.transport) {
    case T_OCI:
        rc = oci_layout_write(img, r.path, r.tag, err);
        break;
    case T_OCI_ARCHIVE:
        rc = oci_archive_write(img, r.path, r.tag, err);
        break;
    case T_DOCKER_ARCHIVE:
        rc = docker_archive_write(img, r.path, r.tag, err);
        break;
    default:
        rc = registry_write(img, &r, err);
        break;
    }
    img->opts = saved;
    image_ref_clear(&r);
    if (rc < 0)
        return ens_error_wrap(err, "write %s", ref);
    return 0;
}
