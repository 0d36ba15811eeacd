/* SPDX-License-Identifier: Apache-2.0 */
/* The evidence envelope, simulation evidence and the verifier dispatch. */
#include "attest/attest.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/b64.h"
#include "core/cleanup.h"
#include "crypto/digest.h"
#include "net/net.h"

char *ens_attest_b64_encode(const void *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out == NULL)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

int ens_attest_b64_decode(const char *s, uint8_t **out, size_t *len, ens_error_t *err)
{
    size_t n = strlen(s);
    if (n % 4 != 0 || n > (64u << 20))
        return ens_error(err, EINVAL, "invalid base64 (length)");
    uint8_t *buf = malloc(n / 4 * 3 + 1);
    if (buf == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    int r = n ? EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n) : 0;
    if (r < 0) {
        free(buf);
        return ens_error(err, EINVAL, "invalid base64");
    }
    /* DecodeBlock keeps the padding bytes: drop one per '='. */
    size_t pad = (n >= 1 && s[n - 1] == '=') + (n >= 2 && s[n - 2] == '=');
    *out = buf;
    *len = (size_t)r - pad;
    return 0;
}

bool ens_attest_hex_valid(const char *s, size_t bytes)
{
    if (s == NULL)
        return false;
    size_t n = strlen(s);
    if (bytes ? n != 2 * bytes : (n == 0 || n % 2 || n > 128))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

void ens_attest_report_data(const uint8_t nonce[ENS_NONCE_LEN], const uint8_t *spki, size_t spki_len,
                            uint8_t out[ENS_REPORT_DATA_LEN])
{
    ens_sha256_ctx *c = ens_sha256_new();
    if (c == NULL) {
        memset(out, 0, ENS_REPORT_DATA_LEN); /* never matches a real binding */
        return;
    }
    ens_sha256_update(c, nonce, ENS_NONCE_LEN);
    ens_sha256_update(c, spki, spki_len);
    ens_sha256_final(c, out);
    ens_sha256_free(c);
}

int ens_attest_report_data_for_key(const uint8_t nonce[ENS_NONCE_LEN], EVP_PKEY *key,
                                   uint8_t out[ENS_REPORT_DATA_LEN], ens_error_t *err)
{
    _cleanup_free_ uint8_t *der = NULL;
    size_t len = 0;
    if (ens_tls_key_spki(key, &der, &len, err) < 0)
        return -1;
    ens_attest_report_data(nonce, der, len, out);
    return 0;
}

int ens_attest_report_data_for_cert(const uint8_t nonce[ENS_NONCE_LEN], X509 *cert,
                                    uint8_t out[ENS_REPORT_DATA_LEN], ens_error_t *err)
{
    _cleanup_free_ uint8_t *der = NULL;
    size_t len = 0;
    if (ens_tls_cert_spki(cert, &der, &len, err) < 0)
        return -1;
    ens_attest_report_data(nonce, der, len, out);
    return 0;
}

int ens_attest_sim_sign(EVP_PKEY *key, X509 *cert, const char *measurement_hex, const uint8_t *report_data,
                        size_t report_data_len, json_t **evidence, ens_error_t *err)
{
    if (!ens_attest_hex_valid(measurement_hex, 0))
        return ens_error(err, EINVAL, "measurement: expected lower-case hex (up to 64 bytes)");
    if (report_data_len == 0 || report_data_len > 64)
        return ens_error(err, EINVAL, "report_data: expected 1 to 64 bytes");
    uint8_t pid[32];
    if (ens_tls_cert_id(cert, pid, err) < 0)
        return -1;
    char rd_hex[129], pid_hex[65];
    ens_hex_encode(report_data, report_data_len, rd_hex);
    ens_hex_encode(pid, 32, pid_hex);
    json_t *claims = json_pack("{s:s, s:s, s:I, s:s}", "measurement", measurement_hex, "report_data", rd_hex,
                               "timestamp", (json_int_t)time(NULL), "platform", pid_hex);
    _cleanup_free_ char *payload = claims ? json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(claims);
    if (payload == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    size_t plen = strlen(payload);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t siglen = 0;
    _cleanup_free_ uint8_t *sig = NULL;
    if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1
        || EVP_DigestSign(md, NULL, &siglen, (const uint8_t *)payload, plen) != 1
        || (sig = malloc(siglen)) == NULL
        || EVP_DigestSign(md, sig, &siglen, (const uint8_t *)payload, plen) != 1) {
        EVP_MD_CTX_free(md);
        ERR_clear_error();
        return ens_error(err, EPROTO, "signing simulation evidence");
    }
    EVP_MD_CTX_free(md);
    _cleanup_free_ char *p64 = ens_attest_b64_encode(payload, plen);
    _cleanup_free_ char *s64 = ens_attest_b64_encode(sig, siglen);
    _cleanup_free_ char *pem = ens_tls_cert_pem(cert);
    if (p64 == NULL || s64 == NULL || pem == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    *evidence = json_pack("{s:i, s:s, s:s, s:s, s:s}", "version", 1, "type", "sim", "payload", p64, "signature",
                          s64, "certificate", pem);
    return *evidence ? 0 : ens_error(err, ENOMEM, "out of memory");
}

/* Parsed signer certificates by the SHA-256 of their PEM text: parsing a certificate's
 * key goes through OpenSSL 3's decoders, which costs more than the signature check, and
 * a CAS sees the same few LAS certificates over and over. */
#define CERT_CACHE 32
static struct {
    uint8_t h[32];
    X509 *cert;
} cert_cache[CERT_CACHE];
static size_t cert_cache_next;
static pthread_mutex_t cert_cache_mu = PTHREAD_MUTEX_INITIALIZER;

static int cached_cert(const char *pem, X509 **out, ens_error_t *err)
{
    uint8_t h[32];
    ens_sha256(pem, strlen(pem), h);
    pthread_mutex_lock(&cert_cache_mu);
    for (size_t i = 0; i < CERT_CACHE; i++)
        if (cert_cache[i].cert && memcmp(cert_cache[i].h, h, 32) == 0) {
            X509_up_ref(cert_cache[i].cert);
            *out = cert_cache[i].cert;
            pthread_mutex_unlock(&cert_cache_mu);
            return 0;
        }
    pthread_mutex_unlock(&cert_cache_mu);
    X509 *c = NULL;
    if (ens_tls_cert_from_pem(pem, strlen(pem), &c, err) < 0)
        return -1;
    pthread_mutex_lock(&cert_cache_mu);
    size_t i = cert_cache_next++ % CERT_CACHE;
    X509_free(cert_cache[i].cert);
    memcpy(cert_cache[i].h, h, 32);
    X509_up_ref(c);
    cert_cache[i].cert = c;
    pthread_mutex_unlock(&cert_cache_mu);
    *out = c;
    return 0;
}

static int verify_sim(const json_t *ev, const struct ens_attest_verify_ctx *ctx, struct ens_attest_claims *c,
                      ens_error_t *err)
{
    const char *p64 = NULL, *s64 = NULL, *pem = NULL;
    if (json_unpack((json_t *)ev, "{s:s, s:s, s:s}", "payload", &p64, "signature", &s64, "certificate", &pem) < 0)
        return ens_error(err, EINVAL, "sim evidence: needs string fields payload, signature, certificate");
    X509 *cert = NULL;
    if (cached_cert(pem, &cert, err) < 0)
        return ens_error_wrap(err, "sim evidence: certificate");
    uint8_t pid[32];
    char pid_hex[65];
    if (ens_tls_cert_id(cert, pid, err) < 0) {
        X509_free(cert);
        return -1;
    }
    ens_hex_encode(pid, 32, pid_hex);
    if (ctx && ctx->platform_trusted && !ctx->platform_trusted(ctx->arg, pid_hex)) {
        X509_free(cert);
        return ens_error(err, EPERM, "sim evidence: platform %s is not registered", pid_hex);
    }
    _cleanup_free_ uint8_t *payload = NULL, *sig = NULL;
    size_t plen = 0, slen = 0;
    if (ens_attest_b64_decode(p64, &payload, &plen, err) < 0 || ens_attest_b64_decode(s64, &sig, &slen, err) < 0) {
        X509_free(cert);
        return ens_error_wrap(err, "sim evidence");
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, X509_get0_pubkey(cert)) == 1
             && EVP_DigestVerify(md, sig, slen, payload, plen) == 1;
    EVP_MD_CTX_free(md);
    X509_free(cert);
    ERR_clear_error();
    if (!ok)
        return ens_error(err, EPERM, "sim evidence: bad signature");
    json_error_t je;
    json_t *claims = json_loadb((const char *)payload, plen, JSON_REJECT_DUPLICATES, &je);
    const char *m = NULL, *rd = NULL, *plat = NULL;
    json_int_t ts = 0;
    if (claims == NULL
        || json_unpack(claims, "{s:s, s:s, s:I, s:s}", "measurement", &m, "report_data", &rd, "timestamp", &ts,
                       "platform", &plat) < 0
        || !ens_attest_hex_valid(m, 0) || !ens_attest_hex_valid(rd, 0) || strlen(m) >= sizeof(c->measurement)) {
        json_decref(claims);
        return ens_error(err, EINVAL, "sim evidence: malformed claims");
    }
    if (strcmp(plat, pid_hex) != 0) {
        json_decref(claims);
        return ens_error(err, EPERM, "sim evidence: claims name another platform than the signer");
    }
    memset(c, 0, sizeof(*c));
    strcpy(c->type, "sim");
    strcpy(c->measurement, m);
    c->report_data_len = strlen(rd) / 2;
    ens_hex_decode(rd, c->report_data, c->report_data_len, NULL);
    strcpy(c->platform, pid_hex);
    c->timestamp = ts;
    c->flags = ENS_CLAIM_SIMULATION | ENS_CLAIM_DEBUG;
    json_decref(claims);
    int64_t now = ctx && ctx->now ? ctx->now : (int64_t)time(NULL);
    if (ts > now + 30 || now - ts > ENS_EVIDENCE_MAX_AGE_S)
        return ens_error(err, EPERM, "sim evidence: timestamp %lld is not fresh", (long long)ts);
    return 0;
}

#define MAX_VERIFIERS 8
static struct {
    char type[16];
    ens_attest_verifier_fn fn;
} verifiers[MAX_VERIFIERS] = {{"sim", verify_sim}};
static size_t n_verifiers = 1;

int ens_attest_register_verifier(const char *type, ens_attest_verifier_fn fn, ens_error_t *err)
{
    if (strlen(type) >= sizeof(verifiers[0].type))
        return ens_error(err, EINVAL, "evidence type '%s' too long", type);
    for (size_t i = 0; i < n_verifiers; i++)
        if (strcmp(verifiers[i].type, type) == 0) {
            verifiers[i].fn = fn;
            return 0;
        }
    if (n_verifiers == MAX_VERIFIERS)
        return ens_error(err, ENOSPC, "too many evidence verifiers");
    strcpy(verifiers[n_verifiers].type, type);
    verifiers[n_verifiers++].fn = fn;
    return 0;
}

int ens_attest_verify(const json_t *evidence, const struct ens_attest_verify_ctx *ctx,
                      struct ens_attest_claims *claims, ens_error_t *err)
{
    const char *type = json_is_object(evidence) ? json_string_value(json_object_get(evidence, "type")) : NULL;
    if (type == NULL)
        return ens_error(err, EINVAL, "evidence: expected an object with a string 'type'");
    for (size_t i = 0; i < n_verifiers; i++)
        if (strcmp(verifiers[i].type, type) == 0)
            return verifiers[i].fn(evidence, ctx, claims, err);
    return ens_error(err, ENOTSUP, "evidence type '%.16s' is not supported by this CAS", type);
}
