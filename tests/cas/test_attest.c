/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for lib/attest (nonces, binding, simulation evidence, dispatch) and lib/net
 * (address parsing, HTTPS server + client, mutual TLS, pinning, bounds). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/http.h>

#include "attest/attest.h"
#include "attest/b64.h"
#include "core/cleanup.h"
#include "crypto/digest.h"
#include "core/fsutil.h"
#include "net/net.h"

static void test_nonce_single_use(void **state)
{
    (void)state;
    ens_nonce_store *s = ens_nonce_store_new(60, 16);
    uint8_t n[ENS_NONCE_LEN], m[ENS_NONCE_LEN];
    ens_error_t err = NULL;
    assert_int_equal(ens_nonce_issue(s, n, &err), 0);
    assert_int_equal(ens_nonce_issue(s, m, &err), 0);
    assert_memory_not_equal(n, m, ENS_NONCE_LEN);
    assert_int_equal(ens_nonce_consume(s, n, &err), 0);
    assert_true(ens_nonce_consume(s, n, &err) < 0);
    assert_non_null(strstr(ens_error_msg(err), "unknown or already used"));
    ens_error_release(&err);
    uint8_t unknown[ENS_NONCE_LEN] = {1, 2, 3};
    assert_true(ens_nonce_consume(s, unknown, &err) < 0);
    ens_error_release(&err);
    assert_int_equal(ens_nonce_consume(s, m, &err), 0);
    ens_nonce_store_free(s);
}

static void test_nonce_bounded_and_expiring(void **state)
{
    (void)state;
    ens_nonce_store *s = ens_nonce_store_new(60, 4);
    uint8_t n[6][ENS_NONCE_LEN];
    ens_error_t err = NULL;
    for (int i = 0; i < 6; i++)
        assert_int_equal(ens_nonce_issue(s, n[i], &err), 0);
    /* Only the 4 newest survive. */
    assert_true(ens_nonce_consume(s, n[0], &err) < 0);
    ens_error_release(&err);
    assert_true(ens_nonce_consume(s, n[1], &err) < 0);
    ens_error_release(&err);
    for (int i = 2; i < 6; i++)
        assert_int_equal(ens_nonce_consume(s, n[i], &err), 0);
    ens_nonce_store_free(s);
    s = ens_nonce_store_new(1, 8);
    assert_int_equal(ens_nonce_issue(s, n[0], &err), 0);
    sleep(2);
    assert_true(ens_nonce_consume(s, n[0], &err) < 0);
    assert_non_null(strstr(ens_error_msg(err), "expired"));
    ens_error_release(&err);
    ens_nonce_store_free(s);
}

static void test_binding(void **state)
{
    (void)state;
    EVP_PKEY *k1 = NULL, *k2 = NULL;
    X509 *c1 = NULL;
    ens_error_t err = NULL;
    assert_int_equal(ens_tls_keygen(&k1, &err), 0);
    assert_int_equal(ens_tls_keygen(&k2, &err), 0);
    assert_int_equal(ens_tls_selfsigned(k1, "a", 1, NULL, &c1, &err), 0);
    uint8_t nonce[32] = {7}, a[32], b[32], c[32], d[32];
    assert_int_equal(ens_attest_report_data_for_key(nonce, k1, a, &err), 0);
    assert_int_equal(ens_attest_report_data_for_cert(nonce, c1, b, &err), 0);
    assert_memory_equal(a, b, 32); /* key and its certificate bind the same */
    assert_int_equal(ens_attest_report_data_for_key(nonce, k2, c, &err), 0);
    assert_memory_not_equal(a, c, 32);
    nonce[0] = 8;
    assert_int_equal(ens_attest_report_data_for_key(nonce, k1, d, &err), 0);
    assert_memory_not_equal(a, d, 32);
    /* Key id of a key = key id of its certificate. */
    uint8_t i1[32], i2[32];
    assert_int_equal(ens_tls_key_id(k1, i1, &err), 0);
    assert_int_equal(ens_tls_cert_id(c1, i2, &err), 0);
    assert_memory_equal(i1, i2, 32);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    X509_free(c1);
}

static char trusted_id[65];
static bool trust(void *arg, const char *id)
{
    (void)arg;
    return strcmp(id, trusted_id) == 0;
}

