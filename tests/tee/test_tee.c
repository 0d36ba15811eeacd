/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lib/tee against the real evidence in ../shared/vectors/attestation (read in
 * place; every test skips by name when the folder is absent), at pinned times
 * inside and outside each vector's collateral window, plus tampering: every
 * single byte of each quote/report is flipped (XOR 0xFF, all bytes, not a
 * sample), every truncation length, appended data, and collateral swapped
 * between vectors.  Each rejection must name a known verification step.
 */
#include <ctype.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "tee/tee.h"

static char vdir[4096];
static bool have_vectors;

static time_t T(const char *iso)
{
    struct tm tm = {0};
    if (!strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm))
        abort();
    return timegm(&tm);
}

static void need_vectors(void)
{
    if (!have_vectors) {
        printf("SKIP: vectors: %s not found (set ENSCONCE_SHARED)\n", vdir);
        skip();
    }
}

static uint8_t *load(const char *rel, size_t *len)
{
    char p[8192];
    snprintf(p, sizeof(p), "%s/%s", vdir, rel);
    char *buf = NULL;
    ens_error_t err = NULL;
    if (ens_read_file(p, 1 << 20, &buf, len, &err) < 0)
        fail_msg("cannot read %s: %s", p, ens_error_msg(err));
    return (uint8_t *)buf;
}

/* NULL-terminated list of files relative to the vectors folder. */
static struct ens_tee_collateral *coll(const char *first, ...)
{
    struct ens_tee_collateral *c = ens_tee_collateral_new();
    assert_non_null(c);
    va_list ap;
    va_start(ap, first);
    for (const char *f = first; f; f = va_arg(ap, const char *)) {
        char p[8192];
        snprintf(p, sizeof(p), "%s/%s", vdir, f);
        ens_error_t err = NULL;
        if (ens_tee_collateral_add_file(c, p, &err) < 0)
            fail_msg("collateral %s: %s", f, ens_error_msg(err));
    }
    va_end(ap);
    return c;
}

#define SGX_COLL() coll("dcap-qvl/sgx_quote_collateral.json", "roots/intel_sgx_root_ca.der", NULL)
#define TDX_COLL() coll("dcap-qvl/tdx_quote_collateral.json", "roots/intel_sgx_root_ca.der", NULL)
#define GOTDX_COLL()                                                                                                \
    coll("go-tdx-guest/sample_tcbInfo_response", "go-tdx-guest/sample_qeIdentity_response", "go-tdx-guest/pckcrl",    \
         "go-tdx-guest/rootcrl.der", "go-tdx-guest/pck_crl_issuer_chain.pem", "go-tdx-guest/tcb_info_issuer_chain.pem", \
         "go-tdx-guest/qe_identity_issuer_chain.pem", "roots/intel_sgx_root_ca.pem", NULL)
#define GOSEV_COLL() coll("go-sev-guest/vcek.testcer", "roots/amd_ask_milan.pem", "roots/amd_ark_milan.pem", NULL)
#define TRUSTEE_COLL() coll("trustee-snp/test-vcek.der", "roots/amd_ask_milan.pem", "roots/amd_ark_milan.pem", NULL)

static const char *steps[] = {"parse:", "header:", "tcb-info:", "qe-identity:", "pck-chain:", "pck-fmspc:",
                              "qe-report-signature:", "qe-binding:", "qe-identity-match:", "quote-signature:",
                              "tcb-level:", "tdx-module:", "snp-certs:", "snp-vcek:", "snp-tcb:", "snp-chain:",
                              "snp-signature:", NULL};

static const char *step_of(const char *msg)
{
    for (int i = 0; steps[i]; i++)
        if (strncmp(msg, steps[i], strlen(steps[i])) == 0)
            return steps[i];
    return NULL;
}

/* Verifies and returns the error message (malloc'd) or NULL on success. */
static char *verify_msg(const uint8_t *ev, size_t len, const struct ens_tee_collateral *c, time_t at, bool trailing,
                        json_t **claims_out)
{
    struct ens_tee_input in = {.evidence = ev, .len = len, .allow_trailing_data = trailing};
    json_t *claims = NULL;
    ens_error_t err = NULL;
    if (ens_tee_verify_ex(&in, c, at, &claims, &err) == 0) {
        if (claims_out)
            *claims_out = claims;
        else
            json_decref(claims);
        return NULL;
    }
    assert_null(claims);
    char *m = strdup(ens_error_msg(err));
    ens_error_release(&err);
    return m;
}

static void expect_reject_at(int line, const uint8_t *ev, size_t len, const struct ens_tee_collateral *c, time_t at,
                             bool trailing, const char *step, const char *contains)
{
    char *m = verify_msg(ev, len, c, at, trailing, NULL);
    if (!m)
        fail_msg("line %d: accepted, expected rejection at %s", line, step);
    if (!step_of(m))
        fail_msg("line %d: rejection names no step: \"%s\"", line, m);
    if (step && strncmp(m, step, strlen(step)) != 0)
        fail_msg("line %d: rejected at the wrong step: expected %s got \"%s\"", line, step, m);
    if (contains && !strstr(m, contains))
        fail_msg("line %d: rejection \"%s\" lacks \"%s\"", line, m, contains);
    free(m);
}
#define expect_reject(...) expect_reject_at(__LINE__, __VA_ARGS__)

static void assert_str(json_t *o, const char *k, const char *want)
{
    const char *v = json_string_value(json_object_get(o, k));
    if (!v || strcmp(v, want) != 0)
        fail_msg("claim %s: expected %s, got %s", k, want, v ? v : "(none)");
}

/* ---- the README's expected results ------------------------------------------ */

