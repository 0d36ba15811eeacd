/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The configfs-tsm provider against a directory tree that MIMICS the Linux
 * kernel's report interface (Documentation/ABI/testing/configfs-tsm-report):
 * this is not configfs.  A report entry is a directory with the attribute
 * files provider, generation, inblob, outblob, auxblob, privlevel; the "kernel"
 * is the after_write hook, which does what the kernel does on a write to
 * inblob/privlevel: bump generation and produce outblob (and auxblob for SNP).
 * With the real vectors present, the produced evidence is then verified.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "tee/tee.h"

static char vdir[4096];

struct kernel {
    const uint8_t *evidence; /* template outblob */
    size_t len;
    size_t rd_off;           /* where REPORTDATA goes, or SIZE_MAX to keep the template's */
    const uint8_t *aux;
    size_t aux_len;
    unsigned bump;           /* generation increment per write (1 = kernel; 2 = a concurrent writer) */
    unsigned writes;
};

static void put(const char *dir, const char *attr, const void *data, size_t len)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/%s", dir, attr);
    ens_error_t err = NULL;
    if (ens_write_file_atomic(p, data, len, 0644, &err) < 0)
        fail_msg("%s", ens_error_msg(err));
}

static void *get(const char *dir, const char *attr, size_t *len)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/%s", dir, attr);
    char *buf = NULL;
    ens_error_t err = NULL;
    if (ens_read_file(p, 1 << 20, &buf, len, &err) < 0)
        fail_msg("%s", ens_error_msg(err));
    return buf;
}

/* The mimic "kernel": runs after each attribute write. */
static void kernel_after_write(const char *dir, const char *attr, void *arg)
{
    struct kernel *k = arg;
    size_t gl;
    _cleanup_free_ char *g = get(dir, "generation", &gl);
    char buf[32];
    snprintf(buf, sizeof(buf), "%lu\n", strtoul(g, NULL, 10) + k->bump);
    put(dir, "generation", buf, strlen(buf));
    k->writes++;
    if (strcmp(attr, "inblob") != 0)
        return;
    size_t il;
    _cleanup_free_ uint8_t *in = get(dir, "inblob", &il);
    assert_int_equal(il, 64);
    uint8_t *out = malloc(k->len);
    memcpy(out, k->evidence, k->len);
    if (k->rd_off != SIZE_MAX)
        memcpy(out + k->rd_off, in, 64);
    put(dir, "outblob", out, k->len);
    free(out);
    if (k->aux)
        put(dir, "auxblob", k->aux, k->aux_len);
}

static char *make_entry(const char *provider)
{
    char tmpl[] = "/tmp/ens-tsm-XXXXXX";
    char *root = mkdtemp(tmpl);
    assert_non_null(root);
    char *dir = malloc(4200);
    snprintf(dir, 4200, "%s/report0", root);
    assert_int_equal(mkdir(dir, 0700), 0);
    put(dir, "provider", provider, strlen(provider));
    put(dir, "generation", "7\n", 2);
    put(dir, "inblob", "", 0);
    put(dir, "outblob", "", 0);
    put(dir, "privlevel", "0\n", 2);
    put(dir, "privlevel_floor", "0\n", 2);
    return dir;
}

static void drop_entry(char *dir)
{
    char *root = strdup(dir);
    *strrchr(root, '/') = 0;
    ens_error_t err = NULL;
    ens_rm_rf(root, &err);
    free(root);
    free(dir);
}

static struct ens_tee_tsm_opts opts_for(const char *dir, struct kernel *k)
{
    static char root[4200];
    snprintf(root, sizeof(root), "%s", dir);
    *strrchr(root, '/') = 0;
    return (struct ens_tee_tsm_opts){.root = root, .name = "report0", .privlevel = -1, .reuse_existing = true,
                                     .after_write = kernel_after_write, .after_write_arg = k};
}

