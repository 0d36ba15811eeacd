/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secret materialisation, the secret store, formats, export/import and
 * certificate issuance.  All key and certificate work goes through OpenSSL.
 *
 * The store is a JSON document (docs/policy.md, "Secret store"):
 *   {"format": 1,
 *    "secrets": {NAME: RECORD},
 *    "volumes": {NAME: {"key": HEX, "tag": HEX|null, "policy_tag": HEX|null, "history": [HEX…]}}}
 * RECORD: {"kind", "origin": generated|explicit|imported, and per kind:
 *   ascii/binary: "data" (base64), "size";  private-key: "key_type", "key" (PKCS#8 PEM);
 *   x509/x509-ca: "key_type", "key" (PEM, absent for a certificate without key), "cert" (PEM),
 *   "chain" ([PEM…], issuers nearest first), "params" (hex fingerprint of the issuance inputs),
 *   "own_key", "not_after" (epoch seconds)}
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/digest.h"
#include "policy/policy_int.h"

#define STORE_FORMAT 1
#define STORE_MAX_SIZE (64u * 1024 * 1024)
#define TAG_HISTORY_MAX 64

/* Parsed signing material of a CA, cached: OpenSSL 3's PEM decoders cost milliseconds per
 * call, and the CAS issues a certificate at every attestation. */
struct ca_cache {
    char *name;
    X509 *cert;
    EVP_PKEY *key;
    struct ca_cache *next;
};

struct ens_secret_store {
    json_t *root;
    pthread_mutex_t lock; /* guards cache (the CAS may issue from several threads) */
    struct ca_cache *cache;
};

/* ------------------------------------------------------------------ small helpers */

static void wipe_json(json_t *j)
{
    if (!j)
        return;
    if (json_is_string(j)) {
        /* jansson owns the buffer; clearing it in place before the free keeps secrets out of freed memory */
        char *s = (char *)json_string_value(j);
        ens_wipe(s, json_string_length(j));
    } else if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) wipe_json(v);
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) wipe_json(v);
    }
}

void ens_secret_store_free(ens_secret_store_t *s)
{
    if (!s)
        return;
    wipe_json(s->root); /* the root is never shared */
    json_decref(s->root);
    while (s->cache) {
        struct ca_cache *n = s->cache->next;
        free(s->cache->name);
        X509_free(s->cache->cert);
        EVP_PKEY_free(s->cache->key);
        free(s->cache);
        s->cache = n;
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static ens_secret_store_t *store_new(void)
{
    ens_secret_store_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    s->root = json_pack("{s:i, s:{}, s:{}}", "format", STORE_FORMAT, "secrets", "volumes");
    if (!s->root) {
        free(s);
        return NULL;
    }
    return s;
}

static json_t *rec_get(const ens_secret_store_t *s, const char *name)
{
    return json_object_get(json_object_get(s->root, "secrets"), name);
}

static const char *rstr(const json_t *rec, const char *key) { return json_string_value(json_object_get(rec, key)); }

static int ossl_err(ens_error_t *err, const char *what, const char *name)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return ens_error(err, EIO, "secret %s: %s%s%s", name, what, *buf ? ": " : "", buf);
}

/* A private key, or (cert) a certificate, from PEM text; NULL for none.  A failed parse leaves nothing on
 * OpenSSL's error queue. */
static void *pem_read(const char *pem, bool cert)
{
    if (!pem)
        return NULL;
    BIO *b = BIO_new_mem_buf(pem, -1);
    void *obj = NULL;
    if (b)
        obj = cert ? (void *)PEM_read_bio_X509(b, NULL, NULL, NULL)
                   : (void *)PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    ERR_clear_error();
    return obj;
}

static EVP_PKEY *pem_to_key(const char *pem) { return pem_read(pem, false); }
static X509 *pem_to_cert(const char *pem) { return pem_read(pem, true); }

static char *bio_to_str(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    return s;
}

/* The text written to memory BIO b when `written` says the write succeeded; frees b. */
static char *written_pem(BIO *b, bool written)
{
    char *s = written ? bio_to_str(b) : NULL;
    BIO_free(b);
    return s;
}

static char *key_to_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    return written_pem(b, b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1);
}

static char *pubkey_to_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    return written_pem(b, b && PEM_write_bio_PUBKEY(b, k) == 1);
}

static char *cert_to_pem(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    return written_pem(b, b && PEM_write_bio_X509(b, x) == 1);
}

static int key_type_of(EVP_PKEY *k, ens_key_type_t *t)
{
    switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_ED25519:
        *t = ENS_KEY_ED25519;
        return 0;
    case EVP_PKEY_RSA:
        *t = ENS_KEY_RSA_3072;
        return 0;
    case EVP_PKEY_EC: {
        char group[64] = "";
        size_t gl = 0;
        if (EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof(group), &gl) != 1)
            return -1;
        if (!strcmp(group, "prime256v1") || !strcmp(group, "P-256")) {
            *t = ENS_KEY_EC_P256;
            return 0;
        }
        if (!strcmp(group, "secp384r1") || !strcmp(group, "P-384")) {
            *t = ENS_KEY_EC_P384;
            return 0;
        }
        return -1;
    }
    default:
        return -1;
    }
}

static EVP_PKEY *generate_key(ens_key_type_t t)
{
    switch (t) {
    case ENS_KEY_EC_P256: return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    case ENS_KEY_EC_P384: return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    case ENS_KEY_ED25519: return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    case ENS_KEY_RSA_3072: return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
    }
    return NULL;
}

/* Explicitly fetched digests: EVP_sha256() makes OpenSSL 3 fetch (and lock) at every signature. */
static EVP_MD *md_sha256, *md_sha384;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static void fetch_mds(void)
{
    md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    md_sha384 = EVP_MD_fetch(NULL, "SHA384", NULL);
}

static const EVP_MD *sign_md(EVP_PKEY *k)
{
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519)
        return NULL; /* pure EdDSA */
    pthread_once(&md_once, fetch_mds);
    ens_key_type_t t;
    if (key_type_of(k, &t) == 0 && t == ENS_KEY_EC_P384)
        return md_sha384 ? md_sha384 : EVP_sha384();
    return md_sha256 ? md_sha256 : EVP_sha256();
}


/* ------------------------------------------------------------------ certificates */

struct cert_req {
    const char *name;         /* for errors */
    bool ca;
    const char *common_name;
    const char *org_unit;     /* optional */
    char *const *dns;
    size_t dns_count;
    char *const *ips;
    size_t ip_count;
    unsigned days;
    EVP_PKEY *subject;        /* public key to certify */
    X509 *issuer_cert;        /* NULL: self-signed with signer */
    EVP_PKEY *signer;
};

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!e)
        return -1;
    int ok = X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok == 1 ? 0 : -1;
}

