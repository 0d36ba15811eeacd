/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of lib/policy: parsing, validation, hash, access, secrets, substitution, configuration. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/error.h"
#include "crypto/digest.h"
#include "policy/policy.h"

#define H64 "3f5c3f5c3f5c3f5c3f5c3f5c3f5c3f5c3f5c3f5c3f5c3f5c3f5c3f5c3f5c3f5c"
#define K1 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define K2 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define K3 "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

/* The spec's example (docs: ../shared/spec/scone-compat.md), with a full measurement. */
static const char *SPEC_EXAMPLE =
    "name: shop/cartservice\n"
    "version: \"0.3\"\n"
    "security:\n"
    "  attestation: {tolerate: [debug-mode, outdated-tcb], ignore_advisories: \"*\"}\n"
    "services:\n"
    "  - name: cartservice\n"
    "    mrenclaves: [" H64 "]\n"
    "    command: ./cartservice\n"
    "    pwd: /app\n"
    "    image_name: cart_image\n"
    "    environment: {REDIS_ADDR: \"redis-cart:6379\", REDIS_PASSWORD: \"$$SCONE::redis_pw$$\"}\n"
    "images:\n"
    "  - name: cart_image\n"
    "    injection_files:\n"
    "      - {path: /tls/cert.pem, content: \"$$SCONE::cart_cert:crt$$\"}\n"
    "secrets:\n"
    "  - {name: redis_pw, kind: ascii, size: 24}\n"
    "  - {name: shop_ca, kind: x509-ca}\n"
    "  - {name: cart_cert, kind: x509, issuer: shop_ca, dns: [cartservice]}\n";

static ens_policy_t *parse_ok(const char *y)
{
    ens_error_t err = NULL;
    ens_policy_t *p = NULL;
    int rc = ens_policy_parse(y, strlen(y), "t.yaml", &p, &err);
    if (rc < 0)
        fail_msg("unexpected parse error: %s", ens_error_msg(err));
    return p;
}

/* Parses y, expects failure, and checks the message contains every fragment. */
static void parse_fails(const char *y, size_t len, ...)
{
    ens_error_t err = NULL;
    ens_policy_t *p = NULL;
    int rc = ens_policy_parse(y, len, "t.yaml", &p, &err);
    if (rc == 0)
        fail_msg("expected a parse error for:\n%s", y);
    assert_null(p);
    va_list ap;
    va_start(ap, len);
    const char *frag;
    while ((frag = va_arg(ap, const char *)) != NULL)
        if (!strstr(ens_error_msg(err), frag))
            fail_msg("error '%s' lacks '%s'", ens_error_msg(err), frag);
    va_end(ap);
    ens_error_release(&err);
}
#define FAILS(y, ...) parse_fails(y, strlen(y), __VA_ARGS__, NULL)

static char *hash_of(const char *y)
{
    ens_policy_t *p = parse_ok(y);
    static char h[8][ENS_POLICY_HASH_HEX_LEN];
    static int slot;
    char *out = h[slot++ % 8];
    ens_error_t err = NULL;
    assert_int_equal(ens_policy_hash(p, out, &err), 0);
    ens_policy_free(p);
    return out;
}

/* ------------------------------------------------------------------ parsing */

static void spec_example_parses(void **state)
{
    (void)state;
    ens_policy_t *p = parse_ok(SPEC_EXAMPLE);
    assert_string_equal(ens_policy_name(p), "shop/cartservice");
    assert_string_equal(ens_policy_parent_namespace(p), "shop");
    assert_null(ens_policy_predecessor(p));
    assert_int_equal(ens_policy_service_count(p), 1);
    const ens_policy_service_t *s = ens_policy_service_find(p, "cartservice");
    assert_non_null(s);
    assert_int_equal(s->command_count, 1);
    assert_string_equal(s->command[0], "./cartservice");
    assert_string_equal(s->pwd, "/app");
    assert_int_equal(s->environment_count, 2);
    assert_string_equal(s->environment[1].key, "REDIS_PASSWORD");
    assert_int_equal(s->mrenclave_count, 1);
    assert_string_equal(s->mrenclaves[0], H64);
    const ens_policy_attestation_t *a = ens_policy_attestation(p);
    assert_int_equal(a->mode, ENS_ATTEST_HARDWARE);
    assert_int_equal(a->tolerate, ENS_TOLERATE_DEBUG_MODE | ENS_TOLERATE_OUTDATED_TCB);
    assert_true(a->ignore_all_advisories);
    const ens_policy_secret_t *pw = ens_policy_secret_find(p, "redis_pw");
    assert_int_equal(pw->kind, ENS_SECRET_ASCII);
    assert_int_equal(pw->size, 24);
    const ens_policy_secret_t *cc = ens_policy_secret_find(p, "cart_cert");
    assert_int_equal(cc->kind, ENS_SECRET_X509);
    assert_string_equal(cc->issuer, "shop_ca");
    assert_int_equal(cc->dns_count, 1);
    assert_string_equal(cc->common_name, "cart_cert");
    assert_int_equal(cc->valid_for_days, 365);
    size_t n;
    const ens_policy_principal_t *l = ens_policy_access_list(p, ENS_POLICY_OP_UPDATE, &n);
    assert_int_equal(n, 1);
    assert_int_equal(l[0].kind, ENS_PRINCIPAL_CREATOR);
    ens_error_t err = NULL;
    assert_int_equal(ens_policy_check_create(p, &err), 0);
    ens_policy_free(p);
}

static void full_model_parses(void **state)
{
    (void)state;
    const char *y = "name: ns1\n"
                    "version: 0.3\n"
                    "predecessor: " K1 "\n"
                    "services:\n"
                    "  - name: api\n"
                    "    command: [\"/bin/api\", \"--port\", \"8080\"]\n"
                    "    attestation: {mrenclave: [" H64 "]}\n"
                    "    mrenclaves: [" H64 "]\n"
                    "    fspf_path: /fspf.pb\n"
                    "    fspf_key: " K2 "\n"
                    "    fspf_tag: 00112233445566778899aabbccddeeff\n"
                    "    platforms: [node-1, node-2]\n"
                    "    image_name: img\n"
                    "images:\n"
                    "  - name: img\n"
                    "    volumes: [{name: data, path: /data}]\n"
                    "volumes:\n"
                    "  - name: data\n"
                    "    export: [{session: other}]\n"
                    "  - {name: shared, import: {session: other, volume: v}}\n"
                    "secrets:\n"
                    "  - {name: k, kind: private-key, key_type: rsa-3072}\n"
                    "  - {name: c, kind: x509, private_key: k, san: [api.local, 10.0.0.1, '::1'], valid_for: 2 years}\n"
                    "  - {name: b, kind: binary, value: AAECAw==, export_public: true}\n"
                    "  - {name: i, import: {session: other, secret: s}}\n"
                    "access_policy:\n"
                    "  read: [ANY]\n"
                    "  update: [CREATOR, " K3 "]\n"
                    "  create_sessions: NONE\n"
                    "security:\n"
                    "  attestation:\n"
                    "    mode: simulation\n"
                    "    tolerate: hyperthreading\n"
                    "    ignore_advisories: [INTEL-SA-00334, INTEL-SA-00615]\n";
    ens_policy_t *p = parse_ok(y);
    assert_null(ens_policy_parent_namespace(p));
    assert_string_equal(ens_policy_predecessor(p), K1);
    ens_error_t err = NULL;
    assert_int_equal(ens_policy_check_create(p, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "predecessor is forbidden"));
    ens_error_release(&err);
    const ens_policy_service_t *s = ens_policy_service_at(p, 0);
    assert_int_equal(s->command_count, 3);
    assert_string_equal(s->command[2], "8080");
    assert_int_equal(s->mrenclave_count, 1); /* the duplicate from both spellings is merged */
    assert_int_equal(s->platform_count, 2);
    const ens_policy_image_t *im = ens_policy_image_find(p, "img");
    assert_int_equal(im->volume_count, 1);
    assert_string_equal(im->volumes[0].path, "/data");
    const ens_policy_volume_t *v = ens_policy_volume_find(p, "shared");
    assert_string_equal(v->import_session, "other");
    assert_string_equal(v->import_volume, "v");
    const ens_policy_secret_t *c = ens_policy_secret_find(p, "c");
    assert_int_equal(c->dns_count, 1);
    assert_int_equal(c->ip_count, 2);
    assert_int_equal(c->valid_for_days, 730);
    const ens_policy_secret_t *b = ens_policy_secret_find(p, "b");
    assert_int_equal(b->value_len, 4);
    assert_memory_equal(b->value, "\0\1\2\3", 4);
    assert_true(b->export_public);
    assert_false(ens_policy_secret_find(p, "i")->kind_set);
    assert_int_equal(ens_policy_secret_find(p, "k")->key_type, ENS_KEY_RSA_3072);
    const ens_policy_attestation_t *a = ens_policy_attestation(p);
    assert_int_equal(a->mode, ENS_ATTEST_SIMULATION);
    assert_int_equal(a->tolerate, ENS_TOLERATE_HYPERTHREADING);
    assert_int_equal(a->ignore_advisory_count, 2);
    size_t n;
    const ens_policy_principal_t *l = ens_policy_access_list(p, ENS_POLICY_OP_UPDATE, &n);
    assert_int_equal(n, 2);
    assert_int_equal(l[1].kind, ENS_PRINCIPAL_KEY);
    assert_string_equal(l[1].hash, K3);
    ens_policy_free(p);
}

