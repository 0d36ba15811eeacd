/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attestation: nonces, the evidence envelope, simulation evidence signed by a
 * LAS node key, the verifier dispatch (room for sgx/tdx/snp from lib/tee), and
 * the client side a runtime needs (docs/protocol.md describes the wire format).
 *
 * The client half (ens_attest_run & co., ens_attest_cas_identity) needs only
 * OpenSSL, jansson and libc: it links statically into ensconce-run.  Link
 * ens_attest_dep (it pulls lib/net, whose server half uses libevent; the static
 * linker drops it when unused).
 *
 * Binding (see docs/protocol.md):
 *   report_data = SHA-256(nonce[32] || DER SubjectPublicKeyInfo of the runtime key)
 * and the runtime presents that same key as its TLS client certificate on the
 * connection that submits the evidence, so the configuration can only be read
 * by the holder of the attested key.  Hardware report data fields of 64 bytes
 * carry these 32 bytes followed by 32 zero bytes.
 */
#ifndef ENSCONCE_ATTEST_ATTEST_H
#define ENSCONCE_ATTEST_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/error.h"

#define ENS_NONCE_LEN 32
#define ENS_REPORT_DATA_LEN 32
#define ENS_ATTEST_PORT 18765   /* CAS attestation API (TLS) */
#define ENS_CAS_CLIENT_PORT 8081 /* CAS client API (mutual TLS) */
#define ENS_LAS_PORT 18766      /* LAS (plain HTTP on loopback/host IP, or a Unix socket) */
#define ENS_NONCE_TTL_S 60      /* nonces expire after this */
#define ENS_EVIDENCE_MAX_AGE_S 120 /* simulation evidence timestamps must be this fresh */

/* ---- binding --------------------------------------------------------- */

/* SHA-256(nonce || spki). */
void ens_attest_report_data(const uint8_t nonce[ENS_NONCE_LEN], const uint8_t *spki, size_t spki_len,
                            uint8_t out[ENS_REPORT_DATA_LEN]);
/* The same for a key (its DER SubjectPublicKeyInfo). */
int ens_attest_report_data_for_key(const uint8_t nonce[ENS_NONCE_LEN], EVP_PKEY *key,
                                   uint8_t out[ENS_REPORT_DATA_LEN], ens_error_t *err);
/* The same for the key of a certificate. */
int ens_attest_report_data_for_cert(const uint8_t nonce[ENS_NONCE_LEN], X509 *cert,
                                    uint8_t out[ENS_REPORT_DATA_LEN], ens_error_t *err);

/* ---- nonces (CAS side) --------------------------------------------------- */

typedef struct ens_nonce_store ens_nonce_store;
/* Thread-safe; at most max_outstanding live nonces (oldest dropped first). */
ens_nonce_store *ens_nonce_store_new(unsigned ttl_s, size_t max_outstanding);
void ens_nonce_store_free(ens_nonce_store *s);
int ens_nonce_issue(ens_nonce_store *s, uint8_t out[ENS_NONCE_LEN], ens_error_t *err);
/* Consumes a nonce: succeeds once per issued nonce within its lifetime;
 * fails for unknown, expired or already used nonces. */
int ens_nonce_consume(ens_nonce_store *s, const uint8_t nonce[ENS_NONCE_LEN], ens_error_t *err);

/* ---- evidence and verification ------------------------------------------ */

/* What a verified piece of evidence says. */
#define ENS_CLAIM_SIMULATION (1u << 0) /* no hardware protection (sim evidence) */
#define ENS_CLAIM_DEBUG (1u << 1)      /* debug-mode TEE (or simulation) */
#define ENS_CLAIM_OUTDATED_TCB (1u << 2)
#define ENS_CLAIM_HYPERTHREADING (1u << 3)
#define ENS_CLAIM_SW_HARDENING_NEEDED (1u << 4)
#define ENS_CLAIM_INSECURE_CONFIG (1u << 5)

struct ens_attest_claims {
    char type[16];                  /* "sim", "sgx", "tdx", "snp" */
    char measurement[129];          /* lower-case hex */
    uint8_t report_data[64];        /* as signed; the binding uses the first 32 bytes */
    size_t report_data_len;
    char platform[65];              /* hex key id of the signer (sim: the LAS node key) */
    int64_t timestamp;              /* seconds since the epoch (sim), 0 if the type has none */
    unsigned flags;                 /* ENS_CLAIM_* */
    char advisories[512];           /* comma-separated advisory ids, "" when none */
};

/* Verifier inputs from the CAS. */
struct ens_attest_verify_ctx {
    /* Is this platform (a hex key id) registered?  NULL: any platform. */
    bool (*platform_trusted)(void *arg, const char *platform_id);
    void *arg;
    int64_t now;                    /* 0: time(NULL) */
};

