/* SPDX-License-Identifier: Apache-2.0 */
/* TLS helpers: keys, self-signed certificates, PEM files, key ids, server contexts. */
/* EC_KEY: see ens_tls_keygen() */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "net/net.h"

#include <errno.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "crypto/digest.h"
#include "net/net_internal.h"

int net_ssl_error(ens_error_t *err, const char *what, const char *if_empty)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", if_empty);
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return ens_error(err, EPROTO, "%s: %s", what, buf);
}

static int ssl_error(ens_error_t *err, const char *what) { return net_ssl_error(err, what, "unknown error"); }

int net_accept_any_cert(int ok, X509_STORE_CTX *ctx)
{
    (void)ok;
    (void)ctx;
    return 1;
}

/* Takes a DER encoding from OpenSSL (n bytes at buf, n <= 0 on failure) into a malloc'd copy. */
static int own_der(unsigned char *buf, int n, uint8_t **der, size_t *len, const char *what, ens_error_t *err)
{
    if (n <= 0)
        return ssl_error(err, what);
    *der = malloc((size_t)n);
    if (*der == NULL) {
        OPENSSL_free(buf);
        return ens_error(err, ENOMEM, "out of memory");
    }
    memcpy(*der, buf, (size_t)n);
    OPENSSL_free(buf);
    *len = (size_t)n;
    return 0;
}

/*
 * A key held as an EC_KEY (OpenSSL's "legacy" form) on purpose: OpenSSL 3.0 puts a provider key
 * through OSSL_ENCODER and OSSL_DECODER whenever it is placed into a certificate or written as PEM,
 * and looking those up costs more than the elliptic-curve arithmetic (a quarter of an attestation
 * round trip's client CPU).  The EC_KEY form takes the direct ASN.1 path; signing with it exports it
 * to the provider once.  The EC_KEY functions are deprecated, not removed, in 3.x.
 */
int ens_tls_keygen(EVP_PKEY **out, ens_error_t *err)
{
    EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    EVP_PKEY *k = EVP_PKEY_new();
    if (ec == NULL || k == NULL || EC_KEY_generate_key(ec) != 1 || EVP_PKEY_assign_EC_KEY(k, ec) != 1) {
        EC_KEY_free(ec);
        EVP_PKEY_free(k);
        return ssl_error(err, "generating a P-256 key");
    }
    *out = k;
    return 0;
}

static int add_ext(X509 *cert, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ex == NULL)
        return -1;
    int r = X509_add_ext(cert, ex, -1);
    X509_EXTENSION_free(ex);
    return r == 1 ? 0 : -1;
}

int ens_tls_selfsigned(EVP_PKEY *key, const char *cn, int days, const char *san, X509 **out,
                       ens_error_t *err)
{
    X509 *c = X509_new();
    if (c == NULL)
        return ssl_error(err, "X509_new");
    uint8_t serial[16];
    if (ens_random(serial, sizeof(serial), err) < 0) {
        X509_free(c);
        return -1;
    }
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    X509_set_version(c, 2);
    if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) == NULL) {
        BN_free(bn);
        X509_free(c);
        return ssl_error(err, "certificate serial");
    }
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(c), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c), (long)days * 86400L);
    X509_NAME *name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c, name);
    X509_set_pubkey(c, key);
    if (add_ext(c, NID_basic_constraints, "critical,CA:FALSE") < 0
        || add_ext(c, NID_subject_key_identifier, "hash") < 0
        || (san != NULL && san[0] != '\0' && add_ext(c, NID_subject_alt_name, san) < 0)) {
        X509_free(c);
        return ssl_error(err, "certificate extensions");
    }
    if (X509_sign(c, key, EVP_sha256()) <= 0) {
        X509_free(c);
        return ssl_error(err, "signing a certificate");
    }
    *out = c;
    return 0;
}

int ens_tls_key_spki(EVP_PKEY *key, uint8_t **der, size_t *len, ens_error_t *err)
{
    unsigned char *buf = NULL;
    int n = i2d_PUBKEY(key, &buf);
    return own_der(buf, n, der, len, "encoding a public key", err);
}

int ens_tls_key_id(EVP_PKEY *key, uint8_t out[32], ens_error_t *err)
{
    _cleanup_free_ uint8_t *der = NULL;
    size_t len = 0;
    if (ens_tls_key_spki(key, &der, &len, err) < 0)
        return -1;
    ens_sha256(der, len, out);
    return 0;
}

int ens_tls_cert_spki(X509 *cert, uint8_t **der, size_t *len, ens_error_t *err)
{
    /* The certificate keeps its SubjectPublicKeyInfo as parsed: re-encoding that structure
     * avoids OpenSSL 3's (slow) key encoder path of i2d_PUBKEY. */
    X509_PUBKEY *pk = X509_get_X509_PUBKEY(cert);
    unsigned char *buf = NULL;
    int n = pk ? i2d_X509_PUBKEY(pk, &buf) : -1;
    return own_der(buf, n, der, len, "certificate without a usable public key", err);
}

