/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Go text/template subset renderer (see gotmpl.h and docs/kubernetes.md).
 * Parsing builds a small tree per template; rendering walks it with "dot" and
 * variables bound to jansson values.  Every value handled here is a new
 * reference that the caller releases.
 */
#include "deploy/gotmpl.h"

#include <ctype.h>
#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/cleanup.h"
#include "core/text.h"
#include "policy/yaml.h"

#define MAX_INCLUDE_DEPTH 32
#define MAX_VARS 64

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- tree ---------------------------------------------------------------- */

enum arg_kind { A_FIELD, A_VAR, A_STRING, A_NUMBER, A_BOOL, A_NIL, A_PIPE, A_IDENT };

struct pipe;

struct arg {
    enum arg_kind kind;
    char *s;          /* string literal, variable or function name */
    char **fields;    /* .a.b -> {"a","b"} (after the base for A_VAR) */
    size_t nfields;
    json_t *literal;  /* A_NUMBER, A_BOOL */
    struct pipe *sub; /* A_PIPE */
};

struct cmd {
    struct arg *args;
    size_t n;
};

struct pipe {
    struct cmd *cmds;
    size_t n;
    char *decl[2]; /* variables declared: "$x :=" or "$k, $v :=" */
    size_t ndecl;
};

enum node_kind { N_TEXT, N_ACTION, N_IF, N_WITH, N_RANGE, N_TEMPLATE };

struct node;
struct list {
    struct node **v;
    size_t n;
};

struct node {
    enum node_kind kind;
    int line;
    char *text;
    size_t len;
    struct pipe *pipe;
    char *tname;
    struct list body, other; /* other = else branch */
};

struct tmpl {
    char *name;
    struct list body;
    struct tmpl *next;
};

struct ens_gotmpl {
    struct tmpl *templates; /* files and {{ define }} blocks */
    /* parse state */
    const char *cur_name;
};

static void free_pipe(struct pipe *p);

static void free_arg(struct arg *a)
{
    free(a->s);
    for (size_t i = 0; i < a->nfields; i++)
        free(a->fields[i]);
    free(a->fields);
    json_decref(a->literal);
    free_pipe(a->sub);
}

static void free_pipe(struct pipe *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++) {
        for (size_t j = 0; j < p->cmds[i].n; j++)
            free_arg(&p->cmds[i].args[j]);
        free(p->cmds[i].args);
    }
    free(p->cmds);
    for (size_t i = 0; i < p->ndecl; i++)
        free(p->decl[i]);
    free(p);
}

static void free_list(struct list *l);

static void free_node(struct node *n)
{
    if (n == NULL)
        return;
    free(n->text);
    free_pipe(n->pipe);
    free(n->tname);
    free_list(&n->body);
    free_list(&n->other);
    free(n);
}

