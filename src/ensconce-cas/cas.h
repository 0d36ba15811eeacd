/* SPDX-License-Identifier: Apache-2.0 */
/* Internal interfaces of ensconce-cas: the store (store.c), the APIs (api_client.c,
 * api_attest.c), metrics (metrics.c). */
#ifndef ENSCONCE_CAS_CAS_H
#define ENSCONCE_CAS_CAS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/attest.h"
#include "core/error.h"
#include "policy/policy.h"

struct evhttp_request;

/* ---- store (SQLite, WAL, synchronous=FULL; secrets under the master key) ---- */

typedef struct cas_store cas_store;

int cas_store_open(const char *db_path, const char *master_key_path, cas_store **out, ens_error_t *err);
void cas_store_close(cas_store *s);
/* Only for fuzzing: drop fsync (never in the service). */
void cas_store_set_durable(cas_store *s, bool durable);
/* The store's lock (recursive): hold it across a read-check-write sequence. */
void cas_store_lock(cas_store *s);
void cas_store_unlock(cas_store *s);
int cas_store_begin(cas_store *s, ens_error_t *err);
int cas_store_commit(cas_store *s, ens_error_t *err);
void cas_store_rollback(cas_store *s);

struct cas_session {
    char *name;
    char hash[ENS_POLICY_HASH_HEX_LEN];
    char *yaml;
    size_t yaml_len;
    char creator[ENS_POLICY_HASH_HEX_LEN];
    int64_t version;
    ens_policy_t *policy;        /* parsed */
    ens_secret_store_t *secrets; /* decrypted */
};
void cas_session_free(struct cas_session *s);

/* The current version of a session: 0 found, 1 absent, <0 error.  The returned
 * object is a shared cached copy: use it only while holding the store lock. */
int cas_store_get_session(cas_store *s, const char *name, struct cas_session **out, ens_error_t *err);
/* Writes a new version (inside a transaction). */
int cas_store_put_session(cas_store *s, const char *name, const char *hash, const char *yaml, size_t yaml_len,
                          const char *creator, int64_t version, const ens_secret_store_t *secrets,
                          const char *actor, ens_error_t *err);
/* Re-encrypts and saves a session's secret store (volume tags). */
int cas_store_put_secrets(cas_store *s, const char *name, const ens_secret_store_t *secrets, ens_error_t *err);
int64_t cas_store_session_count(cas_store *s);

/* Platforms (LAS node keys). */
int cas_store_add_platform(cas_store *s, const char *id, const char *cert_pem, const char *actor, ens_error_t *err);
bool cas_store_platform_known(cas_store *s, const char *id);
int cas_store_list_platforms(cas_store *s, json_t **out, ens_error_t *err);

/* Keys that passed attestation for session/service (for volume tag reports). */
int cas_store_add_attested_key(cas_store *s, const char *key_id, const char *session, const char *service,
                               int64_t expires, ens_error_t *err);
/* 0 found (service copied into *service), 1 absent/expired. */
int cas_store_attested_key(cas_store *s, const char *key_id, const char *session, char **service,
                           ens_error_t *err);
/* Drops attested keys past their lifetime. */
int cas_store_purge_expired(cas_store *s, ens_error_t *err);
/* Volume tags ever accepted (a tag seen before is a rollback). */
bool cas_store_tag_seen(cas_store *s, const char *session, const char *volume, const char *tag);
int cas_store_add_tag(cas_store *s, const char *session, const char *volume, const char *tag, ens_error_t *err);

/* Audit log: appends {seq, ts, actor, action, object, result, detail} chained by
 * hash = SHA-256(prev_hash_hex "\n" canonical_json(entry)).  Own transaction
 * unless one is open. */
int cas_store_audit(cas_store *s, const char *actor, const char *action, const char *object, const char *result,
                    const char *detail, ens_error_t *err);
int cas_store_audit_dump(cas_store *s, int64_t after, json_t **out, ens_error_t *err);

