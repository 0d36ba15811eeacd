/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hardware evidence: Intel SGX DCAP quotes (v3), Intel TDX quotes (v4, v5),
 * AMD SEV-SNP attestation reports (v2 and later), verified offline against
 * operator-supplied collateral at an explicit time; and the Linux configfs-tsm
 * provider that obtains TDX quotes / SNP reports inside a confidential VM.
 *
 * Typical CAS use:
 *
 *   struct ens_tee_collateral *c = ens_tee_collateral_new();
 *   ens_tee_collateral_load_dir(c, "/var/lib/ensconce-cas/collateral", &err);
 *   ...
 *   json_t *claims;
 *   if (ens_tee_verify(ev, len, c, time(NULL), &claims, &err) < 0) reject(err);
 *   if (ens_tee_check_policy(claims, &policy, expected_report_data, &err) < 0) reject(err);
 *
 * A collateral object is immutable after loading and may be shared by threads;
 * it caches successful signature and chain checks (never failures).
 * Error messages start with the failing verification step, e.g.
 * "qe-report-signature: ...", see docs/attestation.md for the list.
 */
#ifndef ENSCONCE_TEE_TEE_H
#define ENSCONCE_TEE_TEE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/error.h"

enum ens_tee_type {
    ENS_TEE_UNKNOWN = 0,
    ENS_TEE_SGX = 1, /* SGX DCAP ECDSA quote v3 */
    ENS_TEE_TDX = 2, /* TDX quote v4 or v5 */
    ENS_TEE_SNP = 3, /* SEV-SNP attestation report */
};

/* "sgx", "tdx", "snp" (or "unknown"). */
const char *ens_tee_type_name(enum ens_tee_type t);
/* Parses "sgx" / "tdx" / "snp"; returns ENS_TEE_UNKNOWN otherwise. */
enum ens_tee_type ens_tee_type_from_name(const char *name);
/* Guesses the type from the first bytes (version / key type / tee type fields). */
enum ens_tee_type ens_tee_detect(const uint8_t *evidence, size_t len);

/* ---- collateral ------------------------------------------------------- */

struct ens_tee_collateral;

struct ens_tee_collateral *ens_tee_collateral_new(void);
void ens_tee_collateral_free(struct ens_tee_collateral *c);

/* Adds one collateral document, recognised by content:
 *  - a dcap-qvl style bundle JSON (pck_crl_issuer_chain, root_ca_crl, pck_crl,
 *    tcb_info[_issuer_chain|_signature], qe_identity[...]);
 *  - an Intel PCS TCB Info response {"tcbInfo":{...},"signature":"..."} or
 *    QE Identity response {"enclaveIdentity":{...},"signature":"..."};
 *  - certificates (PEM, one or more; or one DER): Intel root / issuer chains,
 *    AMD ARK / ASK / ASVK, VCEK / VLEK;
 *  - CRLs (PEM, DER or hex of DER).
 * name is used in messages only.  On success *kind (if not NULL) is a static
 * string: "intel-bundle", "tcb-info", "qe-identity", "certificates", "crl". */
int ens_tee_collateral_add(struct ens_tee_collateral *c, const uint8_t *data, size_t len,
                           const char *name, const char **kind, ens_error_t *err);
int ens_tee_collateral_add_file(struct ens_tee_collateral *c, const char *path, ens_error_t *err);
/* Adds every regular file of a collateral store directory (non-recursive). */
int ens_tee_collateral_load_dir(struct ens_tee_collateral *c, const char *dir, ens_error_t *err);

/* Largest collateral document accepted. */
#define ENS_TEE_COLLATERAL_MAX (1024 * 1024)
/* Largest evidence accepted (quote or report, with certification data). */
#define ENS_TEE_EVIDENCE_MAX (64 * 1024)

/* ---- verification ------------------------------------------------------ */