/*
 * X509_set_pubkey() of OpenSSL 3.0 encodes a provider key through OSSL_ENCODER and
 * decodes it again (most of the cost of issuing a certificate).  For EC and Ed25519
 * keys the SubjectPublicKeyInfo is simple: set its algorithm and key bits directly.
 */
static int set_pubkey(X509 *x, EVP_PKEY *k)
{
    X509_PUBKEY *xpk = X509_get_X509_PUBKEY(x);
    int id = EVP_PKEY_get_base_id(k);
    unsigned char pub[160];
    size_t pl = 0;
    if (xpk && id == EVP_PKEY_EC) {
        char group[64];
        size_t gl = 0;
        int nid;
        if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &gl) == 1 &&
            (nid = OBJ_txt2nid(group)) != NID_undef &&
            EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub, sizeof(pub), &pl) == 1) {
            unsigned char *penc = OPENSSL_memdup(pub, pl);
            if (penc && X509_PUBKEY_set0_param(xpk, OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
                                               OBJ_nid2obj(nid), penc, (int)pl) == 1)
                return 0;
            OPENSSL_free(penc);
        }
    } else if (xpk && id == EVP_PKEY_ED25519) {
        pl = sizeof(pub);
        if (EVP_PKEY_get_raw_public_key(k, pub, &pl) == 1) {
            unsigned char *penc = OPENSSL_memdup(pub, pl);
            if (penc && X509_PUBKEY_set0_param(xpk, OBJ_nid2obj(NID_ED25519), V_ASN1_UNDEF, NULL, penc, (int)pl) == 1)
                return 0;
            OPENSSL_free(penc);
        }
    }
    ERR_clear_error();
    return X509_set_pubkey(x, k) == 1 ? 0 : -1;
}

static X509 *issue_cert(const struct cert_req *r, ens_error_t *err)
{
    X509 *x = X509_new();
    BIGNUM *bn = BN_new();
    unsigned char serial[16];
    char *san = NULL;
    if (!x || !bn || RAND_bytes(serial, sizeof(serial)) != 1)
        goto fail;
    serial[0] &= 0x7f; /* positive */
    serial[0] |= 0x01; /* and non-zero */
    if (!BN_bin2bn(serial, sizeof(serial), bn) || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
        goto fail;
    if (X509_set_version(x, 2) != 1)
        goto fail;
    /* an hour of slack for clocks that lag the CAS's */
    if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), (int)r->days, 0, NULL))
        goto fail;
    X509_NAME *subj = X509_get_subject_name(x);
    if (X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8, (const unsigned char *)r->common_name, -1, -1, 0) != 1)
        goto fail;
    if (r->org_unit &&
        X509_NAME_add_entry_by_txt(subj, "OU", MBSTRING_UTF8, (const unsigned char *)r->org_unit, -1, -1, 0) != 1)
        goto fail;
    if (X509_set_issuer_name(x, r->issuer_cert ? X509_get_subject_name(r->issuer_cert) : subj) != 1)
        goto fail;
    if (set_pubkey(x, r->subject) < 0)
        goto fail;
    if (add_ext(x, r->issuer_cert, NID_basic_constraints, r->ca ? "critical,CA:TRUE" : "critical,CA:FALSE") < 0)
        goto fail;
    const char *ku = r->ca ? "critical,keyCertSign,cRLSign,digitalSignature"
                     : EVP_PKEY_get_base_id(r->subject) == EVP_PKEY_RSA ? "critical,digitalSignature,keyEncipherment"
                                                                         : "critical,digitalSignature";
    if (add_ext(x, r->issuer_cert, NID_key_usage, ku) < 0)
        goto fail;
    if (!r->ca && add_ext(x, r->issuer_cert, NID_ext_key_usage, "serverAuth,clientAuth") < 0)
        goto fail;
    if (add_ext(x, r->issuer_cert, NID_subject_key_identifier, "hash") < 0)
        goto fail;
    if (r->issuer_cert && add_ext(x, r->issuer_cert, NID_authority_key_identifier, "keyid,issuer") < 0)
        goto fail;
    if (r->dns_count + r->ip_count) {
        size_t cap = 1;
        for (size_t i = 0; i < r->dns_count; i++)
            cap += strlen(r->dns[i]) + 6;
        for (size_t i = 0; i < r->ip_count; i++)
            cap += strlen(r->ips[i]) + 6;
        san = calloc(1, cap);
        if (!san)
            goto fail;
        for (size_t i = 0; i < r->dns_count; i++) {
            /* names were validated at parse time: no ',' can inject another entry */
            strcat(san, *san ? ",DNS:" : "DNS:");
            strcat(san, r->dns[i]);
        }
        for (size_t i = 0; i < r->ip_count; i++) {
            strcat(san, *san ? ",IP:" : "IP:");
            strcat(san, r->ips[i]);
        }
        if (add_ext(x, r->issuer_cert, NID_subject_alt_name, san) < 0)
            goto fail;
    }
    if (X509_sign(x, r->signer, sign_md(r->signer)) <= 0)
        goto fail;
    free(san);
    BN_free(bn);
    return x;
fail:
    free(san);
    BN_free(bn);
    X509_free(x);
    ossl_err(err, "cannot issue the certificate", r->name);
    return NULL;
}

/* ------------------------------------------------------------------ materialisation */

struct mctx {
    const ens_policy_t *p;
    json_t *prev;           /* previous "secrets" object (may be NULL) */
    json_t *out;            /* new "secrets" object */
    ens_secret_import_fn resolve;
    void *resolve_ctx;
    ens_error_t *err;
    int depth;
};

static json_t *prev_rec(struct mctx *m, const char *name, const char *kind)
{
    json_t *r = json_object_get(m->prev, name);
    if (!r || !kind || !rstr(r, "kind") || strcmp(rstr(r, "kind"), kind))
        return NULL;
    return r;
}

static int random_ascii(char *out, size_t n, ens_error_t *err)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t i = 0;
    unsigned char buf[64];
    while (i < n) {
        if (ens_random(buf, sizeof(buf), err) < 0)
            return -1;
        for (size_t j = 0; j < sizeof(buf) && i < n; j++)
            if (buf[j] < 248) /* 248 = 4 * 62: no modulo bias */
                out[i++] = alphabet[buf[j] % 62];
    }
    ens_wipe(buf, sizeof(buf));
    return 0;
}

