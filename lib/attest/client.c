/* SPDX-License-Identifier: Apache-2.0 */
/* The client side of attestation: what ensconce-run and the CLI call.  OpenSSL, jansson
 * and libc only (through lib/net's blocking client), so it links statically. */
#include "attest/attest.h"

#include <errno.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "crypto/digest.h"
#include "net/net.h"

struct ens_attest_session {
    EVP_PKEY *key;
    X509 *cert;
    char *cas_addr;
    uint8_t pin[32];
    char *config_id;
    int timeout_s;
};

void ens_attest_session_free(ens_attest_session *s)
{
    if (s == NULL)
        return;
    EVP_PKEY_free(s->key);
    X509_free(s->cert);
    free(s->cas_addr);
    free(s->config_id);
    free(s);
}

/* Sends a JSON request and parses a JSON reply; non-2xx replies become errors carrying
 * the server's "error" message. */
static int json_call(ens_http_conn *c, const char *method, const char *path, json_t *body, json_t **out,
                     ens_error_t *err)
{
    _cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && text == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    struct ens_http_response r;
    if (ens_http_request(c, method, path, body ? "application/json" : NULL, text, text ? strlen(text) : 0, &r,
                         err)
        < 0)
        return -1;
    json_error_t je;
    json_t *doc = r.len ? json_loadb(r.body, r.len, 0, &je) : NULL;
    if (r.status < 200 || r.status > 299) {
        const char *msg = doc ? json_string_value(json_object_get(doc, "error")) : NULL;
        int st = r.status == 403 ? EPERM : r.status == 409 ? EEXIST : r.status == 404 ? ENOENT : EPROTO;
        ens_error(err, st, "%s %s: %d %s", method, path, r.status, msg ? msg : "(no message)");
        json_decref(doc);
        ens_http_response_clear(&r);
        return -1;
    }
    ens_http_response_clear(&r);
    if (doc == NULL || !json_is_object(doc)) {
        json_decref(doc);
        return ens_error(err, EPROTO, "%s %s: the reply is not a JSON object", method, path);
    }
    *out = doc;
    return 0;
}

int ens_las_get_evidence(const char *las_addr, const char *measurement_hex,
                         const uint8_t report_data[ENS_REPORT_DATA_LEN], int timeout_s, json_t **evidence,
                         ens_error_t *err)
{
    struct ens_http_client_opts o = {.addr = las_addr, .plain = true, .timeout_s = timeout_s,
                                     .max_response = 1 << 20};
    ens_http_conn *c = NULL;
    if (ens_http_connect(&o, &c, err) < 0)
        return ens_error_wrap(err, "LAS %s", las_addr);
    char rd[2 * ENS_REPORT_DATA_LEN + 1];
    ens_hex_encode(report_data, ENS_REPORT_DATA_LEN, rd);
    json_t *req = json_pack("{s:s, s:s}", "measurement", measurement_hex, "report_data", rd);
    json_t *ev = NULL;
    int r = req ? json_call(c, "POST", "/v1/evidence", req, &ev, err) : ens_error(err, ENOMEM, "out of memory");
    json_decref(req);
    ens_http_close(c);
    if (r < 0)
        return ens_error_wrap(err, "LAS %s", las_addr);
    *evidence = ev;
    return 0;
}

static int connect_cas(const ens_attest_session *s, ens_http_conn **c, ens_error_t *err)
{
    struct ens_http_client_opts o = {.addr = s->cas_addr, .client_key = s->key, .client_cert = s->cert,
                                     .pin = s->pin, .timeout_s = s->timeout_s};
    if (ens_http_connect(&o, c, err) < 0)
        return ens_error_wrap(err, "CAS %s", s->cas_addr);
    return 0;
}

static char *key_pem(EVP_PKEY *key)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(b);
        return NULL;
    }
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *s = strndup(data, (size_t)n);
    ens_wipe(data, (size_t)n);
    BIO_free(b);
    return s;
}

