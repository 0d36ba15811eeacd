/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers: times, raw ECDSA signatures, PEM lists, X.509 chains with a cache. */
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/cleanup.h"
#include "crypto/digest.h"
#include "tee/internal.h"

/* Intel SGX Provisioning Certification Root CA (also given in the vectors README). */
const uint8_t tee_intel_root_sha256[32] = {
    0x44, 0xa0, 0x19, 0x6b, 0x2b, 0x99, 0xf8, 0x89, 0xb8, 0xe1, 0x49, 0xe9, 0x5b, 0x80, 0x7a, 0x35,
    0x0e, 0x74, 0x24, 0x96, 0x43, 0x99, 0xe8, 0x85, 0xa7, 0xcb, 0xb8, 0xcc, 0xfa, 0xb6, 0x74, 0xd3};

/* AMD Root Keys (ARK) for Milan, Genoa, Turin as published by AMD KDS. */
const uint8_t tee_amd_ark_sha256[3][32] = {
    {0x69, 0xd0, 0x63, 0xb4, 0x53, 0x44, 0xd2, 0x6a, 0x2e, 0x94, 0xe1, 0xf4, 0x21, 0x0d, 0xe4, 0x9e,
     0xf5, 0x55, 0x30, 0x82, 0x87, 0xd4, 0xc1, 0x74, 0x44, 0x5c, 0x95, 0x63, 0x9a, 0x54, 0x0b, 0xcd}, /* Milan */
    {0x4c, 0x65, 0x98, 0xd1, 0x9c, 0x18, 0x71, 0x9c, 0x5d, 0xfd, 0x4a, 0x7d, 0x33, 0x5f, 0x67, 0x4e,
     0x5b, 0xfe, 0x1d, 0x8f, 0x80, 0x0c, 0xea, 0x2c, 0xf2, 0x70, 0xc1, 0x0d, 0x10, 0x3d, 0xb2, 0xf1}, /* Genoa */
    {0x1f, 0x08, 0x41, 0x61, 0xa4, 0x4b, 0xb6, 0xd9, 0x37, 0x78, 0xa9, 0x04, 0x87, 0x7d, 0x48, 0x19,
     0xca, 0xfa, 0x5d, 0x05, 0xef, 0x41, 0x93, 0xb2, 0xde, 0xd9, 0xdd, 0x9c, 0x73, 0xdd, 0x3f, 0x6a}, /* Turin */
};

int tee_parse_time(const char *s, time_t *out)
{
    int y, mo, d, h, mi, se, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 || n != 19)
        return -1;
    const char *p = s + n;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (strcmp(p, "Z") != 0)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = se};
    *out = timegm(&tm);
    return 0;
}

void tee_format_time(time_t t, char out[32])
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "@%lld", (long long)t);
}

json_t *tee_json_hex(const uint8_t *p, size_t n)
{
    char buf[2 * 128 + 1];
    if (n > 128)
        return NULL;
    ens_hex_encode(p, n, buf);
    return json_string(buf);
}

int tee_ecdsa_verify_raw(EVP_PKEY *key, const EVP_MD *md, const uint8_t *msg, size_t msg_len,
                         const uint8_t *rs, size_t n)
{
    int ok = -1;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, (int)n, NULL), *s = BN_bin2bn(rs + n, (int)n, NULL);
    unsigned char *der = NULL;
    EVP_MD_CTX *ctx = NULL;
    if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
        BN_free(r);
        BN_free(s);
        goto out;
    }
    int der_len = i2d_ECDSA_SIG(sig, &der);
    if (der_len <= 0)
        goto out;
    ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) == 1 &&
        EVP_DigestVerify(ctx, der, (size_t)der_len, msg, msg_len) == 1)
        ok = 0;
out:
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    ERR_clear_error();
    return ok;
}

EVP_PKEY *tee_p256_key(const uint8_t xy[64])
{
    /* SubjectPublicKeyInfo prefix for id-ecPublicKey / prime256v1, then 04||X||Y. */
    static const uint8_t prefix[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce,
                                     0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
                                     0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04};
    uint8_t der[sizeof(prefix) + 64];
    memcpy(der, prefix, sizeof(prefix));
    memcpy(der + sizeof(prefix), xy, 64);
    const unsigned char *p = der;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)sizeof(der));
    ERR_clear_error();
    return k;
}