static void test_sgx_vector(void **state)
{
    (void)state;
    need_vectors();
    size_t len;
    _cleanup_free_ uint8_t *q = load("dcap-qvl/sgx_quote", &len);
    assert_int_equal(len, 4600);
    assert_int_equal(ens_tee_detect(q, len), ENS_TEE_SGX);
    struct ens_tee_collateral *c = SGX_COLL();
    json_t *cl = NULL;
    char *m = verify_msg(q, len, c, T("2025-07-01T00:00:00Z"), false, &cl);
    if (m)
        fail_msg("%s", m);
    assert_str(cl, "tee", "sgx");
    assert_str(cl, "tcb_status", "ConfigurationAndSWHardeningNeeded");
    assert_str(cl, "fmspc", "00a067110000");
    json_t *adv = json_object_get(cl, "advisory_ids");
    assert_int_equal(json_array_size(adv), 2);
    assert_string_equal(json_string_value(json_array_get(adv, 0)), "INTEL-SA-00289");
    assert_string_equal(json_string_value(json_array_get(adv, 1)), "INTEL-SA-00615");
    assert_non_null(json_object_get(json_object_get(cl, "measurements"), "mrenclave"));
    json_decref(cl);
    /* Both ends of the window: first second valid, last second valid, then expired. */
    m = verify_msg(q, len, c, T("2025-06-19T10:56:11Z"), false, NULL);
    assert_null(m);
    m = verify_msg(q, len, c, T("2025-07-19T10:01:17Z"), false, NULL);
    assert_null(m);
    expect_reject(q, len, c, T("2025-06-19T10:56:10Z"), false, "tcb-info:", "not yet valid");
    expect_reject(q, len, c, T("2025-07-19T10:01:18Z"), false, "qe-identity:", "expired");
    expect_reject(q, len, c, T("2030-01-01T00:00:00Z"), false, "tcb-info:", "expired");
    ens_tee_collateral_free(c);
}

static void test_tdx_vector(void **state)
{
    (void)state;
    need_vectors();
    size_t len;
    _cleanup_free_ uint8_t *q = load("dcap-qvl/tdx_quote", &len);
    assert_int_equal(len, 5006);
    assert_int_equal(ens_tee_detect(q, len), ENS_TEE_TDX);
    struct ens_tee_collateral *c = TDX_COLL();
    json_t *cl = NULL;
    char *m = verify_msg(q, len, c, T("2025-07-01T00:00:00Z"), false, &cl);
    if (m)
        fail_msg("%s", m);
    assert_str(cl, "tee", "tdx");
    assert_str(cl, "tcb_status", "UpToDate");
    assert_int_equal(json_integer_value(json_object_get(cl, "quote_length")), 5006 - 70);
    json_t *meas = json_object_get(cl, "measurements");
    assert_int_equal(strlen(json_string_value(json_object_get(meas, "mrtd"))), 96);
    assert_non_null(json_object_get(meas, "rtmr3"));
    json_decref(cl);
    assert_null(verify_msg(q, len, c, T("2025-06-19T10:32:27Z"), false, NULL));
    assert_null(verify_msg(q, len, c, T("2025-07-19T10:00:34Z"), false, NULL));
    expect_reject(q, len, c, T("2025-06-19T10:32:26Z"), false, "qe-identity:", "not yet valid");
    /* The PCK CRL's nextUpdate (10:00:35) ends this window. */
    expect_reject(q, len, c, T("2025-07-19T10:00:35Z"), false, NULL, "expired");
    ens_tee_collateral_free(c);
}

static void test_go_tdx_tcb_unknown(void **state)
{
    (void)state;
    need_vectors();
    size_t len;
    _cleanup_free_ uint8_t *q = load("go-tdx-guest/tdx_prod_quote_SPR_E4.dat", &len);
    struct ens_tee_collateral *c = GOTDX_COLL();
    time_t at = T("2023-06-25T00:00:00Z");
    /* The 39 ASCII bytes after the quote are refused unless explicitly allowed... */
    expect_reject(q, len, c, at, false, "parse:", "after the quote");
    /* ...and then signatures, chain and CRLs pass but no TCB level matches. */
    expect_reject(q, len, c, at, true, "tcb-level:", "no TCB level");
    expect_reject(q, len, c, T("2023-06-18T08:42:57Z"), true, "tcb-info:", "not yet valid");
    expect_reject(q, len, c, T("2023-07-08T07:24:59Z"), true, "qe-identity:", "expired");
    ens_tee_collateral_free(c);
}

