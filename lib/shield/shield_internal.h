/* SPDX-License-Identifier: Apache-2.0 */
/* Internal model of a shield: the manifest tree, per-object crypto, the commit. */
#ifndef ENSCONCE_SHIELD_INTERNAL_H
#define ENSCONCE_SHIELD_INTERNAL_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "shield/shield.h"

#define SH_MAGIC "ENSSHLD\x01"
#define SH_MAGIC_LEN 8
#define SH_SALT_LEN 32
#define SH_GCM_TAG_LEN 16
#define SH_OBJ_ID_LEN 16
#define SH_ROOT_LEN 32
#define SH_TENT_LEN 24 /* chunk table entry: u64 counter (BE) + GCM tag */
#define SH_MAX_MANIFEST (256u << 20)
#define SH_MAX_INODES (1u << 24)
#define SH_MAX_SIZE (1ull << 50)
#define SH_MIN_CHUNK 4096u
#define SH_MAX_CHUNK (4u << 20)
#define SH_FORMAT "ensconce-shield/1"
/* Files of at most this many chunks carry their chunk table inline in the manifest. */
#define SH_INLINE_MAX 4

enum sh_type { SH_DIR = 1, SH_REG = 2, SH_LNK = 3 };

struct sh_dirent {
    char *name;
    uint64_t ino;
    uint64_t cookie; /* readdir offset: increasing in array order, stable across removals */
};

struct sh_tent {
    uint64_t ctr; /* 0: a hole (reads as zeros) */
    uint8_t tag[SH_GCM_TAG_LEN];
};

/* Runtime state of a file's data object (FUSE / unpack). */
struct sh_obj {
    uint8_t id[SH_OBJ_ID_LEN];
    bool mutable_;   /* created in this session, not yet referenced by a committed manifest */
    bool loaded;     /* table read and checked against the root */
    bool dirty;      /* differs from the last commit */
    int fd;
    EVP_CIPHER_CTX *enc, *dec;
    uint8_t key[32]; /* the object key (for per-thread contexts of read-only mounts) */
    struct sh_tent *tab;
    size_t ntab, captab;
    uint64_t ctr; /* last nonce counter used (mutable objects) */
    uint64_t ra_until; /* sequential reads: backing data asked for up to this offset */
    uint64_t next_read; /* chunk index after the last one read (sequential detection) */
    /* one-chunk plaintext cache, written back lazily */
    uint8_t *cbuf;
    uint64_t cidx;
    size_t clen;
    bool cvalid, cdirty;
};

struct sh_node {
    uint64_t ino;
    int type;
    uint32_t mode; /* permission bits (07777) */
    uint32_t uid, gid;
    int64_t mtime;
    uint32_t mtime_ns;
    int64_t ctime;
    uint32_t ctime_ns;
    /* regular files */
    int region;
    uint64_t size;
    uint8_t obj[SH_OBJ_ID_LEN];
    uint8_t root[SH_ROOT_LEN]; /* digest of the table file (when not inline) */
    bool tab_inline;
    uint8_t itab[SH_INLINE_MAX * SH_TENT_LEN];
    /* symlinks */
    char *target;
    /* directories */
    struct sh_dirent *ents;
    size_t nents, capents;
    uint64_t next_cookie;
    /* derived / runtime */
    uint32_t nlink;
    uint64_t parent; /* first link, for messages */
    char *name;
    uint64_t lookups;
    uint32_t opens;
    struct sh_obj *o;
};

struct sh_rule {
    char *path;
    int region;
};

struct sh_manifest {
    uint32_t chunk;
    uint64_t generation;
    int default_region;
    struct sh_rule *rules;
    size_t nrules;
    struct sh_node **nodes; /* indexed by ino; [0] unused, [1] root */
    size_t nnodes;          /* highest ino + 1 */
    size_t capnodes;
};

