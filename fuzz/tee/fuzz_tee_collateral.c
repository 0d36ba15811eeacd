/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: collateral documents (TCB Info / QE Identity responses, bundle
 * JSON with its signed-bytes scanner, PEM/DER certificates, CRLs). */
#include <stdint.h>
#include <stdlib.h>

#include "tee/tee.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ens_tee_collateral *c = ens_tee_collateral_new();
    ens_error_t err = NULL;
    const char *kind = NULL;
    ens_tee_collateral_add(c, data, size, "fuzz", &kind, &err);
    ens_error_release(&err);
    ens_tee_collateral_free(c);
    return 0;
}
