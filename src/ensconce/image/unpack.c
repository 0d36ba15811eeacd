/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce image unpack IMAGE DIR`: a root file system, or a runc bundle with --bundle. */
#include <stdio.h>

#include "cli.h"
#include "core/cleanup.h"
#include "image/common.h"

static const struct img_cmd unpack_cmd = {
    .name = "image unpack", .operands = "IMAGE DIR", .n_operands = 2, .operands_error = "expected IMAGE and DIR",
    .about = "Applies the image's layers (whiteouts included) into DIR, which must not exist or be empty.\n"
             "Entries that would escape DIR (.., absolute or escaping symlinks, outside hard links) and\n"
             "device nodes when not root are refused; nothing is left behind on failure.\n",
    .flag = "bundle", .flag_help = "  --bundle              make DIR a runc bundle: DIR/rootfs and DIR/config.json\n",
};

int ens_cmd_image_unpack(int argc, char **argv)
{
    bool bundle = false;
    ens_image *img;
    int r = img_open_from_args(&unpack_cmd, argc, argv, &bundle, &img);
    if (r != IMG_ARGS_OK)
        return r;
    _cleanup_error_ ens_error_t err = NULL;
    r = ens_image_unpack(img, argv[optind + 1], bundle, &err);
    ens_image_free(img);
    if (r < 0)
        return ens_error_report(&err, "ensconce image unpack");
    return 0;
}
