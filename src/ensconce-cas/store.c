/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CAS store: SQLite in WAL mode with synchronous=FULL (an acknowledged write is on
 * disk), one connection behind a recursive lock.  Secret stores are encrypted with
 * AES-256-GCM under the master key (a 0600 file of 32 random bytes), the session name as
 * associated data, so a blob cannot be moved to another session.  The audit table is an
 * append-only hash chain (docs/cas.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cas.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "crypto/digest.h"

#define CACHE_BUCKETS 4096
#define CACHE_MAX 20000

struct cache_entry {
    struct cache_entry *next;
    struct cas_session *s;
};

struct cas_store {
    sqlite3 *db;
    pthread_mutex_t mu;
    uint8_t key[32];
    int depth; /* transaction nesting (only the outermost is real) */
    struct cache_entry *cache[CACHE_BUCKETS];
    size_t cached;
};

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sessions(name TEXT PRIMARY KEY, hash TEXT NOT NULL, yaml BLOB NOT NULL,"
    "  creator TEXT NOT NULL, version INTEGER NOT NULL, secrets BLOB NOT NULL, updated INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS session_history(name TEXT NOT NULL, version INTEGER NOT NULL, hash TEXT NOT NULL,"
    "  yaml BLOB NOT NULL, actor TEXT NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY(name, version));"
    "CREATE TABLE IF NOT EXISTS platforms(id TEXT PRIMARY KEY, cert TEXT NOT NULL, actor TEXT NOT NULL,"
    "  added INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS attested_keys(key_id TEXT PRIMARY KEY, session TEXT NOT NULL,"
    "  service TEXT NOT NULL, expires INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS volume_tags(session TEXT NOT NULL, volume TEXT NOT NULL, tag TEXT NOT NULL,"
    "  ts INTEGER NOT NULL, PRIMARY KEY(session, volume, tag));"
    "CREATE TABLE IF NOT EXISTS audit(seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, actor TEXT NOT NULL,"
    "  action TEXT NOT NULL, object TEXT NOT NULL, result TEXT NOT NULL, detail TEXT NOT NULL,"
    "  prev TEXT NOT NULL, hash TEXT NOT NULL);"
    /* Append-only: the CAS never updates or deletes audit rows. */
    "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit BEGIN"
    "  SELECT RAISE(ABORT, 'audit log is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit BEGIN"
    "  SELECT RAISE(ABORT, 'audit log is append-only'); END;"
    "INSERT OR IGNORE INTO meta(k, v) VALUES('format', 'ensconce-cas-1');";

static int db_error(cas_store *s, ens_error_t *err, const char *what)
{
    return ens_error(err, EIO, "store: %s: %s", what, sqlite3_errmsg(s->db));
}

/* Prepares sql and binds its parameters in order, one letter of `types` each: 't' text (const char *),
 * 'b' blob (const void *, size_t), 'i' integer (int64_t).  Bound values must live until the last step. */
static int vprepare_bound(cas_store *s, sqlite3_stmt **st, const char *what, ens_error_t *err, const char *sql,
                          const char *types, va_list ap)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return db_error(s, err, what);
    for (int i = 0; types[i]; i++) {
        switch (types[i]) {
        case 't':
            sqlite3_bind_text(*st, i + 1, va_arg(ap, const char *), -1, SQLITE_STATIC);
            break;
        case 'b': {
            const void *data = va_arg(ap, const void *);
            sqlite3_bind_blob(*st, i + 1, data, (int)va_arg(ap, size_t), SQLITE_STATIC);
            break;
        }
        case 'i':
            sqlite3_bind_int64(*st, i + 1, va_arg(ap, int64_t));
            break;
        }
    }
    return 0;
}

static int prepare_bound(cas_store *s, sqlite3_stmt **st, const char *what, ens_error_t *err, const char *sql,
                         const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    int r = vprepare_bound(s, st, what, err, sql, types, ap);
    va_end(ap);
    return r;
}

void cas_store_lock(cas_store *s) { pthread_mutex_lock(&s->mu); }
void cas_store_unlock(cas_store *s) { pthread_mutex_unlock(&s->mu); }

static int load_master_key(const char *path, uint8_t key[32], ens_error_t *err)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno != ENOENT)
            return ens_error_errno(err, "%s", path);
        uint8_t k[32];
        if (ens_random(k, sizeof(k), err) < 0)
            return -1;
        int r = ens_write_file_atomic(path, k, sizeof(k), 0600, err);
        memcpy(key, k, 32);
        ens_wipe(k, sizeof(k));
        return r;
    }
    if ((st.st_mode & 077) != 0)
        return ens_error(err, EPERM, "%s: the master key file must be mode 0600 (it is %03o)", path,
                         (unsigned)(st.st_mode & 0777));
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    if (ens_read_file(path, 64, &buf, &len, err) < 0)
        return -1;
    if (len != 32) {
        ens_wipe(buf, len);
        return ens_error(err, EINVAL, "%s: a master key file holds exactly 32 bytes (found %zu)", path, len);
    }
    memcpy(key, buf, 32);
    ens_wipe(buf, len);
    return 0;
}