static void free_list(struct list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free_node(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int list_push(struct list *l, struct node *n)
{
    struct node **v = realloc(l->v, (l->n + 1) * sizeof(*v));
    if (v == NULL)
        return -1;
    l->v = v;
    l->v[l->n++] = n;
    return 0;
}

ens_gotmpl *ens_gotmpl_new(void)
{
    return calloc(1, sizeof(ens_gotmpl));
}

void ens_gotmpl_free(ens_gotmpl *t)
{
    if (t == NULL)
        return;
    for (struct tmpl *x = t->templates, *nx; x; x = nx) {
        nx = x->next;
        free(x->name);
        free_list(&x->body);
        free(x);
    }
    free(t);
}

/* ---- lexing the file into text and actions ------------------------------- */

struct item {
    bool action;
    char *text; /* text, or the action's inside without delimiters and trim marks */
    size_t len;
    int line;
};

struct items {
    struct item *v;
    size_t n, pos;
};

static void free_items(struct items *it)
{
    for (size_t i = 0; i < it->n; i++)
        free(it->v[i].text);
    free(it->v);
}

static int push_item(struct items *it, bool action, const char *s, size_t len, int line)
{
    struct item *v = realloc(it->v, (it->n + 1) * sizeof(*v));
    if (v == NULL)
        return -1;
    it->v = v;
    char *copy = strndup(s, len);
    if (copy == NULL)
        return -1;
    it->v[it->n++] = (struct item){action, copy, len, line};
    return 0;
}

static int count_lines(const char *s, const char *e)
{
    int n = 0;
    for (; s < e; s++)
        n += *s == '\n';
    return n;
}

static int lex(const char *name, const char *src, struct items *it, ens_error_t *err)
{
    const char *p = src;
    int line = 1;
    bool trim_next = false;
    for (;;) {
        const char *open = strstr(p, "{{");
        const char *text_end = open ? open : p + strlen(p);
        const char *ts = p;
        if (trim_next)
            while (ts < text_end && isspace((unsigned char)*ts))
                ts++;
        bool trim_prev = open && open[2] == '-' && (isspace((unsigned char)open[3]));
        const char *te = text_end;
        if (trim_prev)
            while (te > ts && isspace((unsigned char)te[-1]))
                te--;
        if (te > ts && push_item(it, false, ts, (size_t)(te - ts), line + count_lines(p, ts)) < 0)
            return ens_error(err, ENOMEM, "out of memory");
        line += count_lines(p, text_end);
        if (open == NULL)
            return 0;
        const char *a = open + 2 + (trim_prev ? 1 : 0);
        /* find the closing delimiter, skipping string literals */
        const char *q = a;
        char quote = 0;
        for (; *q; q++) {
            if (quote) {
                if (*q == '\\' && quote == '"' && q[1])
                    q++;
                else if (*q == quote)
                    quote = 0;
            } else if (*q == '"' || *q == '`') {
                quote = *q;
            } else if (q[0] == '}' && q[1] == '}') {
                break;
            }
        }
        if (*q == '\0')
            return ens_error(err, EINVAL, "%s:%d: unclosed action", name, line);
        const char *ae = q;
        trim_next = ae - a >= 2 && ae[-1] == '-' && isspace((unsigned char)ae[-2]);
        if (trim_next)
            ae--;
        /* strip whitespace and comments */
        while (a < ae && isspace((unsigned char)*a))
            a++;
        while (ae > a && isspace((unsigned char)ae[-1]))
            ae--;
        bool comment = ae - a >= 4 && strncmp(a, "/*", 2) == 0 && strncmp(ae - 2, "*/", 2) == 0;
        if (!comment && push_item(it, true, a, (size_t)(ae - a), line) < 0)
            return ens_error(err, ENOMEM, "out of memory");
        line += count_lines(open, q);
        p = q + 2;
    }
}

/* ---- parsing pipelines ---------------------------------------------------- */

struct lexer {
    const char *s;
    const char *tname;
    int line;
};

static void skip_ws(struct lexer *lx)
{
    while (isspace((unsigned char)*lx->s))
        lx->s++;
}

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static int parse_pipe(struct lexer *lx, char end, struct pipe **out, ens_error_t *err);

static int parse_fields(struct lexer *lx, struct arg *a, ens_error_t *err)
{
    while (*lx->s == '.') {
        lx->s++;
        const char *st = lx->s;
        while (ident_char(*lx->s))
            lx->s++;
        if (lx->s == st) {
            if (a->nfields == 0 && a->kind == A_FIELD)
                return 0; /* plain "." */
            return ens_error(err, EINVAL, "%s:%d: empty field name", lx->tname, lx->line);
        }
        char **f = realloc(a->fields, (a->nfields + 1) * sizeof(*f));
        if (f == NULL)
            return ens_error(err, ENOMEM, "out of memory");
        a->fields = f;
        a->fields[a->nfields] = strndup(st, (size_t)(lx->s - st));
        if (a->fields[a->nfields++] == NULL)
            return ens_error(err, ENOMEM, "out of memory");
    }
    return 0;
}

static int parse_string(struct lexer *lx, struct arg *a, ens_error_t *err)
{
    char q = *lx->s++;
    _cleanup_free_ char *buf = malloc(strlen(lx->s) + 1);
    if (buf == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    size_t n = 0;
    while (*lx->s && *lx->s != q) {
        char c = *lx->s++;
        if (q == '"' && c == '\\') {
            char e = *lx->s++;
            switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case '\\': c = '\\'; break;
            case '"': c = '"'; break;
            default:
                return ens_error(err, EINVAL, "%s:%d: unsupported escape in string", lx->tname, lx->line);
            }
        }
        buf[n++] = c;
    }
    if (*lx->s != q)
        return ens_error(err, EINVAL, "%s:%d: unterminated string", lx->tname, lx->line);
    lx->s++;
    buf[n] = '\0';
    a->kind = A_STRING;
    a->s = ens_steal(&buf);
    return 0;
}

static int parse_arg(struct lexer *lx, struct arg *a, ens_error_t *err)
{
    memset(a, 0, sizeof(*a));
    const char *c = lx->s;
    if (*c == '"' || *c == '`')
        return parse_string(lx, a, err);
    if (*c == '(') {
        lx->s++;
        a->kind = A_PIPE;
        if (parse_pipe(lx, ')', &a->sub, err) < 0)
            return -1;
        if (*lx->s != ')')
            return ens_error(err, EINVAL, "%s:%d: missing ')'", lx->tname, lx->line);
        lx->s++;
        return 0;
    }
    if (*c == '.') {
        a->kind = A_FIELD;
        return parse_fields(lx, a, err);
    }
    if (*c == '$') {
        const char *st = lx->s++;
        while (ident_char(*lx->s))
            lx->s++;
        a->kind = A_VAR;
        a->s = strndup(st, (size_t)(lx->s - st));
        if (a->s == NULL)
            return ens_error(err, ENOMEM, "out of memory");
        return parse_fields(lx, a, err);
    }
    if (isdigit((unsigned char)*c) || (*c == '-' && isdigit((unsigned char)c[1]))) {
        char *end = NULL;
        errno = 0;
        long long ll = strtoll(c, &end, 10);
        if (errno == 0 && *end != '.' && *end != 'e' && *end != 'E') {
            a->literal = json_integer((json_int_t)ll);
        } else {
            double d = strtod(c, &end);
            if (!isfinite(d))
                return ens_error(err, EINVAL, "%s:%d: number out of range", lx->tname, lx->line);
            a->literal = json_real(d);
        }
        a->kind = A_NUMBER;
        lx->s = end;
        return 0;
    }
    if (ident_char(*c)) {
        const char *st = lx->s;
        while (ident_char(*lx->s))
            lx->s++;
        size_t len = (size_t)(lx->s - st);
        if (len == 4 && strncmp(st, "true", 4) == 0) {
            a->kind = A_BOOL;
            a->literal = json_true();
        } else if (len == 5 && strncmp(st, "false", 5) == 0) {
            a->kind = A_BOOL;
            a->literal = json_false();
        } else if (len == 3 && strncmp(st, "nil", 3) == 0) {
            a->kind = A_NIL;
        } else {
            a->kind = A_IDENT;
            a->s = strndup(st, len);
            if (a->s == NULL)
                return ens_error(err, ENOMEM, "out of memory");
        }
        return 0;
    }
    return ens_error(err, EINVAL, "%s:%d: unexpected '%c' in action", lx->tname, lx->line, *c);
}

static int parse_pipe(struct lexer *lx, char end, struct pipe **out, ens_error_t *err)
{
    struct pipe *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    skip_ws(lx);
    /* variable declarations: "$x :=" or "$k, $v :=" */
    const char *save = lx->s;
    while (*lx->s == '$' && p->ndecl < 2) {
        const char *st = lx->s++;
        while (ident_char(*lx->s))
            lx->s++;
        p->decl[p->ndecl++] = strndup(st, (size_t)(lx->s - st));
        skip_ws(lx);
        if (*lx->s == ',') {
            lx->s++;
            skip_ws(lx);
            continue;
        }
        break;
    }
    if (p->ndecl > 0) {
        if (lx->s[0] == ':' && lx->s[1] == '=') {
            lx->s += 2;
        } else {
            for (size_t i = 0; i < p->ndecl; i++)
                free(p->decl[i]);
            p->ndecl = 0;
            lx->s = save;
        }
    }
    for (;;) {
        struct cmd cmd = {0};
        for (;;) {
            skip_ws(lx);
            if (*lx->s == '\0' || *lx->s == '|' || *lx->s == end)
                break;
            struct arg *na = realloc(cmd.args, (cmd.n + 1) * sizeof(*na));
            if (na == NULL) {
                free(cmd.args);
                free_pipe(p);
                return ens_error(err, ENOMEM, "out of memory");
            }
            cmd.args = na;
            if (parse_arg(lx, &cmd.args[cmd.n], err) < 0) {
                free_arg(&cmd.args[cmd.n]);
                for (size_t i = 0; i < cmd.n; i++)
                    free_arg(&cmd.args[i]);
                free(cmd.args);
                free_pipe(p);
                return -1;
            }
            cmd.n++;
        }
        if (cmd.n == 0) {
            free(cmd.args);
            free_pipe(p);
            return ens_error(err, EINVAL, "%s:%d: empty command in pipeline", lx->tname, lx->line);
        }
        struct cmd *nc = realloc(p->cmds, (p->n + 1) * sizeof(*nc));
        if (nc == NULL) {
            for (size_t i = 0; i < cmd.n; i++)
                free_arg(&cmd.args[i]);
            free(cmd.args);
            free_pipe(p);
            return ens_error(err, ENOMEM, "out of memory");
        }
        p->cmds = nc;
        p->cmds[p->n++] = cmd;
        if (*lx->s != '|')
            break;
        lx->s++;
    }
    *out = p;
    return 0;
}

static int parse_action_pipe(ens_gotmpl *t, const char *src, int line, struct pipe **out, ens_error_t *err)
{
    struct lexer lx = {src, t->cur_name, line};
    if (parse_pipe(&lx, '\0', out, err) < 0)
        return -1;
    skip_ws(&lx);
    if (*lx.s != '\0') {
        free_pipe(*out);
        *out = NULL;
        return ens_error(err, EINVAL, "%s:%d: unexpected '%s'", t->cur_name, line, lx.s);
    }
    return 0;
}

/* ---- parsing the structure ------------------------------------------------- */

static bool keyword(const char *action, const char *kw, const char **rest)
{
    size_t n = strlen(kw);
    if (strncmp(action, kw, n) != 0 || (action[n] && !isspace((unsigned char)action[n])))
        return false;
    *rest = action + n;
    while (isspace((unsigned char)**rest))
        (*rest)++;
    return true;
}

static int add_template(ens_gotmpl *t, const char *name, struct list *body, ens_error_t *err);

/* Parses items into l until an {{ else }} or {{ end }}; *stop receives which
 * ("else ..." text for else-if, "end"), or NULL at the end of input. */
static int parse_list(ens_gotmpl *t, struct items *it, struct list *l, const char **stop, ens_error_t *err)
{
    *stop = NULL;
    while (it->pos < it->n) {
        struct item *item = &it->v[it->pos++];
        const char *rest;
        if (!item->action) {
            struct node *n = calloc(1, sizeof(*n));
            if (n == NULL || (n->text = strndup(item->text, item->len)) == NULL || list_push(l, n) < 0) {
                free_node(n);
                return ens_error(err, ENOMEM, "out of memory");
            }
            n->kind = N_TEXT;
            n->len = item->len;
            n->line = item->line;
            continue;
        }
        if (strcmp(item->text, "end") == 0 || keyword(item->text, "else", &rest)) {
            *stop = item->text;
            return 0;
        }
        struct node *n = calloc(1, sizeof(*n));
        if (n == NULL)
            return ens_error(err, ENOMEM, "out of memory");
        n->line = item->line;
        bool is_if = keyword(item->text, "if", &rest);
        bool is_with = !is_if && keyword(item->text, "with", &rest);
        bool is_range = !is_if && !is_with && keyword(item->text, "range", &rest);
        if (is_if || is_with || is_range) {
            n->kind = is_if ? N_IF : is_with ? N_WITH : N_RANGE;
            if (parse_action_pipe(t, rest, item->line, &n->pipe, err) < 0 || parse_list(t, it, &n->body, stop, err) < 0) {
                free_node(n);
                return -1;
            }
            /* else / else if chains */
            struct node *cur = n;
            while (*stop && strcmp(*stop, "end") != 0) {
                const char *erest;
                keyword(*stop, "else", &erest);
                if (*erest && keyword(erest, "if", &erest) && cur->kind == N_IF) {
                    struct node *sub = calloc(1, sizeof(*sub));
                    if (sub == NULL || list_push(&cur->other, sub) < 0) {
                        free(sub);
                        free_node(n);
                        return ens_error(err, ENOMEM, "out of memory");
                    }
                    sub->kind = N_IF;
                    sub->line = item->line;
                    if (parse_action_pipe(t, erest, item->line, &sub->pipe, err) < 0 ||
                        parse_list(t, it, &sub->body, stop, err) < 0) {
                        free_node(n);
                        return -1;
                    }
                    cur = sub;
                } else if (*erest == '\0') {
                    if (parse_list(t, it, &cur->other, stop, err) < 0) {
                        free_node(n);
                        return -1;
                    }
                    if (*stop && strcmp(*stop, "end") != 0) {
                        free_node(n);
                        return ens_error(err, EINVAL, "%s:%d: more than one else", t->cur_name, item->line);
                    }
                } else {
                    free_node(n);
                    return ens_error(err, EINVAL, "%s:%d: unsupported '%s'", t->cur_name, item->line, *stop);
                }
            }
            if (*stop == NULL) {
                free_node(n);
                return ens_error(err, EINVAL, "%s:%d: missing {{ end }}", t->cur_name, item->line);
            }
            *stop = NULL;
            if (list_push(l, n) < 0) {
                free_node(n);
                return ens_error(err, ENOMEM, "out of memory");
            }
            continue;
        }
        if (keyword(item->text, "define", &rest)) {
            free(n);
            struct arg a;
            struct lexer lx = {rest, t->cur_name, item->line};
            if (*rest != '"' || parse_string(&lx, &a, err) < 0)
                return ens_error(err, EINVAL, "%s:%d: define needs a quoted name", t->cur_name, item->line);
            struct list body = {0};
            if (parse_list(t, it, &body, stop, err) < 0 || *stop == NULL || strcmp(*stop, "end") != 0) {
                free_list(&body);
                free(a.s);
                return ens_error(err, EINVAL, "%s:%d: define without {{ end }}", t->cur_name, item->line);
            }
            *stop = NULL;
            int r = add_template(t, a.s, &body, err);
            free(a.s);
            if (r < 0)
                return -1;
            continue;
        }
        if (keyword(item->text, "template", &rest)) {
            n->kind = N_TEMPLATE;
            struct arg a;
            struct lexer lx = {rest, t->cur_name, item->line};
            if (*rest != '"' || parse_string(&lx, &a, err) < 0) {
                free(n);
                return ens_error(err, EINVAL, "%s:%d: template needs a quoted name", t->cur_name, item->line);
            }
            n->tname = a.s;
            skip_ws(&lx);
            if (*lx.s && parse_action_pipe(t, lx.s, item->line, &n->pipe, err) < 0) {
                free_node(n);
                return -1;
            }
        } else if (keyword(item->text, "block", &rest) || keyword(item->text, "break", &rest) ||
                   keyword(item->text, "continue", &rest)) {
            free(n);
            return ens_error(err, EINVAL, "%s:%d: '%s' is outside the supported template subset", t->cur_name,
                             item->line, item->text);
        } else {
            n->kind = N_ACTION;
            if (parse_action_pipe(t, item->text, item->line, &n->pipe, err) < 0) {
                free(n);
                return -1;
            }
        }
        if (list_push(l, n) < 0) {
            free_node(n);
            return ens_error(err, ENOMEM, "out of memory");
        }
    }
    return 0;
}

static int add_template(ens_gotmpl *t, const char *name, struct list *body, ens_error_t *err)
{
    for (struct tmpl *x = t->templates; x; x = x->next) {
        if (strcmp(x->name, name) == 0) { /* a later definition replaces (as in Go) */
            free_list(&x->body);
            x->body = *body;
            return 0;
        }
    }
    struct tmpl *x = calloc(1, sizeof(*x));
    if (x == NULL || (x->name = strdup(name)) == NULL) {
        free(x);
        free_list(body);
        return ens_error(err, ENOMEM, "out of memory");
    }
    x->body = *body;
    x->next = t->templates;
    t->templates = x;
    return 0;
}

int ens_gotmpl_add(ens_gotmpl *t, const char *name, const char *text, ens_error_t *err)
{
    struct items it = {0};
    t->cur_name = name;
    if (lex(name, text, &it, err) < 0) {
        free_items(&it);
        return -1;
    }
    struct list body = {0};
    const char *stop = NULL;
    int r = parse_list(t, &it, &body, &stop, err);
    if (r == 0 && stop != NULL)
        r = ens_error(err, EINVAL, "%s: unexpected {{ %s }}", name, stop);
    free_items(&it);
    if (r < 0) {
        free_list(&body);
        return -1;
    }
    return add_template(t, name, &body, err);
}

/* ---- evaluation ------------------------------------------------------------- */

struct var {
    const char *name;
    json_t *value;
};

struct exec {
    ens_gotmpl *t;
    const char *tname;
    struct var vars[MAX_VARS];
    size_t nvars;
    int depth;
    ens_error_t *err;
};

static int exec_list(struct exec *x, struct list *l, json_t *dot, FILE *out);

static bool truthy(json_t *v)
{
    if (v == NULL)
        return false;
    switch (json_typeof(v)) {
    case JSON_NULL: return false;
    case JSON_FALSE: return false;
    case JSON_TRUE: return true;
    case JSON_INTEGER: return json_integer_value(v) != 0;
    case JSON_REAL: return json_real_value(v) != 0;
    case JSON_STRING: return json_string_length(v) > 0;
    case JSON_ARRAY: return json_array_size(v) > 0;
    case JSON_OBJECT: return json_object_size(v) > 0;
    }
    return false;
}

/* Text form of a value, as text/template prints it (nil prints nothing, as Helm does). */
static char *to_text(json_t *v)
{
    char *s = NULL;
    if (v == NULL || json_is_null(v))
        return strdup("");
    switch (json_typeof(v)) {
    case JSON_STRING: return strndup(json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        if (asprintf(&s, "%lld", (long long)json_integer_value(v)) < 0)
            return NULL;
        return s;
    case JSON_REAL: {
        double d = json_real_value(v);
        if (d == floor(d) && fabs(d) < 1e15) {
            if (asprintf(&s, "%lld", (long long)d) < 0)
                return NULL;
        } else if (asprintf(&s, "%g", d) < 0) {
            return NULL;
        }
        return s;
    }
    case JSON_TRUE: return strdup("true");
    case JSON_FALSE: return strdup("false");
    default: return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    }
}

static json_t *lookup_fields(json_t *base, char **fields, size_t n)
{
    json_t *v = base;
    for (size_t i = 0; i < n && v; i++)
        v = json_is_object(v) ? json_object_get(v, fields[i]) : NULL;
    return json_incref(v ? v : json_null());
}

static json_t *find_var(struct exec *x, const char *name)
{
    for (size_t i = x->nvars; i-- > 0;)
        if (strcmp(x->vars[i].name, name) == 0)
            return x->vars[i].value;
    return NULL;
}

static int push_var(struct exec *x, const char *name, json_t *v)
{
    if (x->nvars == MAX_VARS)
        return ens_error(x->err, E2BIG, "%s: too many variables", x->tname);
    x->vars[x->nvars++] = (struct var){name, json_incref(v)};
    return 0;
}

static void pop_vars(struct exec *x, size_t to)
{
    while (x->nvars > to)
        json_decref(x->vars[--x->nvars].value);
}

static json_t *eval_pipe(struct exec *x, struct pipe *p, json_t *dot, int line);

static json_t *eval_arg(struct exec *x, struct arg *a, json_t *dot, int line)
{
    switch (a->kind) {
    case A_FIELD: return lookup_fields(dot, a->fields, a->nfields);
    case A_VAR: {
        json_t *base = find_var(x, a->s);
        if (base == NULL) {
            ens_error(x->err, EINVAL, "%s:%d: undefined variable %s", x->tname, line, a->s);
            return NULL;
        }
        return lookup_fields(base, a->fields, a->nfields);
    }
    case A_STRING: return json_string(a->s);
    case A_NUMBER:
    case A_BOOL: return json_incref(a->literal);
    case A_NIL: return json_null();
    case A_PIPE: return eval_pipe(x, a->sub, dot, line);
    case A_IDENT:
        ens_error(x->err, EINVAL, "%s:%d: function %s used as a value", x->tname, line, a->s);
        return NULL;
    }
    return NULL;
}

static char *indent_text(const char *s, long n, bool leading_newline)
{
    size_t lines = 1;
    for (const char *p = s; *p; p++)
        lines += *p == '\n';
    size_t cap = strlen(s) + lines * (size_t)n + 2;
    char *out = malloc(cap), *o = out;
    if (out == NULL)
        return NULL;
    if (leading_newline)
        *o++ = '\n';
    bool bol = true;
    for (const char *p = s; *p; p++) {
        if (bol) {
            memset(o, ' ', (size_t)n);
            o += n;
        }
        *o++ = *p;
        bol = *p == '\n';
    }
    if (bol && *s == '\0') {
        memset(o, ' ', (size_t)n);
        o += n;
    }
    *o = '\0';
    return out;
}

static char *go_quote(const char *s)
{
    json_t *j = json_string(s);
    char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return q;
}

static int num_cmp(json_t *a, json_t *b, int *cmp)
{
    if (!json_is_number(a) || !json_is_number(b))
        return -1;
    double x = json_number_value(a), y = json_number_value(b);
    *cmp = x < y ? -1 : x > y;
    return 0;
}

static bool values_equal(json_t *a, json_t *b)
{
    int c;
    if (num_cmp(a, b, &c) == 0)
        return c == 0;
    return json_equal(a, b);
}

static int render_named(struct exec *x, const char *name, json_t *dot, FILE *out, int line);

static json_t *call_func(struct exec *x, const char *fn, json_t **args, size_t n, json_t *dot, int line)
{
#define NEED(k)                                                                                          \
    do {                                                                                                 \
        if (n != (k)) {                                                                                  \
            ens_error(x->err, EINVAL, "%s:%d: %s takes %d argument(s), got %zu", x->tname, line, fn, (k), n); \
            return NULL;                                                                                 \
        }                                                                                                \
    } while (0)
    (void)dot;
    if (strcmp(fn, "include") == 0) {
        NEED(2);
        if (!json_is_string(args[0])) {
            ens_error(x->err, EINVAL, "%s:%d: include needs a template name", x->tname, line);
            return NULL;
        }
        char *buf = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&buf, &len);
        if (mem == NULL)
            return NULL;
        int r = render_named(x, json_string_value(args[0]), args[1], mem, line);
        fclose(mem);
        json_t *s = r < 0 ? NULL : json_stringn(buf, len);
        free(buf);
        return s;
    }
    if (strcmp(fn, "toYaml") == 0) {
        NEED(1);
        if (json_is_null(args[0]))
            return json_string("null");
        char *y = ens_json_to_yaml(args[0], x->err);
        json_t *s = y ? json_string(y) : NULL;
        free(y);
        return s;
    }
    if (strcmp(fn, "toJson") == 0) {
        NEED(1);
        char *y = json_dumps(args[0], JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        json_t *s = y ? json_string(y) : NULL;
        free(y);
        return s;
    }
    if (strcmp(fn, "indent") == 0 || strcmp(fn, "nindent") == 0) {
        NEED(2);
        if (!json_is_integer(args[0]) || json_integer_value(args[0]) < 0 || json_integer_value(args[0]) > 200) {
            ens_error(x->err, EINVAL, "%s:%d: %s needs a small non-negative width", x->tname, line, fn);
            return NULL;
        }
        _cleanup_free_ char *txt = to_text(args[1]);
        _cleanup_free_ char *ind = txt ? indent_text(txt, (long)json_integer_value(args[0]), fn[0] == 'n') : NULL;
        return ind ? json_string(ind) : NULL;
    }
    if (strcmp(fn, "quote") == 0 || strcmp(fn, "squote") == 0) {
        NEED(1);
        _cleanup_free_ char *txt = to_text(args[0]);
        if (txt == NULL)
            return NULL;
        if (fn[0] == 's') {
            _cleanup_free_ char *q = NULL;
            if (asprintf(&q, "'%s'", txt) < 0)
                return NULL;
            return json_string(q);
        }
        _cleanup_free_ char *q = go_quote(txt);
        return q ? json_string(q) : NULL;
    }
    if (strcmp(fn, "default") == 0) {
        NEED(2);
        return json_incref(truthy(args[1]) ? args[1] : args[0]);
    }
    if (strcmp(fn, "required") == 0) {
        NEED(2);
        if (!truthy(args[1])) {
            _cleanup_free_ char *msg = to_text(args[0]);
            ens_error(x->err, EINVAL, "%s:%d: %s", x->tname, line, msg ? msg : "a required value is missing");
            return NULL;
        }
        return json_incref(args[1]);
    }
    if (strcmp(fn, "eq") == 0 || strcmp(fn, "ne") == 0) {
        if (n < 2) {
            ens_error(x->err, EINVAL, "%s:%d: %s needs two arguments", x->tname, line, fn);
            return NULL;
        }
        bool any = false;
        for (size_t i = 1; i < n; i++)
            any = any || values_equal(args[0], args[i]);
        return json_boolean(fn[0] == 'e' ? any : !any);
    }
    if (strcmp(fn, "lt") == 0 || strcmp(fn, "le") == 0 || strcmp(fn, "gt") == 0 || strcmp(fn, "ge") == 0) {
        NEED(2);
        int c;
        if (num_cmp(args[0], args[1], &c) < 0) {
            ens_error(x->err, EINVAL, "%s:%d: %s compares numbers only", x->tname, line, fn);
            return NULL;
        }
        bool r = fn[0] == 'l' ? (fn[1] == 't' ? c < 0 : c <= 0) : (fn[1] == 't' ? c > 0 : c >= 0);
        return json_boolean(r);
    }
    if (strcmp(fn, "not") == 0) {
        NEED(1);
        return json_boolean(!truthy(args[0]));
    }
    if (strcmp(fn, "and") == 0 || strcmp(fn, "or") == 0) {
        if (n < 1) {
            ens_error(x->err, EINVAL, "%s:%d: %s needs arguments", x->tname, line, fn);
            return NULL;
        }
        bool is_and = fn[0] == 'a';
        for (size_t i = 0; i < n; i++)
            if (truthy(args[i]) != is_and)
                return json_incref(args[i]);
        return json_incref(args[n - 1]);
    }
    if (strcmp(fn, "empty") == 0) {
        NEED(1);
        return json_boolean(!truthy(args[0]));
    }
    if (strcmp(fn, "hasKey") == 0) {
        NEED(2);
        return json_boolean(json_is_object(args[0]) && json_is_string(args[1]) &&
                            json_object_get(args[0], json_string_value(args[1])) != NULL);
    }
    if (strcmp(fn, "toString") == 0 || strcmp(fn, "lower") == 0 || strcmp(fn, "upper") == 0) {
        NEED(1);
        _cleanup_free_ char *txt = to_text(args[0]);
        if (txt == NULL)
            return NULL;
        for (char *c = txt; *c && fn[0] != 't'; c++)
            *c = (char)(fn[0] == 'l' ? tolower((unsigned char)*c) : toupper((unsigned char)*c));
        return json_string(txt);
    }
    if (strcmp(fn, "trim") == 0) {
        NEED(1);
        _cleanup_free_ char *txt = to_text(args[0]);
        if (txt == NULL)
            return NULL;
        char *b = txt, *e = txt + strlen(txt);
        while (isspace((unsigned char)*b))
            b++;
        while (e > b && isspace((unsigned char)e[-1]))
            e--;
        return json_stringn(b, (size_t)(e - b));
    }
    if (strcmp(fn, "trunc") == 0) {
        NEED(2);
        _cleanup_free_ char *txt = to_text(args[1]);
        if (txt == NULL || !json_is_integer(args[0]))
            return NULL;
        json_int_t k = json_integer_value(args[0]);
        if (k >= 0 && (size_t)k < strlen(txt))
            txt[k] = '\0';
        return json_string(txt);
    }
    if (strcmp(fn, "trimSuffix") == 0 || strcmp(fn, "trimPrefix") == 0) {
        NEED(2);
        _cleanup_free_ char *suf = to_text(args[0]);
        _cleanup_free_ char *txt = to_text(args[1]);
        if (suf == NULL || txt == NULL)
            return NULL;
        size_t ls = strlen(suf), lt = strlen(txt);
        if (fn[4] == 'S' && lt >= ls && strcmp(txt + lt - ls, suf) == 0)
            txt[lt - ls] = '\0';
        else if (fn[4] == 'P' && strncmp(txt, suf, ls) == 0)
            return json_string(txt + ls);
        return json_string(txt);
    }
    if (strcmp(fn, "printf") == 0) {
        if (n < 1 || !json_is_string(args[0])) {
            ens_error(x->err, EINVAL, "%s:%d: printf needs a format string", x->tname, line);
            return NULL;
        }
        char *buf = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&buf, &len);
        if (mem == NULL)
            return NULL;
        size_t ai = 1;
        for (const char *f = json_string_value(args[0]); *f; f++) {
            if (*f != '%' || f[1] == '\0') {
                fputc(*f, mem);
                continue;
            }
            f++;
            if (*f == '%') {
                fputc('%', mem);
                continue;
            }
            if (ai >= n || !strchr("sdvq", *f)) {
                fclose(mem);
                free(buf);
                ens_error(x->err, EINVAL, "%s:%d: printf: bad verb or missing argument", x->tname, line);
                return NULL;
            }
            _cleanup_free_ char *txt = to_text(args[ai++]);
            if (*f == 'q') {
                _cleanup_free_ char *q = go_quote(txt ? txt : "");
                fputs(q ? q : "", mem);
            } else {
                fputs(txt ? txt : "", mem);
            }
        }
        fclose(mem);
        json_t *s = json_stringn(buf, len);
        free(buf);
        return s;
    }
    if (strcmp(fn, "list") == 0) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++)
            json_array_append(a, args[i]);
        return a;
    }
    ens_error(x->err, EINVAL, "%s:%d: function \"%s\" is outside the supported template subset", x->tname, line, fn);
    return NULL;
#undef NEED
}