int ens_attest_run(const struct ens_attest_client_opts *o, ens_attest_session **session, json_t **config,
                   ens_error_t *err)
{
    if (o->cas_addr == NULL || o->config_id == NULL || o->measurement == NULL)
        return ens_error(err, EINVAL, "attestation needs a CAS address, a config id and a measurement");
    if (o->cas_pin == NULL)
        return ens_error(err, EINVAL, "attestation needs the CAS key pin (refusing to talk to an unknown CAS)");
    if (o->evidence_fn == NULL && o->las_addr == NULL)
        return ens_error(err, EINVAL, "attestation needs a LAS address or an evidence provider");
    ens_attest_session *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    s->timeout_s = o->timeout_s > 0 ? o->timeout_s : 10;
    memcpy(s->pin, o->cas_pin, 32);
    s->cas_addr = strdup(o->cas_addr);
    s->config_id = strdup(o->config_id);
    ens_http_conn *c = NULL;
    json_t *nonce_doc = NULL, *ev = NULL, *req = NULL, *cfg = NULL;
    int r = -1;
    if (s->cas_addr == NULL || s->config_id == NULL) {
        ens_error(err, ENOMEM, "out of memory");
        goto out;
    }
    if (ens_tls_keygen(&s->key, err) < 0 || ens_tls_selfsigned(s->key, "ensconce-run", 2, NULL, &s->cert, err) < 0)
        goto out;
    if (connect_cas(s, &c, err) < 0)
        goto out;
    if (json_call(c, "GET", "/v1/nonce", NULL, &nonce_doc, err) < 0)
        goto out;
    const char *nhex = json_string_value(json_object_get(nonce_doc, "nonce"));
    uint8_t nonce[ENS_NONCE_LEN], rd[ENS_REPORT_DATA_LEN];
    if (nhex == NULL || ens_hex_decode(nhex, nonce, sizeof(nonce), NULL) < 0) {
        ens_error(err, EPROTO, "CAS %s: malformed nonce", s->cas_addr);
        goto out;
    }
    if (ens_attest_report_data_for_cert(nonce, s->cert, rd, err) < 0)
        goto out;
    if (o->evidence_fn ? o->evidence_fn(o->evidence_arg, o->measurement, rd, &ev, err)
                       : ens_las_get_evidence(o->las_addr, o->measurement, rd, s->timeout_s, &ev, err))
        goto out;
    req = json_pack("{s:s, s:s, s:O}", "config_id", o->config_id, "nonce", nhex, "evidence", ev);
    if (req == NULL) {
        ens_error(err, ENOMEM, "out of memory");
        goto out;
    }
    if (json_call(c, "POST", "/v1/attest", req, &cfg, err) < 0) {
        ens_error_wrap(err, "CAS %s refused %s", s->cas_addr, o->config_id);
        goto out;
    }
    char *kp = key_pem(s->key);
    if (kp == NULL || json_object_set_new(cfg, "key", json_string(kp)) < 0) {
        free(kp);
        ens_error(err, ENOMEM, "out of memory");
        goto out;
    }
    ens_wipe(kp, strlen(kp));
    free(kp);
    *config = ens_steal(&cfg);
    *session = ens_steal(&s);
    r = 0;
out:
    ens_http_close(c);
    json_decref(nonce_doc);
    json_decref(ev);
    json_decref(req);
    json_decref(cfg);
    ens_attest_session_free(s);
    return r;
}

int ens_attest_report_tag(ens_attest_session *s, const char *volume, const char *previous_tag,
                          const char *new_tag, ens_error_t *err)
{
    if (!ens_attest_hex_valid(new_tag, 0) || (previous_tag && !ens_attest_hex_valid(previous_tag, 0)))
        return ens_error(err, EINVAL, "volume %s: tags must be lower-case hex", volume);
    ens_http_conn *c = NULL;
    if (connect_cas(s, &c, err) < 0)
        return -1;
    json_t *req = json_pack("{s:s, s:s, s:o, s:s}", "config_id", s->config_id, "volume", volume, "previous",
                            previous_tag ? json_string(previous_tag) : json_null(), "tag", new_tag);
    json_t *reply = NULL;
    int r = req ? json_call(c, "POST", "/v1/volumes/tag", req, &reply, err) : ens_error(err, ENOMEM, "out of memory");
    json_decref(req);
    json_decref(reply);
    ens_http_close(c);
    return r < 0 ? ens_error_wrap(err, "reporting the tag of volume %s", volume) : 0;
}

int ens_attest_cas_identity(const char *addr, const char *expected_measurement, uint8_t pin[32],
                            char **cert_pem, ens_error_t *err)
{
    struct ens_http_client_opts o = {.addr = addr, .timeout_s = 10};
    ens_http_conn *c = NULL;
    /* No pin yet: the evidence below is what authenticates this key. */
    if (ens_http_connect(&o, &c, err) < 0)
        return ens_error_wrap(err, "CAS %s", addr);
    uint8_t nonce[ENS_NONCE_LEN];
    char nhex[2 * ENS_NONCE_LEN + 1], path[128];
    json_t *doc = NULL;
    int r = -1;
    if (ens_random(nonce, sizeof(nonce), err) < 0)
        goto out;
    ens_hex_encode(nonce, sizeof(nonce), nhex);
    snprintf(path, sizeof(path), "/v1/attest?nonce=%s", nhex);
    if (json_call(c, "GET", path, NULL, &doc, err) < 0)
        goto out;
    X509 *tls_cert = ens_http_conn_peer_cert(c);
    uint8_t tls_id[32], rd[ENS_REPORT_DATA_LEN];
    if (ens_tls_cert_id(tls_cert, tls_id, err) < 0
        || ens_attest_report_data_for_cert(nonce, tls_cert, rd, err) < 0)
        goto out;
    struct ens_attest_claims cl;
    if (ens_attest_verify(json_object_get(doc, "evidence"), NULL, &cl, err) < 0) {
        ens_error_wrap(err, "CAS %s: its evidence", addr);
        goto out;
    }
    if (cl.report_data_len < ENS_REPORT_DATA_LEN || !ens_ct_equal(cl.report_data, rd, ENS_REPORT_DATA_LEN)) {
        ens_error(err, EPERM, "CAS %s: evidence is not bound to our nonce and the CAS's TLS key", addr);
        goto out;
    }
    /* sim evidence is self-signed by the CAS: its signer must be the TLS key itself. */
    if (strcmp(cl.type, "sim") == 0) {
        char idhex[65];
        ens_hex_encode(tls_id, 32, idhex);
        if (strcmp(idhex, cl.platform) != 0) {
            ens_error(err, EPERM, "CAS %s: evidence signed by another key than its TLS key", addr);
            goto out;
        }
    }
    if (strcasecmp(cl.measurement, expected_measurement) != 0) {
        ens_error(err, EPERM, "CAS %s: measurement %s is not the expected %s", addr, cl.measurement,
                  expected_measurement);
        goto out;
    }
    *cert_pem = ens_tls_cert_pem(tls_cert);
    if (*cert_pem == NULL) {
        ens_error(err, ENOMEM, "out of memory");
        goto out;
    }
    memcpy(pin, tls_id, 32);
    r = 0;
out:
    json_decref(doc);
    ens_http_close(c);
    return r;
}
