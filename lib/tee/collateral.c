/* SPDX-License-Identifier: Apache-2.0 */
/* The collateral set: certificates, CRLs, Intel TCB Info and QE Identity documents. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "crypto/digest.h"
#include "tee/internal.h"

struct ens_tee_collateral *ens_tee_collateral_new(void)
{
    struct ens_tee_collateral *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->certs = sk_X509_new_null();
    c->crls = sk_X509_CRL_new_null();
    if (!c->certs || !c->crls) {
        sk_X509_free(c->certs);
        sk_X509_CRL_free(c->crls);
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

static void doc_clear(struct tee_intel_doc *d)
{
    free(d->body);
    json_decref(d->json);
    X509_free(d->signer);
    free(d->source);
}

void ens_tee_collateral_free(struct ens_tee_collateral *c)
{
    if (!c)
        return;
    sk_X509_pop_free(c->certs, X509_free);
    sk_X509_CRL_pop_free(c->crls, X509_CRL_free);
    for (size_t i = 0; i < c->n_tcb; i++)
        doc_clear(&c->tcb[i]);
    for (size_t i = 0; i < c->n_qe; i++)
        doc_clear(&c->qe[i]);
    free(c->tcb);
    free(c->qe);
    free(c->cache);
    for (size_t i = 0; i < c->n_objs; i++)
        if (c->objs[i].free_fn)
            c->objs[i].free_fn(c->objs[i].obj);
    free(c->objs);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void *tee_obj_get(const struct ens_tee_collateral *cc, char kind, const uint8_t key[32])
{
    struct ens_tee_collateral *c = (struct ens_tee_collateral *)cc;
    void *obj = NULL;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_objs && !obj; i++)
        if (c->objs[i].kind == kind && memcmp(c->objs[i].key, key, 32) == 0)
            obj = c->objs[i].obj;
    pthread_mutex_unlock(&c->lock);
    return obj;
}

void *tee_obj_put(const struct ens_tee_collateral *cc, char kind, const uint8_t key[32], void *obj,
                  void (*free_fn)(void *))
{
    struct ens_tee_collateral *c = (struct ens_tee_collateral *)cc;
    void *ret = NULL;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_objs; i++) {
        if (c->objs[i].kind == kind && memcmp(c->objs[i].key, key, 32) == 0) {
            ret = c->objs[i].obj;
            break;
        }
    }
    if (ret) {
        pthread_mutex_unlock(&c->lock);
        if (free_fn)
            free_fn(obj);
        return ret;
    }
    if (c->n_objs == c->cap_objs && c->cap_objs < 4096) {
        size_t cap = c->cap_objs ? 2 * c->cap_objs : 16;
        struct tee_obj_ent *n = realloc(c->objs, cap * sizeof(*n));
        if (n) {
            c->objs = n;
            c->cap_objs = cap;
        }
    }
    if (c->n_objs < c->cap_objs) {
        struct tee_obj_ent *e = &c->objs[c->n_objs++];
        e->kind = kind;
        memcpy(e->key, key, 32);
        e->obj = obj;
        e->free_fn = free_fn;
        ret = obj;
    }
    pthread_mutex_unlock(&c->lock);
    return ret;
}

/* ---- a minimal scanner to find the exact bytes of a top-level JSON value --- */

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* s[i] == '"': returns the index after the closing quote, or 0. */
static size_t skip_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return 0;
}

/* Returns the index after the value starting at i, or 0. */
static size_t skip_value(const char *s, size_t i, size_t n)
{
    if (i >= n)
        return 0;
    if (s[i] == '"')
        return skip_string(s, i, n);
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        for (; i < n; i++) {
            char ch = s[i];
            if (ch == '"') {
                size_t j = skip_string(s, i, n);
                if (!j)
                    return 0;
                i = j - 1;
            } else if (ch == '{' || ch == '[') {
                if (++depth > 64)
                    return 0;
            } else if (ch == '}' || ch == ']') {
                if (--depth == 0)
                    return i + 1;
            }
        }
        return 0;
    }
    while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && !isspace((unsigned char)s[i]))
        i++;
    return i;
}

/* Finds the value of top-level key in the (already validated) JSON object text. */
static int json_value_span(const char *s, size_t n, const char *key, size_t *start, size_t *end)
{
    size_t i = skip_ws(s, 0, n), klen = strlen(key);
    if (i >= n || s[i] != '{')
        return -1;
    i++;
    for (;;) {
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != '"')
            return -1;
        size_t ks = i + 1, ke = skip_string(s, i, n);
        if (!ke)
            return -1;
        i = skip_ws(s, ke, n);
        if (i >= n || s[i] != ':')
            return -1;
        i = skip_ws(s, i + 1, n);
        size_t ve = skip_value(s, i, n);
        if (!ve)
            return -1;
        if (ke - 1 - ks == klen && memcmp(s + ks, key, klen) == 0) {
            *start = i;
            *end = ve;
            return 0;
        }
        i = skip_ws(s, ve, n);
        if (i < n && s[i] == ',') {
            i++;
            continue;
        }
        return -1;
    }
}

