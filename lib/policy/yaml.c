/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small positioned YAML tree built from libyaml's event stream: our errors must name the line
 * and column of every field, so we keep our own tree.  Aliases are refused (no "billion laughs"),
 * as are multiple documents.  (Debian 12's libfyaml 0.7.12, used here first, crashed in its own
 * clean-up on hostile input (found by fuzz_compose) and garbled some scalars; libyaml is the
 * reference C parser, fuzzed continuously by OSS-Fuzz.)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

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

/* libyaml's error as "SOURCE:LINE:COL: invalid YAML: problem (context)"; its messages are fixed
 * strings (they never quote the input, which may hold secret values); its marks are 0-based. */
static int parser_error(const yaml_parser_t *p, const char *source, ens_error_t *err)
{
    if (p->error == YAML_MEMORY_ERROR)
        return ens_error(err, ENOMEM, "%s: out of memory", source);
    const yaml_mark_t *m = &p->problem_mark;
    if (p->context)
        return ens_error(err, EINVAL, "%s:%zu:%zu: invalid YAML: %s %s", source, m->line + 1, m->column + 1,
                         p->problem ? p->problem : "syntax error", p->context);
    return ens_error(err, EINVAL, "%s:%zu:%zu: invalid YAML: %s", source, m->line + 1, m->column + 1,
                     p->problem ? p->problem : "syntax error");
}

/* The node for a scalar or collection-start event (scalar text copied, then wiped in the event:
 * it may be a secret value); NULL when out of memory. */
static struct ens_ynode *new_node(yaml_event_t *ev)
{
    struct ens_ynode *nn = calloc(1, sizeof(*nn));
    if (!nn)
        return NULL;
    if (ev->type != YAML_SCALAR_EVENT) {
        nn->type = ev->type == YAML_SEQUENCE_START_EVENT ? ENS_Y_SEQ : ENS_Y_MAP;
        return nn;
    }
    nn->type = ENS_Y_SCALAR;
    nn->len = ev->data.scalar.length;
    nn->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    nn->str = malloc(nn->len + 1);
    if (!nn->str) {
        free(nn);
        return NULL;
    }
    if (nn->len)
        memcpy(nn->str, ev->data.scalar.value, nn->len);
    nn->str[nn->len] = '\0';
    ens_wipe(ev->data.scalar.value, ev->data.scalar.length);
    return nn;
}

int ens_yaml_load(const char *src, size_t len, const char *source, struct ens_ynode **root, ens_error_t *err)
{
    *root = NULL;
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return ens_error(err, ENOMEM, "%s: cannot create the YAML parser", source);
    yaml_parser_set_input_string(&p, (const unsigned char *)src, len);
    int rc = -1;
    struct ens_ynode *stack[YAML_MAX_DEPTH + 1];
    int depth = 0;
    struct ens_ynode *top = NULL;
    size_t nodes = 0;
    int docs = 0;
    for (bool end = false; !end;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            parser_error(&p, source, err);
            goto out;
        }
        int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
        struct ens_ynode *nn = NULL;
        bool pop = false;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            end = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                ens_error(err, EINVAL, "%s:%d:%d: more than one YAML document", source, line, col);
                yaml_event_delete(&ev);
                goto out;
            }
            break;
        case YAML_ALIAS_EVENT:
            ens_error(err, EINVAL, "%s:%d:%d: YAML aliases are not supported in sessions", source, line, col);
            yaml_event_delete(&ev);
            goto out;
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++nodes > YAML_MAX_NODES) {
                ens_error(err, E2BIG, "%s:%d:%d: too many YAML nodes", source, line, col);
                yaml_event_delete(&ev);
                goto out;
            }
            nn = new_node(&ev);
            if (!nn) {
                ens_error(err, ENOMEM, "%s: out of memory", source);
                yaml_event_delete(&ev);
                goto out;
            }
            nn->line = line;
            nn->col = col;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            pop = true;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
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
    yaml_parser_delete(&p);
    return rc;
}
