/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCI images without a Docker daemon: open an image from a transport string, read its manifest,
 * config and layers, change it (remove paths from every layer, add a layer, edit the config),
 * write it to any transport, unpack it to a rootfs or a runc bundle.
 *
 * Transports (as skopeo spells them):
 *   oci:DIR[:TAG]             OCI image layout directory
 *   oci-archive:FILE[:TAG]    tar of an OCI image layout
 *   docker-archive:FILE[:REF] what `docker save` writes (REF = name:tag for RepoTags)
 *   docker://HOST/REPO[:TAG|@DIGEST]  OCI distribution API v2 registry
 */
#ifndef ENSCONCE_IMAGE_IMAGE_H
#define ENSCONCE_IMAGE_IMAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct ens_image ens_image;

struct ens_image_opts {
    bool tls_verify;         /* default true; false also allows plain HTTP */
    const char *platform;    /* "os/arch[/variant]", default linux/amd64 */
    const char *authfile;    /* default: REGISTRY_AUTH_FILE, then ~/.docker/config.json */
    const char *compression; /* new layers: "gzip" (default), "zstd" or "none" */
    int gzip_level;          /* 1 (fastest) .. 9; 0: 6, as docker and skopeo */
};
void ens_image_opts_init(struct ens_image_opts *o);

/* Opens an existing image (manifest and config are read and verified; layers lazily). */
int ens_image_open(const char *ref, const struct ens_image_opts *o, ens_image **out, ens_error_t *err);
/* An empty image (no layers) for the given platform, to add layers to. */
int ens_image_new(const struct ens_image_opts *o, ens_image **out, ens_error_t *err);
void ens_image_free(ens_image *img);

/* The image config (OCI image config JSON); borrowed, valid until the next change. */
json_t *ens_image_config(ens_image *img);
/* Inspect document: {"manifestDigest","mediaType","config","configDigest","layers":[{digest,diffID,size,mediaType}]}.
 * Caller owns the reference. */
json_t *ens_image_inspect(ens_image *img, ens_error_t *err);
/* "sha256:..." of the manifest as it would be written now. */
int ens_image_manifest_digest(ens_image *img, char out[72], ens_error_t *err);
size_t ens_image_layer_count(const ens_image *img);

/* Layers, bottom first. */
struct ens_image_layer {
    const char *digest;     /* blob digest */
    const char *diff_id;    /* uncompressed digest (from the config) */
    const char *media_type;
    int64_t size;
};
int ens_image_layer_info(const ens_image *img, size_t i, struct ens_image_layer *out);

/* One entry of a layer as ens_image_layer_walk() presents it. */
struct ens_image_entry {
    const char *path;     /* cleaned, relative to the root ("etc/passwd"); whiteouts keep their .wh. name */
    unsigned mode;        /* type and permission bits (S_IFREG | 0644 ...) */
    unsigned uid, gid;
    int64_t size;
    const char *linkname; /* symlink target, or hard link target (cleaned) */
    bool hardlink;
};
struct ens_image_data;
/* Reads the current regular file's contents (0 at the end, < 0 on error). */
long ens_image_data_read(struct ens_image_data *d, void *buf, size_t len);
/* Calls cb for every entry of layer i (digests verified; a hostile entry stops the walk with an
 * error).  cb returns < 0 to fail, 1 to stop early, 0 to go on. */
typedef int (*ens_image_entry_cb)(void *ud, const struct ens_image_entry *e, struct ens_image_data *data,
                                  ens_error_t *err);
int ens_image_layer_walk(ens_image *img, size_t i, ens_image_entry_cb cb, void *ud, ens_error_t *err);
/* Reads the file at path (absolute, as the container sees it: upper layers, whiteouts, symlinks
 * and hard links resolved) into *buf (NUL-terminated), refusing more than max bytes.
 * Returns 0, or 1 when there is no such file (then *buf is NULL), or -1 on error. */
int ens_image_read_file(ens_image *img, const char *path, size_t max, char **buf, size_t *len, ens_error_t *err);

/* Removes paths (absolute, as seen in the image; a directory with everything below it) from every
 * layer; only the layers that hold any of them are rewritten. */
int ens_image_remove_paths(ens_image *img, const char *const *paths, size_t n, ens_error_t *err);

/* Compression of the layers added from now on: "gzip", "zstd" or "none" (e.g. "none" for a layer
 * of ciphertext, which does not compress). */
int ens_image_set_compression(ens_image *img, const char *compression, ens_error_t *err);

/* Adds a layer holding the tree under dir, placed at dest ("/" for the image root). */
int ens_image_add_layer_dir(ens_image *img, const char *dir, const char *dest, ens_error_t *err);
/* Adds a layer from files: src[i] (host path; a directory is taken recursively, a symlink as a
 * symlink) at dest[i] (absolute image path; NULL = same as src). Parents are created 0755. */
int ens_image_add_layer_files(ens_image *img, const char *const *src, const char *const *dest, size_t n,
                              ens_error_t *err);

/* Config edits.  argv arrays are NULL-terminated; NULL clears the field. */
int ens_image_set_entrypoint(ens_image *img, const char *const *argv, ens_error_t *err);
int ens_image_set_cmd(ens_image *img, const char *const *argv, ens_error_t *err);
int ens_image_set_env(ens_image *img, const char *kv, ens_error_t *err); /* "K=V", replaces K */
int ens_image_set_workdir(ens_image *img, const char *dir, ens_error_t *err);
int ens_image_set_user(ens_image *img, const char *user, ens_error_t *err);
int ens_image_set_label(ens_image *img, const char *key, const char *value, ens_error_t *err);
int ens_image_add_exposed_port(ens_image *img, const char *port, ens_error_t *err); /* "80/tcp" */

/* Writes the image to a transport string; nothing partial is left on failure (files are renamed
 * into place; a registry manifest is put last). */
int ens_image_write(ens_image *img, const char *ref, const struct ens_image_opts *o, ens_error_t *err);

/* Unpacks the layers into dir (must not exist, or be empty): a root file system, or with bundle a
 * runc bundle (dir/config.json, dir/rootfs).  Hostile layers are refused, naming the entry, and
 * dir is removed again. */
int ens_image_unpack(ens_image *img, const char *dir, bool bundle, ens_error_t *err);

#endif