int cas_store_open(const char *db_path, const char *master_key_path, cas_store **out, ens_error_t *err)
{
    cas_store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&s->mu, &a);
    pthread_mutexattr_destroy(&a);
    if (load_master_key(master_key_path, s->key, err) < 0) {
        cas_store_close(s);
        return -1;
    }
    if (sqlite3_open_v2(db_path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL)
        != SQLITE_OK) {
        ens_error(err, EIO, "store %s: %s", db_path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
        cas_store_close(s);
        return -1;
    }
    chmod(db_path, 0600);
    sqlite3_busy_timeout(s->db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", NULL,
                     NULL, &msg)
            != SQLITE_OK
        || sqlite3_exec(s->db, SCHEMA, NULL, NULL, &msg) != SQLITE_OK) {
        ens_error(err, EIO, "store %s: %s", db_path, msg ? msg : "schema");
        sqlite3_free(msg);
        cas_store_close(s);
        return -1;
    }
    /* A database from another master key would decrypt nothing: check a canary. */
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(s->db, "SELECT v FROM meta WHERE k='key_check'", -1, &st, NULL);
    uint8_t check[32];
    ens_sha256(s->key, 32, check);
    char hex[65];
    ens_hex_encode(check, 32, hex);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        bool same = v && strlen(v) == 64 && ens_ct_equal(v, hex, 64);
        sqlite3_finalize(st);
        if (!same) {
            cas_store_close(s);
            return ens_error(err, EPERM, "store %s was created with another master key than %s", db_path,
                             master_key_path);
        }
    } else {
        sqlite3_finalize(st);
        sqlite3_prepare_v2(s->db, "INSERT INTO meta(k, v) VALUES('key_check', ?)", -1, &st, NULL);
        sqlite3_bind_text(st, 1, hex, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
            db_error(s, err, "initialising");
            cas_store_close(s);
            return -1;
        }
    }
    *out = s;
    return 0;
}

static void cache_clear(cas_store *s)
{
    for (size_t i = 0; i < CACHE_BUCKETS; i++) {
        struct cache_entry *e = s->cache[i];
        while (e) {
            struct cache_entry *n = e->next;
            cas_session_free(e->s);
            free(e);
            e = n;
        }
        s->cache[i] = NULL;
    }
    s->cached = 0;
}