int ens_tls_cert_id(X509 *cert, uint8_t out[32], ens_error_t *err)
{
    _cleanup_free_ uint8_t *der = NULL;
    size_t len = 0;
    if (ens_tls_cert_spki(cert, &der, &len, err) < 0)
        return -1;
    ens_sha256(der, len, out);
    return 0;
}

int ens_tls_load_key(const char *path, EVP_PKEY **out, ens_error_t *err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    if (ens_read_file(path, 1 << 20, &buf, &len, err) < 0)
        return -1;
    BIO *b = BIO_new_mem_buf(buf, (int)len);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    ens_wipe(buf, len);
    if (k == NULL) {
        ERR_clear_error();
        return ens_error(err, EINVAL, "%s: not a PEM private key", path);
    }
    *out = k;
    return 0;
}

int ens_tls_cert_from_pem(const char *pem, size_t len, X509 **out, ens_error_t *err)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509 *c = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (c == NULL) {
        ERR_clear_error();
        return ens_error(err, EINVAL, "not a PEM certificate");
    }
    *out = c;
    return 0;
}

int ens_tls_load_cert(const char *path, X509 **out, ens_error_t *err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    if (ens_read_file(path, 1 << 20, &buf, &len, err) < 0)
        return -1;
    if (ens_tls_cert_from_pem(buf, len, out, err) < 0)
        return ens_error_wrap(err, "%s", path);
    return 0;
}

static int bio_to_file(BIO *b, const char *path, mode_t mode, ens_error_t *err)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    int r = ens_write_file_atomic(path, data, (size_t)n, mode, err);
    if (n > 0)
        ens_wipe(data, (size_t)n);
    return r;
}

int ens_tls_save_key(const char *path, EVP_PKEY *key, ens_error_t *err)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(b);
        return ssl_error(err, "encoding a private key");
    }
    int r = bio_to_file(b, path, 0600, err);
    BIO_free(b);
    return r;
}

char *ens_tls_cert_pem(X509 *cert)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || PEM_write_bio_X509(b, cert) != 1) {
        BIO_free(b);
        return NULL;
    }
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *s = strndup(data, (size_t)n);
    BIO_free(b);
    return s;
}

int ens_tls_save_cert(const char *path, X509 *cert, ens_error_t *err)
{
    _cleanup_free_ char *pem = ens_tls_cert_pem(cert);
    if (pem == NULL)
        return ssl_error(err, "encoding a certificate");
    return ens_write_file_atomic(path, pem, strlen(pem), 0644, err);
}

int ens_tls_load_or_create(const char *dir, const char *name, const char *cn, const char *san,
                           EVP_PKEY **key, X509 **cert, ens_error_t *err)
{
    _cleanup_free_ char *kname = NULL, *cname = NULL;
    if (asprintf(&kname, "%s.key", name) < 0 || asprintf(&cname, "%s.crt", name) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    _cleanup_free_ char *kpath = ens_path_join(dir, kname);
    _cleanup_free_ char *cpath = ens_path_join(dir, cname);
    if (kpath == NULL || cpath == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    if (access(kpath, F_OK) == 0) {
        struct stat st;
        if (stat(kpath, &st) == 0 && (st.st_mode & 077) != 0)
            return ens_error(err, EPERM, "%s: key file must not be readable by group or others (chmod 600)",
                             kpath);
        if (ens_tls_load_key(kpath, key, err) < 0)
            return -1;
        if (ens_tls_load_cert(cpath, cert, err) < 0) {
            EVP_PKEY_free(*key);
            *key = NULL;
            return -1;
        }
        if (X509_check_private_key(*cert, *key) != 1) {
            ERR_clear_error();
            EVP_PKEY_free(*key);
            X509_free(*cert);
            *key = NULL;
            *cert = NULL;
            return ens_error(err, EINVAL, "%s does not match %s", cpath, kpath);
        }
        return 0;
    }
    if (ens_mkdir_p(dir, 0700, err) < 0)
        return -1;
    EVP_PKEY *k = NULL;
    X509 *c = NULL;
    if (ens_tls_keygen(&k, err) < 0)
        return -1;
    if (ens_tls_selfsigned(k, cn, 3650, san, &c, err) < 0 || ens_tls_save_key(kpath, k, err) < 0
        || ens_tls_save_cert(cpath, c, err) < 0) {
        EVP_PKEY_free(k);
        X509_free(c);
        return -1;
    }
    *key = k;
    *cert = c;
    return 0;
}

/* Clients are identified by their key, not by a CA: accept any certificate
 * the peer proves possession of (TLS CertificateVerify does that). */
SSL_CTX *ens_tls_server_ctx(EVP_PKEY *key, X509 *cert, bool want_client_cert, ens_error_t *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        ssl_error(err, "SSL_CTX_new");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
    /* No session resumption: every connection proves the client key afresh. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1
        || SSL_CTX_check_private_key(ctx) != 1) {
        ssl_error(err, "server certificate");
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (want_client_cert)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, net_accept_any_cert);
    return ctx;
}
