/* SPDX-License-Identifier: Apache-2.0 */
/* Internal interfaces of lib/image: references, registry client, layer streams, unpacking. */
#ifndef ENSCONCE_IMAGE_INTERNAL_H
#define ENSCONCE_IMAGE_INTERNAL_H

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/error.h"
#include "image/image.h"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

/* Bounds on documents read from untrusted sources. */
#define MAX_MANIFEST_SIZE (4u << 20)
#define MAX_CONFIG_SIZE (8u << 20)
#define MAX_LAYERS 1024
#define ENS_REF_NAME_ANNOTATION "org.opencontainers.image.ref.name"

/* ---- references (ref.c) ---- */
enum ens_transport { T_OCI, T_OCI_ARCHIVE, T_DOCKER_ARCHIVE, T_DOCKER };
struct image_ref {
    enum ens_transport transport;
    char *path;   /* oci, archives */
    char *tag;    /* oci tag, archive name, registry tag (NULL when a digest is given) */
    char *host;   /* registry host[:port] as written ("docker.io" for Docker Hub) */
    char *repo;   /* registry repository ("library/debian") */
    char *digest; /* registry digest */
};
int image_ref_parse(const char *s, struct image_ref *r, ens_error_t *err);
int docker_ref_parse(const char *s, struct image_ref *r, ens_error_t *err);
void image_ref_clear(struct image_ref *r);
bool tag_valid(const char *tag);

/* Lexically cleans an archive or image path into a relative path without "." / ".." / "//"
 * ("" for the root).  Fails when ".." would leave the root.  Returns malloc'd string or NULL. */
char *path_clean(const char *in, bool *escapes);

/* ---- blobs ---- */
enum comp { COMP_NONE, COMP_GZIP, COMP_ZSTD };
/* The entry names of a layer (as in the tar, hard-link targets or NULL), recorded by a complete
 * unpack so that later passes can tell which layers hold a path without reading them again. */
struct layer_names {
    char **path, **link;
    size_t n, cap;
};
int layer_names_add(struct layer_names *ln, const char *path, const char *link);
void layer_names_free(struct layer_names *ln);
struct blob {
    char digest[72];
    int64_t size;
    char *media_type;
    char *path;       /* local file with the blob's bytes, NULL until fetched */
    bool verified;    /* digest checked since it reached path */
    bool diff_id_ok;  /* uncompressed content checked against diff_id */
    char diff_id[72]; /* uncompressed digest (layers), "" when unknown */
    json_t *desc;     /* the descriptor as read (annotations, urls...) or NULL */
    struct layer_names *names; /* NULL until a complete pass recorded them */
};
void blob_clear(struct blob *b);
int parse_descriptor(json_t *j, struct blob *b, const char *what, ens_error_t *err);
json_t *descriptor_json(const struct blob *b);
/* Copies a local blob to dst (temp + rename), checking digest and size on the way. */
int blob_copy_verified(const struct blob *b, const char *dst, ens_error_t *err);
/* Hashes a local blob and checks it against its descriptor. */
int blob_verify(struct blob *b, ens_error_t *err);
/* After a failed read of b: if b's digest is wrong, replaces *err by that (more precise) error. */
void blob_prefer_digest_error(struct blob *b, ens_error_t *err);
const char *comp_layer_media_type(enum comp c);

/* ---- documents ---- */
struct manifest_doc {
    char *media_type;
    struct blob config;
    struct blob *layers;
    size_t n_layers;
    json_t *annotations;
};
int parse_manifest(const char *buf, size_t len, const char *mt_hint, struct manifest_doc *m, ens_error_t *err);
void manifest_doc_clear(struct manifest_doc *m);
bool media_type_is_index(const char *mt);
bool media_type_is_manifest(const char *mt);
/* Picks the manifest for platform ("os/arch[/variant]") from an index document. */
int index_pick(const char *buf, size_t len, const char *platform, struct blob *out, ens_error_t *err);
/* Validates a config document and returns its diff_ids count. */
int parse_config(const char *buf, size_t len, json_t **out, ens_error_t *err);

/* ---- the image ---- */
struct reg;
struct ens_image {
    struct ens_image_opts opts;
    char *tmp;          /* work directory for fetched and new blobs */
    struct reg *reg;    /* registry source, or NULL */
    char *src_host, *src_repo;
    char *src_dir;      /* OCI layout holding the blobs (a source dir or an extracted archive) */
    char *manifest_raw; /* bytes as read; NULL once changed */
    size_t manifest_len;
    char *manifest_mt;
    json_t *manifest_annotations;
    struct blob config;
    json_t *config_json;
    bool config_dirty;
    struct blob *layers;
    size_t n_layers;
};
int image_blob_fetch(ens_image *img, struct blob *b, ens_error_t *err);
/* Serialises manifest (and config, when changed) for writing; oci = convert Docker types. */
int image_render(ens_image *img, bool oci, char **manifest, size_t *len, char **mt, ens_error_t *err);
int image_tmpfile(ens_image *img, char **path, int *fd, ens_error_t *err);
/* Takes raw (on success), parses it as a manifest, reads and checks the config. */
int image_load_manifest(ens_image *img, char *raw, size_t len, const char *mt_hint, ens_error_t *err);
/* Reads a small blob (manifest, config, index) whole, checking size and digest. */
int read_small_blob(const char *path, const struct blob *b, size_t max, char **buf, size_t *len, ens_error_t *err);