static json_t *eval_cmd(struct exec *x, struct cmd *c, json_t *dot, json_t *piped, int line)
{
    if (c->args[0].kind != A_IDENT) {
        if (c->n != 1 || piped) {
            ens_error(x->err, EINVAL, "%s:%d: cannot give arguments to a non-function", x->tname, line);
            return NULL;
        }
        return eval_arg(x, &c->args[0], dot, line);
    }
    size_t n = c->n - 1 + (piped ? 1 : 0);
    json_t **args = calloc(n + 1, sizeof(*args));
    if (args == NULL)
        return NULL;
    size_t k = 0;
    json_t *r = NULL;
    for (size_t i = 1; i < c->n; i++) {
        if ((args[k] = eval_arg(x, &c->args[i], dot, line)) == NULL)
            goto out;
        k++;
    }
    if (piped)
        args[k++] = json_incref(piped);
    r = call_func(x, c->args[0].s, args, k, dot, line);
out:
    for (size_t i = 0; i < k; i++)
        json_decref(args[i]);
    free(args);
    return r;
}

static json_t *eval_pipe(struct exec *x, struct pipe *p, json_t *dot, int line)
{
    json_t *v = NULL;
    for (size_t i = 0; i < p->n; i++) {
        json_t *nv = eval_cmd(x, &p->cmds[i], dot, v, line);
        json_decref(v);
        if (nv == NULL) {
            if (x->err && *x->err == NULL)
                ens_error(x->err, ENOMEM, "%s:%d: evaluation failed", x->tname, line);
            return NULL;
        }
        v = nv;
    }
    return v;
}