static void errors_name_line_and_column(void **state)
{
    (void)state;
    /* syntax */
    FAILS("name: x\nversion: \"0.3\"\nservices: [\n", "t.yaml:4:1:", "invalid YAML");
    FAILS("name: x\nversion: b: c\n", "t.yaml:2:11:");
    /* fields */
    FAILS("name: x\nversion: \"0.3\"\nservices:\n  - name: a\n    pwd: rel\n", "t.yaml:5:10:", "services[0].pwd",
          "absolute path");
    FAILS("name: x\nversion: \"0.3\"\nservices:\n  - name: a\n    bogus: 1\n", "t.yaml:5:5:", "unknown field 'bogus'");
    FAILS("name: x\nversion: \"0.3\"\nservices:\n  - name: a\n    mrenclaves: [" H64 ", 12zz]\n", "t.yaml:5:",
          "services[0].mrenclaves[1]", "hex");
    FAILS("name: x\nversion: \"0.3\"\nsecrets:\n  - {name: s, kind: nope}\n", "t.yaml:4:", "secrets[0].kind",
          "unknown secret kind");
    FAILS("name: x\nversion: \"0.4\"\n", "t.yaml:2:10:", "version", "unsupported version");
    FAILS("name: x\n", "missing required field 'version'");
    FAILS("version: \"0.3\"\n", "missing required field 'name'");
    FAILS("name: x\nversion: \"0.3\"\nname: y\n", "t.yaml:3:1:", "duplicate key 'name'");
    FAILS("name: x\nversion: \"0.3\"\nservices:\n  - name: a\n  - name: a\n", "t.yaml:5:", "services[1].name",
          "duplicate name 'a'");
    FAILS("name: x\nversion: \"0.3\"\nservices:\n  - {name: a, image_name: nope}\n", "services[0].image_name",
          "no image named 'nope'");
    FAILS("name: x\nversion: \"0.3\"\nimages:\n  - {name: i, volumes: [{name: v, path: /v}]}\n",
          "no volume named 'v'");
    FAILS("name: x\nversion: \"0.3\"\nsecrets:\n  - {name: c, kind: x509, issuer: c2}\n  - {name: c2, kind: ascii}\n",
          "secrets[0].issuer", "not an x509-ca");
    FAILS("name: x\nversion: \"0.3\"\nsecrets:\n  - {name: c, kind: x509, private_key: nope}\n", "no secret named");
    FAILS("name: x\nversion: \"0.3\"\nsecrets:\n  - {name: a, kind: x509-ca, issuer: b}\n"
          "  - {name: b, kind: x509-ca, issuer: a}\n",
          "secrets[0].issuer", "loops");
    FAILS("name: x\nversion: \"0.3\"\nsecrets:\n  - {name: k, kind: ascii}\n  - {name: c, kind: x509, private_key: k}\n",
          "secrets[1].private_key", "not a private-key");
    FAILS("name: x\nversion: \"0.3\"\nsecrets:\n  - {name: k, kind: ascii}\n  - {name: k, kind: binary}\n",
          "t.yaml:5:", "secrets[1].name", "duplicate name 'k'");
    FAILS("name: x\nversion: \"0.3\"\nservices:\n  - {name: a, environment: {A: 1, A: 2}}\n", "duplicate key 'A'");
    FAILS("name: x\nversion: \"0.3\"\nsecrets:\n  - {name: a, kind: ascii, dns: [x]}\n", "applies to x509");
    FAILS("name: x\nversion: \"0.3\"\nsecrets:\n  - {name: a, kind: ascii, size: -1}\n", "t.yaml:4:", "secrets[0].size");
    FAILS("name: x\nversion: \"0.3\"\nsecrets:\n  - {name: a, kind: binary, value: 'not base64!'}\n", "base64");
    FAILS("name: x\nversion: \"0.3\"\nsecrets:\n  - {name: a, kind: private-key, value: 'hello'}\n",
          "not a PEM private key");
    FAILS("name: x\nversion: \"0.3\"\nsecrets:\n  - {name: .x, kind: ascii}\n", "may not start with '.'");
    FAILS("name: x\nversion: \"0.3\"\nsecrets:\n  - {name: c, kind: x509, dns: [10.0.0.1]}\n", "IP address");
    FAILS("name: x\nversion: \"0.3\"\naccess_policy: {read: [somebody]}\n", "access_policy.read[0]",
          "CREATOR, ANY, NONE");
    FAILS("name: x\nversion: \"0.3\"\naccess_policy: {delete: [ANY]}\n", "unknown field 'delete'");
    FAILS("name: x\nversion: \"0.3\"\nsecurity: {attestation: {mode: maybe}}\n", "security.attestation.mode");
    FAILS("name: x\nversion: \"0.3\"\nsecurity: {attestation: {tolerate: [everything]}}\n",
          "unknown toleration 'everything'");
    FAILS("name: x\nversion: \"0.3\"\npredecessor: abc\n", "t.yaml:3:14:", "predecessor", "64 hex digits");
    FAILS("name: x\nversion: \"0.3\"\nservices: {a: 1}\n", "services", "expected a list");
    FAILS("- a\n- b\n", "top level");
    FAILS("name: x\nversion: \"0.3\"\n---\nname: y\n", "more than one YAML document");
    FAILS("a: &x [1]\nb: *x\n", "t.yaml:2:4:", "aliases");
    /* adjacent '' escapes in a single-quoted string read as the double-quoted equivalent (libfyaml 0.7.12,
     * used before libyaml, garbled or leaked on them) */
    {
        char *h1 = hash_of("name: x\nversion: \"0.3\"\nservices:\n  - {name: a, command: 'say ''''hi'''''}\n");
        char *h2 = hash_of("name: x\nversion: \"0.3\"\nservices:\n  - {name: a, command: \"say ''hi''\"}\n");
        assert_string_equal(h1, h2);
    }
    {
        /* single escapes still work, and block scalars keep their lines */
        ens_policy_t *p = parse_ok("name: x\nversion: \"0.3\"\nservices:\n  - name: a\n    command: ['it''s', 'a''b']\n"
                                   "    environment:\n      PEM: |\n        line1\n        line2\n");
        const ens_policy_service_t *s = ens_policy_service_at(p, 0);
        assert_string_equal(s->command[0], "it's");
        assert_string_equal(s->command[1], "a'b");
        assert_string_equal(s->environment[0].value, "line1\nline2\n");
        ens_policy_free(p);
    }
    /* libfyaml quotes bits of the input in some messages: never echoed (it may be a secret) */
    {
        const char *y = "name: x\nversion: \"0.3\"\nsecrets:\n  - {name: s, kind: ascii, value: \"hun\\qter2\"}\n";
        ens_error_t err = NULL;
        ens_policy_t *p = NULL;
        assert_int_equal(ens_policy_parse(y, strlen(y), "t.yaml", &p, &err), -1);
        assert_non_null(strstr(ens_error_msg(err), "t.yaml:4:"));
        assert_null(strstr(ens_error_msg(err), "\\q"));
        assert_null(strstr(ens_error_msg(err), "hun"));
        ens_error_release(&err);
    }
    FAILS("", "empty");
}

