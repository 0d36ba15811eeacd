/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CAS client API (port 8081, mutual TLS) and the endpoints shared with the
 * attestation API.  Clients are identified by the SHA-256 of their certificate's public
 * key (hex); access_policy decides what they may do (lib/policy).
 */
#include <errno.h>
#include <stdarg.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cas.h"
#include "core/cleanup.h"
#include "crypto/digest.h"
#include "net/net.h"

bool cas_peer_hex(struct evhttp_request *req, char out[65])
{
    uint8_t id[32];
    if (!ens_http_peer_id(req, id))
        return false;
    ens_hex_encode(id, 32, out);
    return true;
}

char *cas_req_path(struct evhttp_request *req, char **query)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *raw = u ? evhttp_uri_get_path(u) : NULL;
    if (raw == NULL)
        return NULL;
    size_t n = 0;
    char *p = evhttp_uridecode(raw, 0, &n);
    if (p == NULL || strlen(p) != n || p[0] != '/') { /* embedded NUL or not absolute */
        free(p);
        return NULL;
    }
    if (query) {
        const char *q = evhttp_uri_get_query(u);
        *query = q ? strdup(q) : NULL;
    }
    return p;
}

static bool is_admin(struct cas *cas, const char *peer)
{
    for (size_t i = 0; i < cas->admin_count; i++)
        if (strcasecmp(cas->admins[i], peer) == 0)
            return true;
    return false;
}

static void audit(struct cas *cas, const char *actor, const char *action, const char *object, const char *result,
                  const char *detail)
{
    _cleanup_error_ ens_error_t err = NULL;
    if (cas_store_audit(cas->store, actor, action, object, result, detail, &err) < 0)
        fprintf(stderr, "ensconce-cas: audit: %s\n", ens_error_msg(err));
}

static void cas_self_evidence(struct cas *cas, struct evhttp_request *req, const char *query)
{
    const char *nh = NULL;
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    if (query)
        evhttp_parse_query_str(query, &q);
    nh = evhttp_find_header(&q, "nonce");
    uint8_t nonce[ENS_NONCE_LEN], rd[ENS_REPORT_DATA_LEN];
    if (nh == NULL || ens_hex_decode(nh, nonce, sizeof(nonce), NULL) < 0) {
        evhttp_clear_headers(&q);
        return ens_http_reply_error(req, 400, "/v1/attest: needs ?nonce= with 64 hex digits");
    }
    evhttp_clear_headers(&q);
    _cleanup_error_ ens_error_t err = NULL;
    json_t *ev = NULL;
    if (ens_attest_report_data_for_key(nonce, cas->key, rd, &err) < 0
        || ens_attest_sim_sign(cas->key, cas->cert, cas->measurement, rd, sizeof(rd), &ev, &err) < 0)
        return ens_http_reply_error(req, 500, "%s", ens_error_msg(err));
    ens_http_reply_json(req, 200, json_pack("{s:o, s:s}", "evidence", ev, "measurement", cas->measurement));
}

bool cas_api_common(struct cas *cas, struct evhttp_request *req, const char *path)
{
    atomic_fetch_add(&cas->metrics.requests, 1);
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    if (strcmp(path, "/healthz") == 0) {
        if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD)
            ens_http_reply_error(req, 405, "/healthz: use GET");
        else
            ens_http_reply(req, 200, "text/plain", "ok\n", 3);
        return true;
    }
    if (strcmp(path, "/metrics") == 0) {
        if (m != EVHTTP_REQ_GET) {
            ens_http_reply_error(req, 405, "/metrics: use GET");
            return true;
        }
        char *text = cas_metrics_render(&cas->metrics, cas_store_session_count(cas->store));
        if (text == NULL)
            ens_http_reply_error(req, 500, "out of memory");
        else
            ens_http_reply(req, 200, "text/plain; version=0.0.4", text, strlen(text));
        free(text);
        return true;
    }
    if (strcmp(path, "/v1/attest") == 0 && m == EVHTTP_REQ_GET) {
        const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
        cas_self_evidence(cas, req, u ? evhttp_uri_get_query(u) : NULL);
        return true;
    }
    return false;
}

/* ---- session create / update ---- */

struct resolve_ctx {
    struct cas *cas;
};

static int resolve_import(void *ctx, const char *importer, const char *exporter, const char *secret,
                          char **record_json, ens_error_t *err)
{
    struct resolve_ctx *rc = ctx;
    struct cas_session *exp = NULL;
    int r = cas_store_get_session(rc->cas->store, exporter, &exp, err);
    if (r < 0)
        return -1;
    if (r == 1)
        return ens_error(err, ENOENT, "import: session %s (exporter of %s) does not exist", exporter, secret);
    return ens_secret_store_export(exp->policy, exp->secrets, secret, importer, record_json, err);
}