void cas_store_set_durable(cas_store *s, bool durable)
{
    sqlite3_exec(s->db, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF", NULL, NULL, NULL);
}

void cas_store_close(cas_store *s)
{
    if (s == NULL)
        return;
    cache_clear(s);
    if (s->db)
        sqlite3_close_v2(s->db);
    ens_wipe(s->key, sizeof(s->key));
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int cas_store_begin(cas_store *s, ens_error_t *err)
{
    cas_store_lock(s);
    if (s->depth++ == 0 && sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        s->depth--;
        int r = db_error(s, err, "begin");
        cas_store_unlock(s);
        return r;
    }
    return 0;
}

int cas_store_commit(cas_store *s, ens_error_t *err)
{
    int r = 0;
    if (--s->depth == 0 && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        r = db_error(s, err, "commit");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        cache_clear(s);
    }
    cas_store_unlock(s);
    return r;
}

void cas_store_rollback(cas_store *s)
{
    if (--s->depth == 0) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        cache_clear(s); /* entries read inside the transaction may be gone */
    }
    cas_store_unlock(s);
}

/* ---- encryption ---- */

static int seal(cas_store *s, const char *aad, const void *pt, size_t len, uint8_t **out, size_t *out_len,
                ens_error_t *err)
{
    uint8_t *buf = malloc(12 + len + 16);
    if (buf == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    if (ens_random(buf, 12, err) < 0) {
        free(buf);
        return -1;
    }
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, f = 0;
    bool ok = c && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, s->key, buf) == 1
              && EVP_EncryptUpdate(c, NULL, &n, (const uint8_t *)aad, (int)strlen(aad)) == 1
              && EVP_EncryptUpdate(c, buf + 12, &n, pt, (int)len) == 1
              && EVP_EncryptFinal_ex(c, buf + 12 + n, &f) == 1
              && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, buf + 12 + len) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok) {
        free(buf);
        return ens_error(err, EPROTO, "encrypting secrets");
    }
    *out = buf;
    *out_len = 12 + len + 16;
    return 0;
}

static int unseal(cas_store *s, const char *aad, const uint8_t *in, size_t len, char **out, size_t *out_len,
                  ens_error_t *err)
{
    if (len < 28)
        return ens_error(err, EINVAL, "secrets of session %s: truncated", aad);
    size_t ptl = len - 28;
    char *pt = malloc(ptl + 1);
    if (pt == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, f = 0;
    bool ok = c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, s->key, in) == 1
              && EVP_DecryptUpdate(c, NULL, &n, (const uint8_t *)aad, (int)strlen(aad)) == 1
              && EVP_DecryptUpdate(c, (uint8_t *)pt, &n, in + 12, (int)ptl) == 1
              && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)(in + 12 + ptl)) == 1
              && EVP_DecryptFinal_ex(c, (uint8_t *)pt + n, &f) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok) {
        ens_wipe(pt, ptl);
        free(pt);
        return ens_error(err, EPERM, "secrets of session %s: authentication failed (wrong master key or tampering)",
                         aad);
    }
    pt[ptl] = '\0';
    *out = pt;
    *out_len = ptl;
    return 0;
}

/* ---- sessions ---- */

void cas_session_free(struct cas_session *s)
{
    if (s == NULL)
        return;
    free(s->name);
    free(s->yaml);
    ens_policy_free(s->policy);
    ens_secret_store_free(s->secrets);
    free(s);
}

static size_t bucket(const char *name)
{
    size_t h = 5381;
    for (const char *p = name; *p; p++)
        h = h * 33 + (unsigned char)*p;
    return h % CACHE_BUCKETS;
}

static void cache_drop(cas_store *s, const char *name)
{
    struct cache_entry **pp = &s->cache[bucket(name)];
    while (*pp) {
        if (strcmp((*pp)->s->name, name) == 0) {
            struct cache_entry *e = *pp;
            *pp = e->next;
            cas_session_free(e->s);
            free(e);
            s->cached--;
            return;
        }
        pp = &(*pp)->next;
    }
}

