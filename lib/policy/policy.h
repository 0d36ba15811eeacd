/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy ("session") language, version "0.3" (docs/policy.md): parsing and
 * validation, the canonical session hash, access checks, secret materialisation,
 * certificate issuance, $$SCONE::…$$ substitution and per-service configuration.
 *
 * Ownership: everything returned through an out-pointer belongs to the caller
 * (free with the matching *_free, free() for char *, json_decref for json_t *).
 * The model structs below are read-only views owned by the ens_policy_t.
 * Errors follow lib/core/error.h and never contain secret material.
 */
#ifndef ENSCONCE_POLICY_POLICY_H
#define ENSCONCE_POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "core/error.h"

/* Largest session document accepted (bytes of YAML). */
#define ENS_POLICY_MAX_SIZE (1024 * 1024)
/* Hex SHA-256 + NUL: session hashes, predecessor values, client key hashes. */
#define ENS_POLICY_HASH_HEX_LEN 65
/* The language version we implement. */
#define ENS_POLICY_VERSION "0.3"

/* ------------------------------------------------------------------ model */

typedef struct ens_policy ens_policy_t;

typedef struct {
    char *key;
    char *value; /* may contain $$SCONE::…$$ references (substituted by ens_policy_service_config) */
} ens_policy_env_t;

typedef struct {
    char *name;
    char **command;         /* argv; a string `command` is split on whitespace */
    size_t command_count;   /* 0 when absent */
    ens_policy_env_t *environment; /* in document order, keys unique */
    size_t environment_count;
    char *pwd;              /* NULL when absent */
    char *image_name;       /* NULL when absent; names an entry of images[] */
    char **mrenclaves;      /* lower-case hex measurements (from `mrenclaves` and/or `attestation.mrenclave`) */
    size_t mrenclave_count;
    char *fspf_path;        /* NULL when absent */
    char *fspf_key;         /* lower-case hex (32 bytes) or NULL */
    char *fspf_tag;         /* lower-case hex or NULL */
    char **platforms;       /* platform identifiers; empty = any registered platform */
    size_t platform_count;
} ens_policy_service_t;

typedef struct {
    char *name; /* names an entry of volumes[] */
    char *path; /* absolute mount path inside the service */
} ens_policy_image_volume_t;

typedef struct {
    char *path;    /* absolute path of an in-memory file */
    char *content; /* may contain $$SCONE::…$$ references */
} ens_policy_injection_file_t;

typedef struct {
    char *name;
    ens_policy_image_volume_t *volumes;
    size_t volume_count;
    ens_policy_injection_file_t *injection_files;
    size_t injection_file_count;
} ens_policy_image_t;

typedef struct {
    char *name;
    char *fspf_key;        /* hex or NULL: NULL means the CAS generates one (kept in the secret store) */
    char *fspf_tag;        /* hex or NULL: the initial tag */
    char **export_sessions; /* sessions allowed to import this volume */
    size_t export_count;
    char *import_session;  /* import: {session, volume} or NULL */
    char *import_volume;
} ens_policy_volume_t;

typedef enum {
    ENS_SECRET_ASCII = 0,
    ENS_SECRET_BINARY,
    ENS_SECRET_PRIVATE_KEY,
    ENS_SECRET_X509,
    ENS_SECRET_X509_CA,
} ens_secret_kind_t;

typedef enum {
    ENS_KEY_EC_P256 = 0, /* default; YAML: ec-p256 (also: prime256v1, secp256r1, P-256) */
    ENS_KEY_EC_P384,     /* ec-p384 (also: secp384r1, P-384) */
    ENS_KEY_ED25519,     /* ed25519 */
    ENS_KEY_RSA_3072,    /* rsa-3072 (also: rsa) */
} ens_key_type_t;

