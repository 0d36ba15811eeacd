/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: policy JSON ({attestation, measurements}) applied to claims JSON,
 * input = policy '\0' claims. */
#include <stdint.h>
#include <string.h>

#include "tee/tee.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *sep = memchr(data, 0, size);
    if (!sep)
        return 0;
    json_t *pol = json_loadb((const char *)data, (size_t)(sep - data), 0, NULL);
    json_t *claims = json_loadb((const char *)sep + 1, size - (size_t)(sep - data) - 1, 0, NULL);
    struct ens_tee_policy p;
    ens_error_t err = NULL;
    if (pol && claims &&
        ens_tee_policy_from_json(json_object_get(pol, "attestation"), json_object_get(pol, "measurements"), &p, &err) == 0) {
        static const uint8_t rd[64];
        ens_tee_check_policy(claims, &p, (size & 1) ? rd : NULL, &err);
        ens_tee_policy_clear(&p);
    }
    ens_error_release(&err);
    json_decref(pol);
    json_decref(claims);
    return 0;
}