/* ---- documents --------------------------------------------------------- */

static int add_doc(struct ens_tee_collateral *c, bool tcb, const char *body, size_t body_len,
                   const char *sig_hex, STACK_OF(X509) *chain, const char *name, ens_error_t *err)
{
    const char *what = tcb ? "TCB Info" : "QE Identity";
    struct tee_intel_doc d = {0};
    json_error_t je;
    if (!sig_hex || strlen(sig_hex) != 128 || ens_hex_decode(sig_hex, d.sig, 64, NULL) < 0)
        return ens_error(err, EINVAL, "%s: %s signature is not 64 hex bytes", name, what);
    d.json = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &je);
    if (!d.json || !json_is_object(d.json)) {
        json_decref(d.json);
        return ens_error(err, EINVAL, "%s: %s is not a JSON object", name, what);
    }
    const char *id = json_string_value(json_object_get(d.json, "id"));
    /* TCB Info version 2 (PCS API v3) predates "id": it is SGX. */
    if (!id && tcb && json_integer_value(json_object_get(d.json, "version")) == 2)
        id = "SGX";
    if (!id || strlen(id) >= sizeof(d.id) ||
        tee_parse_time(json_string_value(json_object_get(d.json, "issueDate")), &d.issue) < 0 ||
        tee_parse_time(json_string_value(json_object_get(d.json, "nextUpdate")), &d.next) < 0 ||
        !json_is_array(json_object_get(d.json, "tcbLevels"))) {
        json_decref(d.json);
        return ens_error(err, EINVAL, "%s: %s lacks id, issueDate, nextUpdate or tcbLevels", name, what);
    }
    strcpy(d.id, id);
    d.eval_num = (long)json_integer_value(json_object_get(d.json, "tcbEvaluationDataNumber"));
    if (tcb) {
        const char *f = json_string_value(json_object_get(d.json, "fmspc"));
        if (!f || strlen(f) != 12) {
            json_decref(d.json);
            return ens_error(err, EINVAL, "%s: TCB Info fmspc is not 6 hex bytes", name);
        }
        for (int i = 0; i < 12; i++)
            d.fmspc[i] = (char)tolower((unsigned char)f[i]);
    }
    d.body = malloc(body_len + 1);
    d.source = strdup(name);
    if (!d.body || !d.source) {
        doc_clear(&d);
        return ens_error(err, ENOMEM, "%s: out of memory", name);
    }
    memcpy(d.body, body, body_len);
    d.body[body_len] = 0;
    d.body_len = body_len;
    if (chain && sk_X509_num(chain) > 0) {
        d.signer = sk_X509_value(chain, 0);
        X509_up_ref(d.signer);
    }
    struct tee_intel_doc **arr = tcb ? &c->tcb : &c->qe;
    size_t *n = tcb ? &c->n_tcb : &c->n_qe;
    struct tee_intel_doc *na = realloc(*arr, (*n + 1) * sizeof(**arr));
    if (!na) {
        doc_clear(&d);
        return ens_error(err, ENOMEM, "%s: out of memory", name);
    }
    *arr = na;
    na[(*n)++] = d;
    return 0;
}

static int add_certs(struct ens_tee_collateral *c, STACK_OF(X509) *certs)
{
    for (int i = 0; i < sk_X509_num(certs); i++) {
        X509 *x = sk_X509_value(certs, i);
        bool dup = false;
        for (int j = 0; j < sk_X509_num(c->certs) && !dup; j++)
            dup = X509_cmp(sk_X509_value(c->certs, j), x) == 0;
        if (dup)
            continue;
        X509_up_ref(x);
        if (!sk_X509_push(c->certs, x)) {
            X509_free(x);
            return -1;
        }
    }
    return 0;
}

static int add_crl_der(struct ens_tee_collateral *c, const uint8_t *der, size_t len, const char *name,
                       ens_error_t *err)
{
    const unsigned char *p = der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
    ERR_clear_error();
    if (!crl || p != der + len) {
        X509_CRL_free(crl);
        return ens_error(err, EINVAL, "%s: not a DER CRL", name);
    }
    if (!sk_X509_CRL_push(c->crls, crl)) {
        X509_CRL_free(crl);
        return ens_error(err, ENOMEM, "%s: out of memory", name);
    }
    return 0;
}

