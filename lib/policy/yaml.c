/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small positioned YAML tree built from libfyaml's event stream.  libfyaml
 * 0.7 has no start mark for collection nodes in its document API, and our
 * errors must name line and column of every field, so we keep our own tree.
 * Aliases are refused (no "billion laughs"), as are multiple documents.
 */
#include <errno.h>
#include <libfyaml.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/digest.h"
#include "policy/policy_int.h"

#define YAML_MAX_DEPTH 64
#define YAML_MAX_NODES 200000


void ens_yaml_free(struct ens_ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        ens_yaml_free(n->kids[i]);
    free(n->kids);
    if (n->str)
        ens_wipe(n->str, n->len); /* scalars include explicit secret values */
    free(n->str);
    free(n);
}

static int add_kid(struct ens_ynode *parent, struct ens_ynode *kid)
{
    if (parent->n == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 8;
        struct ens_ynode **k = realloc(parent->kids, cap * sizeof(*k));
        if (!k)
            return -1;
        parent->kids = k;
        parent->cap = cap;
    }
    parent->kids[parent->n++] = kid;
    return 0;
}

/*
 * A scalar's text.  libfyaml 0.7.12 has three ways to read it and each has a bug
 * (found by fuzz_policy): fy_token_iter_read() garbles multi-line block scalars,
 * fy_token_iter_chunk_next() mis-handles adjacent '' escapes, and fy_token_get_text()
 * (correct text) leaks its formatting buffer for single-quoted scalars with adjacent
 * '' escapes.  So: fy_token_get_text(), and single-quoted scalars containing '''' are
 * refused (*unsupported set; write them double-quoted).  Marks delimit the content
 * without the quotes.
 */
static int scalar_text(struct fy_token *tok, const char *src, size_t srclen, char **out, size_t *len,
                       bool *unsupported)
{
    *unsupported = false;
    if (fy_token_scalar_style(tok) == FYSS_SINGLE_QUOTED) {
        const struct fy_mark *a = fy_token_start_mark(tok), *b = fy_token_end_mark(tok);
        if (a && b && a->input_pos <= b->input_pos && b->input_pos <= srclen &&
            memmem(src + a->input_pos, b->input_pos - a->input_pos, "''''", 4)) {
            *unsupported = true;
            return -1;
        }
    }
    size_t tl = 0;
    const char *t = fy_token_get_text(tok, &tl);
    if (!t)
        return -1;
    char *buf = malloc(tl + 1);
    if (!buf)
        return -1;
    if (tl)
        memcpy(buf, t, tl);
    buf[tl] = '\0';
    *out = buf;
    *len = tl;
    return 0;
}

static void noop_output(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    (void)diag;
    (void)user;
    (void)buf;
    (void)len;
}

/* The first collected libfyaml error as "SOURCE:LINE:COL: message" (its positions are 1-based). */
static int parser_error(struct fy_diag *diag, const char *source, ens_error_t *err)
{
    void *it = NULL;
    struct fy_diag_error *e;
    while ((e = fy_diag_errors_iterate(diag, &it)) != NULL) {
        if (e->type < FYET_ERROR)
            continue;
        /* some libfyaml messages quote input ("invalid escape '\\q'"), which may be part of a
         * secret value: keep the message, drop what is between quotes */
        char msg[256];
        size_t n = 0;
        bool inq = false;
        for (const char *q = e->msg ? e->msg : "syntax error"; *q && n + 6 < sizeof(msg); q++) {
            if (*q == '\'') {
                if (!inq) {
                    memcpy(msg + n, "'...'", 5);
                    n += 5;
                }
                inq = !inq;
            } else if (!inq) {
                msg[n++] = *q;
            }
        }
        msg[n] = '\0';
        return ens_error(err, EINVAL, "%s:%d:%d: invalid YAML: %s", source, e->line, e->column, msg);
    }
    return ens_error(err, EINVAL, "%s: invalid YAML", source);
}

