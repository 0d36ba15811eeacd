/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The attestation API (port 18765, TLS 1.3): single-use nonces; evidence + the runtime's
 * key in, the service's configuration out, only over the TLS connection whose client
 * certificate carries the attested key; volume tag reports from attested keys.
 * docs/protocol.md is the normative description.
 */
#include <errno.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cas.h"
#include "core/cleanup.h"
#include "crypto/digest.h"
#include "net/net.h"

#define ATTESTED_KEY_LIFETIME_S (30 * 86400)
#define SERVICE_CERT_DAYS 30

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static bool platform_trusted(void *arg, const char *id)
{
    struct cas *cas = arg;
    return cas_store_platform_known(cas->store, id);
}

/* Does the evidence satisfy the service's policy?  Fills why on refusal. */
static bool policy_allows(const ens_policy_t *p, const ens_policy_service_t *svc, const struct ens_attest_claims *c,
                          char *why, size_t whylen)
{
    bool m_ok = false;
    for (size_t i = 0; i < svc->mrenclave_count; i++)
        if (strcasecmp(svc->mrenclaves[i], c->measurement) == 0)
            m_ok = true;
    if (!m_ok) {
        snprintf(why, whylen, "measurement %s is not in the policy of service %s", c->measurement, svc->name);
        return false;
    }
    if (svc->platform_count > 0) {
        bool p_ok = false;
        for (size_t i = 0; i < svc->platform_count; i++)
            if (strcasecmp(svc->platforms[i], c->platform) == 0)
                p_ok = true;
        if (!p_ok) {
            snprintf(why, whylen, "platform %s is not in the platforms of service %s", c->platform, svc->name);
            return false;
        }
    }
    const ens_policy_attestation_t *a = ens_policy_attestation(p);
    /* Simulation evidence protects no memory: only where the session says so
     * (mode: simulation|none, or tolerate: [debug-mode], which --allow-debug-mode writes). */
    if (c->flags & ENS_CLAIM_SIMULATION) {
        if (!(a->mode == ENS_ATTEST_SIMULATION || a->mode == ENS_ATTEST_NONE
              || (a->tolerate & ENS_TOLERATE_DEBUG_MODE))) {
            snprintf(why, whylen,
                     "simulation evidence is not accepted by session policy (security.attestation needs "
                     "mode: simulation or none, or tolerate: [debug-mode])");
            return false;
        }
        return true;
    }
    struct {
        unsigned claim, tol;
        const char *name;
    } checks[] = {
        {ENS_CLAIM_DEBUG, ENS_TOLERATE_DEBUG_MODE, "debug-mode"},
        {ENS_CLAIM_OUTDATED_TCB, ENS_TOLERATE_OUTDATED_TCB, "outdated-tcb"},
        {ENS_CLAIM_HYPERTHREADING, ENS_TOLERATE_HYPERTHREADING, "hyperthreading"},
        {ENS_CLAIM_SW_HARDENING_NEEDED, ENS_TOLERATE_SOFTWARE_HARDENING_NEEDED, "software-hardening-needed"},
        {ENS_CLAIM_INSECURE_CONFIG, ENS_TOLERATE_INSECURE_CONFIGURATION, "insecure-configuration"},
    };
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
        if ((c->flags & checks[i].claim) && !(a->tolerate & checks[i].tol)) {
            snprintf(why, whylen, "evidence reports %s, which the session does not tolerate", checks[i].name);
            return false;
        }
    if (c->advisories[0] && !a->ignore_all_advisories) {
        char buf[sizeof(c->advisories)];
        snprintf(buf, sizeof(buf), "%s", c->advisories);
        char *save = NULL;
        for (char *adv = strtok_r(buf, ",", &save); adv; adv = strtok_r(NULL, ",", &save)) {
            bool ignored = false;
            for (size_t i = 0; i < a->ignore_advisory_count; i++)
                if (strcmp(a->ignore_advisories[i], adv) == 0)
                    ignored = true;
            if (!ignored) {
                snprintf(why, whylen, "evidence reports advisory %s, which the session does not ignore", adv);
                return false;
            }
        }
    }
    return true;
}

