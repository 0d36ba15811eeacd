/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper for tests/policy/session_cli.sh: drives lib/policy so that its
 * keys and certificates can be checked with the openssl CLI.
 *   policy_tool materialize SESSION.yaml OUTDIR [PREV_STORE.json]
 *       writes OUTDIR/store.json and, per secret NAME: NAME.hex (ascii/binary),
 *       NAME.key (private-key, x509*), NAME.crt and NAME.chain (x509*)
 *   policy_tool config SESSION.yaml SERVICE STORE.json      prints the service configuration
 *   policy_tool issue STORE.json PUBKEY.pem CN [DNS…]       prints a certificate signed by the session CA
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "core/fsutil.h"
#include "policy/policy.h"

static int die(ens_error_t *err)
{
    fprintf(stderr, "policy_tool: %s\n", ens_error_msg(*err));
    ens_error_release(err);
    return 1;
}

static int write_fmt(const ens_secret_store_t *s, const char *dir, const char *name, const char *fmt,
                     const char *ext, ens_error_t *err)
{
    char *v = NULL;
    size_t vl = 0;
    if (ens_secret_store_format(s, name, fmt, &v, &vl, err) < 0)
        return -1;
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
    int rc = ens_write_file_atomic(path, v, vl, 0600, err);
    free(v);
    return rc;
}

static int materialize(int argc, char **argv)
{
    ens_error_t err = NULL;
    ens_policy_t *p = NULL;
    if (argc < 4)
        return 2;
    if (ens_policy_parse_file(argv[2], false, &p, &err) < 0)
        return die(&err);
    char *prev = NULL;
    size_t pl = 0;
    if (argc > 4 && ens_read_file(argv[4], 64 << 20, &prev, &pl, &err) < 0)
        return die(&err);
    ens_secret_store_t *s = NULL;
    if (ens_secrets_materialize(p, prev, NULL, NULL, &s, &err) < 0)
        return die(&err);
    free(prev);
    char *json = NULL;
    char path[4096];
    snprintf(path, sizeof(path), "%s/store.json", argv[3]);
    if (ens_secret_store_serialize(s, &json, &err) < 0 || ens_write_file_atomic(path, json, strlen(json), 0600, &err) < 0)
        return die(&err);
    free(json);
    for (size_t i = 0; i <= ens_policy_secret_count(p); i++) {
        const ens_policy_secret_t *d = ens_policy_secret_at(p, i);
        const char *name = d ? d->name : ENS_SESSION_CA_SECRET;
        ens_secret_kind_t kind = d ? d->kind : ENS_SECRET_X509_CA;
        int rc = 0;
        switch (kind) {
        case ENS_SECRET_ASCII:
        case ENS_SECRET_BINARY:
            rc = write_fmt(s, argv[3], name, "hex", "hex", &err);
            break;
        case ENS_SECRET_PRIVATE_KEY:
            rc = write_fmt(s, argv[3], name, "privatekey", "key", &err);
            break;
        case ENS_SECRET_X509:
        case ENS_SECRET_X509_CA:
            rc = write_fmt(s, argv[3], name, "crt", "crt", &err);
            if (rc == 0)
                rc = write_fmt(s, argv[3], name, "privatekey", "key", &err);
            if (rc == 0)
                rc = write_fmt(s, argv[3], name, "chain", "chain", &err);
            break;
        }
        if (rc < 0)
            return die(&err);
    }
    ens_secret_store_free(s);
    ens_policy_free(p);
    return 0;
}

static int config(int argc, char **argv)
{
    ens_error_t err = NULL;
    ens_policy_t *p = NULL;
    if (argc < 5)
        return 2;
    char *store = NULL;
    size_t sl = 0;
    ens_secret_store_t *s = NULL;
    json_t *cfg = NULL;
    if (ens_policy_parse_file(argv[2], false, &p, &err) < 0 || ens_read_file(argv[4], 64 << 20, &store, &sl, &err) < 0 ||
        ens_secret_store_load(store, sl, &s, &err) < 0 || ens_policy_service_config(p, argv[3], s, &cfg, &err) < 0)
        return die(&err);
    char *out = json_dumps(cfg, JSON_INDENT(2) | JSON_SORT_KEYS);
    printf("%s\n", out);
    free(out);
    free(store);
    json_decref(cfg);
    ens_secret_store_free(s);
    ens_policy_free(p);
    return 0;
}

static int issue(int argc, char **argv)
{
    ens_error_t err = NULL;
    if (argc < 5)
        return 2;
    char *store = NULL;
    size_t sl = 0;
    ens_secret_store_t *s = NULL;
    if (ens_read_file(argv[2], 64 << 20, &store, &sl, &err) < 0 || ens_secret_store_load(store, sl, &s, &err) < 0)
        return die(&err);
    FILE *f = fopen(argv[3], "r");
    EVP_PKEY *k = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (!k) {
        fprintf(stderr, "policy_tool: cannot read %s\n", argv[3]);
        return 1;
    }
    char *pem = NULL;
    if (ens_policy_issue_certificate(s, NULL, k, argv[4], argv + 5, (size_t)(argc - 5), 7, &pem, &err) < 0)
        return die(&err);
    fputs(pem, stdout);
    free(pem);
    free(store);
    EVP_PKEY_free(k);
    ens_secret_store_free(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "materialize"))
        return materialize(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "config"))
        return config(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "issue"))
        return issue(argc, argv);
    fprintf(stderr, "usage: policy_tool materialize|config|issue …\n");
    return 2;
}
