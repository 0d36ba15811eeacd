/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ens-test-attest: drives the runtime side of attestation (lib/attest) for the CAS tests,
 * honestly or in ways a CAS must refuse.  Prints the configuration JSON on success.
 * Exit: 0 configuration received, 3 refused by the CAS (message on stderr), 1 other error.
 *
 *   ens-test-attest --cas ADDR --pin HEX --las ADDR --config-id S/SVC --measurement HEX
 *                   [--mode honest|replay|tamper|wrong-key|no-cert]
 *                   [--tag VOLUME:PREV|-:NEW]...
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"
#include "core/cleanup.h"
#include "crypto/digest.h"
#include "net/net.h"

static const char *cas, *las, *cid, *meas;
static uint8_t pin[32];

static int post_attest(EVP_PKEY *key, X509 *cert, const char *nonce_hex, json_t *ev, json_t **cfg, ens_error_t *err)
{
    struct ens_http_client_opts o = {.addr = cas, .client_key = key, .client_cert = cert, .pin = pin};
    ens_http_conn *c = NULL;
    if (ens_http_connect(&o, &c, err) < 0)
        return -1;
    json_t *req = json_pack("{s:s, s:s, s:O}", "config_id", cid, "nonce", nonce_hex, "evidence", ev);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    struct ens_http_response r;
    int rc = ens_http_request(c, "POST", "/v1/attest", "application/json", body, strlen(body), &r, err);
    free(body);
    ens_http_close(c);
    if (rc < 0)
        return -1;
    if (r.status != 200) {
        ens_error(err, EPERM, "refused: %d %s", r.status, r.body ? r.body : "");
        ens_http_response_clear(&r);
        return -2;
    }
    json_error_t je;
    *cfg = json_loads(r.body, 0, &je);
    ens_http_response_clear(&r);
    return *cfg ? 0 : ens_error(err, EPROTO, "bad JSON");
}

static int get_nonce(EVP_PKEY *key, X509 *cert, char hex[65], ens_error_t *err)
{
    struct ens_http_client_opts o = {.addr = cas, .client_key = key, .client_cert = cert, .pin = pin};
    ens_http_conn *c = NULL;
    if (ens_http_connect(&o, &c, err) < 0)
        return -1;
    struct ens_http_response r;
    int rc = ens_http_request(c, "GET", "/v1/nonce", NULL, NULL, 0, &r, err);
    ens_http_close(c);
    if (rc < 0)
        return -1;
    json_error_t je;
    json_t *d = json_loads(r.body ? r.body : "", 0, &je);
    const char *n = json_string_value(json_object_get(d, "nonce"));
    if (n == NULL || strlen(n) != 64) {
        json_decref(d);
        ens_http_response_clear(&r);
        return ens_error(err, EPROTO, "no nonce");
    }
    memcpy(hex, n, 65);
    json_decref(d);
    ens_http_response_clear(&r);
    return 0;
}