int cas_store_get_session(cas_store *s, const char *name, struct cas_session **out, ens_error_t *err)
{
    cas_store_lock(s);
    for (struct cache_entry *e = s->cache[bucket(name)]; e; e = e->next)
        if (strcmp(e->s->name, name) == 0) {
            *out = e->s;
            cas_store_unlock(s);
            return 0;
        }
    sqlite3_stmt *st = NULL;
    int r = -1;
    struct cas_session *cs = NULL;
    _cleanup_free_ char *json = NULL;
    size_t jl = 0;
    if (prepare_bound(s, &st, "reading a session", err,
                      "SELECT hash, yaml, creator, version, secrets FROM sessions WHERE name = ?", "t", name)
        < 0)
        goto out;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        r = 1;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        db_error(s, err, "reading a session");
        goto out;
    }
    cs = calloc(1, sizeof(*cs));
    if (cs == NULL) {
        ens_error(err, ENOMEM, "out of memory");
        goto out;
    }
    cs->name = strdup(name);
    snprintf(cs->hash, sizeof(cs->hash), "%s", (const char *)sqlite3_column_text(st, 0));
    cs->yaml_len = (size_t)sqlite3_column_bytes(st, 1);
    cs->yaml = malloc(cs->yaml_len + 1);
    if (cs->name == NULL || cs->yaml == NULL) {
        ens_error(err, ENOMEM, "out of memory");
        goto out;
    }
    memcpy(cs->yaml, sqlite3_column_blob(st, 1), cs->yaml_len);
    cs->yaml[cs->yaml_len] = '\0';
    snprintf(cs->creator, sizeof(cs->creator), "%s", (const char *)sqlite3_column_text(st, 2));
    cs->version = sqlite3_column_int64(st, 3);
    if (ens_policy_parse(cs->yaml, cs->yaml_len, name, &cs->policy, err) < 0) {
        ens_error_wrap(err, "stored session %s", name);
        goto out;
    }
    if (unseal(s, name, sqlite3_column_blob(st, 4), (size_t)sqlite3_column_bytes(st, 4), &json, &jl, err) < 0)
        goto out;
    int lr = ens_secret_store_load(json, jl, &cs->secrets, err);
    ens_wipe(json, jl);
    if (lr < 0)
        goto out;
    /* Never inside a transaction: callers hold pointers into the cache there. */
    if (s->cached >= CACHE_MAX && s->depth == 0)
        cache_clear(s);
    struct cache_entry *e = malloc(sizeof(*e));
    if (e == NULL) {
        ens_error(err, ENOMEM, "out of memory");
        goto out;
    }
    size_t b = bucket(name);
    e->s = cs;
    e->next = s->cache[b];
    s->cache[b] = e;
    s->cached++;
    *out = ens_steal(&cs);
    r = 0;
out:
    sqlite3_finalize(st);
    cas_session_free(cs);
    cas_store_unlock(s);
    return r;
}

int64_t cas_store_session_count(cas_store *s)
{
    cas_store_lock(s);
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sessions", -1, &st, NULL) == SQLITE_OK
        && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    cas_store_unlock(s);
    return n;
}

static int sealed_store(cas_store *s, const char *name, const ens_secret_store_t *secrets, uint8_t **blob,
                        size_t *blen, ens_error_t *err)
{
    _cleanup_free_ char *json = NULL;
    if (ens_secret_store_serialize(secrets, &json, err) < 0)
        return -1;
    size_t jl = strlen(json);
    int r = seal(s, name, json, jl, blob, blen, err);
    ens_wipe(json, jl);
    return r;
}

static int step_done(cas_store *s, sqlite3_stmt *st, const char *what, ens_error_t *err)
{
    int rc = sqlite3_step(st);
    int r = rc == SQLITE_DONE ? 0 : db_error(s, err, what);
    sqlite3_finalize(st);
    return r;
}

/* One write statement under the store lock (parameters as for prepare_bound). */
static int store_write(cas_store *s, const char *what, ens_error_t *err, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    cas_store_lock(s);
    sqlite3_stmt *st = NULL;
    int r = vprepare_bound(s, &st, what, err, sql, types, ap);
    if (r == 0)
        r = step_done(s, st, what, err);
    cas_store_unlock(s);
    va_end(ap);
    return r;
}

