/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: SEV-SNP report parser and the certificate table of an extended
 * report (input = report || table; VCEK/ASK/ARK candidates from the table). */
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
    size_t rlen = size < 1184 ? size : 1184;
    if (ens_tee_parse(data, rlen, ENS_TEE_SNP, &claims, &err) == 0)
        json_decref(claims);
    ens_error_release(&err);
    struct ens_tee_input in = {.evidence = data, .len = rlen, .type = ENS_TEE_SNP, .aux = data + rlen,
                               .aux_len = size - rlen};
    if (ens_tee_verify_ex(&in, c, 1750000000, &claims, &err) == 0)
        abort(); /* no pinned ARK can be reached from fuzzed certificates */
    ens_error_release(&err);
    struct ens_tee_snp_cert *certs = NULL;
    size_t n;
    if (ens_tee_snp_certtable_parse(data, size, &certs, &n, &err) == 0)
        free(certs);
    ens_error_release(&err);
    return 0;
}