/* A verifier for one evidence type: checks the signature chain and fills claims. */
typedef int (*ens_attest_verifier_fn)(const json_t *evidence, const struct ens_attest_verify_ctx *ctx,
                                      struct ens_attest_claims *claims, ens_error_t *err);
/* Registers a verifier for "sgx", "tdx", "snp" (lib/tee).  "sim" is built in.
 * Call before serving; not thread-safe against concurrent ens_attest_verify. */
int ens_attest_register_verifier(const char *type, ens_attest_verifier_fn fn, ens_error_t *err);

/* Parses the envelope {"type": T, ...}, dispatches by type, verifies. */
int ens_attest_verify(const json_t *evidence, const struct ens_attest_verify_ctx *ctx,
                      struct ens_attest_claims *claims, ens_error_t *err);

/* Simulation evidence (the LAS; also the CAS about itself):
 *   {"version": 1, "type": "sim", "payload": BASE64(claims JSON),
 *    "signature": BASE64(ECDSA-SHA256 DER over the payload bytes), "certificate": PEM}
 * claims JSON: {"measurement": HEX, "report_data": HEX, "timestamp": INT,
 *               "platform": HEX key id of the certificate}. */
int ens_attest_sim_sign(EVP_PKEY *key, X509 *cert, const char *measurement_hex, const uint8_t *report_data,
                        size_t report_data_len, json_t **evidence, ens_error_t *err);

/* Lower-case hex check of an exact byte length (0: any even length up to 64 bytes). */
bool ens_attest_hex_valid(const char *s, size_t bytes);

/* ---- client side (runtime; static) ------------------------------------- */

/* Produces evidence for report_data (hardware providers plug in here). */
typedef int (*ens_attest_evidence_fn)(void *arg, const char *measurement_hex,
                                      const uint8_t report_data[ENS_REPORT_DATA_LEN], json_t **evidence,
                                      ens_error_t *err);

/* Asks a LAS for simulation evidence: POST /v1/evidence on las_addr
 * ("HOST:PORT" or "unix:/path", plain HTTP). */
int ens_las_get_evidence(const char *las_addr, const char *measurement_hex,
                         const uint8_t report_data[ENS_REPORT_DATA_LEN], int timeout_s, json_t **evidence,
                         ens_error_t *err);

struct ens_attest_client_opts {
    const char *cas_addr;        /* CAS attestation API "HOST:PORT" (default port 18765) */
    const uint8_t *cas_pin;      /* 32-byte key id of the CAS TLS key (required) */
    const char *config_id;       /* "SESSION/SERVICE" */
    const char *measurement;     /* hex measurement of the service (sim: 64 hex digits) */
    const char *las_addr;        /* LAS for simulation evidence (when evidence_fn is NULL) */
    ens_attest_evidence_fn evidence_fn; /* hardware evidence provider, or NULL */
    void *evidence_arg;
    int timeout_s;               /* per network operation; default 10 */
};

/* The state kept after a successful attestation: the runtime's key and
 * certificate (the CAS knows the key as attested for config_id), used for
 * later volume tag reports. */
typedef struct ens_attest_session ens_attest_session;

/*
 * The whole round trip: a fresh P-256 key and self-signed certificate; TLS to
 * the CAS with that certificate, checking the pin; GET /v1/nonce; evidence for
 * SHA-256(nonce || key); POST /v1/attest on the same connection; returns the
 * configuration (see ens_policy_service_config in lib/policy, plus
 * "certificate" (PEM, issued by the session CA for the runtime key), "ca"
 * (PEM) and "key" (PEM of the runtime private key)).  On refusal the error
 * carries the CAS's message.
 */
int ens_attest_run(const struct ens_attest_client_opts *o, ens_attest_session **session, json_t **config,
                   ens_error_t *err);

/* Reports a volume's new tag (hex) after a commit: POST /v1/volumes/tag.
 * previous_tag is the tag the runtime started from (NULL for a fresh volume);
 * the CAS refuses it when it is not the current one (rollback or lost race)
 * and refuses any tag it has seen before. */
int ens_attest_report_tag(ens_attest_session *s, const char *volume, const char *previous_tag,
                          const char *new_tag, ens_error_t *err);
void ens_attest_session_free(ens_attest_session *s);

/*
 * The CAS's own identity: GET /v1/attest?nonce=N on addr (either port), checks
 * that the evidence is bound to the TLS key the CAS presented and to our nonce,
 * and that its measurement is expected_measurement (hex).  On success *pin is
 * the CAS key id and *cert_pem its certificate (malloc'd).
 */
int ens_attest_cas_identity(const char *addr, const char *expected_measurement, uint8_t pin[32],
                            char **cert_pem, ens_error_t *err);

#endif
