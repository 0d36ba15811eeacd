/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce image inspect IMAGE`: config, layers, digests and sizes as JSON. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/cleanup.h"
#include "image/common.h"

static const struct img_cmd inspect_cmd = {
    .name = "image inspect", .operands = "IMAGE", .n_operands = 1, .operands_error = "expected one IMAGE",
    .about = "Prints the image's manifest digest, config and layers (digest, diffID, size, mediaType) as JSON.\n"
             "IMAGE is oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE or docker://HOST/REPO[:TAG|@DIGEST].\n",
    .flag = "config", .flag_help = "  --config              print only the image config\n",
};

int ens_cmd_image_inspect(int argc, char **argv)
{
    bool only_config = false;
    ens_image *img;
    int r = img_open_from_args(&inspect_cmd, argc, argv, &only_config, &img);
    if (r != IMG_ARGS_OK)
        return r;
    _cleanup_error_ ens_error_t err = NULL;
    json_t *j = only_config ? json_incref(ens_image_config(img)) : ens_image_inspect(img, &err);
    ens_image_free(img);
    if (!j)
        return ens_error_report(&err, "ensconce image inspect");
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    if (!s)
        return 1;
    puts(s);
    free(s);
    return 0;
}