static int render_named(struct exec *x, const char *name, json_t *dot, FILE *out, int line)
{
    struct tmpl *tp = NULL;
    for (struct tmpl *t = x->t->templates; t; t = t->next)
        if (strcmp(t->name, name) == 0)
            tp = t;
    if (tp == NULL)
        return ens_error(x->err, ENOENT, "%s:%d: no template named \"%s\"", x->tname, line, name);
    if (x->depth >= MAX_INCLUDE_DEPTH)
        return ens_error(x->err, ELOOP, "%s:%d: templates nested too deeply", x->tname, line);
    /* a template call sees only $ = its own dot, like Go */
    struct exec sub = {.t = x->t, .tname = tp->name, .depth = x->depth + 1, .err = x->err};
    if (push_var(&sub, "$", dot) < 0)
        return -1;
    int r = exec_list(&sub, &tp->body, dot, out);
    pop_vars(&sub, 0);
    return r;
}

static int exec_node(struct exec *x, struct node *n, json_t *dot, FILE *out)
{
    switch (n->kind) {
    case N_TEXT:
        fwrite(n->text, 1, n->len, out);
        return 0;
    case N_ACTION: {
        json_t *v = eval_pipe(x, n->pipe, dot, n->line);
        if (v == NULL)
            return -1;
        if (n->pipe->ndecl > 0) { /* {{ $x := ... }} prints nothing */
            int r = push_var(x, n->pipe->decl[0], v);
            json_decref(v);
            return r;
        }
        char *s = to_text(v);
        json_decref(v);
        if (s == NULL)
            return ens_error(x->err, ENOMEM, "out of memory");
        fputs(s, out);
        free(s);
        return 0;
    }
    case N_TEMPLATE: {
        json_t *v = n->pipe ? eval_pipe(x, n->pipe, dot, n->line) : json_null();
        if (v == NULL)
            return -1;
        int r = render_named(x, n->tname, v, out, n->line);
        json_decref(v);
        return r;
    }
    case N_IF:
    case N_WITH: {
        json_t *v = eval_pipe(x, n->pipe, dot, n->line);
        if (v == NULL)
            return -1;
        size_t mark = x->nvars;
        int r;
        if (truthy(v)) {
            if (n->pipe->ndecl > 0 && push_var(x, n->pipe->decl[0], v) < 0) {
                json_decref(v);
                return -1;
            }
            r = exec_list(x, &n->body, n->kind == N_WITH ? v : dot, out);
        } else {
            r = exec_list(x, &n->other, dot, out);
        }
        pop_vars(x, mark);
        json_decref(v);
        return r;
    }
    case N_RANGE: {
        json_t *v = eval_pipe(x, n->pipe, dot, n->line);
        if (v == NULL)
            return -1;
        int r = 0;
        size_t mark = x->nvars;
        if (!truthy(v) || !(json_is_array(v) || json_is_object(v))) {
            if (truthy(v) && !json_is_integer(v))
                r = ens_error(x->err, EINVAL, "%s:%d: range over a value that is not a list or map", x->tname, n->line);
            else
                r = exec_list(x, &n->other, dot, out);
        } else if (json_is_array(v)) {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e) {
                json_t *idx = json_integer((json_int_t)i);
                if (n->pipe->ndecl == 2) {
                    push_var(x, n->pipe->decl[0], idx);
                    push_var(x, n->pipe->decl[1], e);
                } else if (n->pipe->ndecl == 1) {
                    push_var(x, n->pipe->decl[0], e);
                }
                json_decref(idx);
                r = exec_list(x, &n->body, e, out);
                pop_vars(x, mark);
                if (r < 0)
                    break;
            }
        } else {
            /* maps iterate in sorted key order, as in Go */
            size_t nk = json_object_size(v), k = 0;
            const char **keys = calloc(nk + 1, sizeof(*keys));
            const char *key;
            json_t *e;
            json_object_foreach(v, key, e) keys[k++] = key;
            qsort(keys, nk, sizeof(*keys), cmp_keys);
            for (k = 0; k < nk && r >= 0; k++) {
                e = json_object_get(v, keys[k]);
                json_t *kj = json_string(keys[k]);
                if (n->pipe->ndecl == 2) {
                    push_var(x, n->pipe->decl[0], kj);
                    push_var(x, n->pipe->decl[1], e);
                } else if (n->pipe->ndecl == 1) {
                    push_var(x, n->pipe->decl[0], e);
                }
                json_decref(kj);
                r = exec_list(x, &n->body, e, out);
                pop_vars(x, mark);
            }
            free(keys);
        }
        json_decref(v);
        return r;
    }
    }
    return 0;
}

