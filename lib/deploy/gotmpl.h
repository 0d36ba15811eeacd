/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A renderer for the subset of Helm's template language (Go text/template plus
 * a few Sprig functions) that ensconce's generated charts use.  The subset is
 * documented in docs/kubernetes.md; templates outside it are refused with an
 * error naming the template and line, never rendered approximately.
 */
#ifndef ENSCONCE_DEPLOY_GOTMPL_H
#define ENSCONCE_DEPLOY_GOTMPL_H

#include <jansson.h>
#include <stddef.h>

#include "core/error.h"

typedef struct ens_gotmpl ens_gotmpl;

ens_gotmpl *ens_gotmpl_new(void);
void ens_gotmpl_free(ens_gotmpl *t);

/* Parses a template file's text under a name (e.g. "svc/templates/deployment.yaml").
 * Its {{ define }} blocks become visible to every later render. */
int ens_gotmpl_add(ens_gotmpl *t, const char *name, const char *text, ens_error_t *err);

/* Renders a previously added template with dot = data.  *out is malloc'd. */
int ens_gotmpl_render(ens_gotmpl *t, const char *name, json_t *data, char **out, ens_error_t *err);

/* YAML text (block style, no trailing newline) of a JSON value, as Helm's toYaml. */
char *ens_json_to_yaml(json_t *v, ens_error_t *err);

/* Parses YAML text (one document) into JSON; empty text gives an empty object. */
json_t *ens_yaml_to_json(const char *text, size_t len, const char *origin, ens_error_t *err);

/* Deep-merges src into dst (objects merged key by key, anything else replaced), as Helm merges values. */
void ens_json_merge(json_t *dst, json_t *src);

#endif