/* Online backup to a file (sqlite3_backup); restore into an unused data dir. */
int cas_store_backup(cas_store *s, const char *out_path, ens_error_t *err);

/* ---- metrics ---- */
struct cas_metrics {
    atomic_ullong attest_ok, attest_refused, attest_error;
    atomic_ullong session_writes_ok, session_writes_refused, session_conflicts;
    atomic_ullong requests, bad_requests, nonces;
    atomic_ullong lat_buckets[12]; /* attestation latency histogram */
    atomic_ullong lat_count, lat_sum_us;
};
extern const double cas_lat_bounds[12];
void cas_metrics_observe(struct cas_metrics *m, uint64_t usec);
char *cas_metrics_render(struct cas_metrics *m, int64_t sessions);

/* ---- the service ---- */
struct cas {
    cas_store *store;
    cas_store *log_store; /* a second connection for the committer (NULL: use store), so that
                             its fsyncs do not hold the lock attestation requests read under */
    ens_nonce_store *nonces;
    EVP_PKEY *key;       /* TLS key (its evidence binds it) */
    X509 *cert;
    char measurement[65];
    char **admins;       /* client key ids allowed to register platforms and read the audit log */
    size_t admin_count;
    struct cas_metrics metrics;
    struct cas_committer *committer;
};

/* Hardware evidence (hw.c): loads the collateral store (if present) and registers the
 * sgx/tdx/snp verifiers. */
int cas_hw_init(const char *collateral_dir, ens_error_t *err);
void cas_hw_free(void);

void cas_api_client(struct evhttp_request *req, void *arg);
/* The request logic without HTTP (also driven by fuzz/cas): each returns the HTTP status and
 * either *reply (JSON, owned by the caller) or a message in out. */
int cas_session_write(struct cas *cas, const char *peer, const char *body, size_t len, json_t **reply, char *out,
                      size_t outlen);
struct cas_record {
    bool valid;          /* an audit entry is due */
    char actor[65], action[24], object[300], result[16], detail[700];
    bool add_key;        /* also record actor's key as attested for session/service */
    char session[260], service[130];
    int64_t expires;
};
int cas_attest_request(struct cas *cas, const char *peer, X509 *peer_cert, const char *body, size_t len,
                       json_t **reply, char *out, size_t outlen, struct cas_record *rec);
/* Writes records in one transaction (one fsync). */
int cas_records_write(struct cas *cas, struct cas_record *const *recs, size_t n, ens_error_t *err);

/* Group commit (commit.c): a thread writes the records of queued decisions in batches and
 * then hands each reply back to the event loop of its connection. */
struct cas_job {
    struct cas_job *next;
    struct evhttp_request *req;
    struct event_base *base;
    struct cas_record rec;
    int status;
    json_t *reply;       /* or msg */
    char msg[700];
    bool counted;        /* in the committer's outstanding count */
    struct cas_committer *committer;
};
int cas_commit_start(struct cas *cas, ens_error_t *err);
/* Stops accepting batches, drains the queue and waits for the replies to be delivered. */
void cas_commit_stop(struct cas *cas);
/* Frees the committer after the servers are stopped. */
void cas_commit_free(struct cas *cas);
/* Takes ownership of job; replies to req now (no record) or after the batch commit. */
void cas_commit_submit(struct cas *cas, struct cas_job *job, struct evhttp_request *req);
struct cas_committer;
int set_msg(char *out, size_t outlen, int status, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void cas_api_attest(struct evhttp_request *req, void *arg);
/* Shared endpoints: /healthz, /metrics, GET /v1/attest; true when handled. */
bool cas_api_common(struct cas *cas, struct evhttp_request *req, const char *path);
/* Hex key id of the TLS client, false when none. */
bool cas_peer_hex(struct evhttp_request *req, char out[65]);
/* Path without query; returns a malloc'd, percent-decoded path or NULL when invalid. */
char *cas_req_path(struct evhttp_request *req, char **query);

#endif