static int exec_list(struct exec *x, struct list *l, json_t *dot, FILE *out)
{
    size_t mark = x->nvars; /* variables live until the end of their block */
    int r = 0;
    for (size_t i = 0; i < l->n && r == 0; i++)
        r = exec_node(x, l->v[i], dot, out);
    pop_vars(x, mark);
    return r;
}

int ens_gotmpl_render(ens_gotmpl *t, const char *name, json_t *data, char **out, ens_error_t *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (mem == NULL)
        return ens_error_errno(err, "open_memstream");
    struct exec x = {.t = t, .tname = name, .err = err};
    int r = render_named(&x, name, data, mem, 0);
    fclose(mem);
    if (r < 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}

/* ---- YAML <-> JSON through libfyaml ------------------------------------------ */

/* Strings that read back as strings when written plain. */
static bool plain_safe(const char *s)
{
    static const char *const reserved[] = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~", NULL};
    if (*s == '\0' || !(isalpha((unsigned char)*s) || *s == '_' || *s == '/'))
        return false;
    for (const char *const *r = reserved; *r; r++)
        if (strcasecmp(s, *r) == 0)
            return false;
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || strchr("_-./", *p)))
            return false;
    return true;
}

/* Writes v as flow YAML, quoting (JSON-style) only strings that need it, so
 * that the block emitter below keeps plain scalars plain. */