static void name_rules(void **state)
{
    (void)state;
    assert_true(ens_policy_name_valid("a"));
    assert_true(ens_policy_name_valid("A-z_0.9~"));
    assert_true(ens_policy_name_valid("parent/child/grandchild"));
    char longname[130];
    memset(longname, 'a', 128);
    longname[128] = '\0';
    assert_true(ens_policy_name_valid(longname));
    longname[128] = 'a';
    longname[129] = '\0';
    assert_false(ens_policy_name_valid(longname));
    assert_false(ens_policy_name_valid(""));
    assert_false(ens_policy_name_valid("a b"));
    assert_false(ens_policy_name_valid("a//b"));
    assert_false(ens_policy_name_valid("/a"));
    assert_false(ens_policy_name_valid("a/"));
    assert_false(ens_policy_name_valid("a/../b"));
    assert_false(ens_policy_name_valid("caf\xc3\xa9"));
    assert_false(ens_policy_name_valid("a:b"));
    FAILS("name: 'bad name'\nversion: \"0.3\"\n", "t.yaml:1:7:", "invalid session name");
}

static void invalid_utf8_and_oversized(void **state)
{
    (void)state;
    FAILS("name: ok\nversion: \"0.3\"\nservices:\n  - name: a\n    pwd: /x\xff\n", "t.yaml:5:12:", "invalid UTF-8");
    FAILS("name: \xc0\xaf\n", "t.yaml:1:7:", "invalid UTF-8"); /* overlong '/' */
    FAILS("name: \xed\xa0\x80\n", "invalid UTF-8");             /* surrogate */
    parse_fails("name: a\0b\n", 10, "NUL", NULL);
    size_t big = ENS_POLICY_MAX_SIZE + 1;
    char *buf = malloc(big);
    assert_non_null(buf);
    memset(buf, '#', big);
    parse_fails(buf, big, "limit", NULL);
    free(buf);
    /* deep nesting is refused, not a stack overflow */
    char deep[4096];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof(deep), "name: x\nversion: \"0.3\"\nservices: ");
    for (int i = 0; i < 1000; i++)
        deep[n++] = '[';
    deep[n] = '\0';
    parse_fails(deep, n, "t.yaml", NULL);
}

static void use_env_substitution(void **state)
{
    (void)state;
    setenv("ENS_T_NAME", "fromenv", 1);
    setenv("ENS_T_PW", "p$w", 1);
    const char *in = "name: $ENS_T_NAME\npw: ${ENS_T_PW}x\nref: $$SCONE::a$$\nlone: $ and $1\n";
    char *out = NULL;
    size_t len = 0;
    ens_error_t err = NULL;
    assert_int_equal(ens_policy_expand_env(in, strlen(in), &out, &len, &err), 0);
    assert_string_equal(out, "name: fromenv\npw: p$wx\nref: $$SCONE::a$$\nlone: $ and $1\n");
    assert_int_equal(len, strlen(out));
    free(out);
    unsetenv("ENS_T_MISSING");
    const char *miss = "a: 1\nb: $ENS_T_MISSING\n";
    assert_int_equal(ens_policy_expand_env(miss, strlen(miss), &out, &len, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "ENS_T_MISSING is not set"));
    assert_non_null(strstr(ens_error_msg(err), "line 2"));
    ens_error_release(&err);
    assert_int_equal(ens_policy_expand_env("a: ${X", 6, &out, &len, &err), -1);
    ens_error_release(&err);
    /* growth, and the bound on the expanded size */
    char *big = malloc(100001);
    memset(big, 'v', 100000);
    big[100000] = '\0';
    setenv("ENS_T_BIG", big, 1);
    free(big);
    assert_int_equal(ens_policy_expand_env("a: $ENS_T_BIG\n", 14, &out, &len, &err), 0);
    assert_int_equal(len, 100004);
    free(out);
    char many[2048] = "";
    for (int i = 0; i < 60; i++)
        strcat(many, "$ENS_T_BIG ");
    assert_int_equal(ens_policy_expand_env(many, strlen(many), &out, &len, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "too large"));
    ens_error_release(&err);
    unsetenv("ENS_T_BIG");
}

/* ------------------------------------------------------------------ hash */

static void hash_ignores_presentation(void **state)
{
    (void)state;
    const char *a = "name: s\nversion: \"0.3\"\n"
                    "services:\n  - name: a\n    command: /bin/a -x\n    environment: {A: '1', B: '2'}\n"
                    "  - name: b\n    command: /bin/b\n"
                    "secrets:\n  - {name: p, kind: ascii}\n  - {name: q, kind: binary, size: 16}\n"
                    "access_policy: {read: [ANY, CREATOR]}\n";
    /* keys reordered, block vs flow style, comments, quoting, services and secrets reordered,
     * command as a list, defaults spelt out, access list reordered */
    const char *b = "# a comment\nversion: '0.3'\nname: \"s\"\n"
                    "access_policy:\n  read: [CREATOR, ANY]\n  update: [CREATOR]\n"
                    "secrets:\n  - kind: binary\n    size: 16\n    name: q\n  - {name: p, kind: ascii, size: 20}\n"
                    "services:\n"
                    "  - {command: /bin/b, name: b}\n"
                    "  - name: a   # trailing comment\n"
                    "    environment:\n      B: \"2\"\n      A: 1\n"
                    "    command: [/bin/a, \"-x\"]\n"
                    "security: {attestation: {mode: hardware}}\n";
    assert_string_equal(hash_of(a), hash_of(b));
    /* CRLF line ends and a UTF-8 byte order mark change nothing either */
    char crlf[2048], bom[2048];
    size_t n = 0;
    for (const char *q = a; *q; q++) {
        if (*q == '\n')
            crlf[n++] = '\r';
        crlf[n++] = *q;
    }
    crlf[n] = '\0';
    snprintf(bom, sizeof(bom), "\xef\xbb\xbf%s", a);
    assert_string_equal(hash_of(a), hash_of(crlf));
    assert_string_equal(hash_of(a), hash_of(bom));
    char *h = hash_of(a);
    assert_int_equal(strlen(h), 64);
    for (int i = 0; i < 64; i++)
        assert_true((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f'));
}

static void hash_changes_with_semantics(void **state)
{
    (void)state;
    const char *base = "name: s\nversion: \"0.3\"\n"
                       "services:\n  - name: a\n    command: /bin/a -x\n    environment: {A: '1'}\n"
                       "secrets:\n  - {name: p, kind: ascii}\n";
    const char *variants[] = {
        "name: s2\nversion: \"0.3\"\nservices:\n  - name: a\n    command: /bin/a -x\n    environment: {A: '1'}\n"
        "secrets:\n  - {name: p, kind: ascii}\n",
        "name: s\nversion: \"0.3\"\npredecessor: " K1 "\nservices:\n  - name: a\n    command: /bin/a -x\n"
        "    environment: {A: '1'}\nsecrets:\n  - {name: p, kind: ascii}\n",
        "name: s\nversion: \"0.3\"\nservices:\n  - name: a\n    command: /bin/a -y\n    environment: {A: '1'}\n"
        "secrets:\n  - {name: p, kind: ascii}\n",
        "name: s\nversion: \"0.3\"\nservices:\n  - name: a\n    command: -x /bin/a\n    environment: {A: '1'}\n"
        "secrets:\n  - {name: p, kind: ascii}\n",
        "name: s\nversion: \"0.3\"\nservices:\n  - name: a\n    command: /bin/a -x\n    environment: {A: '2'}\n"
        "secrets:\n  - {name: p, kind: ascii}\n",
        "name: s\nversion: \"0.3\"\nservices:\n  - name: a\n    command: /bin/a -x\n    environment: {A: '1'}\n"
        "    pwd: /\nsecrets:\n  - {name: p, kind: ascii}\n",
        "name: s\nversion: \"0.3\"\nservices:\n  - name: a\n    command: /bin/a -x\n    environment: {A: '1'}\n"
        "    mrenclaves: [" H64 "]\nsecrets:\n  - {name: p, kind: ascii}\n",
        "name: s\nversion: \"0.3\"\nservices:\n  - name: a\n    command: /bin/a -x\n    environment: {A: '1'}\n"
        "secrets:\n  - {name: p, kind: ascii, size: 21}\n",
        "name: s\nversion: \"0.3\"\nservices:\n  - name: a\n    command: /bin/a -x\n    environment: {A: '1'}\n"
        "secrets:\n  - {name: p, kind: binary}\n",
        "name: s\nversion: \"0.3\"\nservices:\n  - name: a\n    command: /bin/a -x\n    environment: {A: '1'}\n"
        "secrets:\n  - {name: p, kind: ascii, value: abc}\n",
        "name: s\nversion: \"0.3\"\nservices:\n  - name: a\n    command: /bin/a -x\n    environment: {A: '1'}\n"
        "secrets:\n  - {name: p, kind: ascii, value: abd}\n",
        "name: s\nversion: \"0.3\"\nservices:\n  - name: a\n    command: /bin/a -x\n    environment: {A: '1'}\n"
        "secrets:\n  - {name: p, kind: ascii, export_public: true}\n",
        "name: s\nversion: \"0.3\"\nservices:\n  - name: a\n    command: /bin/a -x\n    environment: {A: '1'}\n"
        "secrets:\n  - {name: p, kind: ascii}\naccess_policy: {read: [ANY]}\n",
        "name: s\nversion: \"0.3\"\nservices:\n  - name: a\n    command: /bin/a -x\n    environment: {A: '1'}\n"
        "secrets:\n  - {name: p, kind: ascii}\nsecurity: {attestation: {mode: simulation}}\n",
        "name: s\nversion: \"0.3\"\nservices:\n  - name: a\n    command: /bin/a -x\n    environment: {A: '1'}\n"
        "secrets:\n  - {name: p, kind: ascii}\nsecurity: {attestation: {tolerate: [debug-mode]}}\n",
        "name: s\nversion: \"0.3\"\nservices:\n  - name: a\n    command: /bin/a -x\n    environment: {A: '1'}\n"
        "secrets:\n  - {name: p, kind: ascii}\nvolumes: [{name: v}]\n",
    };
    char hb[ENS_POLICY_HASH_HEX_LEN];
    strcpy(hb, hash_of(base));
    char seen[sizeof(variants) / sizeof(variants[0])][ENS_POLICY_HASH_HEX_LEN];
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        strcpy(seen[i], hash_of(variants[i]));
        if (!strcmp(seen[i], hb))
            fail_msg("variant %zu has the base hash", i);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(seen[i], seen[j]))
                fail_msg("variants %zu and %zu collide", i, j);
    }
    /* the canonical form never carries explicit secret values */
    ens_policy_t *p = parse_ok(variants[9]);
    json_t *j = NULL;
    ens_error_t err = NULL;
    assert_int_equal(ens_policy_canonical_json(p, &j, &err), 0);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_null(strstr(s, "\"abc\""));
    assert_non_null(strstr(s, "value_sha256"));
    free(s);
    json_decref(j);
    ens_policy_free(p);
}

