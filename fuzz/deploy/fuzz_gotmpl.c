/* SPDX-License-Identifier: Apache-2.0 */
/* The Helm template subset: parse and render any text against a fixed values tree; YAML <-> JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/gotmpl.h"

static json_t *ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ctx == NULL)
        ctx = json_loads("{\"Values\":{\"a\":1,\"s\":\"x\",\"l\":[1,\"b\",{\"k\":null}],\"m\":{\"z\":true,\"y\":2.5}},"
                         "\"Release\":{\"Name\":\"r\",\"Namespace\":\"n\"},\"Chart\":{\"Name\":\"c\"}}",
                         0, NULL);
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    ens_gotmpl *t = ens_gotmpl_new();
    ens_error_t err = NULL;
    char *out = NULL;
    if (ens_gotmpl_add(t, "fuzz", text, &err) == 0 && ens_gotmpl_render(t, "fuzz", ctx, &out, &err) == 0)
        free(out);
    ens_error_release(&err);
    ens_gotmpl_free(t);
    json_t *j = ens_yaml_to_json(text, size, "fuzz", &err);
    ens_error_release(&err);
    if (j) {
        char *y = ens_json_to_yaml(j, &err);
        ens_error_release(&err);
        if (y) {
            /* what we emit must read back as the same value */
            json_t *back = ens_yaml_to_json(y, strlen(y), "round trip", &err);
            ens_error_release(&err);
            if (back == NULL || !json_equal(j, back))
                abort();
            json_decref(back);
            free(y);
        }
        json_decref(j);
    }
    free(text);
    return 0;
}
