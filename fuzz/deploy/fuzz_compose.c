/* SPDX-License-Identifier: Apache-2.0 */
/* ensconce up's Compose reader: any bytes give a normalised project or an error, never a crash. */
#include <stdint.h>
#include <stdlib.h>

#include "up/up.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *out = NULL;
    ens_error_t err = NULL;
    if (up_compose_parse((const char *)data, size, "fuzz.yaml", NULL, &out, &err) == 0)
        json_decref(out);
    ens_error_release(&err);
    return 0;
}
