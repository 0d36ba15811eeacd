/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Session language 0.3: YAML tree -> validated model.  Every error names the
 * source, line, column and the field path ("services[0].pwd"); no error ever
 * quotes a secret's value.  Unknown fields are refused (a typo must not silently
 * weaken a policy).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "crypto/digest.h"
#include "policy/policy_int.h"

#define MAX_LIST 4096
#define MAX_NAME 128
#define MAX_SECRET_SIZE 65536
#define MAX_PATH_LEN 4096
#define MAX_CHAIN 16

/* ------------------------------------------------------------------ arena */

struct ens_arena_blk {
    struct ens_arena_blk *next;
    max_align_t data[];
};

static void *aalloc(ens_policy_t *p, size_t n)
{
    struct ens_arena_blk *b = calloc(1, sizeof(*b) + (n ? n : 1));
    if (!b)
        return NULL;
    b->next = p->arena;
    p->arena = b;
    return b->data;
}

static char *astrndup(ens_policy_t *p, const char *s, size_t n)
{
    char *d = aalloc(p, n + 1);
    if (d && n)
        memcpy(d, s, n);
    return d;
}

static char *astrdup(ens_policy_t *p, const char *s) { return astrndup(p, s, strlen(s)); }

void ens_policy_free(ens_policy_t *p)
{
    if (!p)
        return;
    /* explicit secret values live in the arena: wipe everything on the way out */
    for (size_t i = 0; i < p->secret_count; i++)
        if (p->secrets[i].value)
            ens_wipe(p->secrets[i].value, p->secrets[i].value_len);
    struct ens_arena_blk *b = p->arena;
    while (b) {
        struct ens_arena_blk *n = b->next;
        free(b);
        b = n;
    }
    free(p);
}

/* ------------------------------------------------------------------ context */

struct pctx {
    ens_policy_t *p;
    const char *src;
    ens_error_t *err;
};

__attribute__((format(printf, 4, 5))) static int perr(struct pctx *c, const struct ens_ynode *n, const char *path,
                                                       const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n)
        return ens_error(c->err, EINVAL, "%s:%d:%d: %s: %s", c->src, n->line, n->col, path, msg);
    return ens_error(c->err, EINVAL, "%s: %s: %s", c->src, path, msg);
}

static int oom(struct pctx *c) { return ens_error(c->err, ENOMEM, "%s: out of memory", c->src); }

static bool is_null(const struct ens_ynode *n)
{
    return n->type == ENS_Y_SCALAR && n->plain &&
           (n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 || strcmp(n->str, "Null") == 0 ||
            strcmp(n->str, "NULL") == 0);
}

static const char *type_name(const struct ens_ynode *n)
{
    return n->type == ENS_Y_MAP ? "a mapping" : n->type == ENS_Y_SEQ ? "a list" : "a scalar";
}

/* ------------------------------------------------------------------ scalars */

static int get_str(struct pctx *c, const struct ens_ynode *n, const char *path, size_t max, char **out)
{
    if (n->type != ENS_Y_SCALAR || is_null(n))
        return perr(c, n, path, "expected a string, got %s", is_null(n) ? "null" : type_name(n));
    if (memchr(n->str, '\0', n->len))
        return perr(c, n, path, "NUL character not allowed");
    if (n->len > max)
        return perr(c, n, path, "longer than %zu bytes", max);
    *out = astrndup(c->p, n->str, n->len);
    return *out ? 0 : oom(c);
}

static bool name_component_ok(const char *s, size_t len)
{
    if (len == 0 || len > MAX_NAME)
        return false;
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!(isalnum(ch) || ch == '_' || ch == '-' || ch == '.' || ch == '~') || ch > 0x7f)
            return false;
    }
    return true;
}

bool ens_policy_name_valid(const char *name)
{
    if (!name || !*name || strlen(name) > 1024)
        return false;
    const char *s = name;
    int parts = 0;
    for (;;) {
        const char *slash = strchr(s, '/');
        size_t l = slash ? (size_t)(slash - s) : strlen(s);
        if (!name_component_ok(s, l) || ++parts > 16)
            return false;
        if (!slash)
            return true;
        s = slash + 1;
    }
}

/* Names of services, images, volumes, secrets: one component. */
static int get_name(struct pctx *c, const struct ens_ynode *n, const char *path, char **out)
{
    if (get_str(c, n, path, MAX_NAME, out) < 0)
        return -1;
    if (!name_component_ok(*out, strlen(*out)))
        return perr(c, n, path, "invalid name '%s' (expected [A-Za-z0-9_.~-]{1,128})", *out);
    return 0;
}

static int get_session_ref(struct pctx *c, const struct ens_ynode *n, const char *path, char **out)
{
    if (get_str(c, n, path, 1024, out) < 0)
        return -1;
    if (!ens_policy_name_valid(*out))
        return perr(c, n, path, "invalid session name '%s'", *out);
    return 0;
}

static int get_abs_path(struct pctx *c, const struct ens_ynode *n, const char *path, char **out)
{
    if (get_str(c, n, path, MAX_PATH_LEN, out) < 0)
        return -1;
    if ((*out)[0] != '/')
        return perr(c, n, path, "expected an absolute path");
    return 0;
}

/* Hex of min..max bytes, lower-cased; accepts an optional "sha256:" style prefix nowhere (exact hex). */
static int get_hex(struct pctx *c, const struct ens_ynode *n, const char *path, size_t minb, size_t maxb,
                   char **out)
{
    if (n->type != ENS_Y_SCALAR || is_null(n))
        return perr(c, n, path, "expected hex digits, got %s", is_null(n) ? "null" : type_name(n));
    size_t l = n->len;
    if (l % 2 || l / 2 < minb || l / 2 > maxb) {
        if (minb == maxb)
            return perr(c, n, path, "expected %zu hex digits, got %zu bytes", minb * 2, l);
        return perr(c, n, path, "expected %zu to %zu hex digits (an even number), got %zu bytes", minb * 2,
                    maxb * 2, l);
    }
    for (size_t i = 0; i < l; i++)
        if (!isxdigit((unsigned char)n->str[i]))
            /* the character itself is not shown: this may be (a typo in) a key */
            return perr(c, n, path, "expected hex digits, found a non-hex character at offset %zu", i);
    char *h = astrndup(c->p, n->str, l);
    if (!h)
        return oom(c);
    for (size_t i = 0; i < l; i++)
        h[i] = (char)tolower((unsigned char)h[i]);
    *out = h;
    return 0;
}

static int get_uint(struct pctx *c, const struct ens_ynode *n, const char *path, unsigned long long max,
                    unsigned long long *out)
{
    if (n->type != ENS_Y_SCALAR || is_null(n) || n->len == 0 || n->len > 20)
        return perr(c, n, path, "expected a non-negative integer");
    for (size_t i = 0; i < n->len; i++)
        if (!isdigit((unsigned char)n->str[i]))
            return perr(c, n, path, "expected a non-negative integer, got '%s'", n->str);
    errno = 0;
    unsigned long long v = strtoull(n->str, NULL, 10);
    if (errno || v > max)
        return perr(c, n, path, "%s is out of range (at most %llu)", n->str, max);
    *out = v;
    return 0;
}

static int get_bool(struct pctx *c, const struct ens_ynode *n, const char *path, bool *out)
{
    if (n->type == ENS_Y_SCALAR && n->plain) {
        if (!strcmp(n->str, "true") || !strcmp(n->str, "True") || !strcmp(n->str, "TRUE")) {
            *out = true;
            return 0;
        }
        if (!strcmp(n->str, "false") || !strcmp(n->str, "False") || !strcmp(n->str, "FALSE")) {
            *out = false;
            return 0;
        }
    }
    return perr(c, n, path, "expected true or false");
}

/* ------------------------------------------------------------------ collections */

/* Sort helpers: duplicate detection in O(n log n), so a 1 MiB body cannot cost quadratic time. */
struct keyref {
    const char *s;
    size_t len;
    size_t idx;
};