typedef struct {
    char *name;                /* [A-Za-z0-9_.~-]{1,128}, not starting with . */
    ens_secret_kind_t kind;
    bool kind_set;             /* false only for an import without `kind` (taken from the exporter) */
    size_t size;               /* ascii/binary: length in bytes (ascii default 20, binary default 32) */
    char *value;               /* explicit value: ascii text, decoded base64 (binary), PEM (keys, certs); or NULL */
    size_t value_len;
    ens_key_type_t key_type;   /* private-key, and the key generated for x509/x509-ca without private_key */
    char *private_key;         /* x509/x509-ca: name of a private-key secret, or NULL (own key generated) */
    char *issuer;              /* x509/x509-ca: name of an x509-ca secret; NULL = self-signed */
    char *common_name;         /* x509/x509-ca: default the secret's name */
    char **dns;                /* DNS subjectAltNames */
    size_t dns_count;
    char **ips;                /* IP subjectAltNames (textual, validated) */
    size_t ip_count;
    uint32_t valid_for_days;   /* x509 default 365, x509-ca default 3650 */
    char **export_sessions;    /* export: [{session: NAME}] */
    size_t export_count;
    bool export_public;        /* value readable by anyone via GET /v1/values/session=NAME */
    char *import_session;      /* import: {session, secret}, or NULL */
    char *import_secret;
} ens_policy_secret_t;

typedef enum {
    ENS_PRINCIPAL_CREATOR = 0,
    ENS_PRINCIPAL_ANY,
    ENS_PRINCIPAL_NONE,
    ENS_PRINCIPAL_KEY, /* a client key hash (hex SHA-256 of the DER SubjectPublicKeyInfo) */
} ens_principal_kind_t;

typedef struct {
    ens_principal_kind_t kind;
    char hash[ENS_POLICY_HASH_HEX_LEN]; /* ENS_PRINCIPAL_KEY only, lower-case */
} ens_policy_principal_t;

typedef enum {
    ENS_POLICY_OP_READ = 0,
    ENS_POLICY_OP_UPDATE,
    ENS_POLICY_OP_CREATE_SESSIONS,
} ens_policy_op_t;

typedef enum {
    ENS_ATTEST_HARDWARE = 0, /* default: hardware evidence (tdx/snp/sgx) only */
    ENS_ATTEST_SIMULATION,   /* ensconce extension: hardware or LAS simulation evidence */
    ENS_ATTEST_NONE,         /* SCONE "none": no hardware required; we still require (simulation) evidence */
} ens_attest_mode_t;

/* security.attestation.tolerate, as bit flags. */
#define ENS_TOLERATE_DEBUG_MODE                 (1u << 0)
#define ENS_TOLERATE_HYPERTHREADING             (1u << 1)
#define ENS_TOLERATE_OUTDATED_TCB               (1u << 2)
#define ENS_TOLERATE_SOFTWARE_HARDENING_NEEDED  (1u << 3)
#define ENS_TOLERATE_INSECURE_CONFIGURATION     (1u << 4)

typedef struct {
    ens_attest_mode_t mode;
    unsigned tolerate;          /* ENS_TOLERATE_* */
    bool ignore_all_advisories; /* ignore_advisories: "*" */
    char **ignore_advisories;   /* explicit advisory ids (e.g. INTEL-SA-00334) */
    size_t ignore_advisory_count;
} ens_policy_attestation_t;

/* ------------------------------------------------------------------ parse */

/*
 * Parses and validates a session from YAML bytes.  `source` names the input in
 * error messages (a file name, or NULL for "session").  Errors read
 * "SOURCE:LINE:COL: FIELD: problem" (1-based line and column), e.g.
 * "s.yaml:7:15: services[0].mrenclaves[1]: expected hex digits".  Refuses
 * documents over ENS_POLICY_MAX_SIZE, invalid UTF-8, unknown fields,
 * duplicate names, dangling references (image_name, issuer, private_key,
 * image volumes) and a version other than "0.3".
 */
int ens_policy_parse(const char *yaml, size_t len, const char *source, ens_policy_t **out, ens_error_t *err);

/* Reads (bounded) and parses a file; use_env applies ens_policy_expand_env first. */
int ens_policy_parse_file(const char *path, bool use_env, ens_policy_t **out, ens_error_t *err);

void ens_policy_free(ens_policy_t *p);

/*
 * `--use-env`: replaces $VAR and ${VAR} (VAR = [A-Za-z_][A-Za-z0-9_]*) by the
 * environment's value; "$$" is kept as is (so $$SCONE::x$$ survives); an unset
 * variable is an error naming it.  *out is NUL-terminated, *out_len its length.
 */
int ens_policy_expand_env(const char *text, size_t len, char **out, size_t *out_len, ens_error_t *err);

/* Rejects a session that carries a `predecessor` (forbidden on create). */
int ens_policy_check_create(const ens_policy_t *p, ens_error_t *err);

