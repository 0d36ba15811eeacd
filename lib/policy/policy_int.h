/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of lib/policy shared between its source files. */
#ifndef ENSCONCE_POLICY_INT_H
#define ENSCONCE_POLICY_INT_H

#include <stdarg.h>

#include "core/text.h"
#include "policy/policy.h"

#include "policy/yaml.h"
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