static int status_of(ens_error_t err, int dflt)
{
    switch (ens_error_status(err)) {
    case EPERM:
    case EACCES: return 403;
    case ENOENT: return 404;
    case EEXIST: return 409;
    default: return dflt;
    }
}

int set_msg(char *out, size_t outlen, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, outlen, fmt, ap);
    va_end(ap);
    return status;
}

int cas_session_write(struct cas *cas, const char *peer, const char *body, size_t len, json_t **reply, char *out,
                      size_t outlen)
{
    *reply = NULL;
    if (body == NULL || len == 0) {
        atomic_fetch_add(&cas->metrics.session_writes_refused, 1);
        return set_msg(out, outlen, 400, "POST /session: the body must be a session (YAML)");
    }
    _cleanup_error_ ens_error_t err = NULL;
    ens_policy_t *p = NULL;
    if (ens_policy_parse(body, len, "session", &p, &err) < 0) {
        atomic_fetch_add(&cas->metrics.session_writes_refused, 1);
        return set_msg(out, outlen, 400, "%s", ens_error_msg(err));
    }
    const char *name = ens_policy_name(p);
    const char *pred = ens_policy_predecessor(p);
    char hash[ENS_POLICY_HASH_HEX_LEN];
    if (ens_policy_hash(p, hash, &err) < 0) {
        ens_policy_free(p);
        return set_msg(out, outlen, 500, "%s", ens_error_msg(err));
    }
    int status = 500;
    char msg[600] = "";
    const char *action = pred ? "session.update" : "session.create";
    int64_t version = 1;
    struct resolve_ctx rctx = {cas};
    if (cas_store_begin(cas->store, &err) < 0) {
        ens_policy_free(p);
        return set_msg(out, outlen, 503, "%s", ens_error_msg(err));
    }
    struct cas_session *cur = NULL;
    int gr = cas_store_get_session(cas->store, name, &cur, &err);
    ens_secret_store_t *secrets = NULL;
    char creator[ENS_POLICY_HASH_HEX_LEN];
    snprintf(creator, sizeof(creator), "%s", peer);
    if (gr < 0) {
        snprintf(msg, sizeof(msg), "%s", ens_error_msg(err));
        goto refuse;
    }
    if (gr == 1) {
        if (pred != NULL) {
            status = 404;
            snprintf(msg, sizeof(msg), "session %s does not exist: a new session must not carry a predecessor",
                     name);
            goto refuse;
        }
        const char *parent = ens_policy_parent_namespace(p);
        if (parent != NULL) {
            struct cas_session *ps = NULL;
            int pr = cas_store_get_session(cas->store, parent, &ps, &err);
            if (pr != 0) {
                status = pr < 0 ? 500 : 404;
                snprintf(msg, sizeof(msg), "namespace %s does not exist (create it as a session first)", parent);
                goto refuse;
            }
            if (!ens_policy_access_allowed(ps->policy, ENS_POLICY_OP_CREATE_SESSIONS, peer, ps->creator)) {
                status = 403;
                snprintf(msg, sizeof(msg), "client %.16s… may not create sessions in namespace %s", peer, parent);
                goto refuse;
            }
        }
        if (ens_secrets_materialize(p, NULL, resolve_import, &rctx, &secrets, &err) < 0) {
            status = status_of(err, 422);
            snprintf(msg, sizeof(msg), "%s", ens_error_msg(err));
            goto refuse;
        }
    } else {
        action = "session.update";
        if (pred == NULL) {
            status = 409;
            snprintf(msg, sizeof(msg),
                     "session %s already exists with hash %s: an update must name it as predecessor", name,
                     cur->hash);
            atomic_fetch_add(&cas->metrics.session_conflicts, 1);
            goto refuse;
        }
        if (strcmp(pred, cur->hash) != 0) {
            status = 409;
            snprintf(msg, sizeof(msg), "conflict: predecessor %s is not the current hash %s of session %s", pred,
                     cur->hash, name);
            atomic_fetch_add(&cas->metrics.session_conflicts, 1);
            goto refuse;
        }
        if (!ens_policy_access_allowed(cur->policy, ENS_POLICY_OP_UPDATE, peer, cur->creator)) {
            status = 403;
            snprintf(msg, sizeof(msg), "client %.16s… may not update session %s", peer, name);
            goto refuse;
        }
        snprintf(creator, sizeof(creator), "%s", cur->creator);
        version = cur->version + 1;
        _cleanup_free_ char *prev = NULL;
        if (ens_secret_store_serialize(cur->secrets, &prev, &err) < 0) {
            snprintf(msg, sizeof(msg), "%s", ens_error_msg(err));
            goto refuse;
        }
        int mr = ens_secrets_materialize(p, prev, resolve_import, &rctx, &secrets, &err);
        ens_wipe(prev, strlen(prev));
        if (mr < 0) {
            status = status_of(err, 422);
            snprintf(msg, sizeof(msg), "%s", ens_error_msg(err));
            goto refuse;
        }
    }
    if (cas_store_put_session(cas->store, name, hash, body, len, creator, version, secrets, peer, &err) < 0
        || cas_store_audit(cas->store, peer, action, name, "ok", hash, &err) < 0
        || cas_store_commit(cas->store, &err) < 0) {
        ens_secret_store_free(secrets);
        ens_policy_free(p);
        atomic_fetch_add(&cas->metrics.session_writes_refused, 1);
        return set_msg(out, outlen, 503, "%s", ens_error_msg(err));
    }
    ens_secret_store_free(secrets);
    atomic_fetch_add(&cas->metrics.session_writes_ok, 1);
    *reply = json_pack("{s:s, s:s, s:I, s:s?}", "name", name, "hash", hash, "version",
                                  (json_int_t)version, "predecessor", pred);
    ens_policy_free(p);
    return version == 1 ? 201 : 200;
refuse:
    cas_store_rollback(cas->store);
    ens_secret_store_free(secrets);
    if (status != 409)
        atomic_fetch_add(&cas->metrics.session_writes_refused, 1);
    audit(cas, peer, action, name, "refused", msg);
    ens_policy_free(p);
    return set_msg(out, outlen, status, "%s", msg);
}