int ens_yaml_load(const char *src, size_t len, const char *source, struct ens_ynode **root, ens_error_t *err)
{
    *root = NULL;
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = noop_output;
    dcfg.colorize = false;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    if (!diag)
        return ens_error(err, ENOMEM, "%s: cannot create the YAML diagnostics", source);
    fy_diag_set_collect_errors(diag, true);
    struct fy_parse_cfg pcfg = {
        .flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG | FYPCF_DEFAULT_VERSION_1_2,
        .diag = diag,
    };
    struct fy_parser *fyp = fy_parser_create(&pcfg);
    if (!fyp) {
        fy_diag_destroy(diag);
        return ens_error(err, ENOMEM, "%s: cannot create the YAML parser", source);
    }
    int rc = -1;
    struct ens_ynode *stack[YAML_MAX_DEPTH + 1];
    int depth = 0;
    struct ens_ynode *top = NULL;
    size_t nodes = 0;
    int docs = 0;
    if (fy_parser_set_string(fyp, src, len) != 0) {
        ens_error(err, EINVAL, "%s: cannot read the YAML input", source);
        goto out;
    }
    for (;;) {
        struct fy_event *ev = fy_parser_parse(fyp);
        if (!ev) {
            if (fy_parser_get_stream_error(fyp)) {
                parser_error(diag, source, err);
                goto out;
            }
            break;
        }
        const struct fy_mark *m = fy_event_start_mark(ev);
        int line = m ? m->line + 1 : 0, col = m ? m->column + 1 : 0;
        struct ens_ynode *nn = NULL;
        bool pop = false;
        switch (ev->type) {
        case FYET_DOCUMENT_START:
            if (++docs > 1) {
                ens_error(err, EINVAL, "%s:%d:%d: more than one YAML document", source, line, col);
                fy_parser_event_free(fyp, ev);
                goto out;
            }
            break;
        case FYET_ALIAS:
            /* the mark follows the '*' */
            ens_error(err, EINVAL, "%s:%d:%d: YAML aliases are not supported in sessions", source, line,
                      col > 1 ? col - 1 : col);
            fy_parser_event_free(fyp, ev);
            goto out;
        case FYET_SCALAR:
        case FYET_SEQUENCE_START:
        case FYET_MAPPING_START:
            if (++nodes > YAML_MAX_NODES) {
                ens_error(err, E2BIG, "%s:%d:%d: too many YAML nodes", source, line, col);
                fy_parser_event_free(fyp, ev);
                goto out;
            }
            nn = calloc(1, sizeof(*nn));
            if (!nn) {
                ens_error(err, ENOMEM, "%s: out of memory", source);
                fy_parser_event_free(fyp, ev);
                goto out;
            }
            nn->line = line;
            nn->col = col;
            if (ev->type == FYET_SCALAR) {
                size_t tl = 0;
                nn->type = ENS_Y_SCALAR;
                bool unsupported = false;
                if (scalar_text(ev->scalar.value, src, len, &nn->str, &tl, &unsupported) < 0) {
                    free(nn);
                    if (unsupported)
                        ens_error(err, EINVAL,
                                  "%s:%d:%d: consecutive escaped quotes ('''') in a single-quoted string are not "
                                  "supported: use a double-quoted string",
                                  source, line, col > 1 ? col - 1 : col);
                    else
                        ens_error(err, ENOMEM, "%s:%d:%d: cannot read a scalar", source, line, col);
                    fy_parser_event_free(fyp, ev);
                    goto out;
                }
                nn->len = tl;
                enum fy_scalar_style st = fy_token_scalar_style(ev->scalar.value);
                nn->plain = st == FYSS_PLAIN;
                /* libfyaml marks a quoted scalar after its opening quote: point at the quote */
                if ((st == FYSS_SINGLE_QUOTED || st == FYSS_DOUBLE_QUOTED) && nn->col > 1)
                    nn->col--;
            } else {
                nn->type = ev->type == FYET_SEQUENCE_START ? ENS_Y_SEQ : ENS_Y_MAP;
            }
            break;
        case FYET_SEQUENCE_END:
        case FYET_MAPPING_END:
            pop = true;
            break;
        default:
            break;
        }
        fy_parser_event_free(fyp, ev);
        if (nn) {
            if (depth > 0) {
                if (add_kid(stack[depth - 1], nn) < 0) {
                    ens_yaml_free(nn);
                    ens_error(err, ENOMEM, "%s: out of memory", source);
                    goto out;
                }
            } else if (!top) {
                top = nn;
            } else {
                ens_yaml_free(nn);
                ens_error(err, EINVAL, "%s:%d:%d: unexpected second root node", source, line, col);
                goto out;
            }
            if (nn->type != ENS_Y_SCALAR) {
                if (depth >= YAML_MAX_DEPTH) {
                    ens_error(err, E2BIG, "%s:%d:%d: nesting deeper than %d levels", source, line, col,
                              YAML_MAX_DEPTH);
                    goto out;
                }
                stack[depth++] = nn;
            }
        } else if (pop && depth > 0) {
            depth--;
        }
    }
    if (!top) {
        ens_error(err, EINVAL, "%s: empty document", source);
        goto out;
    }
    *root = top;
    top = NULL;
    rc = 0;
out:
    ens_yaml_free(top);
    fy_parser_destroy(fyp);
    fy_diag_destroy(diag);
    return rc;
}