static int flow_yaml(json_t *v, FILE *out)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), k = 0;
        const char **keys = calloc(n + 1, sizeof(*keys));
        if (keys == NULL)
            return -1;
        const char *key;
        json_t *e;
        json_object_foreach(v, key, e) keys[k++] = key;
        qsort(keys, n, sizeof(*keys), cmp_keys);
        fputc('{', out);
        for (k = 0; k < n; k++) {
            json_t *ks = json_string(keys[k]);
            if (k)
                fputs(", ", out);
            int r = flow_yaml(ks, out);
            json_decref(ks);
            fputs(": ", out);
            if (r < 0 || flow_yaml(json_object_get(v, keys[k]), out) < 0) {
                free(keys);
                return -1;
            }
        }
        fputc('}', out);
        free(keys);
        return 0;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *e;
        fputc('[', out);
        json_array_foreach(v, i, e) {
            if (i)
                fputs(", ", out);
            if (flow_yaml(e, out) < 0)
                return -1;
        }
        fputc(']', out);
        return 0;
    }
    case JSON_STRING:
        if (plain_safe(json_string_value(v))) {
            fputs(json_string_value(v), out);
            return 0;
        }
        /* JSON string syntax is YAML double-quoted syntax */
        __attribute__((fallthrough));
    default: {
        char *js = json_dumps(v, JSON_ENCODE_ANY);
        if (js == NULL)
            return -1;
        fputs(js, out);
        free(js);
        return 0;
    }
    }
}