/* ---- manifest model (manifest.c) ---- */
struct sh_manifest *sh_manifest_new(uint32_t chunk);
void sh_manifest_free(struct sh_manifest *m);
struct sh_node *sh_node_new(struct sh_manifest *m, int type);
void sh_node_free(struct sh_node *n);
struct sh_node *sh_get(const struct sh_manifest *m, uint64_t ino);
int sh_dir_add(struct sh_node *dir, const char *name, uint64_t ino);
struct sh_dirent *sh_dir_find(const struct sh_node *dir, const char *name);
void sh_dir_remove(struct sh_node *dir, const char *name);
/* Plain-text manifest (JSON) in and out; parse validates everything. */
int sh_manifest_parse(const char *buf, size_t len, struct sh_manifest **out, ens_error_t *err);
char *sh_manifest_serialize(const struct sh_manifest *m, size_t *len);
/* Path of a node for messages ("/a/b"); malloc'd. */
char *sh_node_path(const struct sh_manifest *m, const struct sh_node *n);

/* ---- crypto (crypto.c) ---- */
int sh_hkdf(const uint8_t vk[32], const char *label, const uint8_t *ctx, size_t ctxlen, uint8_t out[32]);
/* Seals a manifest plaintext into the on-disk form; returns malloc'd bytes. */
int sh_manifest_seal(const uint8_t vk[32], const char *plain, size_t len, uint8_t **out, size_t *outlen,
                     ens_error_t *err);
/* Opens an on-disk manifest; *plain is NUL-terminated. */
int sh_manifest_open(const uint8_t vk[32], const uint8_t *buf, size_t len, char **plain, size_t *plainlen,
                     ens_error_t *err);
int sh_obj_keys(struct sh_obj *o, const uint8_t vk[32]);
/* Authenticated encryption of one chunk (region encrypted: out = ciphertext;
 * authenticated: out = copy of the plaintext, the tag covers it). */
int sh_chunk_seal(struct sh_obj *o, int region, uint64_t idx, uint64_t ctr, const uint8_t *in, size_t len,
                  uint8_t *out, uint8_t tag[SH_GCM_TAG_LEN]);
/* The same with a caller's context already keyed with the object key. */
int sh_chunk_open_ctx(EVP_CIPHER_CTX *c, const uint8_t id[SH_OBJ_ID_LEN], int region, uint64_t idx, uint64_t ctr,
                      const uint8_t *in, size_t len, const uint8_t tag[SH_GCM_TAG_LEN], uint8_t *out);
/* Returns 0 when the tag verifies, -1 otherwise (out then holds garbage). */
int sh_chunk_open(struct sh_obj *o, int region, uint64_t idx, uint64_t ctr, const uint8_t *in, size_t len,
                  const uint8_t tag[SH_GCM_TAG_LEN], uint8_t *out);
void sh_table_root(const struct sh_tent *tab, size_t n, uint8_t root[SH_ROOT_LEN]);
void sh_table_encode(const struct sh_tent *tab, size_t n, uint8_t *out);

/* ---- store (store.c): the shield directory ---- */
char *sh_obj_path(const char *shield, const uint8_t id[SH_OBJ_ID_LEN], const char *suffix);
/* Loads the manifest whose tag equals tag (the current one, or with allow_prev the
 * previous one); *was_prev tells which. */
int sh_load(const char *shield, const uint8_t vk[32], const uint8_t tag[32], bool allow_prev,
            struct sh_manifest **m, bool *was_prev, ens_error_t *err);
/* Writes m as the new current manifest (old current becomes the previous one);
 * objects must already be durable.  Returns the new tag. */
int sh_commit_manifest(const char *shield, const uint8_t vk[32], struct sh_manifest *m, uint8_t tag[32],
                       ens_error_t *err);
/* Removes objects referenced by neither the current nor the previous manifest. */
int sh_gc(const char *shield, const uint8_t vk[32], ens_error_t *err);
/* Reads a committed object's table and checks it against the node's root. */
int sh_obj_load(const char *shield, const uint8_t vk[32], const struct sh_manifest *m, struct sh_node *n,
                ens_error_t *err);
void sh_obj_free(struct sh_obj *o);
/* Reads and verifies chunk idx of a loaded object into out (len bytes). */
int sh_obj_read_chunk(const struct sh_manifest *m, struct sh_node *n, uint64_t idx, uint8_t *out, size_t len,
                      ens_error_t *err);
size_t sh_chunk_len(const struct sh_manifest *m, const struct sh_node *n, uint64_t idx);
uint64_t sh_nchunks(uint64_t size, uint32_t chunk);
int sh_new_obj_id(uint8_t id[SH_OBJ_ID_LEN], ens_error_t *err);

#endif
