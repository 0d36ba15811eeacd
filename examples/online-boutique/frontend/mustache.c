/* SPDX-License-Identifier: Apache-2.0 */
/* The Mustache subset of mustache.h: parse to a node tree once, render many times. */
#include "mustache.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/fsutil.h"

#define MST_MAX_TEMPLATE (1u << 20)
#define MST_MAX_DEPTH 32   /* partial nesting and section nesting */
/* Nested sections multiply (a section over n elements inside another: n*n, ...): a render that
 * visits more tags than this fails instead of running for hours.  Pages visit a few thousand. */
#define MST_MAX_STEPS 1000000

enum node_kind { N_TEXT, N_VAR, N_RAW, N_SECTION, N_INVERTED, N_PARTIAL };

struct node {
    enum node_kind kind;
    char *text;             /* literal text, or the tag's name */
    size_t len;             /* of text when N_TEXT */
    struct node *children;  /* sections */
    size_t nchildren;
    size_t capchildren;
};

struct tmpl {
    char *name;
    struct node root;
};

struct mst_set {
    struct tmpl *items;
    size_t n, cap;
};

static void node_clear(struct node *n)
{
    for (size_t i = 0; i < n->nchildren; i++)
        node_clear(&n->children[i]);
    free(n->children);
    free(n->text);
}

static struct node *node_push(struct node *parent)
{
    if (parent->nchildren == parent->capchildren) {
        size_t cap = parent->capchildren ? parent->capchildren * 2 : 8;
        struct node *c = realloc(parent->children, cap * sizeof(*c));
        if (!c)
            return NULL;
        parent->children = c;
        parent->capchildren = cap;
    }
    struct node *n = &parent->children[parent->nchildren++];
    memset(n, 0, sizeof(*n));
    return n;
}

mst_set *mst_set_new(void) { return calloc(1, sizeof(mst_set)); }

void mst_set_free(mst_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++) {
        free(set->items[i].name);
        node_clear(&set->items[i].root);
    }
    free(set->items);
    free(set);
}

static const struct tmpl *set_find(const mst_set *set, const char *name)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->items[i].name, name) == 0)
            return &set->items[i];
    return NULL;
}

static size_t line_of(const char *src, const char *p)
{
    size_t line = 1;
    for (const char *q = src; q < p; q++)
        if (*q == '\n')
            line++;
    return line;
}

static char *trim_dup(const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    return strndup(s, len);
}