static void test_sim_evidence(void **state)
{
    (void)state;
    EVP_PKEY *k = NULL, *other = NULL;
    X509 *c = NULL, *oc = NULL;
    ens_error_t err = NULL;
    assert_int_equal(ens_tls_keygen(&k, &err), 0);
    assert_int_equal(ens_tls_selfsigned(k, "node", 1, NULL, &c, &err), 0);
    assert_int_equal(ens_tls_keygen(&other, &err), 0);
    assert_int_equal(ens_tls_selfsigned(other, "other", 1, NULL, &oc, &err), 0);
    uint8_t id[32];
    ens_tls_cert_id(c, id, &err);
    ens_hex_encode(id, 32, trusted_id);
    uint8_t rd[32];
    memset(rd, 0xab, sizeof(rd));
    json_t *ev = NULL;
    assert_int_equal(ens_attest_sim_sign(k, c, "aabb", rd, sizeof(rd), &ev, &err), 0);
    struct ens_attest_verify_ctx ctx = {.platform_trusted = trust};
    struct ens_attest_claims cl;
    assert_int_equal(ens_attest_verify(ev, &ctx, &cl, &err), 0);
    assert_string_equal(cl.type, "sim");
    assert_string_equal(cl.measurement, "aabb");
    assert_string_equal(cl.platform, trusted_id);
    assert_int_equal(cl.report_data_len, 32);
    assert_memory_equal(cl.report_data, rd, 32);
    assert_true(cl.flags & ENS_CLAIM_SIMULATION);

    /* Stale: verified "later". */
    struct ens_attest_verify_ctx late = {.platform_trusted = trust, .now = cl.timestamp + ENS_EVIDENCE_MAX_AGE_S + 5};
    assert_true(ens_attest_verify(ev, &late, &cl, &err) < 0);
    assert_non_null(strstr(ens_error_msg(err), "not fresh"));
    ens_error_release(&err);

    /* Tampered payload. */
    json_t *t = json_deep_copy(ev);
    char *p = strdup(json_string_value(json_object_get(t, "payload")));
    p[3] = p[3] == 'A' ? 'B' : 'A';
    json_object_set_new(t, "payload", json_string(p));
    free(p);
    assert_true(ens_attest_verify(t, &ctx, &cl, &err) < 0);
    ens_error_release(&err);
    json_decref(t);

    /* Signed by an unregistered key, or certificate swapped. */
    json_t *ev2 = NULL;
    assert_int_equal(ens_attest_sim_sign(other, oc, "aabb", rd, sizeof(rd), &ev2, &err), 0);
    assert_true(ens_attest_verify(ev2, &ctx, &cl, &err) < 0);
    assert_non_null(strstr(ens_error_msg(err), "not registered"));
    ens_error_release(&err);
    char *pem = ens_tls_cert_pem(c);
    json_object_set_new(ev2, "certificate", json_string(pem)); /* claims a registered cert */
    free(pem);
    assert_true(ens_attest_verify(ev2, &ctx, &cl, &err) < 0);
    assert_non_null(strstr(ens_error_msg(err), "bad signature"));
    ens_error_release(&err);
    json_decref(ev2);

    /* Unknown and missing types. */
    json_t *hw = json_pack("{s:s}", "type", "tdx");
    assert_true(ens_attest_verify(hw, &ctx, &cl, &err) < 0);
    assert_int_equal(ens_error_status(err), ENOTSUP);
    ens_error_release(&err);
    json_t *none = json_pack("{s:i}", "type", 3);
    assert_true(ens_attest_verify(none, &ctx, &cl, &err) < 0);
    ens_error_release(&err);
    json_decref(hw);
    json_decref(none);

    /* Bad inputs to the signer. */
    assert_true(ens_attest_sim_sign(k, c, "XYZ", rd, sizeof(rd), &ev2, &err) < 0);
    ens_error_release(&err);
    json_decref(ev);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
    X509_free(c);
    X509_free(oc);
}

static int fake_tdx(const json_t *e, const struct ens_attest_verify_ctx *ctx, struct ens_attest_claims *c,
                    ens_error_t *err)
{
    (void)e;
    (void)ctx;
    (void)err;
    memset(c, 0, sizeof(*c));
    strcpy(c->type, "tdx");
    strcpy(c->measurement, "cc");
    return 0;
}

static void test_dispatch(void **state)
{
    (void)state;
    ens_error_t err = NULL;
    assert_int_equal(ens_attest_register_verifier("tdx", fake_tdx, &err), 0);
    json_t *hw = json_pack("{s:s}", "type", "tdx");
    struct ens_attest_claims cl;
    assert_int_equal(ens_attest_verify(hw, NULL, &cl, &err), 0);
    assert_string_equal(cl.type, "tdx");
    json_decref(hw);
}

