/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: the JSON envelope (base64 evidence and aux) in front of the verifiers. */
#include <stdint.h>
#include <stdlib.h>

#include "tee/tee.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ens_tee_collateral *c;
    if (!c)
        c = ens_tee_collateral_new();
    json_t *env = json_loadb((const char *)data, size, 0, NULL);
    if (!env)
        return 0;
    ens_error_t err = NULL;
    json_t *claims = NULL;
    if (ens_tee_verify_envelope(env, c, 1750000000, &claims, &err) == 0)
        abort(); /* nothing can verify without collateral */
    ens_error_release(&err);
    json_decref(env);
    return 0;
}