/* Validates a session name: [A-Za-z0-9_\-.~]{1,128} components joined by '/'. */
bool ens_policy_name_valid(const char *name);

/* ------------------------------------------------------------------ accessors */

const char *ens_policy_name(const ens_policy_t *p);             /* full name, e.g. "shop/cart" */
const char *ens_policy_parent_namespace(const ens_policy_t *p); /* "shop" for "shop/cart"; NULL at top level */
const char *ens_policy_predecessor(const ens_policy_t *p);      /* lower-case hex, or NULL */

size_t ens_policy_service_count(const ens_policy_t *p);
const ens_policy_service_t *ens_policy_service_at(const ens_policy_t *p, size_t i);
const ens_policy_service_t *ens_policy_service_find(const ens_policy_t *p, const char *name);

size_t ens_policy_image_count(const ens_policy_t *p);
const ens_policy_image_t *ens_policy_image_at(const ens_policy_t *p, size_t i);
const ens_policy_image_t *ens_policy_image_find(const ens_policy_t *p, const char *name);

size_t ens_policy_volume_count(const ens_policy_t *p);
const ens_policy_volume_t *ens_policy_volume_at(const ens_policy_t *p, size_t i);
const ens_policy_volume_t *ens_policy_volume_find(const ens_policy_t *p, const char *name);

size_t ens_policy_secret_count(const ens_policy_t *p);
const ens_policy_secret_t *ens_policy_secret_at(const ens_policy_t *p, size_t i);
const ens_policy_secret_t *ens_policy_secret_find(const ens_policy_t *p, const char *name);

/* access_policy entries for an operation (the default [CREATOR] when absent). */
const ens_policy_principal_t *ens_policy_access_list(const ens_policy_t *p, ens_policy_op_t op, size_t *count);

const ens_policy_attestation_t *ens_policy_attestation(const ens_policy_t *p);

const char *ens_secret_kind_name(ens_secret_kind_t kind); /* "ascii", "x509-ca", … */
const char *ens_key_type_name(ens_key_type_t t);          /* "ec-p256", "rsa-3072", … */

/* ------------------------------------------------------------------ hash */

/*
 * The canonical model: a JSON object of the normalised session (defaults filled
 * in, command split, hex lower-cased, aliases merged; docs/policy.md lists every
 * field).  The session hash is the lower-case hex SHA-256 of its serialisation
 * with jansson JSON_COMPACT | JSON_SORT_KEYS (UTF-8, no trailing newline).  It is
 * the value a successor session puts in `predecessor`.  Whitespace, comments,
 * key order and YAML style do not change it; every semantic change does.
 */
int ens_policy_canonical_json(const ens_policy_t *p, json_t **out, ens_error_t *err);
int ens_policy_hash(const ens_policy_t *p, char out[ENS_POLICY_HASH_HEX_LEN], ens_error_t *err);

/* ------------------------------------------------------------------ access */

/*
 * May the client whose key hash is client_key_hash perform op?  creator_key_hash
 * is the key hash of the client that created the session (kept by the CAS).
 * CREATOR matches the creator, ANY everyone, NONE no one (and wins over any other
 * entry), a hash that exact key.  Hashes compare case-insensitively in constant
 * time.  NULL client_key_hash never matches CREATOR/KEY.
 */
bool ens_policy_access_allowed(const ens_policy_t *p, ens_policy_op_t op, const char *client_key_hash,
                               const char *creator_key_hash);

/* Client identity: lower-case hex SHA-256 of the DER SubjectPublicKeyInfo of a key. */
int ens_policy_key_hash(EVP_PKEY *pkey, char out[ENS_POLICY_HASH_HEX_LEN], ens_error_t *err);
/* The same from a PEM certificate or PEM public key. */
int ens_policy_key_hash_pem(const char *pem, size_t len, char out[ENS_POLICY_HASH_HEX_LEN], ens_error_t *err);

/* ------------------------------------------------------------------ secrets */

typedef struct ens_secret_store ens_secret_store_t;

/* Name of the session CA every store holds (not a valid user secret name, so no clash). */
#define ENS_SESSION_CA_SECRET ".session-ca"

/*
 * Import resolver, provided by the CAS: fetch secret `secret` of session
 * `exporter` for session `importer`.  The CAS loads the exporter's policy and
 * store and calls ens_secret_store_export() (which checks the exporter's grant);
 * it returns that record's JSON text in *record_json (malloc'd) or fails.
 */