static bool name_ok(const char *s)
{
    if (!*s)
        return false;
    if (strcmp(s, ".") == 0)
        return true;
    for (const char *p = s; *p; p++)
        if (!(*p == '_' || *p == '-' || *p == '.' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

int mst_set_add(mst_set *set, const char *name, const char *src, size_t len, ens_error_t *err)
{
    if (set_find(set, name))
        return ens_error(err, EEXIST, "template %s: defined twice", name);
    if (memchr(src, '\0', len))
        return ens_error(err, EINVAL, "template %s: contains a NUL byte", name);

    struct node root = {0};
    struct node *stack[MST_MAX_DEPTH + 1];
    size_t depth = 0;
    stack[0] = &root;
    const char *p = src, *end = src + len;

    /* The message is formatted before the tree (which it may quote) is freed. */
    char failmsg[512];
#define PARSE_FAIL(...)                                                                                      \
    do {                                                                                                     \
        snprintf(failmsg, sizeof(failmsg), __VA_ARGS__);                                                     \
        node_clear(&root);                                                                                   \
        return ens_error(err, EINVAL, "%s", failmsg);                                                        \
    } while (0)

    while (p < end) {
        const char *open = memmem(p, (size_t)(end - p), "{{", 2);
        const char *text_end = open ? open : end;
        if (text_end > p) {
            struct node *n = node_push(stack[depth]);
            if (!n || !(n->text = strndup(p, (size_t)(text_end - p))))
                PARSE_FAIL("template %s: out of memory", name);
            n->kind = N_TEXT;
            n->len = (size_t)(text_end - p);
        }
        if (!open)
            break;
        const char *t = open + 2;
        bool triple = t < end && *t == '{';
        const char *close = memmem(t, (size_t)(end - t), triple ? "}}}" : "}}", triple ? 3 : 2);
        if (!close)
            PARSE_FAIL("template %s line %zu: unclosed tag", name, line_of(src, open));
        const char *body = t + (triple ? 1 : 0);
        size_t blen = (size_t)(close - body);
        p = close + (triple ? 3 : 2);
        char sigil = blen ? body[0] : '\0';
        enum node_kind kind = N_VAR;
        if (triple) {
            kind = N_RAW;
        } else if (sigil == '!') {
            continue;
        } else if (sigil == '&') {
            kind = N_RAW, body++, blen--;
        } else if (sigil == '#') {
            kind = N_SECTION, body++, blen--;
        } else if (sigil == '^') {
            kind = N_INVERTED, body++, blen--;
        } else if (sigil == '>') {
            kind = N_PARTIAL, body++, blen--;
        } else if (sigil == '/') {
            _cleanup_free_ char *nm = trim_dup(body + 1, blen - 1);
            if (!nm)
                PARSE_FAIL("template %s: out of memory", name);
            if (depth == 0)
                PARSE_FAIL("template %s line %zu: {{/%s}} closes no section", name, line_of(src, open), nm);
            if (strcmp(stack[depth]->text, nm) != 0)
                PARSE_FAIL("template %s line %zu: {{/%s}} closes section %s", name, line_of(src, open), nm,
                           stack[depth]->text);
            depth--;
            continue;
        } else if (sigil == '=' || sigil == '{') {
            PARSE_FAIL("template %s line %zu: unsupported tag", name, line_of(src, open));
        }
        char *nm = trim_dup(body, blen);
        if (!nm)
            PARSE_FAIL("template %s: out of memory", name);
        if (!name_ok(nm)) {
            free(nm);
            PARSE_FAIL("template %s line %zu: bad tag name", name, line_of(src, open));
        }
        struct node *n = node_push(stack[depth]);
        if (!n) {
            free(nm);
            PARSE_FAIL("template %s: out of memory", name);
        }
        n->kind = kind;
        n->text = nm;
        if (kind == N_SECTION || kind == N_INVERTED) {
            if (depth == MST_MAX_DEPTH)
                PARSE_FAIL("template %s line %zu: sections nested too deep", name, line_of(src, open));
            stack[++depth] = n;
        }
    }
    if (depth != 0) {
        PARSE_FAIL("template %s: section %s is not closed", name, stack[depth]->text);
    }
#undef PARSE_FAIL

    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 8;
        struct tmpl *items = realloc(set->items, cap * sizeof(*items));
        if (!items) {
            node_clear(&root);
            return ens_error(err, ENOMEM, "template %s: out of memory", name);
        }
        set->items = items;
        set->cap = cap;
    }
    char *nm = strdup(name);
    if (!nm) {
        node_clear(&root);
        return ens_error(err, ENOMEM, "template %s: out of memory", name);
    }
    set->items[set->n].name = nm;
    set->items[set->n].root = root;
    set->n++;
    return 0;
}

int mst_set_load_dir(mst_set *set, const char *dir, ens_error_t *err)
{
    _cleanup_closedir_ DIR *d = opendir(dir);
    if (!d)
        return ens_error_errno(err, "template directory %s", dir);
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        const char *suf = ".mustache";
        size_t sl = strlen(suf);
        if (l <= sl || strcmp(de->d_name + l - sl, suf) != 0 || de->d_name[0] == '.')
            continue;
        _cleanup_free_ char *path = ens_path_join(dir, de->d_name);
        _cleanup_free_ char *name = strndup(de->d_name, l - sl);
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        if (!path || !name)
            return ens_error(err, ENOMEM, "out of memory");
        if (ens_read_file(path, MST_MAX_TEMPLATE, &buf, &len, err) < 0)
            return -1;
        if (mst_set_add(set, name, buf, len, err) < 0)
            return ens_error_wrap(err, "%s", path);
    }
    return 0;
}

/* ---- rendering ---- */

struct ctx {
    json_t *stack[MST_MAX_DEPTH * 2 + 2];
    size_t depth;
    int partial_depth;
    size_t steps;
    FILE *out;
    const mst_set *set;
    ens_error_t *err;
};

static json_t *lookup(struct ctx *c, const char *name)
{
    if (strcmp(name, ".") == 0)
        return c->stack[c->depth - 1];
    const char *dot = strchr(name, '.');
    size_t first_len = dot ? (size_t)(dot - name) : strlen(name);
    char first[128];
    if (first_len >= sizeof(first))
        return NULL;
    memcpy(first, name, first_len);
    first[first_len] = '\0';
    json_t *v = NULL;
    for (size_t i = c->depth; i-- > 0;) {
        if (json_is_object(c->stack[i]) && (v = json_object_get(c->stack[i], first)))
            break;
    }
    /* The rest of a dotted name is looked up only inside what the first part found. */
    while (v && dot) {
        const char *next = dot + 1;
        dot = strchr(next, '.');
        size_t l = dot ? (size_t)(dot - next) : strlen(next);
        if (l >= sizeof(first))
            return NULL;
        memcpy(first, next, l);
        first[l] = '\0';
        v = json_is_object(v) ? json_object_get(v, first) : NULL;
    }
    return v;
}

static bool truthy(json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v))
        return false;
    if (json_is_array(v))
        return json_array_size(v) > 0;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    if (json_is_integer(v))
        return json_integer_value(v) != 0;
    if (json_is_real(v))
        return json_real_value(v) != 0.0;
    return true;
}

