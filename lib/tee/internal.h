/* SPDX-License-Identifier: Apache-2.0 */
/* lib/tee internals shared by the parsers and verifiers. */
#ifndef ENSCONCE_TEE_INTERNAL_H
#define ENSCONCE_TEE_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>

#include "tee/tee.h"

/* A signed Intel collateral document (TCB Info or QE Identity). */
struct tee_intel_doc {
    char *body;       /* the exact signed bytes (the JSON value of tcbInfo / enclaveIdentity) */
    size_t body_len;
    uint8_t sig[64];  /* r||s */
    json_t *json;     /* parsed body */
    X509 *signer;     /* first certificate of its issuer chain when known */
    time_t issue, next;
    char id[16];      /* "SGX" / "TDX" / "QE" / "TD_QE" */
    char fmspc[13];   /* lower-case hex (TCB Info only) */
    long eval_num;    /* tcbEvaluationDataNumber */
    X509 *sig_ok_by;  /* cache: the certificate whose key verified sig (under the collateral lock) */
    char *source;     /* name of the document, for messages */
};

struct tee_cache_ent {
    uint8_t key[32];
    time_t from, to; /* the chain verified for every time in [from, to) */
};

/* Parsed per-platform objects reused across verifications (PCK chains,
 * attestation keys, selected VCEKs): never evicted while the collateral lives. */
struct tee_obj_ent {
    char kind;
    uint8_t key[32];
    void *obj;
    void (*free_fn)(void *);
};

struct ens_tee_collateral {
    STACK_OF(X509) *certs;
    STACK_OF(X509_CRL) *crls;
    struct tee_intel_doc *tcb;
    size_t n_tcb;
    struct tee_intel_doc *qe;
    size_t n_qe;
    pthread_mutex_t lock;
    struct tee_cache_ent *cache;
    size_t n_cache, cap_cache;
    struct tee_obj_ent *objs;
    size_t n_objs, cap_objs;
};

/* Returns the cached object of (kind, key) or NULL. */
void *tee_obj_get(const struct ens_tee_collateral *c, char kind, const uint8_t key[32]);
/* Caches obj (taking ownership) and returns it, or returns the object another
 * thread cached first (freeing obj); NULL when the cache is full (obj untouched). */
void *tee_obj_put(const struct ens_tee_collateral *c, char kind, const uint8_t key[32], void *obj,
                  void (*free_fn)(void *));

/* Pinned trust anchors: SHA-256 of the root certificates' DER. */
extern const uint8_t tee_intel_root_sha256[32];
extern const uint8_t tee_amd_ark_sha256[3][32];

/* Parses "YYYY-MM-DDThh:mm:ss[.fff]Z". */
int tee_parse_time(const char *s, time_t *out);
void tee_format_time(time_t t, char out[32]);

/* ECDSA over msg with a raw big-endian r||s signature of 2*n bytes. */
int tee_ecdsa_verify_raw(EVP_PKEY *key, const EVP_MD *md, const uint8_t *msg, size_t msg_len,
                         const uint8_t *rs, size_t n);
/* EVP_PKEY for an uncompressed P-256 point X||Y (64 bytes). */
EVP_PKEY *tee_p256_key(const uint8_t xy[64]);

/* Parses every PEM certificate of buf (tolerating NULs and whitespace at the
 * end, nothing else) into *out (created if NULL). */
int tee_pem_certs(const uint8_t *buf, size_t len, STACK_OF(X509) **out, const char *what,
                  ens_error_t *err);

/* CRL checking of a chain: none, required for every certificate (Intel), or
 * applied wherever the collateral holds a CRL for an issuer (AMD: the KDS CRL
 * of the ARK covers the ASK/ASVK; nothing covers VCEKs). */
enum { TEE_CRL_NONE = 0, TEE_CRL_REQUIRED = 1, TEE_CRL_IF_PRESENT = 2 };

/* Verifies leaf up to one of the pinned roots found among the collateral's
 * certificates at time at, with extra untrusted certificates and CRL checks
 * as crl (TEE_CRL_*).  Successful results are cached in c.
 * step prefixes the error message. */
int tee_verify_chain(const struct ens_tee_collateral *c, X509 *leaf, STACK_OF(X509) *extra,
                     const uint8_t (*roots)[32], size_t n_roots, int crl, time_t at,
                     const char *step, ens_error_t *err);

/* The verifiers: add their claims to *claims (created by the caller). */
int tee_intel_verify(const struct ens_tee_input *in, const struct ens_tee_collateral *c, time_t at,
                     json_t *claims, bool verify, ens_error_t *err);
int tee_snp_verify(const struct ens_tee_input *in, const struct ens_tee_collateral *c, time_t at,
                   json_t *claims, bool verify, ens_error_t *err);

/* Hex helpers for claims. */
json_t *tee_json_hex(const uint8_t *p, size_t n);
static inline uint16_t tee_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t tee_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t tee_u64(const uint8_t *p) { return tee_u32(p) | (uint64_t)tee_u32(p + 4) << 32; }

#endif