static int do_secret(struct mctx *m, const ens_policy_secret_t *s);

static int set_rec(struct mctx *m, const char *name, json_t *rec)
{
    if (!rec)
        return ens_error(m->err, ENOMEM, "secret %s: out of memory", name);
    json_object_set_new(m->out, name, rec);
    return 0;
}

/* The record of an ascii or binary secret: its bytes in base64 (the encoded copy is wiped after use). */
static int set_bytes_rec(struct mctx *m, const char *name, const char *kind, const char *origin, const void *data,
                         size_t len)
{
    char *b = ens_b64_encode(data, len);
    int rc = set_rec(m, name,
                     b ? json_pack("{s:s, s:s, s:s, s:I}", "kind", kind, "origin", origin, "data", b, "size",
                                   (json_int_t)len)
                       : NULL);
    if (b) {
        ens_wipe(b, strlen(b));
        free(b);
    }
    return rc;
}

static int do_bytes(struct mctx *m, const ens_policy_secret_t *s)
{
    const char *kind = ens_secret_kind_name(s->kind);
    if (s->value)
        return set_bytes_rec(m, s->name, kind, "explicit", s->value, s->value_len);
    json_t *old = prev_rec(m, s->name, kind);
    if (old && rstr(old, "origin") && !strcmp(rstr(old, "origin"), "generated") &&
        json_integer_value(json_object_get(old, "size")) == (json_int_t)s->size)
        return set_rec(m, s->name, json_deep_copy(old));
    unsigned char *buf = malloc(s->size + 1);
    if (!buf)
        return ens_error(m->err, ENOMEM, "out of memory");
    int rc = s->kind == ENS_SECRET_ASCII ? random_ascii((char *)buf, s->size, m->err)
                                         : ens_random(buf, s->size, m->err);
    if (rc == 0)
        rc = set_bytes_rec(m, s->name, kind, "generated", buf, s->size);
    ens_wipe(buf, s->size);
    free(buf);
    return rc;
}

static int do_private_key(struct mctx *m, const ens_policy_secret_t *s)
{
    EVP_PKEY *k = NULL;
    const char *origin = "generated";
    if (s->value) {
        k = pem_to_key(s->value);
        if (!k)
            return ens_error(m->err, EINVAL, "secret %s: the value is not a PEM private key", s->name);
        origin = "explicit";
    } else {
        json_t *old = prev_rec(m, s->name, "private-key");
        if (old && rstr(old, "origin") && !strcmp(rstr(old, "origin"), "generated") && rstr(old, "key_type") &&
            !strcmp(rstr(old, "key_type"), ens_key_type_name(s->key_type)))
            return set_rec(m, s->name, json_deep_copy(old));
        k = generate_key(s->key_type);
        if (!k)
            return ossl_err(m->err, "key generation failed", s->name);
    }
    ens_key_type_t t;
    if (key_type_of(k, &t) < 0) {
        EVP_PKEY_free(k);
        return ens_error(m->err, EINVAL, "secret %s: unsupported key type (use P-256, P-384, Ed25519 or RSA)",
                         s->name);
    }
    char *pem = key_to_pem(k);
    EVP_PKEY_free(k);
    if (!pem)
        return ossl_err(m->err, "cannot encode the key", s->name);
    int rc = set_rec(m, s->name,
                     json_pack("{s:s, s:s, s:s, s:s}", "kind", "private-key", "origin", origin, "key_type",
                               ens_key_type_name(t), "key", pem));
    ens_wipe(pem, strlen(pem));
    free(pem);
    return rc;
}

/* The record of a secret this one depends on, materialised first. */
static json_t *dep_rec(struct mctx *m, const char *name)
{
    json_t *r = json_object_get(m->out, name);
    if (r)
        return r;
    const ens_policy_secret_t *d = ens_policy_secret_find(m->p, name);
    if (!d || m->depth > 64)
        return NULL;
    m->depth++;
    int rc = do_secret(m, d);
    m->depth--;
    return rc < 0 ? NULL : json_object_get(m->out, name);
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static json_t *sorted_list(char **v, size_t n)
{
    char **c = calloc(n + 1, sizeof(char *));
    json_t *a = json_array();
    if (!c || !a) {
        free(c);
        json_decref(a);
        return NULL;
    }
    if (n)
        memcpy(c, v, n * sizeof(char *));
    qsort(c, n, sizeof(char *), cmp_cstr);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(c[i]));
    free(c);
    return a;
}

static void sha256_hex_str(const char *s, char out[ENS_SHA256_HEX_LEN + 1])
{
    uint8_t d[ENS_SHA256_LEN];
    ens_sha256(s, strlen(s), d);
    ens_hex_encode(d, sizeof(d), out);
}

/* notAfter of a certificate as seconds since the epoch, or 0. */
static int64_t cert_not_after(X509 *x)
{
    struct tm tm;
    if (!x || ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

/* An explicit certificate (value:), optionally with the key named by private_key. */
static int do_x509_explicit(struct mctx *m, const ens_policy_secret_t *s)
{
    const char *kind = ens_secret_kind_name(s->kind);
    int rc = -1;
    EVP_PKEY *key = NULL;
    const char *key_pem = NULL;
    X509 *cert = pem_to_cert(s->value);
    char *cert_pem = NULL;
    if (!cert)
        return ens_error(m->err, EINVAL, "secret %s: the value is not a PEM certificate", s->name);
    if (s->private_key) {
        json_t *kr = dep_rec(m, s->private_key);
        key_pem = kr ? rstr(kr, "key") : NULL;
        key = pem_to_key(key_pem);
        if (!key) {
            ens_error(m->err, EINVAL, "secret %s: private_key %s has no usable key", s->name, s->private_key);
            goto out;
        }
        if (X509_check_private_key(cert, key) != 1) {
            ERR_clear_error();
            ens_error(m->err, EINVAL, "secret %s: the certificate does not match private_key %s", s->name,
                      s->private_key);
            goto out;
        }
    }
    cert_pem = cert_to_pem(cert);
    if (!cert_pem) {
        ossl_err(m->err, "cannot encode the certificate", s->name);
        goto out;
    }
    ens_key_type_t t = s->key_type;
    if (key)
        key_type_of(key, &t);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:[], s:b, s:I}", "kind", kind, "origin", "explicit", "key_type",
                            ens_key_type_name(t), "cert", cert_pem, "chain", "own_key", 0, "not_after",
                            (json_int_t)cert_not_after(cert));
    if (rec && key_pem)
        json_object_set_new(rec, "key", json_string(key_pem));
    rc = set_rec(m, s->name, rec);
out:
    free(cert_pem);
    EVP_PKEY_free(key);
    X509_free(cert);
    return rc;
}