static void test_b64_hex(void **state)
{
    (void)state;
    const char *cases[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *e = ens_attest_b64_encode(cases[i], strlen(cases[i]));
        uint8_t *d = NULL;
        size_t n = 0;
        ens_error_t err = NULL;
        assert_int_equal(ens_attest_b64_decode(e, &d, &n, &err), 0);
        assert_int_equal(n, strlen(cases[i]));
        assert_memory_equal(d, cases[i], n);
        free(e);
        free(d);
    }
    uint8_t *d = NULL;
    size_t n;
    ens_error_t err = NULL;
    assert_true(ens_attest_b64_decode("abc", &d, &n, &err) < 0);
    ens_error_release(&err);
    assert_true(ens_attest_b64_decode("ab!d", &d, &n, &err) < 0);
    ens_error_release(&err);
    assert_true(ens_attest_hex_valid("00ff", 2));
    assert_false(ens_attest_hex_valid("00FF", 2));
    assert_false(ens_attest_hex_valid("0f", 2));
    assert_false(ens_attest_hex_valid("", 0));
    assert_false(ens_attest_hex_valid("abc", 0));
}

static void test_split_addr(void **state)
{
    (void)state;
    char *h = NULL;
    int p = 0;
    ens_error_t err = NULL;
    assert_int_equal(ens_net_split_addr("cas:18765", 1, &h, &p, &err), 0);
    assert_string_equal(h, "cas");
    assert_int_equal(p, 18765);
    free(h);
    assert_int_equal(ens_net_split_addr("[::1]:8081", 1, &h, &p, &err), 0);
    assert_string_equal(h, "::1");
    assert_int_equal(p, 8081);
    free(h);
    assert_int_equal(ens_net_split_addr("host", 8081, &h, &p, &err), 0);
    assert_int_equal(p, 8081);
    free(h);
    assert_true(ens_net_split_addr("host:99999", 1, &h, &p, &err) < 0);
    ens_error_release(&err);
    assert_true(ens_net_split_addr("host:", 1, &h, &p, &err) < 0);
    ens_error_release(&err);
    assert_true(ens_net_split_addr("[::1", 1, &h, &p, &err) < 0);
    ens_error_release(&err);
    assert_true(ens_net_split_addr("host", -1, &h, &p, &err) < 0);
    ens_error_release(&err);
}

/* A handler that echoes the client's key id (or "none") and the body length. */
static void echo(struct evhttp_request *req, void *arg)
{
    (void)arg;
    uint8_t id[32];
    char hex[65] = "none";
    if (ens_http_peer_id(req, id))
        ens_hex_encode(id, 32, hex);
    size_t len = 0;
    char *body = ens_http_body(req, &len);
    free(body);
    if (strcmp(evhttp_request_get_uri(req), "/big") == 0) {
        char *big = malloc(100000);
        memset(big, 'x', 100000);
        ens_http_reply(req, 200, "text/plain", big, 100000);
        free(big);
        return;
    }
    ens_http_reply_json(req, 200, json_pack("{s:s, s:i}", "peer", hex, "len", (int)len));
}