int tee_pem_certs(const uint8_t *buf, size_t len, STACK_OF(X509) **out, const char *what,
                  ens_error_t *err)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    static const char end[] = "-----END CERTIFICATE-----";
    if (!*out && !(*out = sk_X509_new_null()))
        return ens_error(err, ENOMEM, "%s: out of memory", what);
    size_t pos = 0, count = 0;
    /* Strict framing (only whitespace between certificates, only whitespace or
     * NULs at the end) so that no byte of the chain is silently ignored. */
    for (;;) {
        while (pos < len && (buf[pos] == '\n' || buf[pos] == '\r' || buf[pos] == ' ' || buf[pos] == '\t'))
            pos++;
        if (pos == len)
            break;
        if (buf[pos] == 0) {
            for (; pos < len; pos++)
                if (buf[pos] != 0)
                    return ens_error(err, EINVAL, "%s: unexpected byte after a NUL in the PEM data", what);
            break;
        }
        if (len - pos < sizeof(begin) - 1 || memcmp(buf + pos, begin, sizeof(begin) - 1) != 0)
            return ens_error(err, EINVAL, "%s: unexpected data at offset %zu of the PEM data", what, pos);
        size_t b0 = pos + sizeof(begin) - 1;
        const uint8_t *e = memmem(buf + b0, len - b0, end, sizeof(end) - 1);
        if (!e)
            return ens_error(err, EINVAL, "%s: unterminated PEM certificate", what);
        /* The body holds base64 and line breaks only, and decodes to exactly one DER certificate. */
        size_t b = pos + sizeof(begin) - 1, bend = (size_t)(e - buf), nb = 0, pad = 0;
        _cleanup_free_ uint8_t *b64 = malloc(bend - b + 1);
        _cleanup_free_ uint8_t *der = malloc((bend - b) / 4 * 3 + 3);
        if (!b64 || !der)
            return ens_error(err, ENOMEM, "%s: out of memory", what);
        for (size_t k = b; k < bend; k++) {
            uint8_t ch = buf[k];
            if (ch == '\n' || ch == '\r')
                continue;
            bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' ||
                      ch == '/' || ch == '=';
            if (!ok || (pad && ch != '='))
                return ens_error(err, EINVAL, "%s: certificate %zu: invalid PEM body", what, count + 1);
            if (ch == '=')
                pad++;
            b64[nb++] = ch;
        }
        if (nb == 0 || nb % 4 || pad > 2)
            return ens_error(err, EINVAL, "%s: certificate %zu: invalid PEM body", what, count + 1);
        int dl = EVP_DecodeBlock(der, b64, (int)nb);
        if (dl < 0 || (size_t)dl < pad)
            return ens_error(err, EINVAL, "%s: certificate %zu: invalid base64", what, count + 1);
        size_t derlen = (size_t)dl - pad;
        const unsigned char *p = der;
        X509 *x = d2i_X509(NULL, &p, (long)derlen);
        ERR_clear_error();
        if (!x || p != der + derlen) {
            X509_free(x);
            return ens_error(err, EINVAL, "%s: certificate %zu is not valid DER", what, count + 1);
        }
        size_t stop = bend + sizeof(end) - 1;
        /* Compute OpenSSL's lazily cached extension data now, before threads share x. */
        X509_check_purpose(x, -1, 0);
        if (!sk_X509_push(*out, x)) {
            X509_free(x);
            return ens_error(err, ENOMEM, "%s: out of memory", what);
        }
        count++;
        pos = stop;
    }
    if (count == 0)
        return ens_error(err, EINVAL, "%s: no PEM certificate", what);
    return 0;
}

static bool is_pinned(X509 *x, const uint8_t (*roots)[32], size_t n_roots)
{
    uint8_t md[32];
    unsigned int mdlen = sizeof(md);
    if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1)
        return false;
    for (size_t i = 0; i < n_roots; i++)
        if (memcmp(md, roots[i], 32) == 0)
            return true;
    return false;
}

static time_t asn1_to_time(const ASN1_TIME *t, bool *ok)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) {
        *ok = false;
        return 0;
    }
    return timegm(&tm);
}

/* The times for which this verified chain stays valid: certificate validity
 * and, with CRLs, the CRLs of the chain's issuers. */
static void chain_window(STACK_OF(X509) *chain, STACK_OF(X509_CRL) *crls, int crl, time_t *from,
                         time_t *to, bool *ok)
{
    *from = 0;
    *to = (time_t)INT64_MAX;
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);
        time_t nb = asn1_to_time(X509_get0_notBefore(x), ok), na = asn1_to_time(X509_get0_notAfter(x), ok);
        if (nb > *from)
            *from = nb;
        if (na < *to)
            *to = na;
        if (!crl)
            continue;
        for (int j = 0; j < sk_X509_CRL_num(crls); j++) {
            X509_CRL *cr = sk_X509_CRL_value(crls, j);
            if (X509_NAME_cmp(X509_CRL_get_issuer(cr), X509_get_subject_name(x)) != 0)
                continue;
            const ASN1_TIME *nu = X509_CRL_get0_nextUpdate(cr);
            time_t lu = asn1_to_time(X509_CRL_get0_lastUpdate(cr), ok);
            time_t n = nu ? asn1_to_time(nu, ok) : (time_t)INT64_MAX;
            if (lu > *from)
                *from = lu;
            if (n < *to)
                *to = n;
        }
    }
}