/*
 * A generated certificate.  Everything that decides its content is fingerprinted
 * ("params": kind, names, validity, issuer name and certificate, key) from the stored
 * PEM texts, so an update that changes nothing re-uses the old record without a
 * single OpenSSL decode (OpenSSL 3's decoders cost milliseconds).
 */
static int do_x509(struct mctx *m, const ens_policy_secret_t *s)
{
    if (s->value)
        return do_x509_explicit(m, s);
    const char *kind = ens_secret_kind_name(s->kind);
    bool ca = s->kind == ENS_SECRET_X509_CA;
    int rc = -1;
    EVP_PKEY *key = NULL, *signer = NULL;
    X509 *icert = NULL, *cert = NULL;
    char *new_key_pem = NULL, *cert_pem = NULL, *params_s = NULL;
    json_t *params = NULL, *chain = NULL;
    const char *key_pem = NULL;
    ens_key_type_t key_type = s->key_type;

    /* the key: a named private-key secret, the previous own key, or a new one */
    json_t *old = prev_rec(m, s->name, kind);
    if (s->private_key) {
        json_t *kr = dep_rec(m, s->private_key);
        key_pem = kr ? rstr(kr, "key") : NULL;
        if (!key_pem) {
            ens_error(m->err, EINVAL, "secret %s: private_key %s has no usable key", s->name, s->private_key);
            goto out;
        }
        const char *kt = rstr(kr, "key_type");
        for (int t = ENS_KEY_EC_P256; kt && t <= ENS_KEY_RSA_3072; t++)
            if (!strcmp(kt, ens_key_type_name((ens_key_type_t)t)))
                key_type = (ens_key_type_t)t;
    } else if (old && json_is_true(json_object_get(old, "own_key")) && rstr(old, "key") && rstr(old, "key_type") &&
               !strcmp(rstr(old, "key_type"), ens_key_type_name(s->key_type))) {
        key_pem = rstr(old, "key");
    } else {
        key = generate_key(s->key_type);
        new_key_pem = key ? key_to_pem(key) : NULL;
        if (!new_key_pem) {
            ossl_err(m->err, "key generation failed", s->name);
            goto out;
        }
        key_pem = new_key_pem;
    }
    /* the issuer: another x509-ca secret of this session, or self-signed */
    json_t *ir = NULL;
    const char *icert_pem = NULL;
    if (s->issuer) {
        ir = dep_rec(m, s->issuer);
        icert_pem = ir ? rstr(ir, "cert") : NULL;
        if (!icert_pem || !rstr(ir, "key")) {
            if (!m->err || !*m->err)
                ens_error(m->err, EINVAL, "secret %s: issuer %s has no certificate and private key", s->name,
                          s->issuer);
            goto out;
        }
    }
    char kid[ENS_SHA256_HEX_LEN + 1], iid[ENS_SHA256_HEX_LEN + 1] = "";
    sha256_hex_str(key_pem, kid);
    if (icert_pem)
        sha256_hex_str(icert_pem, iid);
    params = json_pack("{s:s, s:s, s:s, s:o, s:o, s:i, s:s, s:s}", "kind", kind, "cn", s->common_name, "issuer",
                       s->issuer ? s->issuer : "", "dns", sorted_list(s->dns, s->dns_count), "ip",
                       sorted_list(s->ips, s->ip_count), "days", (int)s->valid_for_days, "key", kid, "issuer_cert",
                       iid);
    params_s = params ? json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!params_s) {
        ens_error(m->err, ENOMEM, "out of memory");
        goto out;
    }
    char phex[ENS_SHA256_HEX_LEN + 1];
    sha256_hex_str(params_s, phex);
    chain = json_array();
    if (ir) {
        json_array_append_new(chain, json_string(icert_pem));
        json_array_extend(chain, json_object_get(ir, "chain"));
    }
    /* unchanged and not expiring within a day: keep the previous certificate */
    if (old && rstr(old, "params") && !strcmp(rstr(old, "params"), phex) && rstr(old, "cert")) {
        int64_t na = json_integer_value(json_object_get(old, "not_after"));
        if (!na) {
            X509 *oc = pem_to_cert(rstr(old, "cert"));
            na = cert_not_after(oc);
            X509_free(oc);
        }
        if (na > (int64_t)time(NULL) + 86400) {
            json_t *rec = json_deep_copy(old);
            if (rec) {
                json_object_set(rec, "chain", chain);
                json_object_set_new(rec, "not_after", json_integer((json_int_t)na));
            }
            rc = set_rec(m, s->name, rec);
            goto out;
        }
    }
    if (!key)
        key = pem_to_key(key_pem);
    if (ir) {
        icert = pem_to_cert(icert_pem);
        signer = pem_to_key(rstr(ir, "key"));
    }
    if (!key || (ir && (!icert || !signer))) {
        ens_error(m->err, EINVAL, "secret %s: stored key or issuer material is unreadable", s->name);
        goto out;
    }
    struct cert_req req = {
        .name = s->name,
        .ca = ca,
        .common_name = s->common_name,
        .dns = s->dns,
        .dns_count = s->dns_count,
        .ips = s->ips,
        .ip_count = s->ip_count,
        .days = s->valid_for_days,
        .subject = key,
        .issuer_cert = icert,
        .signer = signer ? signer : key,
    };
    cert = issue_cert(&req, m->err);
    if (!cert)
        goto out;
    cert_pem = cert_to_pem(cert);
    if (!cert_pem) {
        ossl_err(m->err, "cannot encode the certificate", s->name);
        goto out;
    }
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:b, s:s, s:I}", "kind", kind, "origin", "generated",
                            "key_type", ens_key_type_name(key_type), "key", key_pem, "cert", cert_pem, "chain", chain,
                            "own_key", !s->private_key, "params", phex, "not_after",
                            (json_int_t)cert_not_after(cert));
    rc = set_rec(m, s->name, rec);
out:
    if (new_key_pem) {
        ens_wipe(new_key_pem, strlen(new_key_pem));
        free(new_key_pem);
    }
    free(cert_pem);
    free(params_s);
    json_decref(params);
    json_decref(chain);
    EVP_PKEY_free(key);
    EVP_PKEY_free(signer);
    X509_free(icert);
    X509_free(cert);
    return rc;
}