static void write_escaped(FILE *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        switch (s[i]) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(s[i], out);
        }
    }
}

static void write_value(FILE *out, json_t *v, bool escape)
{
    char num[64];
    const char *s = NULL;
    size_t len = 0;
    if (json_is_string(v)) {
        s = json_string_value(v);
        len = json_string_length(v);
    } else if (json_is_integer(v)) {
        len = (size_t)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = num;
    } else if (json_is_real(v)) {
        len = (size_t)snprintf(num, sizeof(num), "%g", json_real_value(v));
        s = num;
    } else if (json_is_true(v)) {
        s = "true", len = 4;
    } else if (json_is_false(v)) {
        s = "false", len = 5;
    }
    if (!s)
        return; /* null, missing, arrays and objects print nothing */
    if (escape)
        write_escaped(out, s, len);
    else
        fwrite(s, 1, len, out);
}

static int render_nodes(struct ctx *c, const struct node *parent);

static int push(struct ctx *c, json_t *v)
{
    if (c->depth >= sizeof(c->stack) / sizeof(c->stack[0]))
        return ens_error(c->err, ELOOP, "template data nested too deep");
    c->stack[c->depth++] = v;
    return 0;
}

static int render_node(struct ctx *c, const struct node *n)
{
    if (++c->steps > MST_MAX_STEPS)
        return ens_error(c->err, E2BIG, "more than %d tags to render (sections nested over large lists?)",
                         MST_MAX_STEPS);
    switch (n->kind) {
    case N_TEXT:
        fwrite(n->text, 1, n->len, c->out);
        return 0;
    case N_VAR:
    case N_RAW:
        write_value(c->out, lookup(c, n->text), n->kind == N_VAR);
        return 0;
    case N_INVERTED:
        if (!truthy(lookup(c, n->text)))
            return render_nodes(c, n);
        return 0;
    case N_SECTION: {
        json_t *v = lookup(c, n->text);
        if (!truthy(v))
            return 0;
        if (json_is_array(v)) {
            size_t i;
            json_t *el;
            json_array_foreach(v, i, el) {
                if (push(c, el) < 0)
                    return -1;
                int r = render_nodes(c, n);
                c->depth--;
                if (r < 0)
                    return -1;
            }
            return 0;
        }
        if (json_is_object(v)) {
            if (push(c, v) < 0)
                return -1;
            int r = render_nodes(c, n);
            c->depth--;
            return r;
        }
        return render_nodes(c, n);
    }
    case N_PARTIAL: {
        const struct tmpl *t = set_find(c->set, n->text);
        if (!t)
            return ens_error(c->err, ENOENT, "partial %s: no such template", n->text);
        if (c->partial_depth >= MST_MAX_DEPTH)
            return ens_error(c->err, ELOOP, "partial %s: nested too deep", n->text);
        c->partial_depth++;
        int r = render_nodes(c, &t->root);
        c->partial_depth--;
        return r;
    }
    }
    return 0;
}

static int render_nodes(struct ctx *c, const struct node *parent)
{
    for (size_t i = 0; i < parent->nchildren; i++)
        if (render_node(c, &parent->children[i]) < 0)
            return -1;
    return 0;
}

int mst_render(const mst_set *set, const char *name, json_t *data, char **out, size_t *outlen,
               ens_error_t *err)
{
    const struct tmpl *t = set_find(set, name);
    if (!t)
        return ens_error(err, ENOENT, "template %s: no such template", name);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return ens_error_errno(err, "template %s: open_memstream", name);
    struct ctx c = {.out = f, .set = set, .err = err};
    c.stack[c.depth++] = data;
    int r = render_nodes(&c, &t->root);
    if (fclose(f) != 0 && r == 0)
        r = ens_error(err, ENOMEM, "template %s: out of memory", name);
    if (r < 0) {
        free(buf);
        return ens_error_wrap(err, "rendering %s", name);
    }
    *out = buf;
    if (outlen)
        *outlen = len;
    return 0;
}

char *mst_html_escape(const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    write_escaped(f, s, strlen(s));
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