/* ------------------------------------------------------------------ access */

static void access_matrix(void **state)
{
    (void)state;
    struct {
        const char *entry;
        const char *client;
        bool allowed;
    } cases[] = {
        {"CREATOR", K1, true},   {"CREATOR", K2, false}, {"CREATOR", NULL, false}, {"ANY", K2, true},
        {"ANY", NULL, true},     {"NONE", K1, false},    {"NONE", K2, false},      {K2, K2, true},
        {K2, K1, false},         {K2, K3, false},        {"[CREATOR, " K2 "]", K2, true},
        {"[CREATOR, " K2 "]", K1, true}, {"[CREATOR, " K2 "]", K3, false}, {"[ANY, NONE]", K1, false},
    };
    const char *ops[] = {"read", "update", "create_sessions"};
    for (int op = 0; op < 3; op++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            char y[1024];
            snprintf(y, sizeof(y), "name: s\nversion: \"0.3\"\naccess_policy: {%s: %s}\n", ops[op], cases[i].entry);
            ens_policy_t *p = parse_ok(y);
            bool got = ens_policy_access_allowed(p, (ens_policy_op_t)op, cases[i].client, K1);
            if (got != cases[i].allowed)
                fail_msg("%s: %s, client %s: expected %s", ops[op], cases[i].entry,
                         cases[i].client ? cases[i].client : "(none)", cases[i].allowed ? "allowed" : "refused");
            /* the other operations keep their default, CREATOR */
            for (int o2 = 0; o2 < 3; o2++)
                if (o2 != op) {
                    assert_true(ens_policy_access_allowed(p, (ens_policy_op_t)o2, K1, K1));
                    assert_false(ens_policy_access_allowed(p, (ens_policy_op_t)o2, K2, K1));
                }
            ens_policy_free(p);
        }
    }
    /* upper-case hashes compare equal */
    ens_policy_t *p = parse_ok("name: s\nversion: \"0.3\"\naccess_policy: {read: [" K3 "]}\n");
    assert_true(ens_policy_access_allowed(p, ENS_POLICY_OP_READ, "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC", K1));
    assert_false(ens_policy_access_allowed(p, ENS_POLICY_OP_READ, "ccc", K1));
    ens_policy_free(p);
}

static void key_hash_of_certificate(void **state)
{
    (void)state;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    char h1[ENS_POLICY_HASH_HEX_LEN], h2[ENS_POLICY_HASH_HEX_LEN];
    ens_error_t err = NULL;
    assert_int_equal(ens_policy_key_hash(k, h1, &err), 0);
    /* same as sha256(DER SubjectPublicKeyInfo) */
    unsigned char *der = NULL;
    int dl = i2d_PUBKEY(k, &der);
    uint8_t d[32];
    char hex[65];
    ens_sha256(der, (size_t)dl, d);
    ens_hex_encode(d, 32, hex);
    OPENSSL_free(der);
    assert_string_equal(h1, hex);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    char *pem;
    long pl = BIO_get_mem_data(b, &pem);
    assert_int_equal(ens_policy_key_hash_pem(pem, (size_t)pl, h2, &err), 0);
    assert_string_equal(h1, h2);
    BIO_free(b);
    assert_int_equal(ens_policy_key_hash_pem("junk", 4, h2, &err), -1);
    ens_error_release(&err);
    EVP_PKEY_free(k);
}

/* ------------------------------------------------------------------ secrets */

static const char *ALL_KINDS =
    "name: kinds\nversion: \"0.3\"\n"
    "secrets:\n"
    "  - {name: a, kind: ascii}\n"
    "  - {name: a24, kind: ascii, size: 24}\n"
    "  - {name: bin, kind: binary, size: 48}\n"
    "  - {name: k256, kind: private-key}\n"
    "  - {name: k384, kind: private-key, key_type: ec-p384}\n"
    "  - {name: ked, kind: private-key, key_type: ed25519}\n"
    "  - {name: krsa, kind: private-key, key_type: rsa-3072}\n"
    "  - {name: ca, kind: x509-ca, common_name: Test CA, key_type: ec-p384}\n"
    "  - {name: subca, kind: x509-ca, issuer: ca, key_type: ed25519}\n"
    "  - {name: leaf, kind: x509, issuer: subca, common_name: svc, dns: [svc.local, svc], san: [10.1.2.3], "
    "valid_for: 30}\n"
    "  - {name: rsaleaf, kind: x509, issuer: ca, private_key: krsa}\n"
    "  - {name: self, kind: x509}\n"
    "  - {name: given, kind: ascii, value: hunter2}\n";

static ens_secret_store_t *materialize(const ens_policy_t *p, const char *prev)
{
    ens_secret_store_t *s = NULL;
    ens_error_t err = NULL;
    if (ens_secrets_materialize(p, prev, NULL, NULL, &s, &err) < 0)
        fail_msg("materialize: %s", ens_error_msg(err));
    return s;
}

static char *fmt(const ens_secret_store_t *s, const char *name, const char *f, size_t *len)
{
    char *out = NULL;
    size_t l = 0;
    ens_error_t err = NULL;
    if (ens_secret_store_format(s, name, f, &out, &l, &err) < 0)
        fail_msg("format %s:%s: %s", name, f ? f : "", ens_error_msg(err));
    if (len)
        *len = l;
    return out;
}

static X509 *cert_of(const ens_secret_store_t *s, const char *name)
{
    char *pem = fmt(s, name, "crt", NULL);
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    free(pem);
    assert_non_null(x);
    return x;
}

static EVP_PKEY *key_of(const ens_secret_store_t *s, const char *name)
{
    char *pem = fmt(s, name, "privatekey", NULL);
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    free(pem);
    assert_non_null(k);
    return k;
}

static void assert_group(EVP_PKEY *k, const char *group)
{
    char g[64];
    size_t gl;
    assert_int_equal(EVP_PKEY_get_base_id(k), EVP_PKEY_EC);
    assert_int_equal(EVP_PKEY_get_utf8_string_param(k, "group", g, sizeof(g), &gl), 1);
    assert_string_equal(g, group);
}