/* Validates a record received from another session (through the resolver). */
static int check_record(const char *name, json_t *rec, ens_error_t *err)
{
    const char *kind = rstr(rec, "kind");
    if (!json_is_object(rec) || !kind)
        return ens_error(err, EINVAL, "secret %s: the imported record is malformed", name);
    if (!strcmp(kind, "ascii") || !strcmp(kind, "binary")) {
        if (!rstr(rec, "data"))
            return ens_error(err, EINVAL, "secret %s: the imported record has no data", name);
    } else if (!strcmp(kind, "private-key")) {
        if (!rstr(rec, "key") && !rstr(rec, "public_key"))
            return ens_error(err, EINVAL, "secret %s: the imported record has no key", name);
    } else if (!strcmp(kind, "x509") || !strcmp(kind, "x509-ca")) {
        X509 *x = pem_to_cert(rstr(rec, "cert"));
        if (!x)
            return ens_error(err, EINVAL, "secret %s: the imported record has no certificate", name);
        X509_free(x);
    } else {
        return ens_error(err, EINVAL, "secret %s: the imported record has unknown kind", name);
    }
    return 0;
}

static int do_import(struct mctx *m, const ens_policy_secret_t *s)
{
    if (!m->resolve)
        return ens_error(m->err, EPERM, "secret %s: cannot import from session %s here (no resolver)", s->name,
                         s->import_session);
    char *text = NULL;
    if (m->resolve(m->resolve_ctx, m->p->name, s->import_session, s->import_secret, &text, m->err) < 0) {
        free(text);
        return ens_error_wrap(m->err, "secret %s: import of %s from session %s refused", s->name, s->import_secret,
                              s->import_session);
    }
    json_error_t je;
    json_t *rec = text ? json_loads(text, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (text) {
        ens_wipe(text, strlen(text));
        free(text);
    }
    if (!rec || check_record(s->name, rec, m->err) < 0) {
        if (!rec)
            ens_error(m->err, EINVAL, "secret %s: the imported record is not JSON", s->name);
        json_decref(rec);
        return -1;
    }
    if (s->kind_set && strcmp(rstr(rec, "kind"), ens_secret_kind_name(s->kind))) {
        ens_error(m->err, EINVAL, "secret %s: declared kind %s but %s/%s is %s", s->name,
                  ens_secret_kind_name(s->kind), s->import_session, s->import_secret, rstr(rec, "kind"));
        json_decref(rec);
        return -1;
    }
    json_object_set_new(rec, "origin", json_string("imported"));
    json_object_set_new(rec, "from", json_pack("{s:s, s:s}", "session", s->import_session, "secret",
                                               s->import_secret));
    return set_rec(m, s->name, rec);
}

static int do_secret(struct mctx *m, const ens_policy_secret_t *s)
{
    if (json_object_get(m->out, s->name))
        return 0;
    if (s->import_session)
        return do_import(m, s);
    switch (s->kind) {
    case ENS_SECRET_ASCII:
    case ENS_SECRET_BINARY:
        return do_bytes(m, s);
    case ENS_SECRET_PRIVATE_KEY:
        return do_private_key(m, s);
    case ENS_SECRET_X509:
    case ENS_SECRET_X509_CA:
        return do_x509(m, s);
    }
    return ens_error(m->err, EINVAL, "secret %s: unknown kind", s->name);
}

/* The session CA that signs service certificates: P-256, ten years, kept across updates. */
static int do_session_ca(struct mctx *m)
{
    static char *no_names[1];
    ens_policy_secret_t ca = {
        .name = (char *)ENS_SESSION_CA_SECRET,
        .kind = ENS_SECRET_X509_CA,
        .kind_set = true,
        .key_type = ENS_KEY_EC_P256,
        .common_name = (char *)"ensconce session CA",
        .dns = no_names,
        .ips = no_names,
        .valid_for_days = 3650,
    };
    /* the CA cert's params do not include the session name, so renaming is not an issue: names never change */
    return do_x509(m, &ca);
}

static int do_volumes(struct mctx *m, json_t *prev_vols, json_t *out_vols)
{
    const ens_policy_t *p = m->p;
    for (size_t i = 0; i < p->volume_count; i++) {
        const ens_policy_volume_t *v = &p->volumes[i];
        json_t *old = json_object_get(prev_vols, v->name);
        json_t *rec = NULL;
        if (v->import_session) {
            if (!m->resolve)
                return ens_error(m->err, EPERM, "volume %s: cannot import from session %s here (no resolver)",
                                 v->name, v->import_session);
            char *name = ens_strdup_printf("volume:%s", v->import_volume);
            char *text = NULL;
            int rc = name ? m->resolve(m->resolve_ctx, p->name, v->import_session, name, &text, m->err) : -1;
            free(name);
            if (rc < 0) {
                free(text);
                return ens_error_wrap(m->err, "volume %s: import of %s from session %s refused", v->name,
                                      v->import_volume, v->import_session);
            }
            rec = text ? json_loads(text, 0, NULL) : NULL;
            if (text) {
                ens_wipe(text, strlen(text));
                free(text);
            }
            if (!rec || !rstr(rec, "key")) {
                json_decref(rec);
                return ens_error(m->err, EINVAL, "volume %s: the imported record is malformed", v->name);
            }
            json_object_set_new(rec, "origin", json_string("imported"));
        } else {
            char keyhex[65];
            if (v->fspf_key) {
                snprintf(keyhex, sizeof(keyhex), "%s", v->fspf_key);
            } else if (old && rstr(old, "key") && strlen(rstr(old, "key")) == 64 &&
                       json_is_true(json_object_get(old, "generated"))) {
                snprintf(keyhex, sizeof(keyhex), "%s", rstr(old, "key"));
            } else {
                uint8_t k[32];
                if (ens_random(k, sizeof(k), m->err) < 0)
                    return -1;
                ens_hex_encode(k, sizeof(k), keyhex);
                ens_wipe(k, sizeof(k));
            }
            /* the tag: the one reported by the service, unless the policy's tag changed (an operator override)
             * or the key changed (old tags are meaningless) */
            const char *tag = v->fspf_tag;
            json_t *hist = NULL;
            if (old && rstr(old, "key") && !strcmp(rstr(old, "key"), keyhex)) {
                const char *ptag = rstr(old, "policy_tag");
                bool policy_changed = (ptag == NULL) != (v->fspf_tag == NULL) ||
                                      (ptag && v->fspf_tag && strcmp(ptag, v->fspf_tag));
                if (!policy_changed && rstr(old, "tag"))
                    tag = rstr(old, "tag");
                hist = json_deep_copy(json_object_get(old, "history"));
            }
            if (!json_is_array(hist)) {
                json_decref(hist);
                hist = json_array();
            }
            rec = json_pack("{s:s, s:o, s:o, s:b, s:o}", "key", keyhex, "tag", tag ? json_string(tag) : json_null(),
                            "policy_tag", v->fspf_tag ? json_string(v->fspf_tag) : json_null(), "generated",
                            v->fspf_key == NULL, "history", hist);
            ens_wipe(keyhex, sizeof(keyhex));
        }
        if (!rec)
            return ens_error(m->err, ENOMEM, "out of memory");
        json_object_set_new(out_vols, v->name, rec);
    }
    return 0;
}

int ens_secrets_materialize(const ens_policy_t *p, const char *prev_store_json, ens_secret_import_fn resolve,
                            void *resolve_ctx, ens_secret_store_t **out, ens_error_t *err)
{
    *out = NULL;
    ens_secret_store_t *prev = NULL;
    if (prev_store_json && *prev_store_json &&
        ens_secret_store_load(prev_store_json, strlen(prev_store_json), &prev, err) < 0)
        return ens_error_wrap(err, "session %s: previous secret store", p->name);
    ens_secret_store_t *s = store_new();
    if (!s) {
        ens_secret_store_free(prev);
        return ens_error(err, ENOMEM, "out of memory");
    }
    struct mctx m = {
        .p = p,
        .prev = prev ? json_object_get(prev->root, "secrets") : NULL,
        .out = json_object_get(s->root, "secrets"),
        .resolve = resolve,
        .resolve_ctx = resolve_ctx,
        .err = err,
    };
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < p->secret_count; i++)
        rc = do_secret(&m, &p->secrets[i]);
    if (rc == 0)
        rc = do_session_ca(&m);
    if (rc == 0)
        rc = do_volumes(&m, prev ? json_object_get(prev->root, "volumes") : NULL,
                        json_object_get(s->root, "volumes"));
    ens_secret_store_free(prev);
    if (rc < 0) {
        ens_secret_store_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

/* ------------------------------------------------------------------ persistence */

int ens_secret_store_serialize(const ens_secret_store_t *s, char **json, ens_error_t *err)
{
    *json = json_dumps(s->root, JSON_COMPACT | JSON_SORT_KEYS);
    if (!*json)
        return ens_error(err, ENOMEM, "cannot serialise the secret store");
    return 0;
}

int ens_secret_store_load(const char *json, size_t len, ens_secret_store_t **out, ens_error_t *err)
{
    *out = NULL;
    if (len > STORE_MAX_SIZE)
        return ens_error(err, E2BIG, "secret store larger than %u bytes", STORE_MAX_SIZE);
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    /* the parser's message may quote input: report the position only */
    if (!root)
        return ens_error(err, EINVAL, "secret store is not valid JSON (line %d, column %d)", je.line, je.column);
    if (!json_is_object(root) || json_integer_value(json_object_get(root, "format")) != STORE_FORMAT ||
        !json_is_object(json_object_get(root, "secrets")) || !json_is_object(json_object_get(root, "volumes"))) {
        wipe_json(root);
        json_decref(root);
        return ens_error(err, EINVAL, "secret store has an unknown format");
    }
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(root, "secrets"), k, v)
    {
        if (!json_is_object(v) || !rstr(v, "kind")) {
            wipe_json(root);
            json_decref(root);
            return ens_error(err, EINVAL, "secret store: record %s is malformed", k);
        }
    }
    ens_secret_store_t *s = calloc(1, sizeof(*s));
    if (!s) {
        wipe_json(root);
        json_decref(root);
        return ens_error(err, ENOMEM, "out of memory");
    }
    pthread_mutex_init(&s->lock, NULL);
    s->root = root;
    *out = s;
    return 0;
}

/* ------------------------------------------------------------------ export / public values */

static bool listed(char **list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], name))
            return true;
    return false;
}