/* A synthetic TDX v4 quote header: only the transport is tested here. */
static void test_tdx_transport(void **state)
{
    (void)state;
    uint8_t fake[1024] = {4, 0, 2, 0, 0x81};
    struct kernel k = {.evidence = fake, .len = sizeof(fake), .rd_off = 48 + 520, .bump = 1};
    char *dir = make_entry("tdx_guest\n");
    struct ens_tee_tsm_opts o = opts_for(dir, &k);
    uint8_t rd[64];
    for (int i = 0; i < 64; i++)
        rd[i] = (uint8_t)(i * 7);
    struct ens_tee_tsm_report rep;
    ens_error_t err = NULL;
    if (ens_tee_tsm_get(&o, rd, &rep, &err) < 0)
        fail_msg("%s", ens_error_msg(err));
    assert_int_equal(rep.type, ENS_TEE_TDX);
    assert_string_equal(rep.provider, "tdx_guest");
    assert_int_equal(rep.outblob_len, sizeof(fake));
    assert_memory_equal(rep.outblob + 568, rd, 64);
    assert_int_equal(rep.generation, 8);
    assert_int_equal(k.writes, 1);
    ens_tee_tsm_report_clear(&rep);

    /* A concurrent writer (generation moves by more than our writes) is detected. */
    k.bump = 2;
    assert_int_equal(ens_tee_tsm_get(&o, rd, &rep, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "generation changed"));
    ens_error_release(&err);

    /* outblob without our REPORTDATA is refused. */
    k.bump = 1;
    k.rd_off = SIZE_MAX;
    assert_int_equal(ens_tee_tsm_get(&o, rd, &rep, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "REPORTDATA"));
    ens_error_release(&err);
    drop_entry(dir);
}

static void test_errors(void **state)
{
    (void)state;
    uint8_t rd[64] = {0};
    struct ens_tee_tsm_report rep;
    ens_error_t err = NULL;
    /* No configfs-tsm at all. */
    struct ens_tee_tsm_opts o = {.root = "/nonexistent/tsm/report", .privlevel = -1};
    assert_int_equal(ens_tee_tsm_get(&o, rd, &rep, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "absent"));
    ens_error_release(&err);
    /* Unknown provider. */
    struct kernel k = {.evidence = rd, .len = 64, .rd_off = 0, .bump = 1};
    char *dir = make_entry("arm_cca_guest\n");
    o = opts_for(dir, &k);
    assert_int_equal(ens_tee_tsm_get(&o, rd, &rep, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "unsupported provider"));
    ens_error_release(&err);
    /* A new entry that the (mimic) kernel does not populate: error, and the entry is removed. */
    o.reuse_existing = false;
    o.name = "fresh";
    assert_int_equal(ens_tee_tsm_get(&o, rd, &rep, &err), -1);
    ens_error_release(&err);
    char p[4300];
    snprintf(p, sizeof(p), "%s/fresh", o.root);
    assert_int_not_equal(access(p, F_OK), 0);
    /* Names cannot escape the report directory. */
    o.name = "../x";
    assert_int_equal(ens_tee_tsm_get(&o, rd, &rep, &err), -1);
    ens_error_release(&err);
    drop_entry(dir);
    /* SNP with a malformed auxblob certificate table. */
    uint8_t report[1184] = {2};
    uint8_t badaux[30] = {1};
    struct kernel ks = {.evidence = report, .len = sizeof(report), .rd_off = 0x50, .aux = badaux,
                        .aux_len = sizeof(badaux), .bump = 1};
    dir = make_entry("sev_guest\n");
    o = opts_for(dir, &ks);
    assert_int_equal(ens_tee_tsm_get(&o, rd, &rep, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "certificate table"));
    ens_error_release(&err);
    drop_entry(dir);
}

static uint8_t *load(const char *rel, size_t *len)
{
    char p[8192];
    snprintf(p, sizeof(p), "%s/%s", vdir, rel);
    char *buf = NULL;
    ens_error_t err = NULL;
    if (ens_read_file(p, 1 << 20, &buf, len, &err) < 0) {
        ens_error_release(&err);
        return NULL;
    }
    return (uint8_t *)buf;
}

/* SNP end to end: the report and an auxblob holding VCEK (DER), ASK and ARK
 * (PEM), verified with no other collateral (the ARK is pinned). */