/* Ends a listing: finalises st, releases the lock and hands arr over unless r < 0. */
static int listing_done(cas_store *s, sqlite3_stmt *st, int r, json_t *arr, json_t **out)
{
    sqlite3_finalize(st);
    cas_store_unlock(s);
    if (r < 0) {
        json_decref(arr);
        return r;
    }
    *out = arr;
    return 0;
}

int cas_store_put_session(cas_store *s, const char *name, const char *hash, const char *yaml, size_t yaml_len,
                          const char *creator, int64_t version, const ens_secret_store_t *secrets,
                          const char *actor, ens_error_t *err)
{
    _cleanup_free_ uint8_t *blob = NULL;
    size_t blen = 0;
    if (sealed_store(s, name, secrets, &blob, &blen, err) < 0)
        return -1;
    cas_store_lock(s);
    cache_drop(s, name);
    int64_t now = (int64_t)time(NULL);
    sqlite3_stmt *st = NULL;
    int r = prepare_bound(s, &st, "writing a session", err,
                          "INSERT OR REPLACE INTO sessions(name, hash, yaml, creator, version, secrets, updated)"
                          " VALUES(?,?,?,?,?,?,?)",
                          "ttbtibi", name, hash, (const void *)yaml, yaml_len, creator, version,
                          (const void *)blob, blen, now);
    if (r == 0)
        r = step_done(s, st, "writing a session", err);
    if (r == 0)
        r = prepare_bound(s, &st, "writing session history", err,
                          "INSERT INTO session_history(name, version, hash, yaml, actor, ts) VALUES(?,?,?,?,?,?)",
                          "titbti", name, version, hash, (const void *)yaml, yaml_len, actor, now);
    if (r == 0)
        r = step_done(s, st, "writing session history", err);
    cas_store_unlock(s);
    return r;
}

int cas_store_put_secrets(cas_store *s, const char *name, const ens_secret_store_t *secrets, ens_error_t *err)
{
    _cleanup_free_ uint8_t *blob = NULL;
    size_t blen = 0;
    if (sealed_store(s, name, secrets, &blob, &blen, err) < 0)
        return -1;
    return store_write(s, "writing secrets", err, "UPDATE sessions SET secrets = ? WHERE name = ?", "bt",
                       (const void *)blob, blen, name);
}

/* ---- platforms, attested keys, tags ---- */

int cas_store_add_platform(cas_store *s, const char *id, const char *cert_pem, const char *actor, ens_error_t *err)
{
    return store_write(s, "adding a platform", err,
                       "INSERT OR REPLACE INTO platforms(id, cert, actor, added) VALUES(?,?,?,?)", "ttti", id,
                       cert_pem, actor, (int64_t)time(NULL));
}

bool cas_store_platform_known(cas_store *s, const char *id)
{
    cas_store_lock(s);
    sqlite3_stmt *st = NULL;
    bool known = prepare_bound(s, &st, "reading platforms", NULL, "SELECT 1 FROM platforms WHERE id = ?", "t", id) == 0
                 && sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    cas_store_unlock(s);
    return known;
}

int cas_store_list_platforms(cas_store *s, json_t **out, ens_error_t *err)
{
    cas_store_lock(s);
    sqlite3_stmt *st = NULL;
    json_t *arr = json_array();
    int r = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT id, added, actor FROM platforms ORDER BY added", -1, &st, NULL)
        != SQLITE_OK) {
        r = db_error(s, err, "listing platforms");
    } else {
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(arr, json_pack("{s:s, s:I, s:s}", "id", sqlite3_column_text(st, 0), "added",
                                                 (json_int_t)sqlite3_column_int64(st, 1), "added_by",
                                                 sqlite3_column_text(st, 2)));
    }
    return listing_done(s, st, r, arr, out);
}

