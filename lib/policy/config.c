/* SPDX-License-Identifier: Apache-2.0 */
/* $$SCONE::name[:format]$$ substitution and the per-service configuration the CAS releases. */
#include <errno.h>
#include <string.h>

#include "crypto/digest.h"
#include "policy/policy_int.h"

#define REF_PREFIX "$$SCONE::"
#define REF_PREFIX_LEN 9
#define MAX_OUTPUT (16u * 1024 * 1024)

struct buf {
    char *p;
    size_t n, cap;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > MAX_OUTPUT)
        return -1;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *np = malloc(cap);
        if (!np)
            return -1;
        if (b->p) {
            memcpy(np, b->p, b->n);
            ens_wipe(b->p, b->cap); /* the old buffer may already hold substituted secrets */
            free(b->p);
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

static void buf_wipe(struct buf *b)
{
    if (b->p) {
        ens_wipe(b->p, b->cap);
        free(b->p);
    }
    b->p = NULL;
}

static bool ref_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.' || c == '~';
}

int ens_policy_substitute(const ens_secret_store_t *s, const char *in, size_t in_len, char **out, size_t *out_len,
                          ens_error_t *err)
{
    *out = NULL;
    *out_len = 0;
    struct buf b = {0};
    if (buf_add(&b, "", 0) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    size_t i = 0;
    while (i < in_len) {
        const char *hit = NULL;
        for (size_t j = i; j + REF_PREFIX_LEN <= in_len; j++)
            if (in[j] == '$' && !memcmp(in + j, REF_PREFIX, REF_PREFIX_LEN)) {
                hit = in + j;
                break;
            }
        size_t lit = hit ? (size_t)(hit - in) - i : in_len - i;
        if (buf_add(&b, in + i, lit) < 0)
            goto toobig;
        i += lit;
        if (!hit)
            break;
        /* parse name[:format]$$ */
        size_t k = i + REF_PREFIX_LEN, ns = k;
        while (k < in_len && ref_char(in[k]) && k - ns < 128)
            k++;
        char name[129], fmt[33] = "";
        size_t nl = k - ns;
        memcpy(name, in + ns, nl);
        name[nl] = '\0';
        if (k < in_len && in[k] == ':') {
            size_t fs = ++k;
            while (k < in_len && ((in[k] >= 'a' && in[k] <= 'z') || (in[k] >= 'A' && in[k] <= 'Z') ||
                                   (in[k] >= '0' && in[k] <= '9')) && k - fs < 32)
                k++;
            memcpy(fmt, in + fs, k - fs);
            fmt[k - fs] = '\0';
            if (!*fmt) {
                buf_wipe(&b);
                return ens_error(err, EINVAL, "substitution of '%s': empty format", name);
            }
        }
        if (nl == 0 || k + 2 > in_len || in[k] != '$' || in[k + 1] != '$') {
            buf_wipe(&b);
            return ens_error(err, EINVAL, "malformed substitution at offset %zu (expected $$SCONE::name$$ or "
                             "$$SCONE::name:format$$)", i);
        }
        char *val = NULL;
        size_t vl = 0;
        if (ens_secret_store_format(s, name, fmt, &val, &vl, err) < 0) {
            buf_wipe(&b);
            return ens_error_wrap(err, "substitution");
        }
        int r = buf_add(&b, val, vl);
        ens_wipe(val, vl);
        free(val);
        if (r < 0)
            goto toobig;
        i = k + 2;
    }
    *out = b.p;
    *out_len = b.n;
    return 0;
toobig:
    buf_wipe(&b);
    return ens_error(err, E2BIG, "substituted text larger than %u bytes", MAX_OUTPUT);
}

/* Substitutes into a string that must stay a C string (argv, environment). */
static int subst_cstr(const ens_secret_store_t *s, const char *in, const char *where, json_t **out, ens_error_t *err)
{
    char *v = NULL;
    size_t vl = 0;
    if (ens_policy_substitute(s, in, strlen(in), &v, &vl, err) < 0)
        return ens_error_wrap(err, "%s", where);
    if (memchr(v, '\0', vl)) {
        ens_wipe(v, vl);
        free(v);
        return ens_error(err, EINVAL, "%s: a substituted value contains a NUL byte (use :hex or :base64)", where);
    }
    *out = json_stringn(v, vl);
    ens_wipe(v, vl);
    free(v);
    if (!*out)
        return ens_error(err, EINVAL, "%s: the substituted value is not valid UTF-8 (use :hex or :base64)", where);
    return 0;
}

int ens_policy_service_config(const ens_policy_t *p, const char *service, const ens_secret_store_t *s,
                              json_t **out, ens_error_t *err)
{
    *out = NULL;
    const ens_policy_service_t *svc = ens_policy_service_find(p, service);
    if (!svc)
        return ens_error(err, ENOENT, "session %s has no service '%s'", p->name, service);
    json_t *cfg = json_object(), *cmd = json_array(), *env = json_object(), *inj = json_array(), *vols = json_array();
    json_t *fspf = json_object();
    char where[512];
    if (!cfg || !cmd || !env || !inj || !vols || !fspf)
        goto nomem;
    json_object_set_new(cfg, "session", json_string(p->name));
    json_object_set_new(cfg, "service", json_string(svc->name));
    json_object_set_new(cfg, "command", cmd);
    json_object_set_new(cfg, "environment", env);
    json_object_set_new(cfg, "injection_files", inj);
    json_object_set_new(cfg, "volumes", vols);
    json_object_set_new(cfg, "fspf", fspf);
    json_object_set_new(cfg, "pwd", svc->pwd ? json_string(svc->pwd) : json_null());
    for (size_t i = 0; i < svc->command_count; i++) {
        json_t *v;
        snprintf(where, sizeof(where), "service %s: command[%zu]", svc->name, i);
        if (subst_cstr(s, svc->command[i], where, &v, err) < 0)
            goto fail;
        json_array_append_new(cmd, v);
    }
    for (size_t i = 0; i < svc->environment_count; i++) {
        json_t *v;
        snprintf(where, sizeof(where), "service %s: environment %s", svc->name, svc->environment[i].key);
        if (subst_cstr(s, svc->environment[i].value, where, &v, err) < 0)
            goto fail;
        json_object_set_new(env, svc->environment[i].key, v);
    }
    if (svc->fspf_path)
        json_object_set_new(fspf, "path", json_string(svc->fspf_path));
    if (svc->fspf_key)
        json_object_set_new(fspf, "key", json_string(svc->fspf_key));
    if (svc->fspf_tag)
        json_object_set_new(fspf, "tag", json_string(svc->fspf_tag));
    const ens_policy_image_t *im = svc->image_name ? ens_policy_image_find(p, svc->image_name) : NULL;
    for (size_t i = 0; im && i < im->injection_file_count; i++) {
        const ens_policy_injection_file_t *f = &im->injection_files[i];
        char *v = NULL;
        size_t vl = 0;
        if (ens_policy_substitute(s, f->content, strlen(f->content), &v, &vl, err) < 0) {
            ens_error_wrap(err, "service %s: injection file %s", svc->name, f->path);
            goto fail;
        }
        char *b64 = ens_b64_encode(v, vl);
        ens_wipe(v, vl);
        free(v);
        if (!b64)
            goto nomem;
        json_array_append_new(inj, json_pack("{s:s, s:s}", "path", f->path, "content", b64));
        ens_wipe(b64, strlen(b64));
        free(b64);
    }
    for (size_t i = 0; im && i < im->volume_count; i++) {
        const ens_policy_image_volume_t *iv = &im->volumes[i];
        const char *key = ens_secret_store_volume_key(s, iv->name);
        const char *tag = ens_secret_store_volume_tag(s, iv->name);
        if (!key) {
            ens_error(err, ENOENT, "service %s: volume %s has no key in the secret store", svc->name, iv->name);
            goto fail;
        }
        json_array_append_new(vols, json_pack("{s:s, s:s, s:s, s:o}", "name", iv->name, "path", iv->path, "key",
                                               key, "tag", tag ? json_string(tag) : json_null()));
    }
    *out = cfg;
    return 0;
nomem:
    ens_error(err, ENOMEM, "out of memory");
fail:
    if (!cfg) {
        json_decref(cmd);
        json_decref(env);
        json_decref(inj);
        json_decref(vols);
        json_decref(fspf);
    }
    json_decref(cfg);
    return -1;
}