static void test_snp_vectors(void **state)
{
    (void)state;
    need_vectors();
    size_t len;
    _cleanup_free_ uint8_t *r = load("go-sev-guest/attestation.bin", &len);
    assert_int_equal(ens_tee_detect(r, len), ENS_TEE_SNP);
    struct ens_tee_collateral *c = GOSEV_COLL();
    json_t *cl = NULL;
    char *m = verify_msg(r, len, c, T("2025-01-01T00:00:00Z"), false, &cl);
    if (m)
        fail_msg("%s", m);
    assert_str(cl, "tee", "snp");
    assert_true(json_is_true(json_object_get(cl, "debug")));
    /* Debug policy: rejected unless debug-mode is tolerated. */
    struct ens_tee_policy p = {.tolerate = ENS_TEE_TOLERATE_HYPERTHREADING};
    ens_error_t err = NULL;
    assert_int_equal(ens_tee_check_policy(cl, &p, NULL, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "debug"));
    ens_error_release(&err);
    p.tolerate |= ENS_TEE_TOLERATE_DEBUG;
    if (ens_tee_check_policy(cl, &p, NULL, &err) < 0)
        fail_msg("%s", ens_error_msg(err));
    json_decref(cl);
    expect_reject(r, len, c, T("2022-09-24T00:55:27Z"), false, "snp-chain:", "not yet valid");
    expect_reject(r, len, c, T("2029-09-24T00:55:29Z"), false, "snp-chain:", "expired");

    size_t tl;
    _cleanup_free_ uint8_t *t = load("trustee-snp/test-report.bin", &tl);
    struct ens_tee_collateral *tc = TRUSTEE_COLL();
    m = verify_msg(t, tl, tc, T("2024-01-01T00:00:00Z"), false, &cl);
    if (m)
        fail_msg("%s", m);
    assert_str(cl, "product", "Milan-B0");
    json_decref(cl);
    expect_reject(t, tl, tc, T("2023-01-24T00:00:00Z"), false, "snp-chain:", "not yet valid");
    expect_reject(t, tl, tc, T("2030-01-25T00:00:00Z"), false, "snp-chain:", "expired");
    /* Tampered VCEKs. */
    const char *bad[] = {"trustee-snp/test-vcek-invalid-legacy.der", "trustee-snp/test-vcek-invalid-new.der"};
    for (int i = 0; i < 2; i++) {
        struct ens_tee_collateral *bc = coll(bad[i], "roots/amd_ask_milan.pem", "roots/amd_ark_milan.pem", NULL);
        m = verify_msg(t, tl, bc, T("2024-01-01T00:00:00Z"), false, NULL);
        assert_non_null(m);
        assert_non_null(step_of(m));
        free(m);
        ens_tee_collateral_free(bc);
    }
    /* Without the pinned ARK there is no trust anchor. */
    struct ens_tee_collateral *noark = coll("trustee-snp/test-vcek.der", "roots/amd_ask_milan.pem", NULL);
    expect_reject(t, tl, noark, T("2024-01-01T00:00:00Z"), false, "snp-chain:", "pinned root");
    ens_tee_collateral_free(noark);
    /* A self-made "ARK" with the same name is not the pinned one: the Genoa ARK is pinned but wrong here. */
    struct ens_tee_collateral *genoa =
        coll("trustee-snp/test-vcek.der", "roots/amd_ask_genoa.pem", "roots/amd_ark_genoa.pem", NULL);
    expect_reject(t, tl, genoa, T("2024-01-01T00:00:00Z"), false, "snp-chain:", NULL);
    ens_tee_collateral_free(genoa);
    ens_tee_collateral_free(tc);
    ens_tee_collateral_free(c);
}

/* No v5 vector exists: re-lay the v4 vector out as v5 (body type 2, then a TDX
 * 1.5 body of type 3).  Everything up to the ISV signature must pass (same PCK
 * chain, QE report, binding) and the signature must fail, since the signed
 * bytes changed; the claims show the v5 fields. */
static void test_tdx_v5_layout(void **state)
{
    (void)state;
    need_vectors();
    size_t len;
    _cleanup_free_ uint8_t *q = load("dcap-qvl/tdx_quote", &len);
    size_t end = 5006 - 70;
    for (int type = 2; type <= 3; type++) {
        size_t body = type == 2 ? 584 : 648;
        size_t nl = 54 + body + (end - 632);
        uint8_t *v5 = calloc(1, nl);
        memcpy(v5, q, 48);
        v5[0] = 5;
        v5[48] = (uint8_t)type;
        v5[50] = (uint8_t)(body & 0xff);
        v5[51] = (uint8_t)(body >> 8);
        memcpy(v5 + 54, q + 48, 584);
        if (type == 3)
            memset(v5 + 54 + 600, 0xAB, 48); /* MRSERVICETD */
        memcpy(v5 + 54 + body, q + 632, end - 632);
        json_t *cl = NULL;
        ens_error_t err = NULL;
        assert_int_equal(ens_tee_parse(v5, nl, ENS_TEE_UNKNOWN, &cl, &err), 0);
        assert_int_equal(json_integer_value(json_object_get(cl, "version")), 5);
        json_t *m = json_object_get(cl, "measurements");
        assert_int_equal(strlen(json_string_value(json_object_get(m, "mrtd"))), 96);
        if (type == 3)
            assert_non_null(strstr(json_string_value(json_object_get(m, "mrservicetd")), "abab"));
        else
            assert_null(json_object_get(m, "mrservicetd"));
        json_decref(cl);
        struct ens_tee_collateral *c = TDX_COLL();
        expect_reject(v5, nl, c, T("2025-07-01T00:00:00Z"), false, "quote-signature:", NULL);
        ens_tee_collateral_free(c);
        /* A body size that does not match its type is refused. */
        v5[50] ^= 1;
        assert_int_equal(ens_tee_parse(v5, nl, ENS_TEE_UNKNOWN, &cl, &err), -1);
        assert_non_null(strstr(ens_error_msg(err), "parse: unsupported v5 body"));
        ens_error_release(&err);
        free(v5);
    }
}

/* One collateral object shared by threads that start cold at the same time:
 * the caches fill concurrently and every verification still succeeds. */
struct thread_arg {
    struct ens_tee_collateral *c;
    const uint8_t *ev[3];
    size_t len[3];
    time_t at[3];
    int failures;
};