int cas_store_add_attested_key(cas_store *s, const char *key_id, const char *session, const char *service,
                               int64_t expires, ens_error_t *err)
{
    return store_write(s, "recording an attested key", err,
                       "INSERT OR REPLACE INTO attested_keys(key_id, session, service, expires) VALUES(?,?,?,?)",
                       "ttti", key_id, session, service, expires);
}

int cas_store_attested_key(cas_store *s, const char *key_id, const char *session, char **service, ens_error_t *err)
{
    cas_store_lock(s);
    sqlite3_stmt *st = NULL;
    int r = prepare_bound(s, &st, "reading attested keys", err,
                          "SELECT service FROM attested_keys WHERE key_id = ? AND session = ? AND expires > ?",
                          "tti", key_id, session, (int64_t)time(NULL));
    if (r == 0) {
        r = 1;
        if (sqlite3_step(st) == SQLITE_ROW) {
            *service = strdup((const char *)sqlite3_column_text(st, 0));
            r = *service ? 0 : ens_error(err, ENOMEM, "out of memory");
        }
    }
    sqlite3_finalize(st);
    cas_store_unlock(s);
    return r;
}

int cas_store_purge_expired(cas_store *s, ens_error_t *err)
{
    return store_write(s, "purging attested keys", err, "DELETE FROM attested_keys WHERE expires <= ?", "i",
                       (int64_t)time(NULL));
}

bool cas_store_tag_seen(cas_store *s, const char *session, const char *volume, const char *tag)
{
    cas_store_lock(s);
    sqlite3_stmt *st = NULL;
    bool seen = true; /* fail closed */
    if (prepare_bound(s, &st, "reading volume tags", NULL,
                      "SELECT 1 FROM volume_tags WHERE session = ? AND volume = ? AND tag = ?", "ttt", session, volume,
                      tag)
        == 0) {
        int rc = sqlite3_step(st);
        seen = rc == SQLITE_ROW || rc != SQLITE_DONE;
    }
    sqlite3_finalize(st);
    cas_store_unlock(s);
    return seen;
}

int cas_store_add_tag(cas_store *s, const char *session, const char *volume, const char *tag, ens_error_t *err)
{
    return store_write(s, "recording a volume tag", err,
                       "INSERT INTO volume_tags(session, volume, tag, ts) VALUES(?,?,?,?)", "ttti", session, volume,
                       tag, (int64_t)time(NULL));
}

/* ---- audit ---- */

/* The chained hash of one entry: SHA-256(prev "\n" canonical JSON). Shared with the verifier
 * in `ensconce cas audit verify` (same definition, docs/cas.md). */
static int audit_hash(const char *prev, json_t *entry, char out[65])
{
    char *text = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    if (text == NULL)
        return -1;
    ens_sha256_ctx *c = ens_sha256_new();
    if (c == NULL) {
        free(text);
        return -1;
    }
    ens_sha256_update(c, prev, strlen(prev));
    ens_sha256_update(c, "\n", 1);
    ens_sha256_update(c, text, strlen(text));
    uint8_t h[32];
    ens_sha256_final(c, h);
    ens_sha256_free(c);
    free(text);
    ens_hex_encode(h, 32, out);
    return 0;
}

static const char ZERO_HASH[] = "0000000000000000000000000000000000000000000000000000000000000000";