static int cmp_keyref(const void *a, const void *b)
{
    const struct keyref *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    int c = memcmp(x->s, y->s, x->len);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Index (into refs' original order) of the later of the first duplicate pair, or -1; -2 on ENOMEM. */
static long find_duplicate(struct keyref *refs, size_t n)
{
    if (n < 2)
        return -1;
    qsort(refs, n, sizeof(*refs), cmp_keyref);
    long best = -1;
    for (size_t i = 1; i < n; i++)
        if (refs[i].len == refs[i - 1].len && !memcmp(refs[i].s, refs[i - 1].s, refs[i].len))
            if (best < 0 || (long)refs[i].idx < best)
                best = (long)refs[i].idx;
    return best;
}

static int need_map(struct pctx *c, const struct ens_ynode *n, const char *path)
{
    if (n->type != ENS_Y_MAP)
        return perr(c, n, path, "expected a mapping, got %s", type_name(n));
    if (n->n / 2 > MAX_LIST)
        return perr(c, n, path, "more than %d entries", MAX_LIST);
    for (size_t i = 0; i < n->n; i += 2) {
        const struct ens_ynode *k = n->kids[i];
        if (k->type != ENS_Y_SCALAR || memchr(k->str, '\0', k->len))
            return perr(c, k, path, "keys must be plain strings");
    }
    size_t cnt = n->n / 2;
    struct keyref *refs = malloc((cnt + 1) * sizeof(*refs));
    if (!refs)
        return oom(c);
    for (size_t i = 0; i < cnt; i++)
        refs[i] = (struct keyref){n->kids[2 * i]->str, n->kids[2 * i]->len, i};
    long d = find_duplicate(refs, cnt);
    free(refs);
    if (d >= 0) {
        const struct ens_ynode *k = n->kids[2 * (size_t)d];
        return perr(c, k, path, "duplicate key '%s'", k->str);
    }
    return 0;
}

static int need_seq(struct pctx *c, const struct ens_ynode *n, const char *path)
{
    if (n->type != ENS_Y_SEQ)
        return perr(c, n, path, "expected a list, got %s", type_name(n));
    if (n->n > MAX_LIST)
        return perr(c, n, path, "more than %d entries", MAX_LIST);
    return 0;
}

static int unknown_field(struct pctx *c, const struct ens_ynode *k, const char *path)
{
    return perr(c, k, path, "unknown field '%s'", k->str);
}

/* Parses a mapping field by field.  fn gets each key, its value and the value's path ("<path>.<key>"),
 * and returns 0, -1 on error, or UNKNOWN_FIELD: unknown keys are refused with the mapping's path. */
#define UNKNOWN_FIELD 1
typedef int (*field_fn)(struct pctx *c, const struct ens_ynode *k, const struct ens_ynode *v, const char *fp,
                        void *obj);

static int parse_fields(struct pctx *c, const struct ens_ynode *n, const char *path, field_fn fn, void *obj)
{
    if (need_map(c, n, path) < 0)
        return -1;
    for (size_t i = 0; i < n->n; i += 2) {
        const struct ens_ynode *k = n->kids[i];
        char fp[512];
        snprintf(fp, sizeof(fp), "%s.%s", path, k->str);
        int r = fn(c, k, n->kids[i + 1], fp, obj);
        if (r == UNKNOWN_FIELD)
            return unknown_field(c, k, path);
        if (r < 0)
            return -1;
    }
    return 0;
}

static int missing_field(struct pctx *c, const struct ens_ynode *n, const char *path, const char *field)
{
    return perr(c, n, path, "missing required field '%s'", field);
}

/* Services, images and volumes: mappings with a required name, and fn for their other fields. */
struct named {
    char **name;
    field_fn fn;
    void *obj;
};

static int named_field(struct pctx *c, const struct ens_ynode *k, const struct ens_ynode *v, const char *fp,
                       void *obj)
{
    struct named *nm = obj;
    if (!strcmp(k->str, "name"))
        return get_name(c, v, fp, nm->name);
    return nm->fn(c, k, v, fp, nm->obj);
}

static int parse_named(struct pctx *c, const struct ens_ynode *n, const char *path, field_fn fn, void *obj,
                       char **name)
{
    struct named nm = {.name = name, .fn = fn, .obj = obj};
    if (parse_fields(c, n, path, named_field, &nm) < 0)
        return -1;
    if (!*name)
        return missing_field(c, n, path, "name");
    return 0;
}

/* A list, or a single item standing for a one-element list: *one holds the single item. */
static int one_or_list(struct pctx *c, const struct ens_ynode *const *one, const char *path,
                       const struct ens_ynode *const **items, size_t *count)
{
    const struct ens_ynode *v = *one;
    *items = one;
    *count = 1;
    if (v->type != ENS_Y_SEQ)
        return 0;
    if (need_seq(c, v, path) < 0)
        return -1;
    *items = (const struct ens_ynode *const *)v->kids;
    *count = v->n;
    return 0;
}

/* A list of strings (a single string is accepted as a one-element list when single_ok). */
typedef int (*item_fn)(struct pctx *c, const struct ens_ynode *n, const char *path, char **out);

static int get_str_list(struct pctx *c, const struct ens_ynode *n, const char *path, item_fn fn, bool single_ok,
                        char ***out, size_t *count)
{
    if (single_ok && n->type == ENS_Y_SCALAR && !is_null(n)) {
        char **v = aalloc(c->p, sizeof(char *));
        if (!v)
            return oom(c);
        if (fn(c, n, path, &v[0]) < 0)
            return -1;
        *out = v;
        *count = 1;
        return 0;
    }
    if (is_null(n)) {
        *count = 0;
        return 0;
    }
    if (need_seq(c, n, path) < 0)
        return -1;
    char **v = aalloc(c->p, (n->n + 1) * sizeof(char *));
    if (!v)
        return oom(c);
    for (size_t i = 0; i < n->n; i++) {
        char ip[256];
        snprintf(ip, sizeof(ip), "%s[%zu]", path, i);
        if (fn(c, n->kids[i], ip, &v[i]) < 0)
            return -1;
    }
    *out = v;
    *count = n->n;
    return 0;
}

static int item_str(struct pctx *c, const struct ens_ynode *n, const char *path, char **out)
{
    if (get_str(c, n, path, 4096, out) < 0)
        return -1;
    if (!**out)
        return perr(c, n, path, "must not be empty");
    return 0;
}

static int item_measurement(struct pctx *c, const struct ens_ynode *n, const char *path, char **out)
{
    /* MRENCLAVE (32 bytes), TDX MRTD / SNP measurement (48 bytes), up to 64 */
    return get_hex(c, n, path, 16, 64, out);
}

static int item_dns(struct pctx *c, const struct ens_ynode *n, const char *path, char **out)
{
    if (get_str(c, n, path, 253, out) < 0)
        return -1;
    const char *s = *out;
    if (!*s)
        return perr(c, n, path, "empty DNS name");
    for (const char *q = s; *q; q++)
        if (!(isalnum((unsigned char)*q) || *q == '-' || *q == '.' || *q == '_' || (*q == '*' && q == s)))
            return perr(c, n, path, "invalid DNS name '%s'", s);
    return 0;
}

static bool is_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* ------------------------------------------------------------------ services */

static int split_command(struct pctx *c, const struct ens_ynode *n, const char *path, ens_policy_service_t *s)
{
    if (n->type == ENS_Y_SCALAR && !is_null(n)) {
        char *cmd;
        if (get_str(c, n, path, 65536, &cmd) < 0)
            return -1;
        size_t words = 0;
        for (char *q = cmd; *q;) {
            while (*q && isspace((unsigned char)*q))
                q++;
            if (!*q)
                break;
            words++;
            while (*q && !isspace((unsigned char)*q))
                q++;
        }
        if (words == 0)
            return perr(c, n, path, "empty command");
        char **argv = aalloc(c->p, (words + 1) * sizeof(char *));
        if (!argv)
            return oom(c);
        size_t w = 0;
        for (char *q = cmd; *q;) {
            while (*q && isspace((unsigned char)*q))
                *q++ = '\0';
            if (!*q)
                break;
            argv[w++] = q;
            while (*q && !isspace((unsigned char)*q))
                q++;
        }
        s->command = argv;
        s->command_count = words;
        return 0;
    }
    if (get_str_list(c, n, path, item_str, false, &s->command, &s->command_count) < 0)
        return -1;
    if (s->command_count == 0)
        return perr(c, n, path, "empty command");
    return 0;
}

static int parse_env(struct pctx *c, const struct ens_ynode *n, const char *path, ens_policy_service_t *s)
{
    if (is_null(n))
        return 0;
    if (need_map(c, n, path) < 0)
        return -1;
    s->environment = aalloc(c->p, (n->n / 2 + 1) * sizeof(*s->environment));
    if (!s->environment)
        return oom(c);
    for (size_t i = 0; i < n->n; i += 2) {
        const struct ens_ynode *k = n->kids[i], *v = n->kids[i + 1];
        char kp[512];
        snprintf(kp, sizeof(kp), "%s.%s", path, k->str);
        if (k->len == 0 || k->len > 1024 || strchr(k->str, '='))
            return perr(c, k, path, "invalid environment variable name '%s'", k->str);
        ens_policy_env_t *e = &s->environment[s->environment_count++];
        e->key = astrdup(c->p, k->str);
        if (!e->key)
            return oom(c);
        if (is_null(v)) {
            e->value = astrdup(c->p, "");
            if (!e->value)
                return oom(c);
        } else if (get_str(c, v, kp, 65536, &e->value) < 0) {
            return -1;
        }
    }
    return 0;
}

/* A copy of an arena list of strings with room for `extra` more (the arena frees nothing before the policy). */
static int grow_strs(struct pctx *c, char ***arr, size_t count, size_t extra)
{
    char **all = aalloc(c->p, (count + extra + 1) * sizeof(char *));
    if (!all)
        return oom(c);
    if (count)
        memcpy(all, *arr, count * sizeof(char *));
    *arr = all;
    return 0;
}

/* Measurements may be given in several fields: each adds to the service's list. */
static int add_measurements(struct pctx *c, const struct ens_ynode *v, const char *fp, ens_policy_service_t *s)
{
    char **m;
    size_t mc;
    if (get_str_list(c, v, fp, item_measurement, true, &m, &mc) < 0 ||
        grow_strs(c, &s->mrenclaves, s->mrenclave_count, mc) < 0)
        return -1;
    if (mc)
        memcpy(s->mrenclaves + s->mrenclave_count, m, mc * sizeof(char *));
    s->mrenclave_count += mc;
    return 0;
}

static int service_attestation_field(struct pctx *c, const struct ens_ynode *k, const struct ens_ynode *v,
                                     const char *fp, void *obj)
{
    if (strcmp(k->str, "mrenclave") && strcmp(k->str, "mrenclaves") && strcmp(k->str, "measurement"))
        return UNKNOWN_FIELD;
    return add_measurements(c, v, fp, obj);
}

static int service_field(struct pctx *c, const struct ens_ynode *k, const struct ens_ynode *v, const char *fp,
                         void *obj)
{
    ens_policy_service_t *s = obj;
    const char *f = k->str;
    if (!strcmp(f, "command"))
        return is_null(v) ? 0 : split_command(c, v, fp, s);
    if (!strcmp(f, "environment"))
        return parse_env(c, v, fp, s);
    if (!strcmp(f, "pwd"))
        return is_null(v) ? 0 : get_abs_path(c, v, fp, &s->pwd);
    if (!strcmp(f, "image_name"))
        return is_null(v) ? 0 : get_name(c, v, fp, &s->image_name);
    if (!strcmp(f, "mrenclaves"))
        return add_measurements(c, v, fp, s);
    if (!strcmp(f, "attestation"))
        return parse_fields(c, v, fp, service_attestation_field, s);
    if (!strcmp(f, "fspf_path"))
        return is_null(v) ? 0 : get_abs_path(c, v, fp, &s->fspf_path);
    if (!strcmp(f, "fspf_key"))
        return is_null(v) ? 0 : get_hex(c, v, fp, 32, 32, &s->fspf_key);
    if (!strcmp(f, "fspf_tag"))
        return is_null(v) ? 0 : get_hex(c, v, fp, 16, 64, &s->fspf_tag);
    if (!strcmp(f, "platforms"))
        return get_str_list(c, v, fp, item_str, false, &s->platforms, &s->platform_count);
    return UNKNOWN_FIELD;
}

static int parse_service(struct pctx *c, const struct ens_ynode *n, const char *path, ens_policy_service_t *s)
{
    if (parse_named(c, n, path, service_field, s, &s->name) < 0)
        return -1;
    /* duplicate measurements are harmless but make the canonical form ambiguous: drop them */
    size_t w = 0;
    for (size_t i = 0; i < s->mrenclave_count; i++) {
        bool dup = false;
        for (size_t j = 0; j < w; j++)
            if (!strcmp(s->mrenclaves[j], s->mrenclaves[i]))
                dup = true;
        if (!dup)
            s->mrenclaves[w++] = s->mrenclaves[i];
    }
    s->mrenclave_count = w;
    return 0;
}

/* ------------------------------------------------------------------ images */

/* One entry of an image's volumes ({name, path}) or injection_files ({path, content}). */
struct image_entry {
    bool vols;
    char *path;
    char *other; /* the volume's name, or the file's content */
};

static int image_entry_field(struct pctx *c, const struct ens_ynode *k, const struct ens_ynode *v, const char *fp,
                             void *obj)
{
    struct image_entry *e = obj;
    if (e->vols && !strcmp(k->str, "name"))
        return get_name(c, v, fp, &e->other);
    if (!strcmp(k->str, "path"))
        return get_abs_path(c, v, fp, &e->path);
    if (!e->vols && !strcmp(k->str, "content")) {
        if (!is_null(v))
            return get_str(c, v, fp, ENS_POLICY_MAX_SIZE, &e->other);
        e->other = astrdup(c->p, "");
        return e->other ? 0 : oom(c);
    }
    return UNKNOWN_FIELD;
}

static int parse_image_entries(struct pctx *c, const struct ens_ynode *v, const char *fp, bool vols,
                               ens_policy_image_t *im)
{
    if (is_null(v))
        return 0;
    if (need_seq(c, v, fp) < 0)
        return -1;
    if (vols) {
        im->volumes = aalloc(c->p, (v->n + 1) * sizeof(*im->volumes));
        if (!im->volumes)
            return oom(c);
    } else {
        im->injection_files = aalloc(c->p, (v->n + 1) * sizeof(*im->injection_files));
        if (!im->injection_files)
            return oom(c);
    }
    for (size_t j = 0; j < v->n; j++) {
        const struct ens_ynode *en = v->kids[j];
        char ep[360];
        snprintf(ep, sizeof(ep), "%s[%zu]", fp, j);
        struct image_entry e = {.vols = vols};
        if (parse_fields(c, en, ep, image_entry_field, &e) < 0)
            return -1;
        if (!e.other)
            return missing_field(c, en, ep, vols ? "name" : "content");
        if (!e.path)
            return missing_field(c, en, ep, "path");
        for (size_t q = 0; q < j; q++) {
            const char *other = vols ? im->volumes[q].path : im->injection_files[q].path;
            if (!strcmp(other, e.path))
                return perr(c, en, ep, "duplicate path '%s'", e.path);
        }
        if (vols)
            im->volumes[im->volume_count++] = (ens_policy_image_volume_t){.name = e.other, .path = e.path};
        else
            im->injection_files[im->injection_file_count++] =
                (ens_policy_injection_file_t){.path = e.path, .content = e.other};
    }
    return 0;
}

static int image_field(struct pctx *c, const struct ens_ynode *k, const struct ens_ynode *v, const char *fp,
                       void *obj)
{
    if (!strcmp(k->str, "volumes") || !strcmp(k->str, "injection_files"))
        return parse_image_entries(c, v, fp, k->str[0] == 'v', obj);
    return UNKNOWN_FIELD;
}

static int parse_image(struct pctx *c, const struct ens_ynode *n, const char *path, ens_policy_image_t *im)
{
    return parse_named(c, n, path, image_field, im, &im->name);
}

/* ------------------------------------------------------------------ export / import */

static int export_field(struct pctx *c, const struct ens_ynode *k, const struct ens_ynode *v, const char *fp,
                        void *obj)
{
    if (strcmp(k->str, "session"))
        return UNKNOWN_FIELD;
    return get_session_ref(c, v, fp, obj);
}

static int parse_export(struct pctx *c, const struct ens_ynode *v, const char *fp, char ***out, size_t *count)
{
    if (is_null(v))
        return 0;
    /* export: [{session: A}, …]; a single mapping or bare session names are accepted too */
    const struct ens_ynode *const *items;
    size_t n;
    if (one_or_list(c, &v, fp, &items, &n) < 0)
        return -1;
    char **list = aalloc(c->p, (n + 1) * sizeof(char *));
    if (!list)
        return oom(c);
    for (size_t i = 0; i < n; i++) {
        const struct ens_ynode *e = items[i];
        char ep[400];
        snprintf(ep, sizeof(ep), "%s[%zu]", fp, i);
        if (e->type == ENS_Y_SCALAR) {
            if (get_session_ref(c, e, ep, &list[i]) < 0)
                return -1;
            continue;
        }
        list[i] = NULL;
        if (parse_fields(c, e, ep, export_field, &list[i]) < 0)
            return -1;
        if (!list[i])
            return missing_field(c, e, ep, "session");
    }
    *out = list;
    *count = n;
    return 0;
}

/* import: {session: S, <what>: NAME} */
struct import_ref {
    const char *what;
    char **session, **name;
};

static int import_field(struct pctx *c, const struct ens_ynode *k, const struct ens_ynode *v, const char *fp,
                        void *obj)
{
    struct import_ref *ir = obj;
    if (!strcmp(k->str, "session"))
        return get_session_ref(c, v, fp, ir->session);
    if (!strcmp(k->str, ir->what))
        return get_name(c, v, fp, ir->name);
    return UNKNOWN_FIELD;
}

static int parse_import(struct pctx *c, const struct ens_ynode *v, const char *fp, const char *what, char **session,
                        char **name)
{
    struct import_ref ir = {.what = what, .session = session, .name = name};
    if (parse_fields(c, v, fp, import_field, &ir) < 0)
        return -1;
    const char *absent = !*session ? "session" : !*name ? what : NULL;
    return absent ? missing_field(c, v, fp, absent) : 0;
}

/* ------------------------------------------------------------------ volumes */

static int volume_field(struct pctx *c, const struct ens_ynode *k, const struct ens_ynode *v, const char *fp,
                        void *obj)
{
    ens_policy_volume_t *vol = obj;
    if (!strcmp(k->str, "fspf_key"))
        return is_null(v) ? 0 : get_hex(c, v, fp, 32, 32, &vol->fspf_key);
    if (!strcmp(k->str, "fspf_tag"))
        return is_null(v) ? 0 : get_hex(c, v, fp, 16, 64, &vol->fspf_tag);
    if (!strcmp(k->str, "export"))
        return parse_export(c, v, fp, &vol->export_sessions, &vol->export_count);
    if (!strcmp(k->str, "import"))
        return parse_import(c, v, fp, "volume", &vol->import_session, &vol->import_volume);
    return UNKNOWN_FIELD;
}

static int parse_volume(struct pctx *c, const struct ens_ynode *n, const char *path, ens_policy_volume_t *vol)
{
    if (parse_named(c, n, path, volume_field, vol, &vol->name) < 0)
        return -1;
    if (vol->import_session && (vol->fspf_key || vol->fspf_tag))
        return perr(c, n, path, "an imported volume takes its key and tag from the exporting session");
    return 0;
}

/* ------------------------------------------------------------------ secrets */

/* Names of enumeration values in the session language. */
struct name_value {
    const char *name;
    int value;
};

/* The value that scalar v names in table t (letter case ignored when nocase), or -1. */
static int lookup_name(const struct name_value *t, size_t n, const struct ens_ynode *v, bool nocase)
{
    if (v->type == ENS_Y_SCALAR)
        for (size_t i = 0; i < n; i++)
            if (!(nocase ? strcasecmp(v->str, t[i].name) : strcmp(v->str, t[i].name)))
                return t[i].value;
    return -1;
}

static int parse_kind(struct pctx *c, const struct ens_ynode *v, const char *fp, ens_secret_kind_t *k)
{
    static const struct name_value kinds[] = {
        {"ascii", ENS_SECRET_ASCII},           {"binary", ENS_SECRET_BINARY},
        {"private-key", ENS_SECRET_PRIVATE_KEY}, {"x509", ENS_SECRET_X509},
        {"x509-ca", ENS_SECRET_X509_CA},
    };
    int kind = lookup_name(kinds, sizeof(kinds) / sizeof(kinds[0]), v, false);
    if (kind < 0)
        return perr(c, v, fp, "unknown secret kind (expected ascii, binary, private-key, x509 or x509-ca)");
    *k = (ens_secret_kind_t)kind;
    return 0;
}

static int parse_key_type(struct pctx *c, const struct ens_ynode *v, const char *fp, ens_key_type_t *t)
{
    static const struct name_value types[] = {
        {"ec-p256", ENS_KEY_EC_P256}, {"p-256", ENS_KEY_EC_P256},   {"prime256v1", ENS_KEY_EC_P256},
        {"secp256r1", ENS_KEY_EC_P256}, {"ec", ENS_KEY_EC_P256},    {"ec-p384", ENS_KEY_EC_P384},
        {"p-384", ENS_KEY_EC_P384},   {"secp384r1", ENS_KEY_EC_P384}, {"ed25519", ENS_KEY_ED25519},
        {"rsa-3072", ENS_KEY_RSA_3072}, {"rsa", ENS_KEY_RSA_3072},  {"rsa3072", ENS_KEY_RSA_3072},
    };
    int type = lookup_name(types, sizeof(types) / sizeof(types[0]), v, true);
    if (type < 0)
        return perr(c, v, fp, "unknown key_type (expected ec-p256, ec-p384, ed25519 or rsa-3072)");
    *t = (ens_key_type_t)type;
    return 0;
}

/* valid_for: days as an integer, or "N", "Nd", "N days", "Ny", "N years". */
static int parse_valid_for(struct pctx *c, const struct ens_ynode *v, const char *fp, uint32_t *days)
{
    if (v->type != ENS_Y_SCALAR || is_null(v) || v->len > 32)
        return perr(c, v, fp, "expected a number of days (e.g. 365, \"90 days\", \"2 years\")");
    const char *s = v->str;
    char *end;
    if (!isdigit((unsigned char)*s))
        return perr(c, v, fp, "expected a number of days (e.g. 365, \"90 days\", \"2 years\")");
    errno = 0;
    unsigned long n = strtoul(s, &end, 10);
    while (*end == ' ')
        end++;
    unsigned long mult = 1;
    if (!*end || !strcmp(end, "d") || !strcmp(end, "day") || !strcmp(end, "days"))
        mult = 1;
    else if (!strcmp(end, "y") || !strcmp(end, "year") || !strcmp(end, "years"))
        mult = 365;
    else
        return perr(c, v, fp, "unknown unit '%s' (use days or years)", end);
    if (errno || n == 0 || n > 36500 || n * mult > 36500)
        return perr(c, v, fp, "validity must be between 1 day and 100 years");
    *days = (uint32_t)(n * mult);
    return 0;
}

/* dns, san and ip: names go to dns and addresses to ips; `dns` takes no address and `ip` nothing else. */
static int secret_names(struct pctx *c, const char *f, const struct ens_ynode *v, const char *fp,
                        ens_policy_secret_t *s)
{
    char **l;
    size_t lc;
    if (get_str_list(c, v, fp, item_str, true, &l, &lc) < 0)
        return -1;
    if (grow_strs(c, &s->dns, s->dns_count, lc) < 0 || grow_strs(c, &s->ips, s->ip_count, lc) < 0)
        return -1;
    for (size_t j = 0; j < lc; j++) {
        char ip[360];
        snprintf(ip, sizeof(ip), "%s[%zu]", fp, j);
        const struct ens_ynode *item = v->type == ENS_Y_SEQ ? v->kids[j] : v;
        if (is_ip(l[j])) {
            if (!strcmp(f, "dns"))
                return perr(c, item, ip, "'%s' is an IP address: list it under san or ip", l[j]);
            s->ips[s->ip_count++] = l[j];
        } else {
            if (!strcmp(f, "ip"))
                return perr(c, item, ip, "'%s' is not an IP address", l[j]);
            char *d;
            if (item_dns(c, item, ip, &d) < 0)
                return -1;
            s->dns[s->dns_count++] = d;
        }
    }
    return 0;
}

/* A secret's fields, and the nodes that later checks point at. */
struct secret_fields {
    ens_policy_secret_t *s;
    const struct ens_ynode *kind, *size, *value, *keyt;
    const struct ens_ynode *x509f; /* first x509-only field, for kind checks */
};

static int secret_field(struct pctx *c, const struct ens_ynode *k, const struct ens_ynode *v, const char *fp,
                        void *obj)
{
    struct secret_fields *sf = obj;
    ens_policy_secret_t *s = sf->s;
    const char *f = k->str;
    if (!strcmp(f, "name")) {
        if (get_name(c, v, fp, &s->name) < 0)
            return -1;
        if (s->name[0] == '.') /* reserved for internal secrets such as ENS_SESSION_CA_SECRET */
            return perr(c, v, fp, "secret names may not start with '.'");
        return 0;
    }
    if (!strcmp(f, "kind")) {
        sf->kind = v;
        return parse_kind(c, v, fp, &s->kind);
    }
    if (!strcmp(f, "size")) {
        sf->size = v;
        unsigned long long sz = 0;
        int r = get_uint(c, v, fp, MAX_SECRET_SIZE, &sz);
        if (r == 0 && sz == 0)
            r = perr(c, v, fp, "size must be at least 1");
        s->size = (size_t)sz;
        return r;
    }
    if (!strcmp(f, "value")) {
        sf->value = v;
        if (v->type != ENS_Y_SCALAR || is_null(v))
            return perr(c, v, fp, "expected a string");
        if (v->len > MAX_SECRET_SIZE)
            return perr(c, v, fp, "longer than %d bytes", MAX_SECRET_SIZE);
        return 0;
    }
    if (!strcmp(f, "key_type")) {
        sf->keyt = v;
        return parse_key_type(c, v, fp, &s->key_type);
    }
    if (!strcmp(f, "export"))
        return parse_export(c, v, fp, &s->export_sessions, &s->export_count);
    if (!strcmp(f, "export_public"))
        return get_bool(c, v, fp, &s->export_public);
    if (!strcmp(f, "import"))
        return parse_import(c, v, fp, "secret", &s->import_session, &s->import_secret);
    /* the rest apply to x509 and x509-ca secrets only */
    int r;
    if (!strcmp(f, "private_key")) {
        r = get_name(c, v, fp, &s->private_key);
    } else if (!strcmp(f, "issuer")) {
        r = get_name(c, v, fp, &s->issuer);
    } else if (!strcmp(f, "common_name")) {
        r = get_str(c, v, fp, 64, &s->common_name);
        if (r == 0 && !*s->common_name)
            r = perr(c, v, fp, "must not be empty");
    } else if (!strcmp(f, "dns") || !strcmp(f, "san") || !strcmp(f, "ip")) {
        r = secret_names(c, f, v, fp, s);
    } else if (!strcmp(f, "valid_for")) {
        r = parse_valid_for(c, v, fp, &s->valid_for_days);
    } else {
        return UNKNOWN_FIELD;
    }
    sf->x509f = sf->x509f ? sf->x509f : k;
    return r;
}

static int parse_secret(struct pctx *c, const struct ens_ynode *n, const char *path, ens_policy_secret_t *s)
{
    struct secret_fields sf = {.s = s};
    if (parse_fields(c, n, path, secret_field, &sf) < 0)
        return -1;
    const struct ens_ynode *size = sf.size, *value = sf.value, *keyt = sf.keyt, *x509f = sf.x509f;
    if (!s->name)
        return missing_field(c, n, path, "name");
    if (!sf.kind && !s->import_session)
        return missing_field(c, n, path, "kind");
    s->kind_set = sf.kind != NULL;
    if (s->import_session) {
        if (value || size || keyt || x509f)
            return perr(c, n, path, "an imported secret takes its value from the exporting session");
        if (s->export_count || s->export_public)
            return perr(c, n, path, "an imported secret cannot be exported again");
        return 0;
    }
    bool x509 = s->kind == ENS_SECRET_X509 || s->kind == ENS_SECRET_X509_CA;
    if (x509f && !x509)
        return perr(c, x509f, path, "field '%s' applies to x509 and x509-ca secrets only", x509f->str);
    if (size && s->kind != ENS_SECRET_ASCII && s->kind != ENS_SECRET_BINARY)
        return perr(c, size, path, "'size' applies to ascii and binary secrets only");
    if (keyt && s->kind != ENS_SECRET_PRIVATE_KEY && !x509)
        return perr(c, keyt, path, "'key_type' applies to private-key, x509 and x509-ca secrets only");
    if (keyt && s->private_key)
        return perr(c, keyt, path, "'key_type' conflicts with 'private_key' (the key's own type is used)");
    if (!size)
        s->size = s->kind == ENS_SECRET_ASCII ? 20 : 32;
    if (!s->valid_for_days)
        s->valid_for_days = s->kind == ENS_SECRET_X509_CA ? 3650 : 365;
    if (!s->common_name && x509) {
        s->common_name = astrdup(c->p, s->name);
        if (!s->common_name)
            return oom(c);
    }
    if (value) {
        char fp[320];
        snprintf(fp, sizeof(fp), "%s.value", path);
        switch (s->kind) {
        case ENS_SECRET_ASCII:
            for (size_t i = 0; i < value->len; i++)
                if (value->str[i] == '\0')
                    return perr(c, value, fp, "NUL character not allowed");
            s->value = astrndup(c->p, value->str, value->len);
            s->value_len = value->len;
            if (size && value->len != s->size)
                return perr(c, value, fp, "length %zu does not match size %zu", value->len, s->size);
            s->size = value->len;
            break;
        case ENS_SECRET_BINARY: {
            /* binary values are written in base64 (SCONE's convention) */
            unsigned char *raw = NULL;
            size_t rl = 0;
            if (ens_b64_decode(value->str, value->len, &raw, &rl) < 0)
                return perr(c, value, fp, "binary values must be base64");
            s->value = astrndup(c->p, (const char *)raw, rl);
            s->value_len = rl;
            ens_wipe(raw, rl);
            free(raw);
            if (size && rl != s->size)
                return perr(c, value, fp, "decoded length %zu does not match size %zu", rl, s->size);
            s->size = rl;
            break;
        }
        case ENS_SECRET_PRIVATE_KEY: {
            BIO *b = BIO_new_mem_buf(value->str, (int)value->len);
            EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
            BIO_free(b);
            if (!k)
                return perr(c, value, fp, "not a PEM private key");
            int id = EVP_PKEY_get_base_id(k);
            EVP_PKEY_free(k);
            if (id != EVP_PKEY_EC && id != EVP_PKEY_RSA && id != EVP_PKEY_ED25519)
                return perr(c, value, fp, "unsupported private key algorithm");
            s->value = astrndup(c->p, value->str, value->len);
            s->value_len = value->len;
            break;
        }
        case ENS_SECRET_X509:
        case ENS_SECRET_X509_CA: {
            BIO *b = BIO_new_mem_buf(value->str, (int)value->len);
            X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
            BIO_free(b);
            if (!x)
                return perr(c, value, fp, "not a PEM certificate");
            X509_free(x);
            if (s->issuer)
                return perr(c, value, fp, "an explicit certificate cannot also name an issuer");
            s->value = astrndup(c->p, value->str, value->len);
            s->value_len = value->len;
            break;
        }
        }
        if (!s->value)
            return oom(c);
    }
    return 0;
}

/* ------------------------------------------------------------------ access policy & security */

static int item_principal(struct pctx *c, const struct ens_ynode *n, const char *path, ens_policy_principal_t *pr)
{
    if (n->type != ENS_Y_SCALAR || is_null(n))
        return perr(c, n, path, "expected CREATOR, ANY, NONE or a key hash");
    if (!strcmp(n->str, "CREATOR")) {
        pr->kind = ENS_PRINCIPAL_CREATOR;
    } else if (!strcmp(n->str, "ANY")) {
        pr->kind = ENS_PRINCIPAL_ANY;
    } else if (!strcmp(n->str, "NONE")) {
        pr->kind = ENS_PRINCIPAL_NONE;
    } else {
        char *h;
        if (n->len != 64)
            return perr(c, n, path, "expected CREATOR, ANY, NONE or a 64-hex-digit key hash");
        if (get_hex(c, n, path, 32, 32, &h) < 0)
            return -1;
        pr->kind = ENS_PRINCIPAL_KEY;
        memcpy(pr->hash, h, 65);
    }
    return 0;
}

static int access_field(struct pctx *c, const struct ens_ynode *k, const struct ens_ynode *v, const char *fp,
                        void *obj)
{
    (void)obj;
    int op;
    if (!strcmp(k->str, "read"))
        op = ENS_POLICY_OP_READ;
    else if (!strcmp(k->str, "update"))
        op = ENS_POLICY_OP_UPDATE;
    else if (!strcmp(k->str, "create_sessions"))
        op = ENS_POLICY_OP_CREATE_SESSIONS;
    else
        return UNKNOWN_FIELD;
    const struct ens_ynode *const *items;
    size_t cnt;
    if (one_or_list(c, &v, fp, &items, &cnt) < 0)
        return -1;
    if (cnt == 0)
        return perr(c, v, fp, "empty list (write [NONE] to allow no one)");
    ens_policy_principal_t *list = aalloc(c->p, cnt * sizeof(*list));
    if (!list)
        return oom(c);
    size_t w = 0;
    for (size_t j = 0; j < cnt; j++) {
        char ip[360];
        snprintf(ip, sizeof(ip), v->type == ENS_Y_SEQ ? "%s[%zu]" : "%s", fp, j);
        ens_policy_principal_t pr = {0};
        if (item_principal(c, items[j], ip, &pr) < 0)
            return -1;
        bool dup = false;
        for (size_t q = 0; q < w; q++)
            if (list[q].kind == pr.kind && !strcmp(list[q].hash, pr.hash))
                dup = true;
        if (!dup)
            list[w++] = pr;
    }
    c->p->access[op] = list;
    c->p->access_count[op] = w;
    return 0;
}

static int parse_access(struct pctx *c, const struct ens_ynode *n, const char *path)
{
    return parse_fields(c, n, path, access_field, NULL);
}

static int attestation_policy_field(struct pctx *c, const struct ens_ynode *ak, const struct ens_ynode *av,
                                    const char *fp, void *obj)
{
    ens_policy_attestation_t *a = obj;
    if (!strcmp(ak->str, "mode")) {
        if (av->type == ENS_Y_SCALAR && !strcmp(av->str, "hardware"))
            a->mode = ENS_ATTEST_HARDWARE;
        else if (av->type == ENS_Y_SCALAR && !strcmp(av->str, "simulation"))
            a->mode = ENS_ATTEST_SIMULATION;
        else if (av->type == ENS_Y_SCALAR && !strcmp(av->str, "none"))
            a->mode = ENS_ATTEST_NONE;
        else
            return perr(c, av, fp, "expected hardware, simulation or none");
    } else if (!strcmp(ak->str, "tolerate")) {
        char **l;
        size_t lc;
        if (get_str_list(c, av, fp, item_str, true, &l, &lc) < 0)
            return -1;
        for (size_t q = 0; q < lc; q++) {
            static const struct {
                const char *name;
                unsigned bit;
            } tol[] = {
                {"debug-mode", ENS_TOLERATE_DEBUG_MODE},
                {"hyperthreading", ENS_TOLERATE_HYPERTHREADING},
                {"outdated-tcb", ENS_TOLERATE_OUTDATED_TCB},
                {"software-hardening-needed", ENS_TOLERATE_SOFTWARE_HARDENING_NEEDED},
                {"insecure-configuration", ENS_TOLERATE_INSECURE_CONFIGURATION},
            };
            unsigned bit = 0;
            for (size_t t = 0; t < sizeof(tol) / sizeof(tol[0]); t++)
                if (!strcmp(l[q], tol[t].name))
                    bit = tol[t].bit;
            if (!bit)
                return perr(c, av->type == ENS_Y_SEQ ? av->kids[q] : av, fp,
                            "unknown toleration '%s' (expected debug-mode, hyperthreading, outdated-tcb, "
                            "software-hardening-needed or insecure-configuration)",
                            l[q]);
            a->tolerate |= bit;
        }
    } else if (!strcmp(ak->str, "ignore_advisories")) {
        if (av->type == ENS_Y_SCALAR && !strcmp(av->str, "*")) {
            a->ignore_all_advisories = true;
            return 0;
        }
        char **l;
        size_t lc;
        if (get_str_list(c, av, fp, item_str, false, &l, &lc) < 0)
            return -1;
        size_t w = 0;
        for (size_t q = 0; q < lc; q++) {
            if (!strcmp(l[q], "*")) {
                a->ignore_all_advisories = true;
                continue;
            }
            for (const char *t = l[q]; *t; t++)
                if (!(isalnum((unsigned char)*t) || *t == '-' || *t == '_' || *t == '.'))
                    return perr(c, av->kids[q], fp, "invalid advisory id '%s'", l[q]);
            bool dup = false;
            for (size_t x = 0; x < w; x++)
                if (!strcmp(l[x], l[q]))
                    dup = true;
            if (!dup)
                l[w++] = l[q];
        }
        if (!a->ignore_all_advisories) {
            a->ignore_advisories = l;
            a->ignore_advisory_count = w;
        }
    } else {
        return UNKNOWN_FIELD;
    }
    return 0;
}

static int security_field(struct pctx *c, const struct ens_ynode *k, const struct ens_ynode *v, const char *fp,
                          void *obj)
{
    if (strcmp(k->str, "attestation"))
        return UNKNOWN_FIELD;
    return parse_fields(c, v, fp, attestation_policy_field, obj);
}

static int parse_security(struct pctx *c, const struct ens_ynode *n, const char *path)
{
    return parse_fields(c, n, path, security_field, &c->p->attestation);
}

/* ------------------------------------------------------------------ cross references */

static const struct ens_ynode *seq_item(const struct ens_ynode *seq, size_t i) { return seq ? seq->kids[i] : NULL; }

/* The value node of field `key` in the mapping that is item i of seq (for error positions), else the item. */
static const struct ens_ynode *item_field(const struct ens_ynode *seq, size_t i, const char *key)
{
    const struct ens_ynode *m = seq_item(seq, i);
    if (m && m->type == ENS_Y_MAP)
        for (size_t j = 0; j + 1 < m->n; j += 2)
            if (!strcmp(m->kids[j]->str, key))
                return m->kids[j + 1];
    return m;
}

/* qsort has no context argument in C17; the CAS may parse on several threads, hence thread-local. */
static _Thread_local const ens_policy_secret_t *secret_sort_base;

static int cmp_secret_idx(const void *a, const void *b)
{
    return strcmp(secret_sort_base[*(const size_t *)a].name, secret_sort_base[*(const size_t *)b].name);
}

/* Field `field` of secret i names another secret, which must exist and be of kind `kind` (`what`). */
static int check_secret_ref(struct pctx *c, const struct ens_ynode *sec, size_t i, const char *field,
                            const char *ref, ens_secret_kind_t kind, const char *what)
{
    char path[128];
    snprintf(path, sizeof(path), "secrets[%zu].%s", i, field);
    const ens_policy_secret_t *k = ens_policy_secret_find(c->p, ref);
    if (!k)
        return perr(c, item_field(sec, i, field), path, "no secret named '%s'", ref);
    if (k->kind != kind)
        return perr(c, item_field(sec, i, field), path, "secret '%s' is not %s", ref, what);
    return 0;
}

static int check_refs(struct pctx *c, const struct ens_ynode *svc, const struct ens_ynode *img,
                      const struct ens_ynode *vol, const struct ens_ynode *sec)
{
    ens_policy_t *p = c->p;
    char path[128];
    size_t maxn = p->service_count > p->image_count ? p->service_count : p->image_count;
    if (p->volume_count > maxn)
        maxn = p->volume_count;
    if (p->secret_count > maxn)
        maxn = p->secret_count;
    struct keyref *refs = malloc((maxn + 1) * sizeof(*refs));
    if (!refs)
        return oom(c);
    long dup;
#define DUPCHECK(arr, cnt, node, label)                                                                          \
    for (size_t i = 0; i < p->cnt; i++)                                                                         \
        refs[i] = (struct keyref){p->arr[i].name, strlen(p->arr[i].name), i};                                  \
    if ((dup = find_duplicate(refs, p->cnt)) >= 0) {                                                             \
        free(refs);                                                                                              \
        snprintf(path, sizeof(path), "%s[%ld].name", label, dup);                                               \
        return perr(c, item_field(node, (size_t)dup, "name"), path, "duplicate name '%s'", p->arr[dup].name);           \
    }
    DUPCHECK(services, service_count, svc, "services")
    DUPCHECK(images, image_count, img, "images")
    DUPCHECK(volumes, volume_count, vol, "volumes")
    DUPCHECK(secrets, secret_count, sec, "secrets")
#undef DUPCHECK
    free(refs);
    if (p->secret_count) {
        p->secret_index = aalloc(p, p->secret_count * sizeof(size_t));
        if (!p->secret_index)
            return oom(c);
        for (size_t i = 0; i < p->secret_count; i++)
            p->secret_index[i] = i;
        secret_sort_base = p->secrets;
        qsort(p->secret_index, p->secret_count, sizeof(size_t), cmp_secret_idx);
        secret_sort_base = NULL;
    }
    for (size_t i = 0; i < p->service_count; i++) {
        const ens_policy_service_t *s = &p->services[i];
        if (s->image_name && !ens_policy_image_find(p, s->image_name)) {
            snprintf(path, sizeof(path), "services[%zu].image_name", i);
            return perr(c, item_field(svc, i, "image_name"), path, "no image named '%s' in images", s->image_name);
        }
    }
    for (size_t i = 0; i < p->image_count; i++)
        for (size_t j = 0; j < p->images[i].volume_count; j++)
            if (!ens_policy_volume_find(p, p->images[i].volumes[j].name)) {
                snprintf(path, sizeof(path), "images[%zu].volumes[%zu].name", i, j);
                return perr(c, item_field(img, i, "volumes"), path, "no volume named '%s' in volumes",
                            p->images[i].volumes[j].name);
            }
    for (size_t i = 0; i < p->secret_count; i++) {
        const ens_policy_secret_t *s = &p->secrets[i];
        if (s->private_key &&
            check_secret_ref(c, sec, i, "private_key", s->private_key, ENS_SECRET_PRIVATE_KEY, "a private-key") < 0)
            return -1;
        if (s->issuer) {
            if (check_secret_ref(c, sec, i, "issuer", s->issuer, ENS_SECRET_X509_CA, "an x509-ca") < 0)
                return -1;
            snprintf(path, sizeof(path), "secrets[%zu].issuer", i);
            /* issuer chains must end, and stay short (materialisation recurses along them) */
            const ens_policy_secret_t *w = s;
            size_t steps = 0;
            while (w && w->issuer) {
                if (++steps > MAX_CHAIN)
                    return perr(c, item_field(sec, i, "issuer"), path,
                                "issuer chain of '%s' loops or is longer than %d certificates", s->name, MAX_CHAIN);
                w = ens_policy_secret_find(p, w->issuer);
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ top level */

static int parse_list(struct pctx *c, const struct ens_ynode *v, const char *name, size_t elem, void **arr,
                      size_t *count, int (*fn)(struct pctx *, const struct ens_ynode *, const char *, void *))
{
    if (is_null(v))
        return 0;
    if (need_seq(c, v, name) < 0)
        return -1;
    char *a = aalloc(c->p, (v->n + 1) * elem);
    if (!a)
        return oom(c);
    for (size_t i = 0; i < v->n; i++) {
        char path[64];
        snprintf(path, sizeof(path), "%s[%zu]", name, i);
        if (fn(c, v->kids[i], path, a + i * elem) < 0)
            return -1;
    }
    *arr = a;
    *count = v->n;
    return 0;
}

static int svc_fn(struct pctx *c, const struct ens_ynode *n, const char *p, void *o) { return parse_service(c, n, p, o); }
static int img_fn(struct pctx *c, const struct ens_ynode *n, const char *p, void *o) { return parse_image(c, n, p, o); }
static int vol_fn(struct pctx *c, const struct ens_ynode *n, const char *p, void *o) { return parse_volume(c, n, p, o); }
static int sec_fn(struct pctx *c, const struct ens_ynode *n, const char *p, void *o) { return parse_secret(c, n, p, o); }

static int parse_root(struct pctx *c, const struct ens_ynode *root)
{
    ens_policy_t *p = c->p;
    if (root->type != ENS_Y_MAP)
        return perr(c, root, "session", "expected a mapping at the top level, got %s", type_name(root));
    if (need_map(c, root, "session") < 0)
        return -1;
    const struct ens_ynode *name = NULL, *version = NULL, *svc = NULL, *img = NULL, *vol = NULL, *sec = NULL;
    for (size_t i = 0; i < root->n; i += 2) {
        const struct ens_ynode *k = root->kids[i], *v = root->kids[i + 1];
        const char *f = k->str;
        int r = 0;
        if (!strcmp(f, "name")) {
            name = v;
            char *nm;
            r = get_str(c, v, "name", 1024, &nm);
            if (r == 0 && !ens_policy_name_valid(nm))
                r = perr(c, v, "name",
                         "invalid session name '%s' (expected [A-Za-z0-9_.~-]{1,128}, namespaces as parent/child)",
                         nm);
            p->name = nm;
        } else if (!strcmp(f, "version")) {
            version = v;
            if (v->type != ENS_Y_SCALAR || strcmp(v->str, ENS_POLICY_VERSION))
                r = perr(c, v, "version", "unsupported version '%s' (expected \"" ENS_POLICY_VERSION "\")",
                         v->type == ENS_Y_SCALAR ? v->str : "?");
        } else if (!strcmp(f, "predecessor")) {
            r = is_null(v) ? 0 : get_hex(c, v, "predecessor", 32, 32, &p->predecessor);
        } else if (!strcmp(f, "services")) {
            svc = v;
            r = parse_list(c, v, "services", sizeof(ens_policy_service_t), (void **)&p->services, &p->service_count,
                           svc_fn);
        } else if (!strcmp(f, "images")) {
            img = v;
            r = parse_list(c, v, "images", sizeof(ens_policy_image_t), (void **)&p->images, &p->image_count, img_fn);
        } else if (!strcmp(f, "volumes")) {
            vol = v;
            r = parse_list(c, v, "volumes", sizeof(ens_policy_volume_t), (void **)&p->volumes, &p->volume_count,
                           vol_fn);
        } else if (!strcmp(f, "secrets")) {
            sec = v;
            r = parse_list(c, v, "secrets", sizeof(ens_policy_secret_t), (void **)&p->secrets, &p->secret_count,
                           sec_fn);
        } else if (!strcmp(f, "access_policy")) {
            r = is_null(v) ? 0 : parse_access(c, v, "access_policy");
        } else if (!strcmp(f, "security")) {
            r = is_null(v) ? 0 : parse_security(c, v, "security");
        } else {
            return unknown_field(c, k, "session");
        }
        if (r < 0)
            return -1;
    }
    if (!name)
        return perr(c, root, "session", "missing required field 'name'");
    if (!version)
        return perr(c, root, "session", "missing required field 'version' (\"" ENS_POLICY_VERSION "\")");
    const char *slash = strrchr(p->name, '/');
    if (slash) {
        p->parent = astrndup(p, p->name, (size_t)(slash - p->name));
        if (!p->parent)
            return oom(c);
    }
    static ens_policy_principal_t creator = {.kind = ENS_PRINCIPAL_CREATOR};
    for (int op = 0; op < 3; op++)
        if (!p->access[op]) {
            p->access[op] = &creator;
            p->access_count[op] = 1;
        }
    return check_refs(c, svc, img, vol, sec);
}

int ens_policy_parse(const char *yaml, size_t len, const char *source, ens_policy_t **out, ens_error_t *err)
{
    *out = NULL;
    if (!source)
        source = "session";
    if (len > ENS_POLICY_MAX_SIZE)
        return ens_error(err, E2BIG, "%s: session is %zu bytes, more than the limit of %d", source, len,
                         ENS_POLICY_MAX_SIZE);
    int line, col;
    if (!ens_utf8_valid(yaml, len, &line, &col))
        return ens_error(err, EILSEQ, "%s:%d:%d: invalid UTF-8", source, line, col);
    if (memchr(yaml, '\0', len)) {
        ens_utf8_valid(yaml, (size_t)((const char *)memchr(yaml, '\0', len) - yaml), &line, &col);
        return ens_error(err, EINVAL, "%s: NUL byte in the session text", source);
    }
    struct ens_ynode *root = NULL;
    if (ens_yaml_load(yaml, len, source, &root, err) < 0)
        return -1;
    ens_policy_t *p = calloc(1, sizeof(*p));
    if (!p) {
        ens_yaml_free(root);
        return ens_error(err, ENOMEM, "%s: out of memory", source);
    }
    struct pctx c = {.p = p, .src = source, .err = err};
    int rc = parse_root(&c, root);
    ens_yaml_free(root);
    if (rc < 0) {
        ens_policy_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

int ens_policy_parse_file(const char *path, bool use_env, ens_policy_t **out, ens_error_t *err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    if (!strcmp(path, "-")) {
        if (ens_read_fd(0, ENS_POLICY_MAX_SIZE, &buf, &len, err) < 0)
            return ens_error_wrap(err, "standard input");
        path = "<stdin>";
    } else if (ens_read_file(path, ENS_POLICY_MAX_SIZE, &buf, &len, err) < 0) {
        return -1;
    }
    if (use_env) {
        _cleanup_free_ char *exp = NULL;
        size_t el = 0;
        if (ens_policy_expand_env(buf, len, &exp, &el, err) < 0)
            return ens_error_wrap(err, "%s", path);
        return ens_policy_parse(exp, el, path, out, err);
    }
    return ens_policy_parse(buf, len, path, out, err);
}

int ens_policy_check_create(const ens_policy_t *p, ens_error_t *err)
{
    if (p->predecessor)
        return ens_error(err, EINVAL, "session %s: predecessor is forbidden when creating a session", p->name);
    return 0;
}

/* ------------------------------------------------------------------ --use-env */

int ens_policy_expand_env(const char *text, size_t len, char **out, size_t *out_len, ens_error_t *err)
{
    size_t cap = len + 64, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return ens_error(err, ENOMEM, "out of memory");
    int line = 1;
    for (size_t i = 0; i < len;) {
        const char *val = NULL;
        size_t consumed = 1;
        char name[256];
        if (text[i] == '$' && i + 1 < len && text[i + 1] == '$') {
            /* "$$" stays (it starts $$SCONE::…$$ references) */
            val = "$$";
            consumed = 2;
        } else if (text[i] == '$' && i + 1 < len && (text[i + 1] == '{' || isalpha((unsigned char)text[i + 1]) ||
                                                     text[i + 1] == '_')) {
            bool brace = text[i + 1] == '{';
            size_t j = i + 1 + brace, nl = 0;
            while (j < len && (isalnum((unsigned char)text[j]) || text[j] == '_') && nl < sizeof(name) - 1)
                name[nl++] = text[j++];
            name[nl] = '\0';
            if (brace) {
                if (nl == 0 || j >= len || text[j] != '}') {
                    free(buf);
                    return ens_error(err, EINVAL, "line %d: malformed ${…} reference", line);
                }
                j++;
            }
            val = getenv(name);
            if (!val) {
                free(buf);
                return ens_error(err, EINVAL, "line %d: environment variable %s is not set", line, name);
            }
            consumed = j - i;
        }
        size_t add = val ? strlen(val) : 1;
        if (n + add + 1 > cap) {
            if (n + add + 1 > (size_t)ENS_POLICY_MAX_SIZE * 4) {
                free(buf);
                return ens_error(err, E2BIG, "session too large after environment substitution");
            }
            cap = (n + add + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return ens_error(err, ENOMEM, "out of memory");
            }
            buf = nb;
        }
        if (val) {
            memcpy(buf + n, val, add);
        } else {
            buf[n] = text[i];
            if (text[i] == '\n')
                line++;
        }
        n += add;
        i += consumed;
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;
}

/* ------------------------------------------------------------------ accessors */

const char *ens_policy_name(const ens_policy_t *p) { return p->name; }
const char *ens_policy_parent_namespace(const ens_policy_t *p) { return p->parent; }
const char *ens_policy_predecessor(const ens_policy_t *p) { return p->predecessor; }

#define ACCESSORS(type, what, arr, cnt)                                                                          \
    size_t ens_policy_##what##_count(const ens_policy_t *p) { return p->cnt; }                                  \
    const type *ens_policy_##what##_at(const ens_policy_t *p, size_t i) { return i < p->cnt ? &p->arr[i] : NULL; } \
    const type *ens_policy_##what##_find(const ens_policy_t *p, const char *name)                               \
    {                                                                                                            \
        for (size_t i = 0; name && i < p->cnt; i++)                                                             \
            if (p->arr[i].name && !strcmp(p->arr[i].name, name))                                               \
                return &p->arr[i];                                                                               \
        return NULL;                                                                                             \
    }
ACCESSORS(ens_policy_service_t, service, services, service_count)
ACCESSORS(ens_policy_image_t, image, images, image_count)
ACCESSORS(ens_policy_volume_t, volume, volumes, volume_count)
size_t ens_policy_secret_count(const ens_policy_t *p) { return p->secret_count; }
const ens_policy_secret_t *ens_policy_secret_at(const ens_policy_t *p, size_t i)
{
    return i < p->secret_count ? &p->secrets[i] : NULL;
}
/* Secrets are looked up constantly (issuers, keys, imports): binary search in a sorted index. */
const ens_policy_secret_t *ens_policy_secret_find(const ens_policy_t *p, const char *name)
{
    if (!name)
        return NULL;
    if (!p->secret_index) {
        for (size_t i = 0; i < p->secret_count; i++)
            if (p->secrets[i].name && !strcmp(p->secrets[i].name, name))
                return &p->secrets[i];
        return NULL;
    }
    size_t lo = 0, hi = p->secret_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(p->secrets[p->secret_index[mid]].name, name);
        if (c == 0)
            return &p->secrets[p->secret_index[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
#undef ACCESSORS

const ens_policy_principal_t *ens_policy_access_list(const ens_policy_t *p, ens_policy_op_t op, size_t *count)
{
    if ((int)op < 0 || op > ENS_POLICY_OP_CREATE_SESSIONS) {
        *count = 0;
        return NULL;
    }
    *count = p->access_count[op];
    return p->access[op];
}

const ens_policy_attestation_t *ens_policy_attestation(const ens_policy_t *p) { return &p->attestation; }

const char *ens_secret_kind_name(ens_secret_kind_t kind)
{
    switch (kind) {
    case ENS_SECRET_ASCII: return "ascii";
    case ENS_SECRET_BINARY: return "binary";
    case ENS_SECRET_PRIVATE_KEY: return "private-key";
    case ENS_SECRET_X509: return "x509";
    case ENS_SECRET_X509_CA: return "x509-ca";
    }
    return "unknown";
}

const char *ens_key_type_name(ens_key_type_t t)
{
    switch (t) {
    case ENS_KEY_EC_P256: return "ec-p256";
    case ENS_KEY_EC_P384: return "ec-p384";
    case ENS_KEY_ED25519: return "ed25519";
    case ENS_KEY_RSA_3072: return "rsa-3072";
    }
    return "unknown";
}
