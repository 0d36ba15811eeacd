/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: manifest, index, config and WWW-Authenticate parsing, and image references. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ens_error_t err = NULL;
    struct manifest_doc m;
    if (parse_manifest((const char *)data, size, NULL, &m, &err) == 0)
        manifest_doc_clear(&m);
    ens_error_release(&err);
    struct blob b;
    if (index_pick((const char *)data, size, "linux/amd64", &b, &err) == 0)
        blob_clear(&b);
    ens_error_release(&err);
    json_t *c = NULL;
    if (parse_config((const char *)data, size, &c, &err) == 0)
        json_decref(c);
    ens_error_release(&err);
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct www_auth a;
    if (www_auth_parse(s, &a) == 0)
        www_auth_clear(&a);
    struct image_ref r;
    if (image_ref_parse(s, &r, &err) == 0)
        image_ref_clear(&r);
    ens_error_release(&err);
    bool esc;
    free(path_clean(s, &esc));
    free(s);
    return 0;
}