/* The audit entry of a decision (written by the caller, in a batch: commit.c). */
static void record(struct cas_record *rec, const char *actor, const char *object, const char *result,
                   const char *detail)
{
    memset(rec, 0, sizeof(*rec));
    rec->valid = true;
    snprintf(rec->actor, sizeof(rec->actor), "%s", actor);
    snprintf(rec->action, sizeof(rec->action), "attest");
    snprintf(rec->object, sizeof(rec->object), "%s", object);
    snprintf(rec->result, sizeof(rec->result), "%s", result);
    snprintf(rec->detail, sizeof(rec->detail), "%s", detail);
}

static void refuse(struct cas *cas, struct cas_record *rec, const char *actor, const char *object, const char *why,
                   uint64_t t0)
{
    record(rec, actor, object, "refused", why);
    atomic_fetch_add(&cas->metrics.attest_refused, 1);
    cas_metrics_observe(&cas->metrics, now_us() - t0);
}

/* Splits "session/.../service" at the last '/'. */
static bool split_config_id(const char *id, char **session, char **service)
{
    const char *slash = strrchr(id, '/');
    if (slash == NULL || slash == id || slash[1] == '\0')
        return false;
    *session = strndup(id, (size_t)(slash - id));
    *service = strdup(slash + 1);
    return *session && *service && ens_policy_name_valid(*session);
}

int cas_attest_request(struct cas *cas, const char *peer, X509 *peer_cert, const char *body, size_t len,
                       json_t **reply, char *why, size_t whylen, struct cas_record *rec)
{
    uint64_t t0 = now_us();
    *reply = NULL;
    rec->valid = false;
    json_error_t je;
    json_t *doc = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &je) : NULL;
    const char *cid = NULL, *nh = NULL;
    json_t *ev = NULL;
    if (doc == NULL
        || json_unpack(doc, "{s:s, s:s, s:o}", "config_id", &cid, "nonce", &nh, "evidence", &ev) < 0) {
        json_decref(doc);
        atomic_fetch_add(&cas->metrics.attest_error, 1);
        return set_msg(why, whylen, 400, "POST /v1/attest: expected JSON {\"config_id\", \"nonce\", \"evidence\"}");
    }
    _cleanup_free_ char *session = NULL, *service = NULL;
    uint8_t nonce[ENS_NONCE_LEN];
    _cleanup_error_ ens_error_t err = NULL;
    struct ens_attest_claims claims;
    int status = 403;
    _cleanup_free_ char *cert = NULL, *ca = NULL;
    if (!split_config_id(cid, &session, &service)) {
        snprintf(why, whylen, "config_id: expected SESSION/SERVICE");
        status = 400;
        goto refused;
    }
    if (ens_hex_decode(nh, nonce, sizeof(nonce), NULL) < 0 || strlen(nh) != 64) {
        snprintf(why, whylen, "nonce: expected 64 hex digits");
        status = 400;
        goto refused;
    }
    if (ens_nonce_consume(cas->nonces, nonce, &err) < 0) {
        snprintf(why, whylen, "%s (replayed or stale evidence)", ens_error_msg(err));
        goto refused;
    }
    struct ens_attest_verify_ctx vctx = {.platform_trusted = platform_trusted, .arg = cas};
    if (ens_attest_verify(ev, &vctx, &claims, &err) < 0) {
        snprintf(why, whylen, "%s", ens_error_msg(err));
        goto refused;
    }
    /* The binding: report data = SHA-256(nonce || SPKI of this connection's client key). */
    uint8_t rd[ENS_REPORT_DATA_LEN];
    int br = peer_cert ? ens_attest_report_data_for_cert(nonce, peer_cert, rd, &err) : -1;
    if (br < 0 || claims.report_data_len < ENS_REPORT_DATA_LEN
        || !ens_ct_equal(claims.report_data, rd, ENS_REPORT_DATA_LEN)) {
        snprintf(why, whylen, "evidence is not bound to this nonce and this connection's client key");
        goto refused;
    }
    cas_store_lock(cas->store);
    struct cas_session *cs = NULL;
    int gr = cas_store_get_session(cas->store, session, &cs, &err);
    const ens_policy_service_t *svc = gr == 0 ? ens_policy_service_find(cs->policy, service) : NULL;
    if (svc == NULL) {
        cas_store_unlock(cas->store);
        if (gr < 0)
            snprintf(why, whylen, "%s", ens_error_msg(err));
        else
            snprintf(why, whylen, "no service %s in session %s", service, session);
        status = gr < 0 ? 500 : 404;
        goto refused;
    }
    if (!policy_allows(cs->policy, svc, &claims, why, whylen)) {
        cas_store_unlock(cas->store);
        goto refused;
    }
    json_t *cfg = NULL;
    size_t cal = 0;
    char *dns[] = {svc->name};
    if (ens_policy_service_config(cs->policy, service, cs->secrets, &cfg, &err) < 0
        || ens_policy_issue_certificate(cs->secrets, NULL, X509_get0_pubkey(peer_cert), svc->name, dns, 1,
                                        SERVICE_CERT_DAYS, &cert, &err)
               < 0
        || ens_secret_store_format(cs->secrets, ENS_SESSION_CA_SECRET, "crt", &ca, &cal, &err) < 0) {
        json_decref(cfg);
        cas_store_unlock(cas->store);
        snprintf(why, whylen, "configuration of %s: %s", cid, ens_error_msg(err));
        status = 500;
        goto refused;
    }
    json_object_set_new(cfg, "certificate", json_string(cert));
    json_object_set_new(cfg, "ca", json_string(ca));
    json_object_set_new(cfg, "platform", json_string(claims.platform));
    json_object_set_new(cfg, "evidence_type", json_string(claims.type));
    char detail[256];
    snprintf(detail, sizeof(detail), "type=%s measurement=%.64s platform=%.16s key=%.16s", claims.type,
             claims.measurement, claims.platform, peer);
    record(rec, peer, cid, "ok", detail);
    rec->add_key = true;
    snprintf(rec->session, sizeof(rec->session), "%s", session);
    snprintf(rec->service, sizeof(rec->service), "%s", service);
    rec->expires = (int64_t)time(NULL) + ATTESTED_KEY_LIFETIME_S;
    cas_store_unlock(cas->store);
    json_decref(doc);
    atomic_fetch_add(&cas->metrics.attest_ok, 1);
    cas_metrics_observe(&cas->metrics, now_us() - t0);
    *reply = cfg;
    return 200;