static void secrets_of_every_kind(void **state)
{
    (void)state;
    ens_policy_t *p = parse_ok(ALL_KINDS);
    ens_secret_store_t *s = materialize(p, NULL);
    size_t l;
    char *v = fmt(s, "a", NULL, &l);
    assert_int_equal(l, 20);
    for (size_t i = 0; i < l; i++)
        assert_true((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= '0' && v[i] <= '9'));
    free(v);
    free(fmt(s, "a24", NULL, &l));
    assert_int_equal(l, 24);
    free(fmt(s, "bin", NULL, &l));
    assert_int_equal(l, 48);
    v = fmt(s, "given", NULL, &l);
    assert_string_equal(v, "hunter2");
    free(v);

    EVP_PKEY *k = key_of(s, "k256");
    assert_group(k, "prime256v1");
    EVP_PKEY_free(k);
    k = key_of(s, "k384");
    assert_group(k, "secp384r1");
    EVP_PKEY_free(k);
    k = key_of(s, "ked");
    assert_int_equal(EVP_PKEY_get_base_id(k), EVP_PKEY_ED25519);
    EVP_PKEY_free(k);
    k = key_of(s, "krsa");
    assert_int_equal(EVP_PKEY_get_base_id(k), EVP_PKEY_RSA);
    assert_int_equal(EVP_PKEY_get_bits(k), 3072);
    EVP_PKEY_free(k);

    /* the chain ca -> subca -> leaf verifies with OpenSSL */
    X509 *ca = cert_of(s, "ca"), *sub = cert_of(s, "subca"), *leaf = cert_of(s, "leaf");
    X509 *rsaleaf = cert_of(s, "rsaleaf"), *self = cert_of(s, "self");
    X509_STORE *st = X509_STORE_new();
    X509_STORE_add_cert(st, ca);
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    sk_X509_push(untrusted, sub);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, st, leaf, untrusted);
    int ok = X509_verify_cert(ctx);
    if (ok != 1)
        fail_msg("leaf does not verify: %s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, st, rsaleaf, NULL);
    assert_int_equal(X509_verify_cert(ctx), 1);
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    X509_STORE_free(st);
    /* leaf names, SANs and validity */
    char cn[64];
    X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof(cn));
    assert_string_equal(cn, "svc");
    X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, cn, sizeof(cn));
    assert_string_equal(cn, "Test CA");
    assert_int_equal(X509_check_host(leaf, "svc.local", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(leaf, "svc", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(leaf, "other", 0, 0, NULL), 0);
    assert_int_equal(X509_check_ip_asc(leaf, "10.1.2.3", 0), 1);
    int days, secs;
    ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(leaf), X509_get0_notAfter(leaf));
    assert_true(days == 30 || (days == 29 && secs > 0)); /* notBefore carries an hour of slack */
    assert_int_equal(X509_check_ca(ca), 1);
    assert_int_equal(X509_check_ca(leaf), 0);
    assert_int_equal(X509_verify(self, X509_get0_pubkey(self)), 1); /* self-signed */
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(self), X509_get_issuer_name(self)), 0);
    /* the leaf's key matches its certificate; rsaleaf uses the named private key */
    k = key_of(s, "leaf");
    assert_int_equal(X509_check_private_key(leaf, k), 1);
    EVP_PKEY_free(k);
    k = key_of(s, "krsa");
    assert_int_equal(X509_check_private_key(rsaleaf, k), 1);
    EVP_PKEY_free(k);
    /* chain = leaf + subca + ca */
    char *chain = fmt(s, "leaf", "chain", NULL);
    int count = 0;
    for (char *q = chain; (q = strstr(q, "BEGIN CERTIFICATE")); q++)
        count++;
    assert_int_equal(count, 3);
    free(chain);
    X509_free(ca);
    X509_free(sub);
    X509_free(leaf);
    X509_free(rsaleaf);
    X509_free(self);
    /* the session CA exists too */
    X509 *sca = cert_of(s, ENS_SESSION_CA_SECRET);
    assert_int_equal(X509_check_ca(sca), 1);
    X509_free(sca);
    ens_secret_store_free(s);
    ens_policy_free(p);
}

static void secrets_stable_across_updates(void **state)
{
    (void)state;
    ens_policy_t *p1 = parse_ok(ALL_KINDS);
    ens_secret_store_t *s1 = materialize(p1, NULL);
    char *store1 = NULL;
    ens_error_t err = NULL;
    assert_int_equal(ens_secret_store_serialize(s1, &store1, &err), 0);
    /* an update: same names and kinds, one new secret, a service added */
    char y2[4096];
    snprintf(y2, sizeof(y2), "%s  - {name: newone, kind: ascii}\nservices: [{name: x, command: /x}]\n", ALL_KINDS);
    ens_policy_t *p2 = parse_ok(y2);
    ens_secret_store_t *s2 = materialize(p2, store1);
    const char *names[] = {"a", "a24", "bin", "k256", "k384", "ked", "krsa", "ca", "subca", "leaf", "rsaleaf", "self",
                           ENS_SESSION_CA_SECRET};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *f = i >= 7 ? "chain" : "base64";
        char *v1 = fmt(s1, names[i], f, NULL), *v2 = fmt(s2, names[i], f, NULL);
        if (strcmp(v1, v2))
            fail_msg("secret %s changed across an update", names[i]);
        free(v1);
        free(v2);
        if (i >= 7) {
            v1 = fmt(s1, names[i], "privatekey", NULL);
            v2 = fmt(s2, names[i], "privatekey", NULL);
            assert_string_equal(v1, v2);
            free(v1);
            free(v2);
        }
    }
    /* serialise/load round trip keeps values */
    ens_secret_store_t *loaded = NULL;
    assert_int_equal(ens_secret_store_load(store1, strlen(store1), &loaded, &err), 0);
    char *v1 = fmt(s1, "a", NULL, NULL), *v2 = fmt(loaded, "a", NULL, NULL);
    assert_string_equal(v1, v2);
    free(v1);
    free(v2);
    ens_secret_store_free(loaded);

    /* a kind change, a size change and a key_type change regenerate; a changed SAN re-issues the
     * certificate but keeps its key */
    const char *y3 = "name: kinds\nversion: \"0.3\"\n"
                     "secrets:\n"
                     "  - {name: a, kind: binary, size: 20}\n"
                     "  - {name: a24, kind: ascii, size: 25}\n"
                     "  - {name: k256, kind: private-key, key_type: ec-p384}\n"
                     "  - {name: ca, kind: x509-ca, common_name: Test CA, key_type: ec-p384}\n"
                     "  - {name: subca, kind: x509-ca, issuer: ca, key_type: ed25519}\n"
                     "  - {name: leaf, kind: x509, issuer: subca, common_name: svc, dns: [svc.local, svc, more], "
                     "san: [10.1.2.3], valid_for: 30}\n";
    ens_policy_t *p3 = parse_ok(y3);
    ens_secret_store_t *s3 = materialize(p3, store1);
    const char *changed[] = {"a", "a24", "k256"};
    for (size_t i = 0; i < 3; i++) {
        v1 = fmt(s1, changed[i], "base64", NULL);
        v2 = fmt(s3, changed[i], "base64", NULL);
        if (!strcmp(v1, v2))
            fail_msg("secret %s should have been regenerated", changed[i]);
        free(v1);
        free(v2);
    }
    v1 = fmt(s1, "leaf", "crt", NULL);
    v2 = fmt(s3, "leaf", "crt", NULL);
    assert_string_not_equal(v1, v2);
    free(v1);
    free(v2);
    v1 = fmt(s1, "leaf", "privatekey", NULL);
    v2 = fmt(s3, "leaf", "privatekey", NULL);
    assert_string_equal(v1, v2);
    free(v1);
    free(v2);
    v1 = fmt(s1, "ca", "crt", NULL);
    v2 = fmt(s3, "ca", "crt", NULL);
    assert_string_equal(v1, v2);
    free(v1);
    free(v2);
    /* removed secrets are gone */
    char *o = NULL;
    size_t ol;
    assert_int_equal(ens_secret_store_format(s3, "bin", NULL, &o, &ol, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "unknown secret 'bin'"));
    ens_error_release(&err);
    /* a malformed previous store is an error, not a silent regeneration */
    ens_secret_store_t *bad = NULL;
    assert_int_equal(ens_secrets_materialize(p1, "{not json", NULL, NULL, &bad, &err), -1);
    ens_error_release(&err);
    ens_secret_store_free(s1);
    ens_secret_store_free(s2);
    ens_secret_store_free(s3);
    ens_policy_free(p1);
    ens_policy_free(p2);
    ens_policy_free(p3);
    free(store1);
}