static void cache_key(X509 *leaf, STACK_OF(X509) *extra, const uint8_t (*roots)[32], int crl, uint8_t key[32])
{
    ens_sha256_ctx *h = ens_sha256_new();
    uint8_t md[32];
    unsigned int mdlen = sizeof(md);
    if (!h) {
        memset(key, 0, 32);
        return;
    }
    X509_digest(leaf, EVP_sha256(), md, &mdlen);
    ens_sha256_update(h, md, sizeof(md));
    for (int i = 0; i < sk_X509_num(extra); i++) {
        X509_digest(sk_X509_value(extra, i), EVP_sha256(), md, &mdlen);
        ens_sha256_update(h, md, sizeof(md));
    }
    ens_sha256_update(h, roots, 32);
    uint8_t mode = (uint8_t)crl;
    ens_sha256_update(h, &mode, 1);
    ens_sha256_final(h, key);
    ens_sha256_free(h);
}

/* A missing CRL is fine; a present one must verify, be current and not revoke. */
static int crl_if_present_cb(int ok, X509_STORE_CTX *ctx)
{
    if (!ok && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_UNABLE_TO_GET_CRL)
        return 1;
    return ok;
}

int tee_verify_chain(const struct ens_tee_collateral *cc, X509 *leaf, STACK_OF(X509) *extra,
                     const uint8_t (*roots)[32], size_t n_roots, int crl, time_t at,
                     const char *step, ens_error_t *err)
{
    struct ens_tee_collateral *c = (struct ens_tee_collateral *)cc; /* the cache is internal state */
    uint8_t key[32];
    cache_key(leaf, extra, roots, crl, key);
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_cache; i++) {
        if (memcmp(c->cache[i].key, key, 32) == 0 && at >= c->cache[i].from && at < c->cache[i].to) {
            pthread_mutex_unlock(&c->lock);
            return 0;
        }
    }
    pthread_mutex_unlock(&c->lock);

    int ret = -1;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    if (!store || !ctx || !untrusted) {
        ens_error(err, ENOMEM, "%s: out of memory", step);
        goto out;
    }
    size_t anchors = 0;
    for (int i = 0; i < sk_X509_num(c->certs); i++) {
        X509 *x = sk_X509_value(c->certs, i);
        if (is_pinned(x, roots, n_roots)) {
            X509_STORE_add_cert(store, x);
            anchors++;
        } else {
            sk_X509_push(untrusted, x);
        }
    }
    for (int i = 0; i < sk_X509_num(extra); i++) {
        X509 *x = sk_X509_value(extra, i);
        if (x == leaf)
            continue;
        if (is_pinned(x, roots, n_roots)) {
            X509_STORE_add_cert(store, x);
            anchors++;
        } else {
            sk_X509_push(untrusted, x);
        }
    }
    if (anchors == 0) {
        ens_error(err, ENOENT, "%s: the pinned root certificate is not in the collateral", step);
        goto out;
    }
    if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1) {
        ens_error(err, ENOMEM, "%s: cannot set up certificate verification", step);
        goto out;
    }
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(param, at);
    /* No X509_V_FLAG_X509_STRICT: AMD VCEKs lack an Authority Key Identifier. */
    unsigned long flags = X509_V_FLAG_USE_CHECK_TIME;
    if (crl != TEE_CRL_NONE) {
        flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
        X509_STORE_CTX_set0_crls(ctx, c->crls);
        if (crl == TEE_CRL_IF_PRESENT)
            X509_STORE_CTX_set_verify_cb(ctx, crl_if_present_cb);
    }
    X509_VERIFY_PARAM_set_flags(param, flags);
    if (X509_verify_cert(ctx) != 1) {
        int e = X509_STORE_CTX_get_error(ctx);
        int depth = X509_STORE_CTX_get_error_depth(ctx);
        X509 *bad = X509_STORE_CTX_get_current_cert(ctx);
        char name[256] = "?";
        if (bad)
            X509_NAME_oneline(X509_get_subject_name(bad), name, sizeof(name));
        ens_error(err, EACCES, "%s: certificate %s (depth %d): %s", step, name, depth,
                  X509_verify_cert_error_string(e));
        goto out;
    }
    time_t from, to;
    bool ok = true;
    chain_window(X509_STORE_CTX_get0_chain(ctx), c->crls, crl, &from, &to, &ok);
    if (ok && from <= at && at < to) {
        pthread_mutex_lock(&c->lock);
        if (c->n_cache == c->cap_cache && c->cap_cache < 4096) {
            size_t cap = c->cap_cache ? 2 * c->cap_cache : 16;
            struct tee_cache_ent *n = realloc(c->cache, cap * sizeof(*n));
            if (n) {
                c->cache = n;
                c->cap_cache = cap;
            }
        }
        if (c->n_cache < c->cap_cache) {
            struct tee_cache_ent *e = &c->cache[c->n_cache++];
            memcpy(e->key, key, 32);
            e->from = from;
            e->to = to;
        }
        pthread_mutex_unlock(&c->lock);
    }
    ret = 0;
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_free(untrusted);
    return ret;
}