struct ens_tee_input {
    const uint8_t *evidence; /* raw quote (SGX/TDX) or 1184-byte SNP report */
    size_t len;
    enum ens_tee_type type; /* ENS_TEE_UNKNOWN: detect */
    /* SNP only: an extended-report certificate table (configfs-tsm auxblob /
     * SNP_GET_EXT_REPORT), whose VCEK/VLEK/ASK/ARK join the collateral for
     * this verification. */
    const uint8_t *aux;
    size_t aux_len;
    /* Bytes after the end of an Intel quote: false (default) rejects
     * anything but zero padding. */
    bool allow_trailing_data;
};

/* Verifies evidence at time `at` (every certificate, CRL and collateral
 * document must be valid then) and returns its claims:
 *   {"tee": "sgx"|"tdx"|"snp", "version": N, "report_data": hex64,
 *    "debug": bool, "tcb_status": "UpToDate"|..., "advisory_ids": [...],
 *    "measurements": {...per TEE, see docs/attestation.md...}, ...}
 * Fails with "<step>: <problem>" for the first step that fails. */
int ens_tee_verify(const uint8_t *evidence, size_t len, const struct ens_tee_collateral *c,
                   time_t at, json_t **claims, ens_error_t *err);
int ens_tee_verify_ex(const struct ens_tee_input *in, const struct ens_tee_collateral *c,
                      time_t at, json_t **claims, ens_error_t *err);

/* Parses evidence without any signature check (for inspection and fuzzing):
 * the claims have "verified": false and no tcb_status. */
int ens_tee_parse(const uint8_t *evidence, size_t len, enum ens_tee_type type, json_t **claims,
                  ens_error_t *err);

/* ---- the envelope for the attestation flow ------------------------------- */

/* Hardware evidence as it travels from the runtime to the CAS:
 *   {"version": 1, "type": "sgx"|"tdx"|"snp", "evidence": BASE64(quote or report),
 *    "aux": BASE64(SNP certificate table, optional)}
 * type ENS_TEE_UNKNOWN: detected from the evidence. */
int ens_tee_envelope_make(enum ens_tee_type type, const uint8_t *evidence, size_t len, const uint8_t *aux,
                          size_t aux_len, json_t **out, ens_error_t *err);
/* Decodes an envelope (strict base64) and verifies it like ens_tee_verify_ex. */
int ens_tee_verify_envelope(const json_t *envelope, const struct ens_tee_collateral *c, time_t at,
                            json_t **claims, ens_error_t *err);
/* The ENS_TEE_TOLERATE_* bits verified claims need (debug, SMT, TCB status):
 * maps 1:1 to lib/attest's ENS_CLAIM_* flags. */
unsigned ens_tee_claims_needs(const json_t *claims);
/* The primary measurement (hex): SGX MRENCLAVE, TDX MRTD, SNP MEASUREMENT. */
const char *ens_tee_claims_measurement(const json_t *claims);

/* ---- policy ------------------------------------------------------------ */

/* security.attestation.tolerate */
enum {
    ENS_TEE_TOLERATE_DEBUG = 1u << 0,          /* debug-mode */
    ENS_TEE_TOLERATE_OUTDATED_TCB = 1u << 1,   /* outdated-tcb */
    ENS_TEE_TOLERATE_SW_HARDENING = 1u << 2,   /* software-hardening-needed */
    ENS_TEE_TOLERATE_INSECURE_CONFIG = 1u << 3, /* insecure-configuration */
    ENS_TEE_TOLERATE_HYPERTHREADING = 1u << 4, /* hyperthreading */
};
/* Bit for a tolerate name, or 0 when unknown. */
unsigned ens_tee_tolerate_from_name(const char *name);