/* ------------------------------------------------------------------ export / import */

struct exporter {
    ens_policy_t *p;
    ens_secret_store_t *s;
    int calls;
};

static int resolver(void *ctx, const char *importer, const char *exporter, const char *secret, char **rec,
                    ens_error_t *err)
{
    struct exporter *e = ctx;
    e->calls++;
    if (strcmp(exporter, ens_policy_name(e->p)))
        return ens_error(err, ENOENT, "no session %s", exporter);
    return ens_secret_store_export(e->p, e->s, secret, importer, rec, err);
}

static void import_needs_grant(void **state)
{
    (void)state;
    const char *exp_yaml = "name: exporter\nversion: \"0.3\"\n"
                           "secrets:\n"
                           "  - {name: shared, kind: ascii, export: [{session: friend}]}\n"
                           "  - {name: private, kind: ascii}\n"
                           "  - {name: pub, kind: ascii, export_public: true}\n"
                           "  - {name: pkey, kind: private-key, export_public: true}\n"
                           "  - {name: ca, kind: x509-ca, export: [{session: friend}]}\n"
                           "volumes:\n  - {name: vol, export: [{session: friend}]}\n";
    struct exporter e = {.p = parse_ok(exp_yaml)};
    e.s = materialize(e.p, NULL);
    ens_error_t err = NULL;

    /* granted */
    ens_policy_t *friend = parse_ok("name: friend\nversion: \"0.3\"\n"
                                    "secrets:\n"
                                    "  - {name: mine, import: {session: exporter, secret: shared}}\n"
                                    "  - {name: ca, kind: x509-ca, import: {session: exporter, secret: ca}}\n"
                                    "  - {name: leaf, kind: x509, issuer: ca}\n"
                                    "volumes:\n  - {name: v, import: {session: exporter, volume: vol}}\n");
    ens_secret_store_t *fs = NULL;
    if (ens_secrets_materialize(friend, NULL, resolver, &e, &fs, &err) < 0)
        fail_msg("granted import failed: %s", ens_error_msg(err));
    char *a = fmt(e.s, "shared", NULL, NULL), *b = fmt(fs, "mine", NULL, NULL);
    assert_string_equal(a, b);
    free(a);
    free(b);
    assert_string_equal(ens_secret_store_volume_key(fs, "v"), ens_secret_store_volume_key(e.s, "vol"));
    /* a leaf issued in the importing session by the imported CA chains to it */
    X509 *ca = cert_of(e.s, "ca"), *leaf = cert_of(fs, "leaf");
    EVP_PKEY *cak = X509_get0_pubkey(ca);
    assert_int_equal(X509_verify(leaf, cak), 1);
    X509_free(ca);
    X509_free(leaf);
    ens_secret_store_free(fs);
    ens_policy_free(friend);

    /* not granted: stranger imports 'shared', and anybody imports 'private' */
    const char *refused[] = {
        "name: stranger\nversion: \"0.3\"\nsecrets:\n  - {name: x, import: {session: exporter, secret: shared}}\n",
        "name: friend\nversion: \"0.3\"\nsecrets:\n  - {name: x, import: {session: exporter, secret: private}}\n",
        "name: stranger\nversion: \"0.3\"\nvolumes:\n  - {name: v, import: {session: exporter, volume: vol}}\n",
        ("name: friend\nversion: \"0.3\"\nsecrets:\n  - {name: x, kind: binary, import: {session: exporter, secret: "
         "shared}}\n"),
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        ens_policy_t *p = parse_ok(refused[i]);
        ens_secret_store_t *s = NULL;
        assert_int_equal(ens_secrets_materialize(p, NULL, resolver, &e, &s, &err), -1);
        assert_null(s);
        const char *m = ens_error_msg(err);
        if (i < 3 && !strstr(m, "does not export"))
            fail_msg("case %zu: unexpected message %s", i, m);
        if (i == 3 && !strstr(m, "declared kind binary"))
            fail_msg("case %zu: unexpected message %s", i, m);
        /* the secret's value never appears in the message */
        char *v = fmt(e.s, "shared", NULL, NULL);
        assert_null(strstr(m, v));
        free(v);
        ens_error_release(&err);
        ens_policy_free(p);
    }
    /* no resolver: import refused */
    ens_policy_t *p = parse_ok(refused[0]);
    ens_secret_store_t *s = NULL;
    assert_int_equal(ens_secrets_materialize(p, NULL, NULL, NULL, &s, &err), -1);
    ens_error_release(&err);
    ens_policy_free(p);

    /* export_public: anyone gets the public part only */
    p = parse_ok("name: anyone\nversion: \"0.3\"\nsecrets:\n"
                 "  - {name: x, import: {session: exporter, secret: pub}}\n"
                 "  - {name: y, import: {session: exporter, secret: pkey}}\n");
    assert_int_equal(ens_secrets_materialize(p, NULL, resolver, &e, &s, &err), 0);
    a = fmt(e.s, "pub", NULL, NULL);
    b = fmt(s, "x", NULL, NULL);
    assert_string_equal(a, b);
    free(a);
    free(b);
    char *o = NULL;
    size_t ol;
    assert_int_equal(ens_secret_store_format(s, "y", "privatekey", &o, &ol, &err), -1);
    ens_error_release(&err);
    o = fmt(s, "y", "publickey", NULL);
    assert_non_null(strstr(o, "BEGIN PUBLIC KEY"));
    free(o);
    ens_secret_store_free(s);
    ens_policy_free(p);

    /* public values list export_public secrets only, without private keys */
    json_t *pv = NULL;
    assert_int_equal(ens_secret_store_public_values(e.p, e.s, &pv, &err), 0);
    assert_int_equal(json_object_size(pv), 2);
    a = fmt(e.s, "pub", NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(pv, "pub"), "value")), a);
    free(a);
    assert_non_null(json_object_get(json_object_get(pv, "pkey"), "public_key"));
    char *dump = json_dumps(pv, 0);
    assert_null(strstr(dump, "PRIVATE KEY"));
    free(dump);
    json_decref(pv);
    ens_secret_store_free(e.s);
    ens_policy_free(e.p);
}

/* ------------------------------------------------------------------ substitution & configuration */

