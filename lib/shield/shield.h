/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shield: an encrypted and authenticated file system image (format in
 * docs/shield-format.md).  A shield is a directory holding a manifest and one
 * data object per file; the converter packs a tree into one, the runtime
 * serves it through FUSE or unpacks it into memory.  Every entry point that
 * reads a shield takes the 32-byte volume key and the expected 32-byte tag
 * and refuses any other version (fail closed).
 */
#ifndef ENSCONCE_SHIELD_SHIELD_H
#define ENSCONCE_SHIELD_SHIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"

#define ENS_SHIELD_KEY_LEN 32
#define ENS_SHIELD_TAG_LEN 32
#define ENS_SHIELD_DEFAULT_CHUNK (64u * 1024u)

enum ens_shield_region {
    ENS_SHIELD_ENCRYPTED = 0,     /* confidentiality + integrity */
    ENS_SHIELD_AUTHENTICATED = 1, /* integrity only, data stored in plaintext */
    ENS_SHIELD_PLAIN = 2,         /* not part of the shield at all */
};

/* "Everything under path (absolute, as seen inside the tree) is in region". The
 * longest matching path wins; unmatched paths get the default region. */
struct ens_shield_rule {
    const char *path;
    enum ens_shield_region region;
};

struct ens_shield_pack_opts {
    const struct ens_shield_rule *rules;
    size_t nrules;
    enum ens_shield_region default_region;
    uint32_t chunk_size; /* 0: ENS_SHIELD_DEFAULT_CHUNK; a power of two in [4 KiB, 4 MiB] */
};

/* Packs the tree at src_dir into a new shield directory shield_dir (which must
 * not exist or be empty) and returns the tag.  Written atomically: on failure
 * nothing is left at shield_dir. */
int ens_shield_pack(const char *src_dir, const char *shield_dir, const uint8_t key[ENS_SHIELD_KEY_LEN],
                    const struct ens_shield_pack_opts *opts, uint8_t tag[ENS_SHIELD_TAG_LEN], ens_error_t *err);

/* Creates an empty writable volume (a root directory, default region encrypted). */
int ens_shield_init(const char *shield_dir, const uint8_t key[ENS_SHIELD_KEY_LEN], uint8_t tag[ENS_SHIELD_TAG_LEN],
                    ens_error_t *err);

/* The same with a chosen chunk size (0: default; a power of two in [4 KiB, 4 MiB]). */
int ens_shield_init_chunked(const char *shield_dir, const uint8_t key[ENS_SHIELD_KEY_LEN], uint32_t chunk_size,
                            uint8_t tag[ENS_SHIELD_TAG_LEN], ens_error_t *err);

/* The tag of the shield's current manifest (needs no key; it is a digest). */
int ens_shield_current_tag(const char *shield_dir, uint8_t tag[ENS_SHIELD_TAG_LEN], ens_error_t *err);

/* Checks the manifest against key and tag and every chunk of every file. */
int ens_shield_verify(const char *shield_dir, const uint8_t key[ENS_SHIELD_KEY_LEN],
                      const uint8_t tag[ENS_SHIELD_TAG_LEN], ens_error_t *err);

/* Memory mode: decrypts and verifies the whole shield into dest_dir (created if
 * missing, must be empty).  On any failure what was written is removed. */
int ens_shield_unpack(const char *shield_dir, const uint8_t key[ENS_SHIELD_KEY_LEN],
                      const uint8_t tag[ENS_SHIELD_TAG_LEN], const char *dest_dir, ens_error_t *err);

/* Prints the shield: tag always; with a key also generation, chunk size,
 * regions and every entry (text, or JSON when json). tag may be NULL (then the
 * current manifest is shown, but its authenticity is only that of the key). */
int ens_shield_show(const char *shield_dir, const uint8_t *key, const uint8_t *tag, bool json, FILE *out,
                    ens_error_t *err);

/* Called after each durable commit of a writable mount with the new tag. */
typedef void (*ens_shield_commit_cb)(const uint8_t tag[ENS_SHIELD_TAG_LEN], uint64_t generation, void *arg);

struct ens_shield_mount_opts {
    bool writable;               /* a volume: commits on fsync, close and unmount */
    unsigned commit_interval_ms; /* closes commit at most this late (0: at every close) */
    bool allow_other;            /* let other users in (permissions still checked by the kernel) */
    ens_shield_commit_cb on_commit;
    void *cb_arg;
    bool debug; /* libfuse debug output */
};

/* Mounts the shield at mountpoint with libfuse3 (low-level API) and serves it
 * until unmounted (fusermount3 -u / umount) or SIGTERM/SIGINT.  Refuses a
 * manifest whose tag is not the expected one.  A writable mount also accepts
 * the previous manifest when its tag is the expected one (a commit that was
 * never acknowledged is then dropped). */
int ens_shield_mount(const char *shield_dir, const uint8_t key[ENS_SHIELD_KEY_LEN],
                     const uint8_t tag[ENS_SHIELD_TAG_LEN], const char *mountpoint,
                     const struct ens_shield_mount_opts *opts, ens_error_t *err);

const char *ens_shield_region_name(enum ens_shield_region r);
int ens_shield_region_parse(const char *s, enum ens_shield_region *r);

#endif