/* The part of a record anyone may see. */
static json_t *public_record(const json_t *rec)
{
    const char *kind = rstr(rec, "kind");
    if (!kind)
        return NULL;
    if (!strcmp(kind, "ascii") || !strcmp(kind, "binary"))
        return json_pack("{s:s, s:s, s:I}", "kind", kind, "data", rstr(rec, "data") ? rstr(rec, "data") : "", "size",
                         json_integer_value(json_object_get(rec, "size")));
    if (!strcmp(kind, "private-key")) {
        if (rstr(rec, "public_key"))
            return json_pack("{s:s, s:s}", "kind", kind, "public_key", rstr(rec, "public_key"));
        EVP_PKEY *k = pem_to_key(rstr(rec, "key"));
        char *pub = k ? pubkey_to_pem(k) : NULL;
        EVP_PKEY_free(k);
        json_t *r = pub ? json_pack("{s:s, s:s}", "kind", kind, "public_key", pub) : NULL;
        free(pub);
        return r;
    }
    /* copies, not references: callers wipe what they hand out */
    json_t *chain = json_deep_copy(json_object_get(rec, "chain"));
    return json_pack("{s:s, s:s, s:o}", "kind", kind, "cert", rstr(rec, "cert") ? rstr(rec, "cert") : "", "chain",
                     chain ? chain : json_array());
}

int ens_secret_store_export(const ens_policy_t *p, const ens_secret_store_t *s, const char *secret,
                            const char *importer, char **record_json, ens_error_t *err)
{
    *record_json = NULL;
    json_t *out = NULL;
    if (!strncmp(secret, "volume:", 7)) {
        const ens_policy_volume_t *v = ens_policy_volume_find(p, secret + 7);
        if (!v || !listed(v->export_sessions, v->export_count, importer))
            return ens_error(err, EPERM, "session %s does not export volume %s to session %s", p->name, secret + 7,
                             importer);
        json_t *vr = json_object_get(json_object_get(s->root, "volumes"), v->name);
        if (!vr || !rstr(vr, "key"))
            return ens_error(err, ENOENT, "session %s: volume %s has no key yet", p->name, v->name);
        out = json_pack("{s:s, s:s, s:O}", "kind", "volume", "key", rstr(vr, "key"), "tag",
                        json_object_get(vr, "tag") ? json_object_get(vr, "tag") : json_null());
    } else {
        const ens_policy_secret_t *d = ens_policy_secret_find(p, secret);
        json_t *rec = rec_get(s, secret);
        if (!d || !rec)
            return ens_error(err, ENOENT, "session %s has no secret %s", p->name, secret);
        if (d->import_session)
            return ens_error(err, EPERM, "session %s: secret %s is itself imported and cannot be re-exported",
                             p->name, secret);
        if (listed(d->export_sessions, d->export_count, importer)) {
            out = json_deep_copy(rec);
            if (out) {
                json_object_del(out, "origin");
                json_object_del(out, "params");
                json_object_del(out, "own_key");
            }
        } else if (d->export_public) {
            out = public_record(rec);
        } else {
            return ens_error(err, EPERM, "session %s does not export secret %s to session %s", p->name, secret,
                             importer);
        }
    }
    if (!out)
        return ens_error(err, ENOMEM, "out of memory");
    *record_json = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    wipe_json(out);
    json_decref(out);
    if (!*record_json)
        return ens_error(err, ENOMEM, "out of memory");
    return 0;
}