static void substitution_formats(void **state)
{
    (void)state;
    ens_policy_t *p = parse_ok("name: s\nversion: \"0.3\"\nsecrets:\n"
                               "  - {name: pw, kind: ascii, value: 'abc'}\n"
                               "  - {name: raw, kind: binary, value: AAEC/w==}\n"
                               "  - {name: key, kind: private-key}\n"
                               "  - {name: ca, kind: x509-ca}\n"
                               "  - {name: crt, kind: x509, issuer: ca}\n");
    ens_secret_store_t *s = materialize(p, NULL);
    ens_error_t err = NULL;
    struct {
        const char *in, *out;
    } exact[] = {
        {"x$$SCONE::pw$$y", "xabcy"},
        {"$$SCONE::pw:hex$$", "616263"},
        {"$$SCONE::pw:base64$$", "YWJj"},
        {"$$SCONE::raw:hex$$", "000102ff"},
        {"$$SCONE::raw:base64$$", "AAEC/w=="},
        {"$$SCONE::pw$$$$SCONE::pw$$", "abcabc"},
        {"no refs $$ here $ $$SCONE", "no refs $$ here $ $$SCONE"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
        char *o = NULL;
        size_t ol = 0;
        if (ens_policy_substitute(s, exact[i].in, strlen(exact[i].in), &o, &ol, &err) < 0)
            fail_msg("%s: %s", exact[i].in, ens_error_msg(err));
        assert_string_equal(o, exact[i].out);
        assert_int_equal(ol, strlen(exact[i].out));
        free(o);
    }
    /* binary default keeps NUL bytes, with the length */
    char *o = NULL;
    size_t ol = 0;
    assert_int_equal(ens_policy_substitute(s, "$$SCONE::raw$$", 14, &o, &ol, &err), 0);
    assert_int_equal(ol, 4);
    assert_memory_equal(o, "\0\1\2\377", 4);
    free(o);
    /* PEM formats */
    struct {
        const char *ref, *must;
    } pems[] = {
        {"$$SCONE::key$$", "BEGIN PRIVATE KEY"},        {"$$SCONE::key:pem$$", "BEGIN PRIVATE KEY"},
        {"$$SCONE::key:privatekey$$", "BEGIN PRIVATE KEY"}, {"$$SCONE::crt$$", "BEGIN CERTIFICATE"},
        {"$$SCONE::crt:crt$$", "BEGIN CERTIFICATE"},    {"$$SCONE::crt:pem$$", "BEGIN CERTIFICATE"},
        {"$$SCONE::crt:privatekey$$", "BEGIN PRIVATE KEY"}, {"$$SCONE::crt:chain$$", "BEGIN CERTIFICATE"},
        {"$$SCONE::ca:crt$$", "BEGIN CERTIFICATE"},
    };
    for (size_t i = 0; i < sizeof(pems) / sizeof(pems[0]); i++) {
        assert_int_equal(ens_policy_substitute(s, pems[i].ref, strlen(pems[i].ref), &o, &ol, &err), 0);
        if (!strstr(o, pems[i].must))
            fail_msg("%s lacks %s", pems[i].ref, pems[i].must);
        free(o);
    }
    /* chain = crt + ca */
    char *crt = fmt(s, "crt", "crt", NULL), *ca = fmt(s, "ca", "crt", NULL), *chain = fmt(s, "crt", "chain", NULL);
    char *both = malloc(strlen(crt) + strlen(ca) + 1);
    strcpy(both, crt);
    strcat(both, ca);
    assert_string_equal(chain, both);
    free(both);
    free(chain);
    free(ca);
    /* hex / base64 of a certificate are its DER */
    X509 *x = cert_of(s, "crt");
    unsigned char *der = NULL;
    int dl = i2d_X509(x, &der);
    char *hx = fmt(s, "crt", "hex", NULL);
    assert_int_equal(strlen(hx), (size_t)dl * 2);
    uint8_t *back = malloc((size_t)dl);
    assert_int_equal(ens_hex_decode(hx, back, (size_t)dl, &err), 0);
    assert_memory_equal(back, der, (size_t)dl);
    free(back);
    free(hx);
    OPENSSL_free(der);
    X509_free(x);
    free(crt);
    /* errors name the reference, not values */
    const char *bad[][2] = {
        {"$$SCONE::nope$$", "unknown secret 'nope'"},
        {"$$SCONE::pw:crt$$", "format 'crt' does not apply"},
        {"$$SCONE::pw:weird$$", "format 'weird'"},
        {"$$SCONE::key:chain$$", "format 'chain'"},
        {"$$SCONE::pw", "malformed substitution"},
        {"$$SCONE::$$", "malformed substitution"},
        {"$$SCONE::pw:$$", "empty format"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ens_policy_substitute(s, bad[i][0], strlen(bad[i][0]), &o, &ol, &err), -1);
        if (!strstr(ens_error_msg(err), bad[i][1]))
            fail_msg("%s: message '%s' lacks '%s'", bad[i][0], ens_error_msg(err), bad[i][1]);
        assert_null(strstr(ens_error_msg(err), "abc"));
        ens_error_release(&err);
    }
    ens_secret_store_free(s);
    ens_policy_free(p);
}

static void service_configuration(void **state)
{
    (void)state;
    ens_policy_t *p = parse_ok(SPEC_EXAMPLE);
    ens_secret_store_t *s = materialize(p, NULL);
    json_t *cfg = NULL;
    ens_error_t err = NULL;
    assert_int_equal(ens_policy_service_config(p, "cartservice", s, &cfg, &err), 0);
    assert_string_equal(json_string_value(json_object_get(cfg, "session")), "shop/cartservice");
    assert_string_equal(json_string_value(json_object_get(cfg, "service")), "cartservice");
    assert_string_equal(json_string_value(json_array_get(json_object_get(cfg, "command"), 0)), "./cartservice");
    assert_string_equal(json_string_value(json_object_get(cfg, "pwd")), "/app");
    json_t *env = json_object_get(cfg, "environment");
    assert_string_equal(json_string_value(json_object_get(env, "REDIS_ADDR")), "redis-cart:6379");
    char *pw = fmt(s, "redis_pw", NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(env, "REDIS_PASSWORD")), pw);
    assert_int_equal(strlen(pw), 24);
    free(pw);
    json_t *inj = json_array_get(json_object_get(cfg, "injection_files"), 0);
    assert_string_equal(json_string_value(json_object_get(inj, "path")), "/tls/cert.pem");
    /* content is base64 of the substituted certificate */
    const char *b64 = json_string_value(json_object_get(inj, "content"));
    unsigned char *raw = malloc(strlen(b64));
    int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)strlen(b64));
    assert_true(n > 0);
    char *crt = fmt(s, "cart_cert", "crt", NULL);
    assert_memory_equal(raw, crt, strlen(crt));
    free(crt);
    free(raw);
    json_decref(cfg);
    assert_int_equal(ens_policy_service_config(p, "nope", s, &cfg, &err), -1);
    ens_error_release(&err);
    ens_secret_store_free(s);
    ens_policy_free(p);

    /* volumes and fspf: generated keys, tags tracked, older tags refused */
    p = parse_ok("name: v\nversion: \"0.3\"\n"
                 "services:\n  - {name: db, image_name: img, command: [/db, '$$SCONE::pw:hex$$'], fspf_path: /f.pb, "
                 "fspf_key: " K2 ", fspf_tag: 00112233445566778899aabbccddeeff}\n"
                 "images:\n  - {name: img, volumes: [{name: data, path: /data}, {name: fixed, path: /fixed}]}\n"
                 "volumes:\n  - {name: data}\n  - {name: fixed, fspf_key: " K1 ", fspf_tag: " K3 "}\n"
                 "secrets:\n  - {name: pw, kind: ascii, value: xy}\n");
    s = materialize(p, NULL);
    assert_int_equal(ens_policy_service_config(p, "db", s, &cfg, &err), 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(cfg, "command"), 1)), "7879");
    json_t *fspf = json_object_get(cfg, "fspf");
    assert_string_equal(json_string_value(json_object_get(fspf, "path")), "/f.pb");
    assert_string_equal(json_string_value(json_object_get(fspf, "key")), K2);
    json_t *vols = json_object_get(cfg, "volumes");
    assert_int_equal(json_array_size(vols), 2);
    json_t *v0 = json_array_get(vols, 0), *v1 = json_array_get(vols, 1);
    assert_string_equal(json_string_value(json_object_get(v0, "path")), "/data");
    const char *gen = json_string_value(json_object_get(v0, "key"));
    assert_int_equal(strlen(gen), 64);
    assert_true(json_is_null(json_object_get(v0, "tag")));
    assert_string_equal(json_string_value(json_object_get(v1, "key")), K1);
    assert_string_equal(json_string_value(json_object_get(v1, "tag")), K3);
    char genkey[65];
    strcpy(genkey, gen);
    json_decref(cfg);
    /* tags: new ones accepted, an older one refused */
    assert_int_equal(ens_secret_store_set_volume_tag(s, "data", "11111111111111111111111111111111", &err), 0);
    assert_int_equal(ens_secret_store_set_volume_tag(s, "data", "22222222222222222222222222222222", &err), 0);
    assert_int_equal(ens_secret_store_set_volume_tag(s, "data", "11111111111111111111111111111111", &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "rollback"));
    ens_error_release(&err);
    assert_int_equal(ens_secret_store_set_volume_tag(s, "data", "xyz", &err), -1);
    ens_error_release(&err);
    assert_int_equal(ens_secret_store_set_volume_tag(s, "nope", "22222222222222222222222222222222", &err), -1);
    ens_error_release(&err);
    /* an update keeps the generated key and the reported tag (and its history) */
    char *store = NULL;
    assert_int_equal(ens_secret_store_serialize(s, &store, &err), 0);
    ens_secret_store_t *s2 = materialize(p, store);
    assert_string_equal(ens_secret_store_volume_key(s2, "data"), genkey);
    assert_string_equal(ens_secret_store_volume_tag(s2, "data"), "22222222222222222222222222222222");
    assert_int_equal(ens_secret_store_set_volume_tag(s2, "data", "11111111111111111111111111111111", &err), -1);
    ens_error_release(&err);
    free(store);
    ens_secret_store_free(s2);
    ens_secret_store_free(s);
    ens_policy_free(p);

    /* a NUL byte cannot go into the environment */
    p = parse_ok("name: n\nversion: \"0.3\"\nservices:\n  - {name: a, command: /a, environment: {X: '$$SCONE::b$$'}}\n"
                 "secrets:\n  - {name: b, kind: binary, value: AAA=}\n");
    s = materialize(p, NULL);
    assert_int_equal(ens_policy_service_config(p, "a", s, &cfg, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "NUL"));
    ens_error_release(&err);
    ens_secret_store_free(s);
    ens_policy_free(p);
}

