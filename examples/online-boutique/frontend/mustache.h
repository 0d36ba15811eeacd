/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small logic-less Mustache subset, rendered from jansson values.
 *
 * Supported tags (see docs/frontend.md for the exact rules):
 *   {{name}}  {{a.b}}  {{.}}   value, HTML-escaped (& < > " ')
 *   {{{name}}}  {{& name}}     value, not escaped
 *   {{#name}}...{{/name}}      section: array = once per element (element is the
 *                              new context), object = once with it as context,
 *                              other truthy value = once, falsy/missing = never
 *   {{^name}}...{{/name}}      inverted section: once when falsy, missing or an
 *                              empty array
 *   {{> name}}                 partial (looked up in the same template set)
 *   {{! comment}}
 * Not supported: delimiter changes, lambdas, standalone-line whitespace trimming.
 * Falsy: missing, null, false, empty array, empty string, the number 0.
 * Templates are parsed once (errors name the template and line) and can then be
 * rendered from many threads at the same time.
 */
#ifndef ENSCONCE_FRONTEND_MUSTACHE_H
#define ENSCONCE_FRONTEND_MUSTACHE_H

#include <stddef.h>

#include <jansson.h>

#include "core/error.h"

typedef struct mst_set mst_set;

mst_set *mst_set_new(void);
void mst_set_free(mst_set *set);

/* Parses src and adds it to the set under name (replacing nothing: a duplicate
 * name is an error). */
int mst_set_add(mst_set *set, const char *name, const char *src, size_t len, ens_error_t *err);

/* Adds every "*.mustache" file of dir, named by the file name without the suffix. */
int mst_set_load_dir(mst_set *set, const char *dir, ens_error_t *err);

/* Renders template name with data as the root context; *out is malloc'd and
 * NUL-terminated.  Fails on an unknown template or partial, when partials
 * nest deeper than 32, or when more than 1,000,000 tags would be rendered. */
int mst_render(const mst_set *set, const char *name, json_t *data, char **out, size_t *outlen,
               ens_error_t *err);

/* HTML-escapes s into a malloc'd string (NULL on allocation failure). */
char *mst_html_escape(const char *s);

#endif