static void session_write(struct cas *cas, struct evhttp_request *req, const char *peer)
{
    size_t len = 0;
    _cleanup_free_ char *body = ens_http_body(req, &len);
    char msg[700];
    json_t *reply = NULL;
    int status = cas_session_write(cas, peer, body, len, &reply, msg, sizeof(msg));
    if (reply)
        ens_http_reply_json(req, status, reply);
    else
        ens_http_reply_error(req, status, "%s", msg);
}

/* The session a read request names, with the store locked (the caller unlocks); NULL when the reply
 * (invalid name, store error, no such session) has been sent. */
static struct cas_session *locked_session(struct cas *cas, struct evhttp_request *req, const char *name)
{
    if (!ens_policy_name_valid(name)) {
        ens_http_reply_error(req, 400, "invalid session name");
        return NULL;
    }
    _cleanup_error_ ens_error_t err = NULL;
    cas_store_lock(cas->store);
    struct cas_session *cs = NULL;
    int r = cas_store_get_session(cas->store, name, &cs, &err);
    if (r == 0)
        return cs;
    cas_store_unlock(cas->store);
    if (r < 0)
        ens_http_reply_error(req, 500, "%s", ens_error_msg(err));
    else
        ens_http_reply_error(req, 404, "session %s does not exist", name);
    return NULL;
}

static void session_read(struct cas *cas, struct evhttp_request *req, const char *peer, const char *name)
{
    struct cas_session *cs = locked_session(cas, req, name);
    if (!cs)
        return;
    if (!ens_policy_access_allowed(cs->policy, ENS_POLICY_OP_READ, peer, cs->creator)) {
        cas_store_unlock(cas->store);
        return ens_http_reply_error(req, 403, "client %.16s… may not read session %s", peer, name);
    }
    json_t *doc = json_pack("{s:s, s:s, s:s%, s:I, s:s}", "name", name, "hash", cs->hash, "session", cs->yaml,
                            cs->yaml_len, "version", (json_int_t)cs->version, "creator", cs->creator);
    cas_store_unlock(cas->store);
    if (doc == NULL)
        return ens_http_reply_error(req, 500, "cannot encode session %s", name);
    ens_http_reply_json(req, 200, doc);
}

static void values_read(struct cas *cas, struct evhttp_request *req, const char *name)
{
    struct cas_session *cs = locked_session(cas, req, name);
    if (!cs)
        return;
    _cleanup_error_ ens_error_t err = NULL;
    json_t *vals = NULL;
    int r = ens_secret_store_public_values(cs->policy, cs->secrets, &vals, &err);
    cas_store_unlock(cas->store);
    if (r < 0)
        return ens_http_reply_error(req, 500, "%s", ens_error_msg(err));
    ens_http_reply_json(req, 200, json_pack("{s:s, s:o}", "session", name, "values", vals));
}