/* A manual round trip (to misbehave in precise ways). */
static int manual(const char *mode, ens_error_t *err)
{
    EVP_PKEY *key = NULL, *other = NULL;
    X509 *cert = NULL, *ocert = NULL;
    if (ens_tls_keygen(&key, err) < 0 || ens_tls_selfsigned(key, "t", 1, NULL, &cert, err) < 0
        || ens_tls_keygen(&other, err) < 0 || ens_tls_selfsigned(other, "o", 1, NULL, &ocert, err) < 0)
        return 1;
    char nh[65];
    uint8_t nonce[32], rd[32];
    if (get_nonce(key, cert, nh, err) < 0)
        return 1;
    ens_hex_decode(nh, nonce, 32, NULL);
    ens_attest_report_data_for_key(nonce, key, rd, err);
    json_t *ev = NULL;
    if (ens_las_get_evidence(las, meas, rd, 10, &ev, err) < 0)
        return 1;
    json_t *cfg = NULL;
    int r;
    if (strcmp(mode, "replay") == 0) {
        r = post_attest(key, cert, nh, ev, &cfg, err);
        if (r < 0) {
            fprintf(stderr, "first use failed: %s\n", ens_error_msg(*err));
            return 1;
        }
        json_decref(cfg);
        cfg = NULL;
        r = post_attest(key, cert, nh, ev, &cfg, err); /* the same nonce and evidence again */
    } else if (strcmp(mode, "tamper") == 0) {
        /* Change the measurement inside the signed payload without re-signing. */
        const char *p64 = json_string_value(json_object_get(ev, "payload"));
        char *p = strdup(p64);
        p[10] = p[10] == 'A' ? 'B' : 'A';
        json_object_set_new(ev, "payload", json_string(p));
        free(p);
        r = post_attest(key, cert, nh, ev, &cfg, err);
    } else if (strcmp(mode, "wrong-key") == 0) {
        r = post_attest(other, ocert, nh, ev, &cfg, err); /* evidence bound to key, TLS with other */
    } else if (strcmp(mode, "hw-junk") == 0) {
        /* A hardware envelope whose quote is garbage: lib/tee must refuse it. */
        json_t *hw = json_pack("{s:i, s:s, s:s}", "version", 1, "type", "tdx", "evidence", "AAAAAAAAAAAA");
        r = post_attest(key, cert, nh, hw, &cfg, err);
        json_decref(hw);
    } else if (strcmp(mode, "no-cert") == 0) {
        r = post_attest(NULL, NULL, nh, ev, &cfg, err);
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    json_decref(ev);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
    X509_free(cert);
    X509_free(ocert);
    if (r == 0) {
        json_dumpf(cfg, stdout, JSON_SORT_KEYS);
        json_decref(cfg);
        return 0;
    }
    fprintf(stderr, "%s\n", ens_error_msg(*err));
    return r == -2 ? 3 : 1;
}

int main(int argc, char **argv)
{
    const char *mode = "honest", *pin_hex = NULL;
    const char *tags[8];
    int ntags = 0;
    static const struct option opts[] = {
        {"cas", required_argument, NULL, 'c'}, {"pin", required_argument, NULL, 'p'},
        {"las", required_argument, NULL, 'l'}, {"config-id", required_argument, NULL, 'i'},
        {"measurement", required_argument, NULL, 'm'}, {"mode", required_argument, NULL, 'M'},
        {"tag", required_argument, NULL, 't'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cas = optarg; break;
        case 'p': pin_hex = optarg; break;
        case 'l': las = optarg; break;
        case 'i': cid = optarg; break;
        case 'm': meas = optarg; break;
        case 'M': mode = optarg; break;
        case 't': if (ntags < 8) tags[ntags++] = optarg; break;
        default: return 2;
        }
    }
    _cleanup_error_ ens_error_t err = NULL;
    if (!cas || !pin_hex || !las || !cid || !meas || ens_hex_decode(pin_hex, pin, 32, &err) < 0) {
        fprintf(stderr, "usage: see the comment at the top of attest_client.c\n");
        return 2;
    }
    if (strcmp(mode, "honest") != 0)
        return manual(mode, &err);
    struct ens_attest_client_opts o = {.cas_addr = cas, .cas_pin = pin, .config_id = cid, .measurement = meas,
                                       .las_addr = las};
    ens_attest_session *s = NULL;
    json_t *cfg = NULL;
    if (ens_attest_run(&o, &s, &cfg, &err) < 0) {
        fprintf(stderr, "%s\n", ens_error_msg(err));
        return ens_error_status(err) == EPERM || ens_error_status(err) == ENOENT ? 3 : 1;
    }
    json_object_del(cfg, "key");
    json_dumpf(cfg, stdout, JSON_SORT_KEYS);
    putchar('\n');
    json_decref(cfg);
    int rc = 0;
    for (int i = 0; i < ntags; i++) {
        char *spec = strdup(tags[i]);
        char *v = strtok(spec, ":"), *prev = strtok(NULL, ":"), *next = strtok(NULL, ":");
        if (!v || !prev || !next) {
            fprintf(stderr, "--tag VOLUME:PREV|-:NEW\n");
            return 2;
        }
        if (ens_attest_report_tag(s, v, strcmp(prev, "-") == 0 ? NULL : prev, next, &err) < 0) {
            fprintf(stderr, "tag %s: %s\n", v, ens_error_msg(err));
            ens_error_release(&err);
            rc = 4;
        } else {
            fprintf(stderr, "tag %s: %s accepted\n", v, next);
        }
        free(spec);
    }
    ens_attest_session_free(s);
    return rc;
}