struct ens_tee_policy {
    bool mode_none;    /* mode: none: accept without hardware evidence checks */
    unsigned tolerate; /* ENS_TEE_TOLERATE_* */
    bool ignore_all_advisories; /* ignore_advisories: "*" */
    const char *const *ignore_advisories; /* advisory ids to ignore */
    size_t n_ignore_advisories;
    /* Required measurements (borrowed), an object whose keys are those of the
     * claims' "measurements" (e.g. "mrenclave", "mrtd", "rtmr0", "measurement",
     * "host_data", "policy") and values a hex string or integer, or an array
     * of allowed values; hex compares case-insensitively.  A key "NAME_min"
     * requires the integer claim NAME to be >= the value (e.g. "isvsvn_min").
     * NULL: no measurement requirement. */
    const json_t *measurements;
};

/* Fills p from a `security.attestation` JSON object ({mode, tolerate,
 * ignore_advisories}) and a measurements object (both may be NULL).  The
 * policy borrows strings from `attestation` and `measurements`: keep them
 * alive while using p; release p with ens_tee_policy_clear(). */
int ens_tee_policy_from_json(const json_t *attestation, const json_t *measurements,
                             struct ens_tee_policy *p, ens_error_t *err);
void ens_tee_policy_clear(struct ens_tee_policy *p);

/* Decides whether verified claims satisfy the policy and bind
 * expected_report_data (64 bytes: the runtime key and CAS nonce, as computed
 * by the caller; NULL skips this check).  Returns 0 when accepted, or -1 with
 * a reason in *err ("policy: ..."). */
int ens_tee_check_policy(const json_t *claims, const struct ens_tee_policy *p,
                         const uint8_t expected_report_data[64], ens_error_t *err);

/* The session language's per-service measurement list (`mrenclaves`): accepts
 * when the claims' primary measurement (SGX MRENCLAVE, TDX MRTD, SNP
 * MEASUREMENT) equals one entry (hex, case-insensitive, optional 0x).  An
 * empty list accepts any measurement. */
int ens_tee_check_measurement_list(const json_t *claims, const char *const *hex, size_t n, ens_error_t *err);

/* ---- configfs-tsm (Linux >= 6.7) --------------------------------------- */

struct ens_tee_tsm_opts {
    const char *root;  /* default "/sys/kernel/config/tsm/report" */
    const char *name;  /* entry name; default "ensconce-<pid>-<random>" */
    int privlevel;     /* SNP VMPL to request; < 0: leave the default */
    /* Tests with a directory tree that mimics configfs: the entry may already
     * exist, and after_write runs after each write (the "kernel"). */
    bool reuse_existing;
    void (*after_write)(const char *entry_dir, const char *attr, void *arg);
    void *after_write_arg;
    unsigned busy_retries; /* EBUSY retries on outblob (default 20) */
};

struct ens_tee_tsm_report {
    enum ens_tee_type type; /* ENS_TEE_TDX (tdx_guest) or ENS_TEE_SNP (sev_guest) */
    char provider[32];
    uint8_t *outblob; /* TDX quote or SNP report */
    size_t outblob_len;
    uint8_t *auxblob; /* SNP certificate table (may be NULL) */
    size_t auxblob_len;
    unsigned long generation;
};

/* Obtains evidence whose REPORTDATA is report_data. */
int ens_tee_tsm_get(const struct ens_tee_tsm_opts *opts, const uint8_t report_data[64],
                    struct ens_tee_tsm_report *out, ens_error_t *err);
void ens_tee_tsm_report_clear(struct ens_tee_tsm_report *r);

/* One entry of an SNP certificate table. */
struct ens_tee_snp_cert {
    char kind[8]; /* "vcek", "vlek", "ask", "ark" or "other"; GUIDs in text (RFC 4122) byte order */
    uint8_t guid[16];
    const uint8_t *data; /* points into the table buffer */
    size_t len;
};
/* Parses an SNP certificate table (GUID, offset, length entries, all-zero
 * terminator; offsets from the table start, bounds-checked).  *certs is
 * malloc'd (pointers into table). */
int ens_tee_snp_certtable_parse(const uint8_t *table, size_t len, struct ens_tee_snp_cert **certs,
                                size_t *n, ens_error_t *err);

#endif
