/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness: the shield manifest parser (plain JSON after authentication) and the
 * sealed-manifest opener.  Whatever parses must serialize and parse again to the same text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "shield/shield_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t vk[32] = {42};
    struct sh_manifest *m = NULL;
    ens_error_t err = NULL;
    if (sh_manifest_parse((const char *)data, size, &m, &err) == 0) {
        size_t len, len2;
        char *s = sh_manifest_serialize(m, &len);
        struct sh_manifest *m2 = NULL;
        if (!s || sh_manifest_parse(s, len, &m2, &err) != 0)
            abort();
        char *s2 = sh_manifest_serialize(m2, &len2);
        if (!s2 || len != len2 || memcmp(s, s2, len) != 0)
            abort();
        for (size_t i = 1; i < m->nnodes; i++) {
            char *p = sh_node_path(m, m->nodes[i]);
            free(p);
        }
        free(s);
        free(s2);
        sh_manifest_free(m2);
        sh_manifest_free(m);
    }
    ens_error_release(&err);
    /* the sealed form: random input must never authenticate, never crash */
    char *plain = NULL;
    size_t plen;
    if (sh_manifest_open(vk, data, size, &plain, &plen, &err) == 0)
        abort();
    ens_error_release(&err);
    return 0;
}