static void *verify_thread(void *p)
{
    struct thread_arg *a = p;
    for (int i = 0; i < 10; i++) {
        for (int k = 0; k < 3; k++) {
            json_t *cl = NULL;
            ens_error_t err = NULL;
            if (ens_tee_verify(a->ev[k], a->len[k], a->c, a->at[k], &cl, &err) < 0) {
                __atomic_add_fetch(&a->failures, 1, __ATOMIC_SEQ_CST);
                ens_error_release(&err);
            }
            json_decref(cl);
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    need_vectors();
    struct thread_arg a = {0};
    a.c = coll("dcap-qvl/sgx_quote_collateral.json", "dcap-qvl/tdx_quote_collateral.json", "roots/intel_sgx_root_ca.der",
               "trustee-snp/test-vcek.der", "roots/amd_ask_milan.pem", "roots/amd_ark_milan.pem", NULL);
    uint8_t *bufs[3];
    bufs[0] = load("dcap-qvl/sgx_quote", &a.len[0]);
    bufs[1] = load("dcap-qvl/tdx_quote", &a.len[1]);
    bufs[2] = load("trustee-snp/test-report.bin", &a.len[2]);
    for (int k = 0; k < 3; k++)
        a.ev[k] = bufs[k];
    a.at[0] = a.at[1] = T("2025-07-01T00:00:00Z");
    a.at[2] = T("2024-01-01T00:00:00Z");
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, verify_thread, &a), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(a.failures, 0);
    for (int k = 0; k < 3; k++)
        free(bufs[k]);
    ens_tee_collateral_free(a.c);
}

/* ---- tampering ------------------------------------------------------------ */

static void flip_all(const char *file, struct ens_tee_collateral *c, time_t at, bool trailing, size_t limit)
{
    size_t len;
    _cleanup_free_ uint8_t *q = load(file, &len);
    assert_null(verify_msg(q, len, c, at, trailing, NULL));
    size_t n = limit ? limit : len, counts[32] = {0};
    for (size_t i = 0; i < n; i++) {
        q[i] ^= 0xFF;
        char *m = verify_msg(q, len, c, at, trailing, NULL);
        q[i] ^= 0xFF;
        if (!m)
            fail_msg("%s: flipping byte %zu was accepted", file, i);
        const char *s = step_of(m);
        if (!s)
            fail_msg("%s: byte %zu: rejection names no step: %s", file, i, m);
        for (int k = 0; steps[k]; k++)
            if (steps[k] == s)
                counts[k]++;
        free(m);
    }
    printf("# %s: %zu single-byte flips rejected:", file, n);
    for (int k = 0; steps[k]; k++)
        if (counts[k])
            printf(" %s%zu", steps[k], counts[k]);
    printf("\n");
}

static void test_flip_sgx(void **state)
{
    (void)state;
    need_vectors();
    struct ens_tee_collateral *c = SGX_COLL();
    flip_all("dcap-qvl/sgx_quote", c, T("2025-07-01T00:00:00Z"), false, 0);
    ens_tee_collateral_free(c);
}

static void test_flip_tdx(void **state)
{
    (void)state;
    need_vectors();
    struct ens_tee_collateral *c = TDX_COLL();
    /* All 5006 bytes: the quote and its 70 bytes of zero padding. */
    flip_all("dcap-qvl/tdx_quote", c, T("2025-07-01T00:00:00Z"), false, 0);
    ens_tee_collateral_free(c);
}

static void test_flip_snp(void **state)
{
    (void)state;
    need_vectors();
    struct ens_tee_collateral *c = TRUSTEE_COLL();
    flip_all("trustee-snp/test-report.bin", c, T("2024-01-01T00:00:00Z"), false, 0);
    ens_tee_collateral_free(c);
    c = GOSEV_COLL();
    flip_all("go-sev-guest/attestation.bin", c, T("2025-01-01T00:00:00Z"), false, 0);
    ens_tee_collateral_free(c);
}

/* Flips (XOR 0x01: the JSON usually stays valid, so the signature check is what
 * catches it) every byte of the signed go-tdx-guest TCB Info and QE Identity
 * responses, and (XOR 0xFF) every byte of the root CRL.  Each must be refused
 * when loaded or rejected at its own step, before the TCB level is evaluated. */
struct doc {
    const char *file;
    uint8_t *data;
    size_t len;
};

static struct ens_tee_collateral *coll_from(struct doc *docs, size_t n, size_t flip_doc, size_t flip_at, uint8_t x,
                                            bool *load_failed)
{
    struct ens_tee_collateral *c = ens_tee_collateral_new();
    *load_failed = false;
    for (size_t i = 0; i < n; i++) {
        ens_error_t err = NULL;
        if (i == flip_doc)
            docs[i].data[flip_at] ^= x;
        int r = ens_tee_collateral_add(c, docs[i].data, docs[i].len, docs[i].file, NULL, &err);
        if (i == flip_doc)
            docs[i].data[flip_at] ^= x;
        if (r < 0) {
            if (i != flip_doc)
                fail_msg("%s: %s", docs[i].file, ens_error_msg(err));
            *load_failed = true;
            ens_error_release(&err);
        }
    }
    return c;
}

static void test_flip_collateral(void **state)
{
    (void)state;
    need_vectors();
    struct doc docs[] = {
        {"go-tdx-guest/sample_tcbInfo_response", NULL, 0}, {"go-tdx-guest/sample_qeIdentity_response", NULL, 0},
        {"go-tdx-guest/rootcrl.der", NULL, 0},             {"go-tdx-guest/pckcrl", NULL, 0},
        {"go-tdx-guest/pck_crl_issuer_chain.pem", NULL, 0}, {"go-tdx-guest/tcb_info_issuer_chain.pem", NULL, 0},
        {"go-tdx-guest/qe_identity_issuer_chain.pem", NULL, 0},
    };
    size_t n = sizeof(docs) / sizeof(docs[0]);
    for (size_t i = 0; i < n; i++)
        docs[i].data = load(docs[i].file, &docs[i].len);
    size_t ql;
    _cleanup_free_ uint8_t *q = load("go-tdx-guest/tdx_prod_quote_SPR_E4.dat", &ql);
    time_t at = T("2023-06-25T00:00:00Z");
    struct {
        size_t doc;
        uint8_t x;
        const char *steps[3];
    } plan[] = {
        {0, 0x01, {"tcb-info:", NULL, NULL}},
        {1, 0x01, {"qe-identity:", NULL, NULL}},
        {2, 0xFF, {"tcb-info:", "qe-identity:", "pck-chain:"}},
    };
    for (size_t p = 0; p < 3; p++) {
        struct doc *d = &docs[plan[p].doc];
        size_t loadfail = 0, rejected = 0;
        for (size_t i = 0; i < d->len; i++) {
            bool lf;
            struct ens_tee_collateral *c = coll_from(docs, n, plan[p].doc, i, plan[p].x, &lf);
            char *m = verify_msg(q, ql, c, at, true, NULL);
            ens_tee_collateral_free(c);
            if (!m)
                fail_msg("%s: flipping byte %zu was accepted", d->file, i);
            bool ok = lf && strncmp(m, "tcb-level:", 10) != 0 ? true : false;
            for (int k = 0; k < 3 && plan[p].steps[k] && !ok; k++)
                ok = strncmp(m, plan[p].steps[k], strlen(plan[p].steps[k])) == 0;
            if (lf && !ok) {
                /* a document that failed to load leaves the set incomplete: any earlier step is fine */
                ok = strncmp(m, "tcb-level:", 10) != 0;
            }
            if (!ok)
                fail_msg("%s: byte %zu: rejected at the wrong step: %s", d->file, i, m);
            if (lf)
                loadfail++;
            else
                rejected++;
            free(m);
        }
        printf("# %s: %zu single-byte flips: %zu refused at load, %zu rejected at verification\n", d->file, d->len,
               loadfail, rejected);
    }
    for (size_t i = 0; i < n; i++)
        free(docs[i].data);
}

static void truncate_append(const char *file, struct ens_tee_collateral *c, time_t at, size_t signed_end)
{
    size_t len;
    _cleanup_free_ uint8_t *q = load(file, &len);
    /* Every truncation inside the signed quote. */
    for (size_t l = 0; l < signed_end; l++) {
        char *m = verify_msg(q, l, c, at, false, NULL);
        if (!m)
            fail_msg("%s truncated to %zu accepted", file, l);
        if (!step_of(m))
            fail_msg("%s truncated to %zu: no step in \"%s\"", file, l, m);
        free(m);
    }
    /* Appended data. */
    uint8_t *big = malloc(len + 64);
    memcpy(big, q, len);
    for (size_t extra = 1; extra <= 64; extra *= 2) {
        memset(big + len, 0xA5, extra);
        expect_reject(big, len + extra, c, at, false, "parse:", "unexpected");
    }
    free(big);
}

static void test_truncate_append(void **state)
{
    (void)state;
    need_vectors();
    struct ens_tee_collateral *c = SGX_COLL();
    truncate_append("dcap-qvl/sgx_quote", c, T("2025-07-01T00:00:00Z"), 4600);
    ens_tee_collateral_free(c);
    c = TDX_COLL();
    truncate_append("dcap-qvl/tdx_quote", c, T("2025-07-01T00:00:00Z"), 5006 - 70);
    ens_tee_collateral_free(c);
    c = TRUSTEE_COLL();
    truncate_append("trustee-snp/test-report.bin", c, T("2024-01-01T00:00:00Z"), 1184);
    ens_tee_collateral_free(c);
}

static void test_swap_collateral(void **state)
{
    (void)state;
    need_vectors();
    size_t sl, tl, gl, rl, al;
    _cleanup_free_ uint8_t *sgx = load("dcap-qvl/sgx_quote", &sl);
    _cleanup_free_ uint8_t *tdx = load("dcap-qvl/tdx_quote", &tl);
    _cleanup_free_ uint8_t *gotdx = load("go-tdx-guest/tdx_prod_quote_SPR_E4.dat", &gl);
    _cleanup_free_ uint8_t *snp = load("trustee-snp/test-report.bin", &rl);
    _cleanup_free_ uint8_t *gosev = load("go-sev-guest/attestation.bin", &al);
    struct ens_tee_collateral *sc = SGX_COLL(), *tc = TDX_COLL(), *gc = GOTDX_COLL(), *rc = TRUSTEE_COLL(),
                              *ac = GOSEV_COLL();
    expect_reject(sgx, sl, tc, T("2025-07-01T00:00:00Z"), false, "tcb-info:", "no TCB Info");
    expect_reject(tdx, tl, sc, T("2025-07-01T00:00:00Z"), false, "tcb-info:", "no TCB Info");
    expect_reject(tdx, tl, gc, T("2023-06-25T00:00:00Z"), false, "tcb-info:", "no TCB Info");
    expect_reject(gotdx, gl, tc, T("2025-07-01T00:00:00Z"), true, "tcb-info:", "no TCB Info");
    expect_reject(snp, rl, ac, T("2025-01-01T00:00:00Z"), false, "snp-vcek:", NULL);
    expect_reject(gosev, al, rc, T("2025-01-01T00:00:00Z"), false, "snp-vcek:", NULL);
    expect_reject(sgx, sl, rc, T("2025-07-01T00:00:00Z"), false, "tcb-info:", NULL);
    expect_reject(snp, rl, sc, T("2025-01-01T00:00:00Z"), false, "snp-vcek:", NULL);
    /* Mixed: the SGX bundle's TCB Info with the TDX bundle's QE Identity and CRLs. */
    struct ens_tee_collateral *mix = coll("dcap-qvl/tdx_quote_collateral.json", "dcap-qvl/sgx_quote_collateral.json",
                                          "roots/intel_sgx_root_ca.der", NULL);
    assert_null(verify_msg(sgx, sl, mix, T("2025-07-01T00:00:00Z"), false, NULL));
    assert_null(verify_msg(tdx, tl, mix, T("2025-07-01T00:00:00Z"), false, NULL));
    ens_tee_collateral_free(mix);
    /* The Intel root travels in the issuer chains; it is trusted because its digest is pinned. */
    /* No CRLs: the chains cannot be checked for revocation. */
    struct ens_tee_collateral *nocrl = coll("go-tdx-guest/sample_tcbInfo_response", "go-tdx-guest/sample_qeIdentity_response",
                                            "go-tdx-guest/pck_crl_issuer_chain.pem", "go-tdx-guest/tcb_info_issuer_chain.pem",
                                            "go-tdx-guest/qe_identity_issuer_chain.pem", "roots/intel_sgx_root_ca.pem", NULL);
    expect_reject(gotdx, gl, nocrl, T("2023-06-25T00:00:00Z"), true, "tcb-info:", "CRL");
    ens_tee_collateral_free(nocrl);
    ens_tee_collateral_free(sc);
    ens_tee_collateral_free(tc);
    ens_tee_collateral_free(gc);
    ens_tee_collateral_free(rc);
    ens_tee_collateral_free(ac);
}

/* ---- collateral documents -------------------------------------------------- */

static void test_collateral_kinds(void **state)
{
    (void)state;
    need_vectors();
    struct {
        const char *file, *kind;
    } cases[] = {
        {"dcap-qvl/sgx_quote_collateral.json", "intel-bundle"},
        {"go-tdx-guest/sample_tcbInfo_response", "tcb-info"},
        {"go-tdx-guest/sample_qeIdentity_response", "qe-identity"},
        {"go-tdx-guest/pckcrl", "crl"},
        {"go-tdx-guest/rootcrl.der", "crl"},
        {"go-tdx-guest/pck_crl_issuer_chain.pem", "certificates"},
        {"roots/intel_sgx_root_ca.der", "certificates"},
        {"go-sev-guest/ask_ark_milan.pem", "certificates"},
        {"trustee-snp/test-vcek.der", "certificates"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len;
        _cleanup_free_ uint8_t *d = load(cases[i].file, &len);
        struct ens_tee_collateral *c = ens_tee_collateral_new();
        const char *kind = NULL;
        ens_error_t err = NULL;
        if (ens_tee_collateral_add(c, d, len, cases[i].file, &kind, &err) < 0)
            fail_msg("%s: %s", cases[i].file, ens_error_msg(err));
        assert_string_equal(kind, cases[i].kind);
        ens_tee_collateral_free(c);
    }
    /* Unrecognised or damaged documents are refused with their name. */
    const char *bad[] = {"hello", "{\"tcbInfo\":{\"id\":\"SGX\"},\"signature\":\"00\"}", "{not json", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"};
    for (size_t i = 0; i < 4; i++) {
        struct ens_tee_collateral *c = ens_tee_collateral_new();
        ens_error_t err = NULL;
        assert_int_equal(ens_tee_collateral_add(c, (const uint8_t *)bad[i], strlen(bad[i]), "bad-doc", NULL, &err), -1);
        assert_non_null(strstr(ens_error_msg(err), "bad-doc"));
        ens_error_release(&err);
        ens_tee_collateral_free(c);
    }
    /* A TCB Info whose signed bytes were re-serialised (one space added) fails its signature. */
    size_t len;
    _cleanup_free_ uint8_t *d = load("go-tdx-guest/sample_tcbInfo_response", &len);
    char *mod = malloc(len + 2);
    const char *k = strstr((char *)d, "\"id\":\"TDX\"");
    assert_non_null(k);
    size_t off = (size_t)(k - (char *)d) + 5;
    memcpy(mod, d, off);
    mod[off] = ' ';
    memcpy(mod + off + 1, d + off, len - off);
    struct ens_tee_collateral *c = GOTDX_COLL();
    ens_error_t err = NULL;
    struct ens_tee_collateral *c2 = coll("go-tdx-guest/sample_qeIdentity_response", "go-tdx-guest/pckcrl",
                                         "go-tdx-guest/rootcrl.der", "go-tdx-guest/pck_crl_issuer_chain.pem",
                                         "go-tdx-guest/tcb_info_issuer_chain.pem", "go-tdx-guest/qe_identity_issuer_chain.pem",
                                         "roots/intel_sgx_root_ca.pem", NULL);
    assert_int_equal(ens_tee_collateral_add(c2, (uint8_t *)mod, len + 1, "respaced", NULL, &err), 0);
    size_t ql;
    _cleanup_free_ uint8_t *q = load("go-tdx-guest/tdx_prod_quote_SPR_E4.dat", &ql);
    expect_reject(q, ql, c2, T("2023-06-25T00:00:00Z"), true, "tcb-info:", "signature");
    free(mod);
    ens_tee_collateral_free(c);
    ens_tee_collateral_free(c2);
}

/* ---- policy ---------------------------------------------------------------- */

static json_t *verified(const char *file, struct ens_tee_collateral *c, time_t at)
{
    size_t len;
    _cleanup_free_ uint8_t *q = load(file, &len);
    json_t *cl = NULL;
    char *m = verify_msg(q, len, c, at, false, &cl);
    if (m)
        fail_msg("%s: %s", file, m);
    return cl;
}

static int check(json_t *claims, const char *policy_json, const uint8_t *rd, char **why)
{
    json_error_t je;
    json_t *doc = json_loads(policy_json, 0, &je);
    if (!doc)
        fail_msg("bad test policy %s", policy_json);
    struct ens_tee_policy p;
    ens_error_t err = NULL;
    int r = ens_tee_policy_from_json(json_object_get(doc, "attestation"), json_object_get(doc, "measurements"), &p, &err);
    if (r == 0)
        r = ens_tee_check_policy(claims, &p, rd, &err);
    *why = r < 0 ? strdup(ens_error_msg(err)) : NULL;
    ens_error_release(&err);
    ens_tee_policy_clear(&p);
    json_decref(doc);
    return r;
}

#define ACCEPT(cl, pol, rd)                                                                                       \
    do {                                                                                                          \
        char *w;                                                                                                  \
        if (check(cl, pol, rd, &w) < 0)                                                                           \
            fail_msg("policy %s rejected: %s", pol, w);                                                          \
    } while (0)
#define REJECT(cl, pol, rd, word)                                                                                 \
    do {                                                                                                          \
        char *w;                                                                                                  \
        if (check(cl, pol, rd, &w) == 0)                                                                          \
            fail_msg("policy %s accepted", pol);                                                                 \
        if (!strstr(w, word))                                                                                     \
            fail_msg("policy %s: reason \"%s\" lacks \"%s\"", pol, w, word);                                     \
        free(w);                                                                                                  \
    } while (0)

static void test_policy(void **state)
{
    (void)state;
    need_vectors();
    struct ens_tee_collateral *sc = SGX_COLL(), *tc = TDX_COLL(), *rc = TRUSTEE_COLL();
    json_t *sgx = verified("dcap-qvl/sgx_quote", sc, T("2025-07-01T00:00:00Z"));
    json_t *tdx = verified("dcap-qvl/tdx_quote", tc, T("2025-07-01T00:00:00Z"));
    json_t *snp = verified("trustee-snp/test-report.bin", rc, T("2024-01-01T00:00:00Z"));

    assert_int_equal(ens_tee_claims_needs(sgx), ENS_TEE_TOLERATE_INSECURE_CONFIG | ENS_TEE_TOLERATE_SW_HARDENING);
    assert_string_equal(ens_tee_claims_measurement(sgx),
                        json_string_value(json_object_get(json_object_get(sgx, "measurements"), "mrenclave")));
    /* SGX: ConfigurationAndSWHardeningNeeded needs both tolerations, advisories need ignoring. */
    REJECT(sgx, "{}", NULL, "not tolerated");
    REJECT(sgx, "{\"attestation\":{\"tolerate\":[\"insecure-configuration\"],\"ignore_advisories\":\"*\"}}", NULL, "not tolerated");
    REJECT(sgx, "{\"attestation\":{\"tolerate\":[\"insecure-configuration\",\"software-hardening-needed\"]}}", NULL, "INTEL-SA-00289");
    REJECT(sgx, "{\"attestation\":{\"tolerate\":[\"insecure-configuration\",\"software-hardening-needed\"],"
                "\"ignore_advisories\":[\"INTEL-SA-00289\"]}}", NULL, "INTEL-SA-00615");
    ACCEPT(sgx, "{\"attestation\":{\"tolerate\":[\"insecure-configuration\",\"software-hardening-needed\"],"
                "\"ignore_advisories\":[\"INTEL-SA-00289\",\"INTEL-SA-00615\"]}}", NULL);
    const char *sgx_ok = "{\"attestation\":{\"mode\":\"hardware\",\"tolerate\":[\"insecure-configuration\",\"software-hardening-needed\"],\"ignore_advisories\":\"*\"},";
    char buf[1024];
    const char *mre = json_string_value(json_object_get(json_object_get(sgx, "measurements"), "mrenclave"));
    snprintf(buf, sizeof(buf), "%s\"measurements\":{\"mrenclave\":\"%s\",\"isvprodid\":0,\"isvsvn_min\":0}}", sgx_ok, mre);
    ACCEPT(sgx, buf, NULL);
    snprintf(buf, sizeof(buf), "%s\"measurements\":{\"mrenclave\":\"00%s\"}}", sgx_ok, mre + 2);
    REJECT(sgx, buf, NULL, "mrenclave");
    snprintf(buf, sizeof(buf), "%s\"measurements\":{\"isvsvn_min\":1}}", sgx_ok);
    REJECT(sgx, buf, NULL, "isvsvn");
    REJECT(sgx, "{\"attestation\":{\"tolerate\":[\"warp-drive\"]}}", NULL, "tolerate");

    /* TDX: MRTD / RTMR match, mismatch, list of allowed values. */
    json_t *tm = json_object_get(tdx, "measurements");
    const char *mrtd = json_string_value(json_object_get(tm, "mrtd"));
    const char *rtmr0 = json_string_value(json_object_get(tm, "rtmr0"));
    char other[97];
    snprintf(other, sizeof(other), "%s", mrtd);
    other[0] = other[0] == '0' ? '1' : '0';
    snprintf(buf, sizeof(buf), "{\"measurements\":{\"mrtd\":\"%s\",\"rtmr0\":\"%s\"}}", mrtd, rtmr0);
    ACCEPT(tdx, buf, NULL);
    snprintf(buf, sizeof(buf), "{\"measurements\":{\"mrtd\":[\"%s\",\"%s\"]}}", other, mrtd);
    ACCEPT(tdx, buf, NULL);
    snprintf(buf, sizeof(buf), "{\"measurements\":{\"mrtd\":\"%s\"}}", other);
    REJECT(tdx, buf, NULL, "mrtd");
    snprintf(buf, sizeof(buf), "{\"measurements\":{\"mrtd\":\"%s\",\"rtmr0\":\"%s\"}}", mrtd, other);
    REJECT(tdx, buf, NULL, "rtmr0");
    REJECT(tdx, "{\"measurements\":{\"measurement\":\"00\"}}", NULL, "no measurement");

    /* The session's measurement list (mrenclaves) against TDX MRTD. */
    {
        ens_error_t e = NULL;
        const char *list_ok[] = {other, mrtd};
        assert_int_equal(ens_tee_check_measurement_list(tdx, list_ok, 2, &e), 0);
        const char *list_bad[] = {other};
        assert_int_equal(ens_tee_check_measurement_list(tdx, list_bad, 1, &e), -1);
        assert_non_null(strstr(ens_error_msg(e), "MRTD"));
        ens_error_release(&e);
    }
    /* REPORTDATA binding. */
    uint8_t rd[64];
    const char *rdhex = json_string_value(json_object_get(tdx, "report_data"));
    for (int i = 0; i < 64; i++) {
        unsigned v;
        sscanf(rdhex + 2 * i, "%2x", &v);
        rd[i] = (uint8_t)v;
    }
    ACCEPT(tdx, "{}", rd);
    rd[63] ^= 1;
    REJECT(tdx, "{}", rd, "REPORTDATA");

    /* SNP: MEASUREMENT, HOST_DATA, guest policy. */
    json_t *sm = json_object_get(snp, "measurements");
    const char *meas = json_string_value(json_object_get(sm, "measurement"));
    const char *hd = json_string_value(json_object_get(sm, "host_data"));
    long long pol = (long long)json_integer_value(json_object_get(sm, "policy"));
    const char *tol = json_is_true(json_object_get(snp, "smt_enabled")) ? "\"attestation\":{\"tolerate\":[\"hyperthreading\"]}," : "";
    snprintf(buf, sizeof(buf), "{%s\"measurements\":{\"measurement\":\"%s\",\"host_data\":\"%s\",\"policy\":%lld}}", tol, meas, hd, pol);
    ACCEPT(snp, buf, NULL);
    snprintf(buf, sizeof(buf), "{%s\"measurements\":{\"measurement\":\"%s\",\"policy\":\"0x%llx\"}}", tol, meas, pol);
    ACCEPT(snp, buf, NULL);
    long long snpspl = (long long)json_integer_value(json_object_get(sm, "tcb_snp"));
    assert_true(json_is_integer(json_object_get(sm, "tcb_microcode")));
    snprintf(buf, sizeof(buf), "{%s\"measurements\":{\"tcb_snp_min\":%lld}}", tol, snpspl);
    ACCEPT(snp, buf, NULL);
    snprintf(buf, sizeof(buf), "{%s\"measurements\":{\"tcb_snp_min\":%lld}}", tol, snpspl + 1);
    REJECT(snp, buf, NULL, "tcb_snp");
    snprintf(buf, sizeof(buf), "{%s\"measurements\":{\"policy\":%lld}}", tol, pol ^ 1);
    REJECT(snp, buf, NULL, "policy");
    {
        ens_error_t e = NULL;
        char upper[97];
        snprintf(upper, sizeof(upper), "%s", meas);
        for (char *u = upper; *u; u++)
            *u = (char)toupper((unsigned char)*u);
        const char *l1[] = {upper};
        assert_int_equal(ens_tee_check_measurement_list(snp, l1, 1, &e), 0);
        const char *l2[] = {mrtd};
        assert_int_equal(ens_tee_check_measurement_list(snp, l2, 1, &e), -1);
        assert_non_null(strstr(ens_error_msg(e), "MEASUREMENT"));
        ens_error_release(&e);
    }
    snprintf(buf, sizeof(buf), "{%s\"measurements\":{\"host_data\":\"%064d\"}}", tol, 1);
    REJECT(snp, buf, NULL, "host_data");
    snprintf(other, sizeof(other), "%s", meas);
    other[5] = other[5] == 'a' ? 'b' : 'a';
    snprintf(buf, sizeof(buf), "{%s\"measurements\":{\"measurement\":\"%s\"}}", tol, other);
    REJECT(snp, buf, NULL, "measurement");

    /* Unverified claims never pass. */
    size_t len;
    _cleanup_free_ uint8_t *q = load("dcap-qvl/tdx_quote", &len);
    json_t *parsed = NULL;
    ens_error_t err = NULL;
    assert_int_equal(ens_tee_parse(q, len, ENS_TEE_UNKNOWN, &parsed, &err), 0);
    REJECT(parsed, "{}", NULL, "not verified");
    json_decref(parsed);

    json_decref(sgx);
    json_decref(tdx);
    json_decref(snp);
    ens_tee_collateral_free(sc);
    ens_tee_collateral_free(tc);
    ens_tee_collateral_free(rc);
}

/* ---- SNP certificate table ------------------------------------------------- */

static void test_certtable(void **state)
{
    (void)state;
    static const uint8_t vcek[16] = {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
                                     0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd};
    uint8_t t[24 * 2 + 8] = {0};
    memcpy(t, vcek, 16);
    t[16] = 48; /* offset */
    t[20] = 8;  /* length */
    memset(t + 48, 0x30, 8);
    struct ens_tee_snp_cert *certs;
    size_t n;
    ens_error_t err = NULL;
    assert_int_equal(ens_tee_snp_certtable_parse(t, sizeof(t), &certs, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(certs[0].kind, "vcek");
    assert_ptr_equal(certs[0].data, t + 48);
    free(certs);
    t[20] = 9; /* runs past the end */
    assert_int_equal(ens_tee_snp_certtable_parse(t, sizeof(t), &certs, &n, &err), -1);
    ens_error_release(&err);
    t[20] = 8;
    t[16] = 10; /* overlaps the table */
    assert_int_equal(ens_tee_snp_certtable_parse(t, sizeof(t), &certs, &n, &err), -1);
    ens_error_release(&err);
    assert_int_equal(ens_tee_snp_certtable_parse(t, 30, &certs, &n, &err), -1); /* no terminator */
    ens_error_release(&err);
}

/* Two groups so that meson runs them in parallel: `test_tee` (vectors, policy,
 * swaps, truncation) and `test_tee flips` (every single-byte flip). */
int main(int argc, char **argv)
{
    const char *s = getenv("ENSCONCE_SHARED");
    if (!s || !*s)
        s = getenv("ENSCONCE_SHARED_DEFAULT");
    snprintf(vdir, sizeof(vdir), "%s/vectors/attestation", s ? s : "../shared");
    char readme[4200];
    snprintf(readme, sizeof(readme), "%s/README.md", vdir);
    have_vectors = access(readme, R_OK) == 0;
    const struct CMUnitTest base[] = {
        cmocka_unit_test(test_certtable),
        cmocka_unit_test(test_sgx_vector),
        cmocka_unit_test(test_tdx_vector),
        cmocka_unit_test(test_go_tdx_tcb_unknown),
        cmocka_unit_test(test_tdx_v5_layout),
        cmocka_unit_test(test_snp_vectors),
        cmocka_unit_test(test_collateral_kinds),
        cmocka_unit_test(test_swap_collateral),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_truncate_append),
        cmocka_unit_test(test_threads),
    };
    const struct CMUnitTest flips[] = {
        cmocka_unit_test(test_flip_sgx),
        cmocka_unit_test(test_flip_tdx),
        cmocka_unit_test(test_flip_snp),
        cmocka_unit_test(test_flip_collateral),
    };
    if (argc > 1 && strcmp(argv[1], "flips") == 0)
        return cmocka_run_group_tests_name("tee-flips", flips, NULL, NULL);
    return cmocka_run_group_tests_name("tee", base, NULL, NULL);
}
