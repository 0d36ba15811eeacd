/* SPDX-License-Identifier: Apache-2.0 */
/* Hardware evidence in the CAS: lib/tee verifies SGX/TDX/SNP envelopes against the offline
 * collateral store (`ensconce cas collateral add`), and this maps its claims onto lib/attest's
 * so the policy checks of api_attest.c apply unchanged. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cas.h"
#include "crypto/digest.h"
#include "tee/tee.h"

static struct ens_tee_collateral *collateral;

static int verify_hw(const json_t *ev, const struct ens_attest_verify_ctx *ctx, struct ens_attest_claims *c,
                     ens_error_t *err)
{
    json_t *claims = NULL;
    time_t now = ctx && ctx->now ? (time_t)ctx->now : time(NULL);
    if (ens_tee_verify_envelope(ev, collateral, now, &claims, err) < 0)
        return -1;
    memset(c, 0, sizeof(*c));
    const char *tee = json_string_value(json_object_get(claims, "tee"));
    const char *m = ens_tee_claims_measurement(claims);
    const char *rd = json_string_value(json_object_get(claims, "report_data"));
    int r = 0;
    if (tee == NULL || m == NULL || rd == NULL || strlen(tee) >= sizeof(c->type) || strlen(m) >= sizeof(c->measurement)
        || strlen(rd) != 128 || ens_hex_decode(rd, c->report_data, 64, NULL) < 0) {
        r = ens_error(err, EINVAL, "hardware evidence: claims without type, measurement or 64-byte report data");
        goto out;
    }
    snprintf(c->type, sizeof(c->type), "%s", tee);
    for (size_t i = 0; m[i] && i < sizeof(c->measurement) - 1; i++)
        c->measurement[i] = (char)((m[i] >= 'A' && m[i] <= 'F') ? m[i] - 'A' + 'a' : m[i]);
    c->report_data_len = 64;
    unsigned needs = ens_tee_claims_needs(claims);
    if (needs & ENS_TEE_TOLERATE_DEBUG)
        c->flags |= ENS_CLAIM_DEBUG;
    if (needs & ENS_TEE_TOLERATE_OUTDATED_TCB)
        c->flags |= ENS_CLAIM_OUTDATED_TCB;
    if (needs & ENS_TEE_TOLERATE_SW_HARDENING)
        c->flags |= ENS_CLAIM_SW_HARDENING_NEEDED;
    if (needs & ENS_TEE_TOLERATE_INSECURE_CONFIG)
        c->flags |= ENS_CLAIM_INSECURE_CONFIG;
    if (needs & ENS_TEE_TOLERATE_HYPERTHREADING)
        c->flags |= ENS_CLAIM_HYPERTHREADING;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(claims, "advisory_ids"), i, a)
    {
        const char *id = json_string_value(a);
        size_t used = strlen(c->advisories);
        if (id == NULL || used + strlen(id) + 2 >= sizeof(c->advisories)) {
            r = ens_error(err, E2BIG, "hardware evidence: too many advisories");
            goto out;
        }
        snprintf(c->advisories + used, sizeof(c->advisories) - used, "%s%s", used ? "," : "", id);
    }
out:
    json_decref(claims);
    return r;
}

int cas_hw_init(const char *collateral_dir, ens_error_t *err)
{
    collateral = ens_tee_collateral_new();
    if (collateral == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    if (collateral_dir && access(collateral_dir, F_OK) == 0
        && ens_tee_collateral_load_dir(collateral, collateral_dir, err) < 0)
        return ens_error_wrap(err, "collateral store %s", collateral_dir);
    if (ens_attest_register_verifier("sgx", verify_hw, err) < 0 || ens_attest_register_verifier("tdx", verify_hw, err) < 0
        || ens_attest_register_verifier("snp", verify_hw, err) < 0)
        return -1;
    return 0;
}

void cas_hw_free(void)
{
    ens_tee_collateral_free(collateral);
    collateral = NULL;
}