int ens_secret_store_public_values(const ens_policy_t *p, const ens_secret_store_t *s, json_t **out,
                                   ens_error_t *err)
{
    json_t *o = json_object();
    if (!o)
        return ens_error(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < p->secret_count; i++) {
        const ens_policy_secret_t *d = &p->secrets[i];
        if (!d->export_public || d->import_session)
            continue;
        json_t *rec = rec_get(s, d->name);
        if (!rec)
            continue;
        json_t *pub = public_record(rec);
        if (!pub) {
            json_decref(o);
            return ens_error(err, ENOMEM, "out of memory");
        }
        /* a readable "value" for the plain kinds */
        const char *kind = rstr(pub, "kind");
        if (!strcmp(kind, "ascii")) {
            unsigned char *raw = NULL;
            size_t rl = 0;
            if (ens_b64_decode(rstr(pub, "data"), strlen(rstr(pub, "data")), &raw, &rl) == 0)
                json_object_set_new(pub, "value", json_stringn((const char *)raw, rl));
            free(raw);
            json_object_del(pub, "data");
        } else if (!strcmp(kind, "binary")) {
            json_object_set(pub, "value", json_object_get(pub, "data"));
            json_object_del(pub, "data");
        } else if (!strcmp(kind, "x509") || !strcmp(kind, "x509-ca")) {
            json_object_set(pub, "crt", json_object_get(pub, "cert"));
            json_object_del(pub, "cert");
        }
        json_object_set_new(o, d->name, pub);
    }
    *out = o;
    return 0;
}

/* ------------------------------------------------------------------ formats */

static int der_of(const json_t *rec, bool want_key, unsigned char **der, int *len)
{
    *der = NULL;
    *len = 0;
    if (want_key) {
        EVP_PKEY *k = pem_to_key(rstr(rec, "key"));
        if (!k)
            return -1;
        *len = i2d_PrivateKey(k, der);
        EVP_PKEY_free(k);
    } else {
        X509 *x = pem_to_cert(rstr(rec, "cert"));
        if (!x)
            return -1;
        *len = i2d_X509(x, der);
        X509_free(x);
    }
    return *len > 0 ? 0 : -1;
}

static char *hex_of(const unsigned char *b, size_t n)
{
    char *h = malloc(2 * n + 1);
    if (h)
        ens_hex_encode(b, n, h);
    return h;
}

int ens_secret_store_format(const ens_secret_store_t *s, const char *name, const char *format, char **out,
                            size_t *out_len, ens_error_t *err)
{
    *out = NULL;
    *out_len = 0;
    json_t *rec = rec_get(s, name);
    if (!rec)
        return ens_error(err, ENOENT, "unknown secret '%s'", name);
    const char *kind = rstr(rec, "kind");
    const char *f = format && *format ? format : NULL;
    char *res = NULL;
    size_t rl = 0;
    if (!strcmp(kind, "ascii") || !strcmp(kind, "binary")) {
        unsigned char *raw = NULL;
        size_t n = 0;
        const char *data = rstr(rec, "data");
        if (!data || ens_b64_decode(data, strlen(data), &raw, &n) < 0)
            return ens_error(err, EINVAL, "secret '%s': stored value is malformed", name);
        if (!f) {
            res = malloc(n + 1);
            if (res) {
                memcpy(res, raw, n);
                res[n] = '\0';
                rl = n;
            }
        } else if (!strcmp(f, "hex")) {
            res = hex_of(raw, n);
            rl = res ? 2 * n : 0;
        } else if (!strcmp(f, "base64")) {
            res = strdup(data);
            rl = res ? strlen(res) : 0;
        } else {
            ens_wipe(raw, n);
            free(raw);
            return ens_error(err, EINVAL, "secret '%s': format '%s' does not apply to %s secrets (use hex or base64)",
                             name, f, kind);
        }
        ens_wipe(raw, n);
        free(raw);
    } else if (!strcmp(kind, "private-key")) {
        if (!f || !strcmp(f, "pem") || !strcmp(f, "privatekey")) {
            if (!rstr(rec, "key"))
                return ens_error(err, EINVAL, "secret '%s': only the public key is available here", name);
            res = strdup(rstr(rec, "key"));
        } else if (!strcmp(f, "publickey")) {
            EVP_PKEY *k = pem_to_key(rstr(rec, "key"));
            res = k ? pubkey_to_pem(k) : (rstr(rec, "public_key") ? strdup(rstr(rec, "public_key")) : NULL);
            EVP_PKEY_free(k);
        } else if (!strcmp(f, "hex") || !strcmp(f, "base64")) {
            unsigned char *der;
            int dl;
            if (der_of(rec, true, &der, &dl) < 0)
                return ens_error(err, EINVAL, "secret '%s': no private key available", name);
            res = f[0] == 'h' ? hex_of(der, (size_t)dl) : ens_b64_encode(der, (size_t)dl);
            OPENSSL_clear_free(der, (size_t)dl);
        } else {
            return ens_error(err, EINVAL,
                             "secret '%s': format '%s' does not apply to private-key secrets (use pem, privatekey, "
                             "publickey, hex or base64)",
                             name, f);
        }
        rl = res ? strlen(res) : 0;
    } else if (!strcmp(kind, "x509") || !strcmp(kind, "x509-ca")) {
        const char *cert = rstr(rec, "cert");
        if (!cert)
            return ens_error(err, EINVAL, "secret '%s': stored certificate is missing", name);
        if (!f || !strcmp(f, "crt") || !strcmp(f, "pem")) {
            res = strdup(cert);
        } else if (!strcmp(f, "privatekey")) {
            if (!rstr(rec, "key"))
                return ens_error(err, EINVAL, "secret '%s': no private key available", name);
            res = strdup(rstr(rec, "key"));
        } else if (!strcmp(f, "chain")) {
            size_t cap = strlen(cert) + 1;
            json_t *chain = json_object_get(rec, "chain");
            size_t i;
            json_t *c;
            json_array_foreach(chain, i, c) cap += json_string_length(c);
            res = malloc(cap);
            if (res) {
                strcpy(res, cert);
                json_array_foreach(chain, i, c) if (json_is_string(c)) strcat(res, json_string_value(c));
            }
        } else if (!strcmp(f, "hex") || !strcmp(f, "base64")) {
            unsigned char *der;
            int dl;
            if (der_of(rec, false, &der, &dl) < 0)
                return ens_error(err, EINVAL, "secret '%s': stored certificate is malformed", name);
            res = f[0] == 'h' ? hex_of(der, (size_t)dl) : ens_b64_encode(der, (size_t)dl);
            OPENSSL_free(der);
        } else {
            return ens_error(err, EINVAL,
                             "secret '%s': format '%s' does not apply to %s secrets (use crt, pem, chain, privatekey, "
                             "hex or base64)",
                             name, f, kind);
        }
        rl = res ? strlen(res) : 0;
    } else {
        return ens_error(err, EINVAL, "secret '%s': unknown kind", name);
    }
    if (!res)
        return ens_error(err, ENOMEM, "secret '%s': cannot render the value", name);
    *out = res;
    *out_len = rl;
    return 0;
}