refused:
    refuse(cas, rec, peer, cid ? cid : "", why, t0);
    json_decref(doc);
    return status;
}

static void attest(struct cas *cas, struct evhttp_request *req, const char *peer)
{
    size_t len = 0;
    _cleanup_free_ char *body = ens_http_body(req, &len);
    X509 *pc = ens_http_peer_cert(req);
    struct cas_job *job = calloc(1, sizeof(*job));
    if (job == NULL) {
        X509_free(pc);
        return ens_http_reply_error(req, 503, "out of memory");
    }
    job->status = cas_attest_request(cas, peer, pc, body, len, &job->reply, job->msg, sizeof(job->msg), &job->rec);
    X509_free(pc);
    /* Decisions are replied to only once their audit entry is on disk (commit.c batches them). */
    cas_commit_submit(cas, job, req);
}

static void volume_tag(struct cas *cas, struct evhttp_request *req, const char *peer)
{
    size_t len = 0;
    _cleanup_free_ char *body = ens_http_body(req, &len);
    json_error_t je;
    json_t *doc = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &je) : NULL;
    const char *cid = NULL, *vol = NULL, *tag = NULL;
    json_t *prevj = NULL;
    if (doc == NULL
        || json_unpack(doc, "{s:s, s:s, s:o, s:s}", "config_id", &cid, "volume", &vol, "previous", &prevj, "tag",
                       &tag)
               < 0
        || !(json_is_null(prevj) || json_is_string(prevj)) || !ens_attest_hex_valid(tag, 0)) {
        json_decref(doc);
        return ens_http_reply_error(
            req, 400, "POST /v1/volumes/tag: expected {\"config_id\", \"volume\", \"previous\": HEX|null, \"tag\": HEX}");
    }
    const char *prev = json_string_value(prevj);
    _cleanup_free_ char *session = NULL, *service = NULL, *att_service = NULL;
    _cleanup_error_ ens_error_t err = NULL;
    char why[400];
    int status = 409;
    _cleanup_free_ char *cur_copy = NULL;
    if (!split_config_id(cid, &session, &service)) {
        json_decref(doc);
        return ens_http_reply_error(req, 400, "config_id: expected SESSION/SERVICE");
    }
    int ar = cas_store_attested_key(cas->store, peer, session, &att_service, &err);
    if (ar != 0 || strcmp(att_service, service) != 0) {
        snprintf(why, sizeof(why), "this client key has not attested as %s", cid);
        status = 403;
        goto out_refuse;
    }
    if (cas_store_begin(cas->store, &err) < 0) {
        snprintf(why, sizeof(why), "%s", ens_error_msg(err));
        status = 503;
        goto out_refuse;
    }
    struct cas_session *cs = NULL;
    if (cas_store_get_session(cas->store, session, &cs, &err) != 0
        || ens_policy_volume_find(cs->policy, vol) == NULL) {
        cas_store_rollback(cas->store);
        snprintf(why, sizeof(why), "no volume %s in session %s", vol, session);
        status = 404;
        goto out_refuse;
    }
    const char *cur = ens_secret_store_volume_tag(cs->secrets, vol);
    if (cas_store_tag_seen(cas->store, session, vol, tag) || (cur && strcmp(cur, tag) == 0)) {
        cas_store_rollback(cas->store);
        snprintf(why, sizeof(why), "volume %s: tag %.64s was used before (rollback refused)", vol, tag);
        goto out_refuse;
    }
    if ((cur == NULL) != (prev == NULL) || (cur && strcmp(cur, prev) != 0)) {
        snprintf(why, sizeof(why), "volume %s: previous tag %.64s is not the current tag %s (stale state refused)",
                 vol, prev ? prev : "null", cur ? cur : "null");
        cas_store_rollback(cas->store);
        goto out_refuse;
    }
    cur_copy = cur ? strdup(cur) : NULL;
    if ((cur_copy && !cas_store_tag_seen(cas->store, session, vol, cur_copy)
         && cas_store_add_tag(cas->store, session, vol, cur_copy, &err) < 0)
        || ens_secret_store_set_volume_tag(cs->secrets, vol, tag, &err) < 0
        || cas_store_put_secrets(cas->store, session, cs->secrets, &err) < 0
        || cas_store_add_tag(cas->store, session, vol, tag, &err) < 0
        || cas_store_audit(cas->store, peer, "volume.tag", cid, "ok", tag, &err) < 0) {
        cas_store_rollback(cas->store);
        snprintf(why, sizeof(why), "%s", ens_error_msg(err));
        status = 503;
        goto out_refuse;
    }
    if (cas_store_commit(cas->store, &err) < 0) {
        snprintf(why, sizeof(why), "%s", ens_error_msg(err));
        status = 503;
        goto out_refuse;
    }
    json_t *reply = json_pack("{s:s, s:s}", "volume", vol, "tag", tag);
    json_decref(doc);
    ens_http_reply_json(req, 200, reply);
    return;