static void test_https_roundtrip(void **state)
{
    (void)state;
    ens_error_t err = NULL;
    EVP_PKEY *sk = NULL, *ck = NULL;
    X509 *sc = NULL, *cc = NULL;
    assert_int_equal(ens_tls_keygen(&sk, &err), 0);
    assert_int_equal(ens_tls_selfsigned(sk, "srv", 1, "IP:127.0.0.1", &sc, &err), 0);
    assert_int_equal(ens_tls_keygen(&ck, &err), 0);
    assert_int_equal(ens_tls_selfsigned(ck, "cli", 1, NULL, &cc, &err), 0);
    SSL_CTX *ctx = ens_tls_server_ctx(sk, sc, true, &err);
    assert_non_null(ctx);
    struct ens_http_config cfg = {.listen = "127.0.0.1:0", .tls = ctx, .max_body = 1024, .timeout_s = 5,
                                  .threads = 2, .cb = echo};
    ens_http_server *srv = NULL;
    assert_int_equal(ens_http_server_start(&cfg, &srv, &err), 0);
    SSL_CTX_free(ctx);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ens_http_server_port(srv));
    uint8_t pin[32], cid[32], wrong[32] = {0};
    ens_tls_cert_id(sc, pin, &err);
    ens_tls_cert_id(cc, cid, &err);
    char cid_hex[65];
    ens_hex_encode(cid, 32, cid_hex);

    /* Mutual TLS with the right pin; two requests on one connection. */
    struct ens_http_client_opts o = {.addr = addr, .client_key = ck, .client_cert = cc, .pin = pin};
    ens_http_conn *c = NULL;
    assert_int_equal(ens_http_connect(&o, &c, &err), 0);
    struct ens_http_response r;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ens_http_request(c, "POST", "/x", "text/plain", "hello", 5, &r, &err), 0);
        assert_int_equal(r.status, 200);
        json_error_t je;
        json_t *d = json_loads(r.body, 0, &je);
        assert_string_equal(json_string_value(json_object_get(d, "peer")), cid_hex);
        assert_int_equal(json_integer_value(json_object_get(d, "len")), 5);
        json_decref(d);
        ens_http_response_clear(&r);
    }
    ens_http_close(c);

    /* Without a client certificate the server sees none. */
    struct ens_http_client_opts anon = {.addr = addr, .pin = pin};
    assert_int_equal(ens_http_connect(&anon, &c, &err), 0);
    assert_int_equal(ens_http_request(c, "GET", "/x", NULL, NULL, 0, &r, &err), 0);
    assert_non_null(strstr(r.body, "\"none\""));
    ens_http_response_clear(&r);
    /* Body over the server's limit: 413. */
    char big[2048];
    memset(big, 'a', sizeof(big));
    assert_int_equal(ens_http_request(c, "POST", "/x", "text/plain", big, sizeof(big), &r, &err), 0);
    assert_int_equal(r.status, 413);
    ens_http_response_clear(&r);
    ens_http_close(c);

    /* A response over the client's limit is refused. */
    struct ens_http_client_opts small = {.addr = addr, .pin = pin, .max_response = 1000};
    assert_int_equal(ens_http_connect(&small, &c, &err), 0);
    assert_true(ens_http_request(c, "GET", "/big", NULL, NULL, 0, &r, &err) < 0);
    assert_int_equal(ens_error_status(err), EMSGSIZE);
    ens_error_release(&err);
    ens_http_close(c);

    /* Wrong pin: refused before any request. */
    struct ens_http_client_opts bad = {.addr = addr, .pin = wrong};
    assert_true(ens_http_connect(&bad, &c, &err) < 0);
    assert_non_null(strstr(ens_error_msg(err), "not the pinned"));
    ens_error_release(&err);

    /* Header injection through the path is refused by the client. */
    assert_int_equal(ens_http_connect(&anon, &c, &err), 0);
    assert_true(ens_http_request(c, "GET", "/x\r\nX: y", NULL, NULL, 0, &r, &err) < 0);
    ens_error_release(&err);
    ens_http_close(c);

    ens_http_server_stop(srv);
    EVP_PKEY_free(sk);
    EVP_PKEY_free(ck);
    X509_free(sc);
    X509_free(cc);
}

static void test_key_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/ens-test-keys-XXXXXX";
    assert_non_null(mkdtemp(dir));
    ens_error_t err = NULL;
    EVP_PKEY *k = NULL, *k2 = NULL;
    X509 *c = NULL, *c2 = NULL;
    assert_int_equal(ens_tls_load_or_create(dir, "id", "t", NULL, &k, &c, &err), 0);
    assert_int_equal(ens_tls_load_or_create(dir, "id", "t", NULL, &k2, &c2, &err), 0);
    uint8_t a[32], b[32];
    ens_tls_key_id(k, a, &err);
    ens_tls_key_id(k2, b, &err);
    assert_memory_equal(a, b, 32); /* loaded, not regenerated */
    char path[256];
    snprintf(path, sizeof(path), "%s/id.key", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    chmod(path, 0644);
    EVP_PKEY *k3 = NULL;
    X509 *c3 = NULL;
    assert_true(ens_tls_load_or_create(dir, "id", "t", NULL, &k3, &c3, &err) < 0);
    assert_non_null(strstr(ens_error_msg(err), "chmod 600"));
    ens_error_release(&err);
    EVP_PKEY_free(k);
    EVP_PKEY_free(k2);
    X509_free(c);
    X509_free(c2);
    ens_rm_rf(dir, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonce_single_use), cmocka_unit_test(test_nonce_bounded_and_expiring),
        cmocka_unit_test(test_binding),          cmocka_unit_test(test_sim_evidence),
        cmocka_unit_test(test_dispatch),         cmocka_unit_test(test_b64_hex),
        cmocka_unit_test(test_split_addr),       cmocka_unit_test(test_https_roundtrip),
        cmocka_unit_test(test_key_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