typedef int (*ens_secret_import_fn)(void *ctx, const char *importer, const char *exporter, const char *secret,
                                    char **record_json, ens_error_t *err);

/*
 * Materialises every secret of session p.  prev_store_json is the previous
 * version's store (ens_secret_store_serialize text; NULL/empty on create).
 * Generated values stay identical while a secret's name and kind are unchanged
 * (x509 certificates are re-issued when their issuer, key, names or validity
 * change); explicit values always win; imports go through resolve (NULL resolve:
 * imports fail).  Volume keys for volumes without fspf_key are generated and
 * kept the same way, and the session CA (ENS_SESSION_CA_SECRET) too.
 */
int ens_secrets_materialize(const ens_policy_t *p, const char *prev_store_json, ens_secret_import_fn resolve,
                            void *resolve_ctx, ens_secret_store_t **out, ens_error_t *err);

/* The store as JSON text (contains secrets: the CAS encrypts it at rest). */
int ens_secret_store_serialize(const ens_secret_store_t *s, char **json, ens_error_t *err);
int ens_secret_store_load(const char *json, size_t len, ens_secret_store_t **out, ens_error_t *err);
void ens_secret_store_free(ens_secret_store_t *s);

/*
 * For the exporter side of an import: checks that `secret` of exporter session p
 * lists `importer` in its export (or is export_public) and returns the secret's
 * record as JSON text for the importer.  Refusal names both sessions, not values.
 */
int ens_secret_store_export(const ens_policy_t *p, const ens_secret_store_t *s, const char *secret,
                            const char *importer, char **record_json, ens_error_t *err);

/* Public values of export_public secrets: {"NAME": {"kind": …, "value"|"crt"|"public_key": …}}. */
int ens_secret_store_public_values(const ens_policy_t *p, const ens_secret_store_t *s, json_t **out,
                                   ens_error_t *err);

/*
 * A secret rendered in a substitution format: NULL/"" (the default for its kind),
 * "hex", "base64", "pem", "crt", "privatekey", "chain" (docs/policy.md has the
 * table).  *out is NUL-terminated; *out_len excludes the NUL (binary may hold NULs).
 */
int ens_secret_store_format(const ens_secret_store_t *s, const char *name, const char *format, char **out,
                            size_t *out_len, ens_error_t *err);

/* The current key / tag of a volume (hex), or NULL. */
const char *ens_secret_store_volume_key(const ens_secret_store_t *s, const char *volume);
const char *ens_secret_store_volume_tag(const ens_secret_store_t *s, const char *volume);
/* Records a new volume tag reported by an attested service (the CAS refuses older ones). */
int ens_secret_store_set_volume_tag(ens_secret_store_t *s, const char *volume, const char *tag_hex,
                                    ens_error_t *err);

/*
 * Issues a certificate for a runtime's public key, signed by the CA secret ca_name
 * (NULL = ENS_SESSION_CA_SECRET): subject CN = common_name, DNS SANs dns[0..n),
 * valid for valid_days (0 = 1 day) from now; clientAuth + serverAuth.
 */
int ens_policy_issue_certificate(const ens_secret_store_t *s, const char *ca_name, EVP_PKEY *subject_key,
                                 const char *common_name, char *const *dns, size_t dns_count,
                                 unsigned valid_days, char **cert_pem, ens_error_t *err);

/* ------------------------------------------------------------------ substitution & configuration */

/*
 * Replaces every $$SCONE::name$$ / $$SCONE::name:format$$ in `in` with the
 * secret's value.  Unknown names or formats are errors naming them.
 */
int ens_policy_substitute(const ens_secret_store_t *s, const char *in, size_t in_len, char **out, size_t *out_len,
                          ens_error_t *err);

/*
 * The configuration the CAS sends to an attested service:
 * {"session": S, "service": N, "command": [argv…], "environment": {K: V},
 *  "pwd": P|null, "injection_files": [{"path": P, "content": BASE64}],
 *  "fspf": {"path": P, "key": HEX, "tag": HEX} (keys absent when unset),
 *  "volumes": [{"name": N, "path": P, "key": HEX, "tag": HEX|null}]}
 * with substitutions done in command, environment and injection files.
 */
int ens_policy_service_config(const ens_policy_t *p, const char *service, const ens_secret_store_t *s,
                              json_t **out, ens_error_t *err);

#endif