out_refuse:
    {
        _cleanup_error_ ens_error_t e2 = NULL;
        cas_store_audit(cas->store, peer, "volume.tag", cid, "refused", why, &e2);
    }
    json_decref(doc);
    ens_http_reply_error(req, status, "%s", why);
}

void cas_api_attest(struct evhttp_request *req, void *arg)
{
    struct cas *cas = arg;
    _cleanup_free_ char *path = cas_req_path(req, NULL);
    if (path == NULL)
        return ens_http_reply_error(req, 400, "invalid request path");
    if (cas_api_common(cas, req, path))
        return;
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    if (strcmp(path, "/v1/nonce") == 0) {
        if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_POST)
            return ens_http_reply_error(req, 405, "/v1/nonce: use GET");
        uint8_t n[ENS_NONCE_LEN];
        char hex[2 * ENS_NONCE_LEN + 1];
        _cleanup_error_ ens_error_t err = NULL;
        if (ens_nonce_issue(cas->nonces, n, &err) < 0)
            return ens_http_reply_error(req, 503, "%s", ens_error_msg(err));
        ens_hex_encode(n, sizeof(n), hex);
        atomic_fetch_add(&cas->metrics.nonces, 1);
        return ens_http_reply_json(req, 200, json_pack("{s:s, s:i}", "nonce", hex, "expires_in", ENS_NONCE_TTL_S));
    }
    bool is_attest = strcmp(path, "/v1/attest") == 0, is_tag = strcmp(path, "/v1/volumes/tag") == 0;
    if (!is_attest && !is_tag)
        return ens_http_reply_error(req, 404, "no such endpoint");
    if (m != EVHTTP_REQ_POST)
        return ens_http_reply_error(req, 405, "%s: use POST", path);
    char peer[65];
    if (!cas_peer_hex(req, peer))
        return ens_http_reply_error(req, 401,
                                    "%s: a TLS client certificate carrying the runtime's attested key is required",
                                    path);
    if (is_attest)
        attest(cas, req, peer);
    else
        volume_tag(cas, req, peer);
}