/* ---- transports (transport.c) ---- */
int oci_layout_open(ens_image *img, const char *dir, const char *tag, ens_error_t *err);
int oci_layout_write(ens_image *img, const char *dir, const char *tag, ens_error_t *err);
int oci_archive_open(ens_image *img, const char *file, const char *tag, ens_error_t *err);
int oci_archive_write(ens_image *img, const char *file, const char *tag, ens_error_t *err);
int docker_archive_open(ens_image *img, const char *file, const char *ref, ens_error_t *err);
int docker_archive_write(ens_image *img, const char *file, const char *ref, ens_error_t *err);
/* Extracts a plain (non-layer) archive of regular files and directories into dir, safely. */
int extract_plain_archive(const char *file, const char *dir, ens_error_t *err);

/* ---- registry (registry.c) ---- */
int reg_new(const char *host, const char *repo, const struct ens_image_opts *o, bool push, struct reg **out,
            ens_error_t *err);
void reg_free(struct reg *r);
int reg_get_manifest(struct reg *r, const char *ref, char **buf, size_t *len, char **mt, ens_error_t *err);
int reg_get_blob(struct reg *r, const struct blob *b, const char *path, ens_error_t *err);
int reg_put_manifest(struct reg *r, const char *ref, const char *buf, size_t len, const char *mt,
                     char out_digest[72], ens_error_t *err);
int registry_open(ens_image *img, const struct image_ref *r, ens_error_t *err);
int registry_write(ens_image *img, const struct image_ref *r, ens_error_t *err);
/* Credentials "user:pass" for host from the auth file (NULL when none). */
int auth_lookup(const char *authfile, const char *host, char **userpass, ens_error_t *err);
/* Parses a WWW-Authenticate header: scheme ("basic"/"bearer") and realm/service/scope. */
struct www_auth { char scheme[16]; char *realm, *service, *scope; };
int www_auth_parse(const char *hdr, struct www_auth *out);
void www_auth_clear(struct www_auth *a);

/* ---- layers (layer.c) ---- */
struct layer_reader;
/* Opens a layer blob for reading as a tar stream.  With digest, the compressed bytes are hashed
 * and checked (with size >= 0, also their count) by layer_reader_finish(). */
int layer_reader_open(int fd, const char *name, const char *digest, int64_t size, struct layer_reader **out,
                      ens_error_t *err);
/* The same for a blob: hashes only what was not checked before (digest, diff_id), and
 * layer_reader_finish_blob() records what it checked. */
int layer_reader_open_blob(int fd, const struct blob *b, struct layer_reader **out, ens_error_t *err);
int layer_reader_finish_blob(struct layer_reader *lr, struct blob *b, ens_error_t *err);
struct archive *layer_reader_archive(struct layer_reader *lr);
/* Decompresses a layer blob from in to out (a plain tar), with the same checks as the reader. */
int layer_decompress(int in, const char *name, const char *digest, int64_t size, int out, const char *diff_id,
                     char out_diff_id[72], ens_error_t *err);
/* Reads to the end, checks the digest and, when diff_id is not empty, the uncompressed digest;
 * returns the uncompressed digest in out_diff_id (may be NULL). */
int layer_reader_finish(struct layer_reader *lr, const char *diff_id, char out_diff_id[72], ens_error_t *err);
void layer_reader_free(struct layer_reader *lr);
/* Turns a libarchive failure into an error, preferring the stream's own error. */
int layer_reader_error(struct layer_reader *lr, ens_error_t *err);

struct layer_writer;
int layer_writer_open(const char *tmpdir, enum comp c, int gzip_level, struct layer_writer **out, ens_error_t *err);
struct archive *layer_writer_archive(struct layer_writer *lw);
int layer_writer_close(struct layer_writer *lw, struct blob *out, ens_error_t *err);
void layer_writer_free(struct layer_writer *lw);
int parse_compression(const char *s, enum comp *c, ens_error_t *err);
/* Source date for new entries: SOURCE_DATE_EPOCH or 0. */
int64_t source_date_epoch(void);

/* ---- unpacking (unpack.c) ---- */
struct strset;
/* Applies one layer tar stream on top of the tree at rootfd (rootpath names it for messages and
 * recursive removal): whiteouts, opaque directories, safe paths. */
/* Directory modes that would lock an unprivileged unpacker out (no u+rwx) are applied only at the
 * end, by dir_modes_apply(); when not root, pass one (NULL applies them at once). */
struct dir_modes;
struct dir_modes *dir_modes_new(void);
int dir_modes_apply(struct dir_modes *dm, int rootfd, ens_error_t *err);
void dir_modes_free(struct dir_modes *dm);
int layer_apply_reader(int rootfd, const char *rootpath, struct layer_reader *lr, const char *layer_name,
                       struct dir_modes *dm, struct layer_names *record, ens_error_t *err);
/* Checks an entry's path and link target without touching the disk (also used by the fuzzer). */
int entry_check(struct archive_entry *e, const char *layer_name, ens_error_t *err);
int bundle_config_write(ens_image *img, const char *bundle, const char *rootfs, ens_error_t *err);

#endif