char *ens_json_to_yaml(json_t *v, ens_error_t *err)
{
    char *flow = NULL;
    size_t flen = 0;
    FILE *m = open_memstream(&flow, &flen);
    if (m == NULL || flow_yaml(v, m) < 0) {
        if (m)
            fclose(m);
        free(flow);
        ens_error(err, ENOMEM, "cannot serialise value");
        return NULL;
    }
    fclose(m);
    struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET};
    struct fy_document *fyd = fy_document_build_from_string(&cfg, flow, flen);
    if (fyd == NULL) {
        free(flow);
        ens_error(err, EINVAL, "cannot convert value to YAML");
        return NULL;
    }
    char *y = fy_emit_document_to_string(fyd, FYECF_MODE_BLOCK | FYECF_INDENT_2 | FYECF_WIDTH_INF |
                                                  FYECF_DOC_START_MARK_OFF | FYECF_DOC_END_MARK_OFF);
    fy_document_destroy(fyd);
    free(flow);
    if (y == NULL) {
        ens_error(err, ENOMEM, "cannot emit YAML");
        return NULL;
    }
    size_t l = strlen(y);
    while (l > 0 && y[l - 1] == '\n')
        y[--l] = '\0';
    return y;
}

/* A plain scalar's value under the YAML 1.2 core schema: null, booleans, integers, floats,
 * else a string (quoted scalars are always strings). */