static int add_crl_hex(struct ens_tee_collateral *c, const char *hex, const char *name, ens_error_t *err)
{
    size_t n = hex ? strlen(hex) : 0;
    if (n == 0 || n % 2 || n > 2 * ENS_TEE_COLLATERAL_MAX)
        return ens_error(err, EINVAL, "%s: CRL is not hex", name);
    _cleanup_free_ uint8_t *der = malloc(n / 2);
    if (!der)
        return ens_error(err, ENOMEM, "%s: out of memory", name);
    if (ens_hex_decode(hex, der, n / 2, NULL) < 0)
        return ens_error(err, EINVAL, "%s: CRL is not hex", name);
    return add_crl_der(c, der, n / 2, name, err);
}

static void chain_free(STACK_OF(X509) **s) { sk_X509_pop_free(*s, X509_free); }
#define _cleanup_chain_ __attribute__((cleanup(chain_free)))

static int add_pem_chain(struct ens_tee_collateral *c, const char *pem, STACK_OF(X509) **chain,
                         const char *what, ens_error_t *err)
{
    if (!pem)
        return ens_error(err, EINVAL, "%s is missing", what);
    if (tee_pem_certs((const uint8_t *)pem, strlen(pem), chain, what, err) < 0)
        return -1;
    if (add_certs(c, *chain) < 0)
        return ens_error(err, ENOMEM, "%s: out of memory", what);
    return 0;
}

static int add_bundle(struct ens_tee_collateral *c, json_t *j, const char *name, ens_error_t *err)
{
    char what[512];
    _cleanup_chain_ STACK_OF(X509) *pck = NULL, *tcbc = NULL, *qec = NULL;
#define WHAT(field) (snprintf(what, sizeof(what), "%s: %s", name, field), what)
    if (add_pem_chain(c, json_string_value(json_object_get(j, "pck_crl_issuer_chain")), &pck,
                      WHAT("pck_crl_issuer_chain"), err) < 0 ||
        add_pem_chain(c, json_string_value(json_object_get(j, "tcb_info_issuer_chain")), &tcbc,
                      WHAT("tcb_info_issuer_chain"), err) < 0 ||
        add_pem_chain(c, json_string_value(json_object_get(j, "qe_identity_issuer_chain")), &qec,
                      WHAT("qe_identity_issuer_chain"), err) < 0)
        return -1;
    if (add_crl_hex(c, json_string_value(json_object_get(j, "root_ca_crl")), WHAT("root_ca_crl"), err) < 0 ||
        add_crl_hex(c, json_string_value(json_object_get(j, "pck_crl")), WHAT("pck_crl"), err) < 0)
        return -1;
    const char *ti = json_string_value(json_object_get(j, "tcb_info"));
    const char *qi = json_string_value(json_object_get(j, "qe_identity"));
    if (!ti || !qi)
        return ens_error(err, EINVAL, "%s: tcb_info or qe_identity is missing", name);
    if (add_doc(c, true, ti, strlen(ti), json_string_value(json_object_get(j, "tcb_info_signature")), tcbc,
                WHAT("tcb_info"), err) < 0 ||
        add_doc(c, false, qi, strlen(qi), json_string_value(json_object_get(j, "qe_identity_signature")), qec,
                WHAT("qe_identity"), err) < 0)
        return -1;
#undef WHAT
    return 0;
}

static int add_json(struct ens_tee_collateral *c, const char *text, size_t len, const char *name,
                    const char **kind, ens_error_t *err)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return ens_error(err, EINVAL, "%s: invalid JSON at line %d: %s", name, je.line, je.text);
    }
    int r;
    const char *keys[][2] = {{"tcbInfo", "tcb-info"}, {"enclaveIdentity", "qe-identity"}, {"qeIdentity", "qe-identity"}};
    for (size_t k = 0; k < 3; k++) {
        if (!json_object_get(j, keys[k][0]))
            continue;
        size_t s, e;
        if (json_value_span(text, len, keys[k][0], &s, &e) < 0) {
            json_decref(j);
            return ens_error(err, EINVAL, "%s: cannot locate the %s value", name, keys[k][0]);
        }
        r = add_doc(c, k == 0, text + s, e - s, json_string_value(json_object_get(j, "signature")), NULL, name, err);
        json_decref(j);
        if (r == 0 && kind)
            *kind = keys[k][1];
        return r;
    }
    if (json_object_get(j, "tcb_info") && json_object_get(j, "qe_identity")) {
        r = add_bundle(c, j, name, err);
        json_decref(j);
        if (r == 0 && kind)
            *kind = "intel-bundle";
        return r;
    }
    json_decref(j);
    return ens_error(err, EINVAL, "%s: JSON is neither a TCB Info, a QE Identity nor a collateral bundle", name);
}

