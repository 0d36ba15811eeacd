/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the session parser: parse, then (when valid) every
 * read-only operation on the model: canonical hash, access checks, accessors.
 * The same bytes also go through --use-env expansion and $$SCONE::…$$
 * substitution against a small fixed secret store.
 */
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