static json_t *plain_scalar(const char *s)
{
    if (*s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
        strcmp(s, "NULL") == 0)
        return json_null();
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
        return json_true();
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
        return json_false();
    const char *d = s + (*s == '-' || *s == '+');
    if (*d >= '0' && *d <= '9') {
        char *end = NULL;
        errno = 0;
        long long ll = strtoll(s, &end, strncmp(d, "0x", 2) == 0 ? 16 : 10);
        if (*end == '\0' && errno == 0)
            return json_integer((json_int_t)ll);
    }
    if ((*d >= '0' && *d <= '9') || (*d == '.' && d[1] >= '0' && d[1] <= '9')) {
        char *end = NULL;
        double v = strtod(s, &end);
        if (*end == '\0' && isfinite(v))
            return json_real(v);
    }
    return json_string(s);
}

static json_t *ynode_to_json(const struct ens_ynode *n, const char *origin, int depth, ens_error_t *err)
{
    if (depth > 256) {
        ens_error(err, E2BIG, "%s:%d:%d: nested too deeply", origin, n->line, n->col);
        return NULL;
    }
    if (n->type == ENS_Y_SCALAR) {
        json_t *v = n->plain ? plain_scalar(n->str) : json_stringn(n->str, n->len);
        if (v == NULL)
            ens_error(err, EINVAL, "%s:%d:%d: not a valid string", origin, n->line, n->col);
        return v;
    }
    json_t *out = n->type == ENS_Y_SEQ ? json_array() : json_object();
    for (size_t i = 0; out && i < n->n; i += n->type == ENS_Y_SEQ ? 1 : 2) {
        const struct ens_ynode *v = n->type == ENS_Y_SEQ ? n->kids[i] : n->kids[i + 1];
        json_t *jv = ynode_to_json(v, origin, depth + 1, err);
        if (jv == NULL) {
            json_decref(out);
            return NULL;
        }
        if (n->type == ENS_Y_SEQ) {
            json_array_append_new(out, jv);
            continue;
        }
        const struct ens_ynode *k = n->kids[i];
        if (k->type != ENS_Y_SCALAR || strlen(k->str) != k->len) {
            json_decref(jv);
            json_decref(out);
            ens_error(err, EINVAL, "%s:%d:%d: mapping keys must be plain values", origin, k->line, k->col);
            return NULL;
        }
        json_object_set_new(out, k->str, jv);
    }
    return out;
}

json_t *ens_yaml_to_json(const char *text, size_t len, const char *origin, ens_error_t *err)
{
    /* libfyaml 0.7 can hang on invalid UTF-8 (in directives): check first */
    int bad_line = 0, bad_col = 0;
    if (memchr(text, '\0', len) != NULL) {
        ens_error(err, EINVAL, "%s: contains a NUL byte", origin);
        return NULL;
    }
    if (!ens_utf8_valid(text, len, &bad_line, &bad_col)) {
        ens_error(err, EINVAL, "%s:%d:%d: invalid UTF-8", origin, bad_line, bad_col);
        return NULL;
    }
    struct ens_ynode *root = NULL;
    if (ens_yaml_load(text, len, origin, &root, err) < 0)
        return NULL;
    if (root == NULL)
        return json_object();
    json_t *j = ynode_to_json(root, origin, 0, err);
    ens_yaml_free(root);
    return j;
}