static void platform_add(struct cas *cas, struct evhttp_request *req, const char *peer)
{
    size_t len = 0;
    _cleanup_free_ char *body = ens_http_body(req, &len);
    json_error_t je;
    json_t *doc = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &je) : NULL;
    const char *pem = doc ? json_string_value(json_object_get(doc, "certificate")) : NULL;
    if (pem == NULL) {
        json_decref(doc);
        return ens_http_reply_error(req, 400, "POST /v1/platforms: expected {\"certificate\": PEM}");
    }
    _cleanup_error_ ens_error_t err = NULL;
    X509 *cert = NULL;
    uint8_t id[32];
    char hex[65];
    if (ens_tls_cert_from_pem(pem, strlen(pem), &cert, &err) < 0 || ens_tls_cert_id(cert, id, &err) < 0) {
        X509_free(cert);
        json_decref(doc);
        return ens_http_reply_error(req, 400, "certificate: %s", ens_error_msg(err));
    }
    X509_free(cert);
    ens_hex_encode(id, 32, hex);
    int r = cas_store_add_platform(cas->store, hex, pem, peer, &err);
    json_decref(doc);
    if (r < 0)
        return ens_http_reply_error(req, 503, "%s", ens_error_msg(err));
    audit(cas, peer, "platform.add", hex, "ok", "");
    ens_http_reply_json(req, 201, json_pack("{s:s}", "id", hex));
}

static void audit_read(struct cas *cas, struct evhttp_request *req, const char *query)
{
    long long after = 0;
    if (query && strncmp(query, "after=", 6) == 0)
        after = strtoll(query + 6, NULL, 10);
    _cleanup_error_ ens_error_t err = NULL;
    json_t *arr = NULL;
    if (cas_store_audit_dump(cas->store, after, &arr, &err) < 0)
        return ens_http_reply_error(req, 500, "%s", ens_error_msg(err));
    ens_http_reply_json(req, 200, json_pack("{s:o}", "entries", arr));
}

void cas_api_client(struct evhttp_request *req, void *arg)
{
    struct cas *cas = arg;
    _cleanup_free_ char *query = NULL;
    _cleanup_free_ char *path = cas_req_path(req, &query);
    if (path == NULL) {
        atomic_fetch_add(&cas->metrics.bad_requests, 1);
        return ens_http_reply_error(req, 400, "invalid request path");
    }
    if (cas_api_common(cas, req, path))
        return;
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    char peer[65];
    bool has_peer = cas_peer_hex(req, peer);
    bool is_session_post = strcmp(path, "/session") == 0 || strcmp(path, "/v1/sessions") == 0;
    bool is_session_get = strncmp(path, "/v1/sessions/", 13) == 0;
    bool is_values = strncmp(path, "/v1/values/", 11) == 0;
    bool is_platforms = strcmp(path, "/v1/platforms") == 0;
    bool is_audit = strcmp(path, "/v1/audit") == 0;
    if (!is_session_post && !is_session_get && !is_values && !is_platforms && !is_audit)
        return ens_http_reply_error(req, 404, "no such endpoint");
    if (is_values) {
        if (m != EVHTTP_REQ_GET)
            return ens_http_reply_error(req, 405, "%s: use GET", "/v1/values");
        const char *n = path + 11;
        if (strncmp(n, "session=", 8) == 0)
            n += 8;
        return values_read(cas, req, n);
    }
    if (!has_peer)
        return ens_http_reply_error(req, 401, "a TLS client certificate is required (clients are identified by "
                                              "its public key)");
    if (is_session_post) {
        if (m != EVHTTP_REQ_POST)
            return ens_http_reply_error(req, 405, "%s: use POST", path);
        return session_write(cas, req, peer);
    }
    if (is_session_get) {
        if (m != EVHTTP_REQ_GET)
            return ens_http_reply_error(req, 405, "/v1/sessions/NAME: use GET");
        return session_read(cas, req, peer, path + 13);
    }
    if (!is_admin(cas, peer))
        return ens_http_reply_error(req, 403, "client %.16s… is not a CAS administrator (--admin)", peer);
    if (is_platforms) {
        if (m == EVHTTP_REQ_POST)
            return platform_add(cas, req, peer);
        if (m != EVHTTP_REQ_GET)
            return ens_http_reply_error(req, 405, "/v1/platforms: use GET or POST");
        _cleanup_error_ ens_error_t err = NULL;
        json_t *arr = NULL;
        if (cas_store_list_platforms(cas->store, &arr, &err) < 0)
            return ens_http_reply_error(req, 500, "%s", ens_error_msg(err));
        return ens_http_reply_json(req, 200, json_pack("{s:o}", "platforms", arr));
    }
    if (m != EVHTTP_REQ_GET)
        return ens_http_reply_error(req, 405, "/v1/audit: use GET");
    audit_read(cas, req, query);
}
