/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the session parser: parse, then (when valid) every
 * read-only operation on the model: canonical hash, access checks, accessors.
 * The same bytes also go through --use-env expansion and $$SCONE::…$$
 * substitution against a small fixed secret store.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

static ens_secret_store_t *fixed_store(void)
{
    static ens_secret_store_t *store;
    static int tried;
    if (tried)
        return store;
    tried = 1;
    static const char y[] = "name: fuzz\nversion: \"0.3\"\nsecrets:\n"
                            "  - {name: a, kind: ascii, value: abc}\n"
                            "  - {name: b, kind: binary, value: AAEC}\n"
                            "  - {name: k, kind: private-key}\n"
                            "  - {name: c, kind: x509}\n";
    ens_error_t err = NULL;
    ens_policy_t *p = NULL;
    if (ens_policy_parse(y, sizeof(y) - 1, "fuzz", &p, &err) == 0)
        ens_secrets_materialize(p, NULL, NULL, NULL, &store, &err);
    ens_error_release(&err);
    ens_policy_free(p);
    return store;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ens_error_t err = NULL;
    ens_policy_t *p = NULL;
    if (ens_policy_parse((const char *)data, size, "fuzz", &p, &err) == 0) {
        char h[ENS_POLICY_HASH_HEX_LEN];
        if (ens_policy_hash(p, h, &err) < 0)
            abort(); /* a valid session always has a hash */
        static const char k1[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        for (int op = 0; op < 3; op++) {
            (void)ens_policy_access_allowed(p, (ens_policy_op_t)op, k1, k1);
            (void)ens_policy_access_allowed(p, (ens_policy_op_t)op, NULL, k1);
        }
        (void)ens_policy_check_create(p, &err);
        ens_error_release(&err);
        for (size_t i = 0; i < ens_policy_service_count(p); i++)
            if (!ens_policy_service_find(p, ens_policy_service_at(p, i)->name))
                abort();
        /* small sessions without RSA keys (slow to generate): materialise and build every configuration */
        bool cheap = ens_policy_secret_count(p) <= 6;
        for (size_t i = 0; cheap && i < ens_policy_secret_count(p); i++)
            if (ens_policy_secret_at(p, i)->key_type == ENS_KEY_RSA_3072)
                cheap = false;
        ens_secret_store_t *st = NULL;
        if (cheap && ens_secrets_materialize(p, NULL, NULL, NULL, &st, &err) == 0) {
            for (size_t i = 0; i < ens_policy_service_count(p); i++) {
                json_t *cfg = NULL;
                if (ens_policy_service_config(p, ens_policy_service_at(p, i)->name, st, &cfg, &err) == 0)
                    json_decref(cfg);
                ens_error_release(&err);
            }
            json_t *pub = NULL;
            if (ens_secret_store_public_values(p, st, &pub, &err) == 0)
                json_decref(pub);
            ens_error_release(&err);
            for (size_t i = 0; i < ens_policy_secret_count(p); i++) {
                char *rec = NULL;
                if (ens_secret_store_export(p, st, ens_policy_secret_at(p, i)->name, "other", &rec, &err) == 0)
                    free(rec);
                ens_error_release(&err);
            }
            /* an update with the store just made keeps every value */
            char *json = NULL;
            ens_secret_store_t *st2 = NULL;
            if (ens_secret_store_serialize(st, &json, &err) == 0 &&
                ens_secrets_materialize(p, json, NULL, NULL, &st2, &err) == 0) {
                for (size_t i = 0; i < ens_policy_secret_count(p); i++) {
                    const ens_policy_secret_t *d = ens_policy_secret_at(p, i);
                    char *a = NULL, *b = NULL;
                    size_t al = 0, bl = 0;
                    int ra = ens_secret_store_format(st, d->name, "base64", &a, &al, &err);
                    ens_error_release(&err);
                    int rb = ens_secret_store_format(st2, d->name, "base64", &b, &bl, &err);
                    ens_error_release(&err);
                    if (ra != rb || (ra == 0 && (al != bl || memcmp(a, b, al))))
                        abort(); /* generated values must be stable */
                    free(a);
                    free(b);
                }
            }
            free(json);
            ens_secret_store_free(st2);
        }
        ens_error_release(&err);
        ens_secret_store_free(st);
        ens_policy_free(p);
    }
    ens_error_release(&err);

    char *out = NULL;
    size_t ol = 0;
    if (ens_policy_expand_env((const char *)data, size, &out, &ol, &err) == 0)
        free(out);
    ens_error_release(&err);

    ens_secret_store_t *s = fixed_store();
    if (s && ens_policy_substitute(s, (const char *)data, size, &out, &ol, &err) == 0)
        free(out);
    ens_error_release(&err);
    return 0;
}