static void service_certificates(void **state)
{
    (void)state;
    ens_policy_t *p = parse_ok(SPEC_EXAMPLE);
    ens_secret_store_t *s = materialize(p, NULL);
    EVP_PKEY *rt = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char *pem = NULL;
    ens_error_t err = NULL;
    char *dns[] = {"cartservice"};
    assert_int_equal(ens_policy_issue_certificate(s, NULL, rt, "shop/cartservice/cartservice", dns, 1, 7, &pem, &err),
                     0);
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(x);
    X509 *ca = cert_of(s, ENS_SESSION_CA_SECRET);
    assert_int_equal(X509_verify(x, X509_get0_pubkey(ca)), 1);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), rt), 1);
    assert_int_equal(X509_check_host(x, "cartservice", 0, 0, NULL), 1);
    X509_free(x);
    X509_free(ca);
    free(pem);
    /* signed by a named session CA secret */
    assert_int_equal(ens_policy_issue_certificate(s, "shop_ca", rt, "svc", NULL, 0, 1, &pem, &err), 0);
    free(pem);
    /* not a CA */
    assert_int_equal(ens_policy_issue_certificate(s, "cart_cert", rt, "svc", NULL, 0, 1, &pem, &err), -1);
    ens_error_release(&err);
    char *evil[] = {"a,DNS:evil.com"};
    assert_int_equal(ens_policy_issue_certificate(s, NULL, rt, "svc", evil, 1, 1, &pem, &err), -1);
    ens_error_release(&err);
    EVP_PKEY_free(rt);
    ens_secret_store_free(s);
    ens_policy_free(p);
}

/* PEM text of a new key / a self-signed CA certificate, indented for a YAML block scalar. */
static char *indent_pem(const char *pem)
{
    char *out = malloc(strlen(pem) * 8 + 8);
    size_t n = 0;
    memcpy(out, "      ", 6);
    n += 6;
    for (const char *q = pem; *q; q++) {
        out[n++] = *q;
        if (*q == '\n' && q[1]) {
            memcpy(out + n, "      ", 6);
            n += 6;
        }
    }
    out[n] = '\0';
    return out;
}

static void explicit_values(void **state)
{
    (void)state;
    /* a key and a CA certificate made with OpenSSL, given as explicit values */
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    X509 *ca = X509_new();
    X509_set_version(ca, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(ca), 7);
    X509_gmtime_adj(X509_getm_notBefore(ca), 0);
    X509_gmtime_adj(X509_getm_notAfter(ca), 86400 * 30);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(ca), "CN", MBSTRING_ASC, (const unsigned char *)"Given CA", -1, -1, 0);
    X509_set_issuer_name(ca, X509_get_subject_name(ca));
    X509_set_pubkey(ca, k);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, ca, ca, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(ca, e, -1);
    X509_EXTENSION_free(e);
    e = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    X509_add_ext(ca, e, -1);
    X509_EXTENSION_free(e);
    assert_true(X509_sign(ca, k, EVP_sha384()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    char *kp;
    long kl = BIO_get_mem_data(b, &kp);
    char *keypem = strndup(kp, (size_t)kl);
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, ca);
    long cl = BIO_get_mem_data(b, &kp);
    char *capem = strndup(kp, (size_t)cl);
    BIO_free(b);
    char *ik = indent_pem(keypem), *ic = indent_pem(capem);
    size_t cap = strlen(ik) + strlen(ic) + 1024;
    char *y = malloc(cap);
    /* the leaf comes first: references may point forward */
    snprintf(y, cap,
             "name: given\nversion: \"0.3\"\nsecrets:\n"
             "  - {name: leaf, kind: x509, issuer: ca, dns: [given.local]}\n"
             "  - name: key\n    kind: private-key\n    value: |\n%s"
             "  - name: ca\n    kind: x509-ca\n    private_key: key\n    value: |\n%s",
             ik, ic);
    ens_policy_t *p = parse_ok(y);
    ens_secret_store_t *st = materialize(p, NULL);
    char *got = fmt(st, "key", "pem", NULL);
    EVP_PKEY *gk = NULL;
    b = BIO_new_mem_buf(got, -1);
    gk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_int_equal(EVP_PKEY_eq(gk, k), 1);
    EVP_PKEY_free(gk);
    free(got);
    got = fmt(st, "ca", "crt", NULL);
    assert_string_equal(got, capem);
    free(got);
    X509 *leaf = cert_of(st, "leaf");
    assert_int_equal(X509_verify(leaf, k), 1); /* signed by the given CA's key */
    X509_free(leaf);
    ens_secret_store_free(st);
    ens_policy_free(p);

    /* a certificate whose private_key does not match is refused, naming the secrets only */
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, other, NULL, NULL, 0, NULL, NULL);
    kl = BIO_get_mem_data(b, &kp);
    char *otherpem = strndup(kp, (size_t)kl);
    BIO_free(b);
    char *io = indent_pem(otherpem);
    cap = strlen(io) + strlen(ic) + 1024;
    char *y2 = malloc(cap);
    snprintf(y2, cap,
             "name: given\nversion: \"0.3\"\nsecrets:\n"
             "  - name: key\n    kind: private-key\n    value: |\n%s"
             "  - name: ca\n    kind: x509-ca\n    private_key: key\n    value: |\n%s",
             io, ic);
    p = parse_ok(y2);
    ens_error_t err = NULL;
    st = NULL;
    assert_int_equal(ens_secrets_materialize(p, NULL, NULL, NULL, &st, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "does not match private_key key"));
    assert_null(strstr(ens_error_msg(err), "PRIVATE"));
    ens_error_release(&err);
    ens_policy_free(p);
    /* a certificate without a key cannot issue */
    snprintf(y2, cap,
             "name: given\nversion: \"0.3\"\nsecrets:\n"
             "  - {name: leaf, kind: x509, issuer: ca}\n"
             "  - name: ca\n    kind: x509-ca\n    value: |\n%s",
             ic);
    p = parse_ok(y2);
    assert_int_equal(ens_secrets_materialize(p, NULL, NULL, NULL, &st, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "issuer ca has no certificate and private key"));
    ens_error_release(&err);
    ens_policy_free(p);
    free(y);
    free(y2);
    free(ik);
    free(ic);
    free(io);
    free(keypem);
    free(capem);
    free(otherpem);
    X509_free(ca);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}

/* The CAS issues certificates from one store on several threads. */
struct issue_arg {
    ens_secret_store_t *s;
    int failures;
};

static void *issue_thread(void *p)
{
    struct issue_arg *a = p;
    for (int i = 0; i < 10; i++) {
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        char *pem = NULL;
        ens_error_t err = NULL;
        if (!k || ens_policy_issue_certificate(a->s, NULL, k, "t", NULL, 0, 1, &pem, &err) < 0) {
            a->failures++;
            ens_error_release(&err);
        } else {
            BIO *b = BIO_new_mem_buf(pem, -1);
            X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
            if (!x || EVP_PKEY_eq(X509_get0_pubkey(x), k) != 1)
                a->failures++;
            X509_free(x);
            BIO_free(b);
        }
        free(pem);
        EVP_PKEY_free(k);
    }
    return NULL;
}

static void concurrent_certificates(void **state)
{
    (void)state;
    ens_policy_t *p = parse_ok(SPEC_EXAMPLE);
    ens_secret_store_t *s = materialize(p, NULL);
    pthread_t t[4];
    struct issue_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct issue_arg){.s = s};
        assert_int_equal(pthread_create(&t[i], NULL, issue_thread, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    ens_secret_store_free(s);
    ens_policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spec_example_parses),
        cmocka_unit_test(full_model_parses),
        cmocka_unit_test(errors_name_line_and_column),
        cmocka_unit_test(name_rules),
        cmocka_unit_test(invalid_utf8_and_oversized),
        cmocka_unit_test(use_env_substitution),
        cmocka_unit_test(hash_ignores_presentation),
        cmocka_unit_test(hash_changes_with_semantics),
        cmocka_unit_test(access_matrix),
        cmocka_unit_test(key_hash_of_certificate),
        cmocka_unit_test(secrets_of_every_kind),
        cmocka_unit_test(secrets_stable_across_updates),
        cmocka_unit_test(import_needs_grant),
        cmocka_unit_test(substitution_formats),
        cmocka_unit_test(service_configuration),
        cmocka_unit_test(service_certificates),
        cmocka_unit_test(concurrent_certificates),
        cmocka_unit_test(explicit_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
