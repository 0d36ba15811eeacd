/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of lib/policy shared between its source files. */
#ifndef ENSCONCE_POLICY_INT_H
#define ENSCONCE_POLICY_INT_H

#include <stdarg.h>

#include "core/text.h"
#include "policy/policy.h"

/* ---- a minimal YAML tree with positions (built from libfyaml events) */
enum ens_ytype { ENS_Y_SCALAR, ENS_Y_SEQ, ENS_Y_MAP };

struct ens_ynode {
    enum ens_ytype type;
    int line, col;         /* 1-based */
    char *str;             /* scalars: NUL-terminated text */
    size_t len;
    bool plain;            /* plain (unquoted) scalar: "", ~, null are null */
    struct ens_ynode **kids; /* seq: items; map: key0, value0, key1, value1, and so on */
    size_t n, cap;
};

/* Loads one YAML document; errors read "SOURCE:LINE:COL: problem". */
int ens_yaml_load(const char *src, size_t len, const char *source, struct ens_ynode **root, ens_error_t *err);
void ens_yaml_free(struct ens_ynode *n);
/* Validates UTF-8; on failure sets the line and column (1-based) of the first bad byte. */

/* ---- the model */
struct ens_arena_blk;

struct ens_policy {
    struct ens_arena_blk *arena;
    char *name;
    char *parent;
    char *predecessor;
    ens_policy_service_t *services;
    size_t service_count;
    ens_policy_image_t *images;
    size_t image_count;
    ens_policy_volume_t *volumes;
    size_t volume_count;
    ens_policy_secret_t *secrets;
    size_t secret_count;
    size_t *secret_index; /* secrets sorted by name (for ens_policy_secret_find) */
    ens_policy_principal_t *access[3];
    size_t access_count[3];
    ens_policy_attestation_t attestation;
};

/* ---- small helpers */
char *ens_b64_encode(const void *data, size_t len);                 /* malloc'd, no newlines */
int ens_b64_decode(const char *s, size_t len, unsigned char **out, size_t *out_len); /* strict; <0 invalid */
char *ens_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