int cas_store_audit(cas_store *s, const char *actor, const char *action, const char *object, const char *result,
                    const char *detail, ens_error_t *err)
{
    if (cas_store_begin(s, err) < 0)
        return -1;
    sqlite3_stmt *st = NULL;
    char prev[65];
    int64_t seq = 1;
    if (sqlite3_prepare_v2(s->db, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", -1, &st, NULL)
        != SQLITE_OK) {
        db_error(s, err, "reading the audit log");
        cas_store_rollback(s);
        return -1;
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        seq = sqlite3_column_int64(st, 0) + 1;
        snprintf(prev, sizeof(prev), "%s", (const char *)sqlite3_column_text(st, 1));
    } else {
        strcpy(prev, ZERO_HASH);
    }
    sqlite3_finalize(st);
    int64_t ts = (int64_t)time(NULL);
    actor = actor ? actor : "";
    action = action ? action : "";
    object = object ? object : "";
    result = result ? result : "";
    detail = detail ? detail : "";
    /* Client-provided text is stored as given when it is UTF-8; otherwise replaced. */
    json_t *entry = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s}", "seq", (json_int_t)seq, "ts",
                              (json_int_t)ts, "actor", actor, "action", action, "object", object, "result", result,
                              "detail", detail);
    if (entry == NULL)
        entry = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s}", "seq", (json_int_t)seq, "ts", (json_int_t)ts,
                          "actor", "?", "action", action, "object", "(not UTF-8)", "result", result, "detail", "");
    char hash[65];
    if (entry == NULL || audit_hash(prev, entry, hash) < 0) {
        json_decref(entry);
        cas_store_rollback(s);
        return ens_error(err, ENOMEM, "out of memory");
    }
    int r = -1;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO audit(seq, ts, actor, action, object, result, detail, prev, hash)"
                           " VALUES(?,?,?,?,?,?,?,?,?)",
                           -1, &st, NULL)
        == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, seq);
        sqlite3_bind_int64(st, 2, ts);
        const char *keys[] = {"actor", "action", "object", "result", "detail"};
        for (int i = 0; i < 5; i++) {
            const char *v = json_string_value(json_object_get(entry, keys[i]));
            sqlite3_bind_text(st, 3 + i, v ? v : "", -1, SQLITE_TRANSIENT);
        }
        sqlite3_bind_text(st, 8, prev, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 9, hash, -1, SQLITE_STATIC);
        r = step_done(s, st, "appending to the audit log", err);
    } else {
        db_error(s, err, "appending to the audit log");
    }
    json_decref(entry);
    if (r < 0) {
        cas_store_rollback(s);
        return -1;
    }
    return cas_store_commit(s, err);
}

int cas_store_audit_dump(cas_store *s, int64_t after, json_t **out, ens_error_t *err)
{
    cas_store_lock(s);
    sqlite3_stmt *st = NULL;
    json_t *arr = json_array();
    int r = 0;
    if (prepare_bound(s, &st, "reading the audit log", err,
                      "SELECT seq, ts, actor, action, object, result, detail, prev, hash FROM audit"
                      " WHERE seq > ? ORDER BY seq LIMIT 100000",
                      "i", after)
        < 0) {
        r = -1;
    } else {
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(
                arr, json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "seq",
                               (json_int_t)sqlite3_column_int64(st, 0), "ts", (json_int_t)sqlite3_column_int64(st, 1),
                               "actor", sqlite3_column_text(st, 2), "action", sqlite3_column_text(st, 3), "object",
                               sqlite3_column_text(st, 4), "result", sqlite3_column_text(st, 5), "detail",
                               sqlite3_column_text(st, 6), "prev", sqlite3_column_text(st, 7), "hash",
                               sqlite3_column_text(st, 8)));
    }
    return listing_done(s, st, r, arr, out);
}

int cas_store_backup(cas_store *s, const char *out_path, ens_error_t *err)
{
    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp-%d", out_path, (int)getpid()) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    unlink(tmp);
    sqlite3 *dst = NULL;
    if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        sqlite3_close(dst);
        return ens_error(err, EIO, "backup: cannot create %s", tmp);
    }
    chmod(tmp, 0600);
    cas_store_lock(s);
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", s->db, "main");
    int rc = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
    sqlite3_backup_finish(b);
    cas_store_unlock(s);
    if (rc != SQLITE_DONE) {
        ens_error(err, EIO, "backup: %s", sqlite3_errmsg(dst));
        sqlite3_close(dst);
        unlink(tmp);
        return -1;
    }
    /* A self-contained file (no WAL next to it). */
    sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
    sqlite3_close(dst);
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    if (rename(tmp, out_path) < 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return ens_error_errno(err, "backup: renaming to %s", out_path);
    }
    return 0;
}