int ens_tee_collateral_add(struct ens_tee_collateral *c, const uint8_t *data, size_t len, const char *name,
                           const char **kind, ens_error_t *err)
{
    if (!name)
        name = "collateral";
    if (len == 0)
        return ens_error(err, EINVAL, "%s: empty collateral", name);
    if (len > ENS_TEE_COLLATERAL_MAX)
        return ens_error(err, EFBIG, "%s: larger than %d bytes", name, ENS_TEE_COLLATERAL_MAX);
    size_t i = 0;
    while (i < len && isspace(data[i]))
        i++;
    if (i < len && data[i] == '{')
        return add_json(c, (const char *)data, len, name, kind, err);
    if (memmem(data, len, "-----BEGIN CERTIFICATE-----", 27)) {
        _cleanup_chain_ STACK_OF(X509) *certs = NULL;
        if (tee_pem_certs(data, len, &certs, name, err) < 0)
            return -1;
        if (add_certs(c, certs) < 0)
            return ens_error(err, ENOMEM, "%s: out of memory", name);
        if (kind)
            *kind = "certificates";
        return 0;
    }
    if (memmem(data, len, "-----BEGIN X509 CRL-----", 24)) {
        BIO *bio = BIO_new_mem_buf(data, (int)len);
        X509_CRL *crl = bio ? PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        ERR_clear_error();
        if (!crl)
            return ens_error(err, EINVAL, "%s: invalid PEM CRL", name);
        if (!sk_X509_CRL_push(c->crls, crl)) {
            X509_CRL_free(crl);
            return ens_error(err, ENOMEM, "%s: out of memory", name);
        }
        if (kind)
            *kind = "crl";
        return 0;
    }
    /* DER certificate or CRL (exact length). */
    const unsigned char *p = data;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    ERR_clear_error();
    if (x && p == data + len) {
        X509_check_purpose(x, -1, 0); /* lazily cached data, computed before threads share x */
        int ok = sk_X509_push(c->certs, x);
        if (!ok) {
            X509_free(x);
            return ens_error(err, ENOMEM, "%s: out of memory", name);
        }
        if (kind)
            *kind = "certificates";
        return 0;
    }
    X509_free(x);
    if (add_crl_der(c, data, len, name, NULL) == 0) {
        if (kind)
            *kind = "crl";
        return 0;
    }
    /* Hex of a DER CRL (as Intel PCS returns with encoding=hex). */
    bool hex = true;
    size_t end = len;
    while (end > 0 && isspace(data[end - 1]))
        end--;
    for (size_t k = 0; k < end && hex; k++)
        hex = isxdigit(data[k]);
    if (hex && end > 0) {
        _cleanup_free_ char *s = strndup((const char *)data, end);
        if (s && add_crl_hex(c, s, name, NULL) == 0) {
            if (kind)
                *kind = "crl";
            return 0;
        }
    }
    return ens_error(err, EINVAL,
                     "%s: not recognised as collateral (TCB Info, QE Identity, bundle JSON, certificate or CRL)", name);
}

int ens_tee_collateral_add_file(struct ens_tee_collateral *c, const char *path, ens_error_t *err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len;
    if (ens_read_file(path, ENS_TEE_COLLATERAL_MAX, &buf, &len, err) < 0)
        return -1;
    return ens_tee_collateral_add(c, (const uint8_t *)buf, len, path, NULL, err);
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int ens_tee_collateral_load_dir(struct ens_tee_collateral *c, const char *dir, ens_error_t *err)
{
    _cleanup_closedir_ DIR *d = opendir(dir);
    if (!d)
        return ens_error_errno(err, "collateral store %s", dir);
    char **names = NULL;
    size_t n = 0;
    int ret = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue; /* also skips temporary files of atomic writes */
        char **nn = realloc(names, (n + 1) * sizeof(*names));
        if (!nn || !(nn[n] = strdup(de->d_name))) {
            names = nn ? nn : names;
            ret = ens_error(err, ENOMEM, "collateral store %s: out of memory", dir);
            goto out;
        }
        names = nn;
        n++;
    }
    qsort(names, n, sizeof(*names), cmp_names); /* deterministic order */
    for (size_t i = 0; i < n && ret == 0; i++) {
        _cleanup_free_ char *p = ens_path_join(dir, names[i]);
        struct stat st;
        if (!p) {
            ret = ens_error(err, ENOMEM, "out of memory");
            break;
        }
        if (lstat(p, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        ret = ens_tee_collateral_add_file(c, p, err);
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return ret;
}
