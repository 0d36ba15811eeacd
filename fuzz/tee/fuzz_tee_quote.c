/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: Intel SGX/TDX quote parser, PCK chain PEM and SGX extension parsing
 * (verification against an empty collateral set stops after those). */
#include <stdint.h>
#include <stdlib.h>

#include "tee/tee.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ens_tee_collateral *c;
    if (!c)
        c = ens_tee_collateral_new();
    ens_error_t err = NULL;
    json_t *claims = NULL;
    if (ens_tee_parse(data, size, ENS_TEE_UNKNOWN, &claims, &err) == 0)
        json_decref(claims);
    ens_error_release(&err);
    struct ens_tee_input in = {.evidence = data, .len = size, .allow_trailing_data = size & 1};
    if (ens_tee_verify_ex(&in, c, 1750000000, &claims, &err) == 0)
        abort(); /* nothing can verify without collateral */
    ens_error_release(&err);
    return 0;
}
