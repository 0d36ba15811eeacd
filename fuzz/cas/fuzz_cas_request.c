/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the CAS request logic (src/ensconce-cas): the first byte picks the
 * endpoint, the rest is the request body.
 *   0: POST /session (session create/update: YAML parsing, access checks, secrets, store)
 *   1: POST /v1/attest (JSON, nonce, evidence dispatch and verification, binding, policy)
 *   2: the same with a freshly issued nonce spliced in (reaches evidence verification)
 * A real store (SQLite in a temporary directory, fsync off) and a session with a service
 * are set up once; the client certificate is a fixed self-signed one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cas.h"
#include "crypto/digest.h"
#include "net/net.h"

static struct cas cas;
static X509 *peer_cert;
static char peer[65];

static const char SESSION[] = "name: fz\nversion: \"0.3\"\nsecurity: {attestation: {mode: none}}\nservices:\n"
                              "  - {name: svc, mrenclaves: [1111111111111111111111111111111111111111111111111111111"
                              "111111111], command: ./x, environment: {P: \"$$SCONE::p$$\"}}\n"
                              "secrets:\n  - {name: p, kind: ascii}\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[] = "/tmp/ens-fuzz-cas-XXXXXX";
    if (mkdtemp(dir) == NULL)
        abort();
    char db[128], mk[128];
    snprintf(db, sizeof(db), "%s/cas.db", dir);
    snprintf(mk, sizeof(mk), "%s/master.key", dir);
    ens_error_t err = NULL;
    EVP_PKEY *pk = NULL;
    if (cas_store_open(db, mk, &cas.store, &err) < 0 || ens_tls_keygen(&cas.key, &err) < 0
        || ens_tls_selfsigned(cas.key, "cas", 1, NULL, &cas.cert, &err) < 0 || ens_tls_keygen(&pk, &err) < 0
        || ens_tls_selfsigned(pk, "client", 1, NULL, &peer_cert, &err) < 0) {
        fprintf(stderr, "setup: %s\n", ens_error_msg(err));
        abort();
    }
    cas_store_set_durable(cas.store, false);
    cas.nonces = ens_nonce_store_new(60, 1024);
    memset(cas.measurement, 'a', 64);
    uint8_t id[32];
    ens_tls_cert_id(peer_cert, id, &err);
    ens_hex_encode(id, 32, peer);
    json_t *reply = NULL;
    char msg[700];
    cas_session_write(&cas, peer, SESSION, strlen(SESSION), &reply, msg, sizeof(msg));
    json_decref(reply);
    EVP_PKEY_free(pk);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    int which = data[0] % 3;
    char *body = malloc(size + 80);
    size_t len = size - 1;
    memcpy(body, data + 1, len);
    body[len] = '\0';
    if (which == 2) {
        /* Replace the first "NONCE" with a live nonce so verification is reached. */
        char *at = memmem(body, len, "NONCE", 5);
        if (at != NULL) {
            uint8_t n[32];
            char hex[65];
            ens_nonce_issue(cas.nonces, n, NULL);
            ens_hex_encode(n, 32, hex);
            size_t off = (size_t)(at - body);
            memmove(body + off + 64, body + off + 5, len - off - 5);
            memcpy(body + off, hex, 64);
            len += 59;
            body[len] = '\0';
        }
    }
    json_t *reply = NULL;
    char msg[700];
    struct cas_record rec = {0};
    int st = which == 0 ? cas_session_write(&cas, peer, body, len, &reply, msg, sizeof(msg))
                        : cas_attest_request(&cas, peer, peer_cert, body, len, &reply, msg, sizeof(msg), &rec);
    if (which != 0 && rec.valid) {
        struct cas_record *r = &rec;
        ens_error_t err = NULL;
        if (cas_records_write(&cas, &r, 1, &err) < 0)
            abort(); /* the audit write of a decision must not fail */
    }
    if (st < 200 || st > 599)
        abort();
    json_decref(reply);
    free(body);
    return 0;
}
