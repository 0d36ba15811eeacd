/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal YAML tree with positions, built from libyaml's event stream (Debian's libfyaml
 * 0.7.12 leaked, garbled scalars and crashed on hostile input).
 * Used by the policy parser and by lib/deploy (Helm values, Compose files).  One document;
 * aliases are refused.
 */
#ifndef ENSCONCE_POLICY_YAML_H
#define ENSCONCE_POLICY_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

enum ens_ytype { ENS_Y_SCALAR, ENS_Y_SEQ, ENS_Y_MAP };

struct ens_ynode {
    enum ens_ytype type;
    int line, col;           /* 1-based */
    char *str;               /* scalars: NUL-terminated text */
    size_t len;
    bool plain;              /* plain (unquoted) scalar: "", ~, null are null */
    struct ens_ynode **kids; /* seq: items; map: key0, value0, key1, value1, and so on */
    size_t n, cap;
};

/* Loads one YAML document (*root NULL when empty); errors read "SOURCE:LINE:COL: problem". */
int ens_yaml_load(const char *src, size_t len, const char *source, struct ens_ynode **root, ens_error_t *err);
void ens_yaml_free(struct ens_ynode *n);

#endif