static void test_snp_end_to_end(void **state)
{
    (void)state;
    size_t rl, vl, al, kl;
    _cleanup_free_ uint8_t *report = load("trustee-snp/test-report.bin", &rl);
    _cleanup_free_ uint8_t *vcek = load("trustee-snp/test-vcek.der", &vl);
    _cleanup_free_ uint8_t *ask = load("roots/amd_ask_milan.pem", &al);
    _cleanup_free_ uint8_t *ark = load("roots/amd_ark_milan.pem", &kl);
    if (!report || !vcek || !ask || !ark) {
        printf("SKIP: vectors: not found under %s\n", vdir);
        skip();
    }
    static const uint8_t g_vcek[16] = {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
                                       0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd};
    static const uint8_t g_ask[16] = {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4,
                                      0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82};
    static const uint8_t g_ark[16] = {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52,
                                      0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae};
    size_t hdr = 4 * 24, total = hdr + vl + al + kl;
    uint8_t *aux = calloc(1, total);
    const uint8_t *guids[3] = {g_vcek, g_ask, g_ark}, *data[3] = {vcek, ask, ark};
    size_t lens[3] = {vl, al, kl}, off = hdr;
    for (int i = 0; i < 3; i++) {
        memcpy(aux + 24 * i, guids[i], 16);
        uint32_t o32 = (uint32_t)off, l32 = (uint32_t)lens[i];
        memcpy(aux + 24 * i + 16, &o32, 4);
        memcpy(aux + 24 * i + 20, &l32, 4);
        memcpy(aux + off, data[i], lens[i]);
        off += lens[i];
    }
    struct kernel k = {.evidence = report, .len = rl, .rd_off = SIZE_MAX, .aux = aux, .aux_len = total, .bump = 1};
    char *dir = make_entry("sev_guest\n");
    struct ens_tee_tsm_opts o = opts_for(dir, &k);
    o.privlevel = 0;
    struct ens_tee_tsm_report rep;
    ens_error_t err = NULL;
    /* The vector's own REPORT_DATA is what we "request". */
    if (ens_tee_tsm_get(&o, report + 0x50, &rep, &err) < 0)
        fail_msg("%s", ens_error_msg(err));
    assert_int_equal(rep.type, ENS_TEE_SNP);
    assert_int_equal(k.writes, 2); /* privlevel + inblob */
    struct ens_tee_snp_cert *certs;
    size_t n;
    assert_int_equal(ens_tee_snp_certtable_parse(rep.auxblob, rep.auxblob_len, &certs, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(certs[0].kind, "vcek");
    assert_string_equal(certs[1].kind, "ask");
    assert_string_equal(certs[2].kind, "ark");
    free(certs);
    struct ens_tee_collateral *c = ens_tee_collateral_new();
    struct ens_tee_input in = {.evidence = rep.outblob, .len = rep.outblob_len, .aux = rep.auxblob,
                               .aux_len = rep.auxblob_len};
    json_t *claims = NULL;
    struct tm tm = {.tm_year = 124, .tm_mon = 0, .tm_mday = 1};
    if (ens_tee_verify_ex(&in, c, timegm(&tm), &claims, &err) < 0)
        fail_msg("%s", ens_error_msg(err));
    assert_string_equal(json_string_value(json_object_get(claims, "tee")), "snp");
    uint8_t want[64];
    memcpy(want, report + 0x50, 64);
    struct ens_tee_policy p = {.tolerate = ENS_TEE_TOLERATE_HYPERTHREADING};
    if (ens_tee_check_policy(claims, &p, want, &err) < 0)
        fail_msg("%s", ens_error_msg(err));
    assert_int_equal(ens_tee_claims_needs(claims), ENS_TEE_TOLERATE_HYPERTHREADING * json_is_true(json_object_get(claims, "smt_enabled")));
    assert_string_equal(ens_tee_claims_measurement(claims),
                        json_string_value(json_object_get(json_object_get(claims, "measurements"), "measurement")));
    json_decref(claims);
    /* The same through the JSON envelope the runtime sends to the CAS. */
    json_t *env = NULL;
    assert_int_equal(ens_tee_envelope_make(rep.type, rep.outblob, rep.outblob_len, rep.auxblob, rep.auxblob_len, &env, &err), 0);
    assert_string_equal(json_string_value(json_object_get(env, "type")), "snp");
    if (ens_tee_verify_envelope(env, c, timegm(&tm), &claims, &err) < 0)
        fail_msg("%s", ens_error_msg(err));
    json_decref(claims);
    json_object_set_new(env, "aux", json_string("not base64!"));
    assert_int_equal(ens_tee_verify_envelope(env, c, timegm(&tm), &claims, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "parse:"));
    ens_error_release(&err);
    json_object_del(env, "aux");
    json_object_set_new(env, "type", json_string("tdx"));
    assert_int_equal(ens_tee_verify_envelope(env, c, timegm(&tm), &claims, &err), -1);
    ens_error_release(&err);
    json_decref(env);
    /* Without the auxblob there is no VCEK. */
    in.aux = NULL;
    in.aux_len = 0;
    assert_int_equal(ens_tee_verify_ex(&in, c, timegm(&tm), &claims, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "snp-vcek"));
    ens_error_release(&err);
    ens_tee_collateral_free(c);
    ens_tee_tsm_report_clear(&rep);
    free(aux);
    drop_entry(dir);
}

/* TDX end to end: the dcap-qvl TDX quote through the mimic, then verified. */
static void test_tdx_end_to_end(void **state)
{
    (void)state;
    size_t ql;
    _cleanup_free_ uint8_t *q = load("dcap-qvl/tdx_quote", &ql);
    if (!q) {
        printf("SKIP: vectors: not found under %s\n", vdir);
        skip();
    }
    struct kernel k = {.evidence = q, .len = ql, .rd_off = SIZE_MAX, .bump = 1};
    char *dir = make_entry("tdx_guest\n");
    struct ens_tee_tsm_opts o = opts_for(dir, &k);
    struct ens_tee_tsm_report rep;
    ens_error_t err = NULL;
    if (ens_tee_tsm_get(&o, q + 48 + 520, &rep, &err) < 0)
        fail_msg("%s", ens_error_msg(err));
    struct ens_tee_collateral *c = ens_tee_collateral_new();
    char p[8192];
    snprintf(p, sizeof(p), "%s/dcap-qvl/tdx_quote_collateral.json", vdir);
    assert_int_equal(ens_tee_collateral_add_file(c, p, &err), 0);
    json_t *claims = NULL;
    struct tm tm = {.tm_year = 125, .tm_mon = 6, .tm_mday = 1};
    if (ens_tee_verify(rep.outblob, rep.outblob_len, c, timegm(&tm), &claims, &err) < 0)
        fail_msg("%s", ens_error_msg(err));
    assert_string_equal(json_string_value(json_object_get(claims, "tcb_status")), "UpToDate");
    assert_int_equal(ens_tee_claims_needs(claims), 0);
    json_decref(claims);
    json_t *env = NULL;
    assert_int_equal(ens_tee_envelope_make(ENS_TEE_UNKNOWN, rep.outblob, rep.outblob_len, NULL, 0, &env, &err), 0);
    assert_string_equal(json_string_value(json_object_get(env, "type")), "tdx");
    if (ens_tee_verify_envelope(env, c, timegm(&tm), &claims, &err) < 0)
        fail_msg("%s", ens_error_msg(err));
    json_decref(claims);
    json_decref(env);
    ens_tee_collateral_free(c);
    ens_tee_tsm_report_clear(&rep);
    drop_entry(dir);
}

int main(void)
{
    const char *s = getenv("ENSCONCE_SHARED");
    if (!s || !*s)
        s = getenv("ENSCONCE_SHARED_DEFAULT");
    snprintf(vdir, sizeof(vdir), "%s/vectors/attestation", s ? s : "../shared");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tdx_transport),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_snp_end_to_end),
        cmocka_unit_test(test_tdx_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