/* ------------------------------------------------------------------ volumes */

static json_t *vol_rec(const ens_secret_store_t *s, const char *volume)
{
    return json_object_get(json_object_get(s->root, "volumes"), volume);
}

const char *ens_secret_store_volume_key(const ens_secret_store_t *s, const char *volume)
{
    return rstr(vol_rec(s, volume), "key");
}

const char *ens_secret_store_volume_tag(const ens_secret_store_t *s, const char *volume)
{
    return rstr(vol_rec(s, volume), "tag");
}

int ens_secret_store_set_volume_tag(ens_secret_store_t *s, const char *volume, const char *tag_hex, ens_error_t *err)
{
    json_t *v = vol_rec(s, volume);
    if (!v)
        return ens_error(err, ENOENT, "unknown volume '%s'", volume);
    size_t l = tag_hex ? strlen(tag_hex) : 0;
    if (l < 32 || l > 128 || l % 2)
        return ens_error(err, EINVAL, "volume %s: a tag is 32 to 128 hex digits", volume);
    char low[129];
    for (size_t i = 0; i < l; i++) {
        char ch = tag_hex[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')))
            return ens_error(err, EINVAL, "volume %s: a tag is 32 to 128 hex digits", volume);
        low[i] = (char)((ch >= 'A' && ch <= 'F') ? ch + 32 : ch);
    }
    low[l] = '\0';
    const char *cur = rstr(v, "tag");
    if (cur && !strcmp(cur, low))
        return 0;
    json_t *hist = json_object_get(v, "history");
    if (!json_is_array(hist)) {
        hist = json_array();
        json_object_set_new(v, "history", hist);
    }
    size_t i;
    json_t *h;
    /* rollback protection: a tag seen before is an older state of the volume */
    json_array_foreach(hist, i, h) if (json_is_string(h) && !strcmp(json_string_value(h), low)) return ens_error(
        err, EPERM, "volume %s: tag is older than the current one (rollback refused)", volume);
    if (cur) {
        json_array_append_new(hist, json_string(cur));
        while (json_array_size(hist) > TAG_HISTORY_MAX)
            json_array_remove(hist, 0);
    }
    json_object_set_new(v, "tag", json_string(low));
    return 0;
}

/* ------------------------------------------------------------------ service certificates */

int ens_policy_issue_certificate(const ens_secret_store_t *s, const char *ca_name, EVP_PKEY *subject_key,
                                 const char *common_name, char *const *dns, size_t dns_count, unsigned valid_days,
                                 char **cert_pem, ens_error_t *err)
{
    *cert_pem = NULL;
    if (!ca_name)
        ca_name = ENS_SESSION_CA_SECRET;
    json_t *rec = rec_get(s, ca_name);
    if (!rec || !rstr(rec, "kind") || strcmp(rstr(rec, "kind"), "x509-ca"))
        return ens_error(err, ENOENT, "no x509-ca secret '%s'", ca_name);
    if (!subject_key || !common_name || !*common_name || strlen(common_name) > 64)
        return ens_error(err, EINVAL, "certificate request: a public key and a common name of 1 to 64 bytes needed");
    for (size_t i = 0; i < dns_count; i++)
        for (const char *q = dns[i]; *q; q++)
            if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '-' ||
                  *q == '.' || *q == '_' || *q == '*'))
                return ens_error(err, EINVAL, "certificate request: invalid DNS name");
    X509 *ca = NULL;
    EVP_PKEY *cakey = NULL;
    ens_secret_store_t *ms = (ens_secret_store_t *)s; /* the cache is the only mutable part */
    pthread_mutex_lock(&ms->lock);
    struct ca_cache *cc = ms->cache;
    while (cc && strcmp(cc->name, ca_name))
        cc = cc->next;
    if (!cc) {
        ca = pem_to_cert(rstr(rec, "cert"));
        cakey = pem_to_key(rstr(rec, "key"));
        cc = ca && cakey ? calloc(1, sizeof(*cc)) : NULL;
        if (cc && (cc->name = strdup(ca_name)) != NULL) {
            cc->cert = ca;
            cc->key = cakey;
            cc->next = ms->cache;
            ms->cache = cc;
        } else {
            free(cc);
            cc = NULL;
            X509_free(ca);
            EVP_PKEY_free(cakey);
        }
    }
    if (cc && X509_up_ref(cc->cert) == 1 && EVP_PKEY_up_ref(cc->key) == 1) {
        ca = cc->cert;
        cakey = cc->key;
    } else {
        ca = NULL;
        cakey = NULL;
    }
    pthread_mutex_unlock(&ms->lock);
    if (!ca || !cakey)
        return ens_error(err, EINVAL, "secret %s: no certificate and private key to sign with", ca_name);
    struct cert_req req = {
        .name = ca_name,
        .ca = false,
        .common_name = common_name,
        .dns = dns,
        .dns_count = dns_count,
        .days = valid_days ? valid_days : 1,
        .subject = subject_key,
        .issuer_cert = ca,
        .signer = cakey,
    };
    X509 *x = issue_cert(&req, err);
    X509_free(ca);
    EVP_PKEY_free(cakey);
    if (!x)
        return -1;
    *cert_pem = cert_to_pem(x);
    X509_free(x);
    if (!*cert_pem)
        return ens_error(err, ENOMEM, "cannot encode the certificate");
    return 0;
}
