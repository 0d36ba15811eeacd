/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce image unpack IMAGE DIR`: a root file system, or a runc bundle with --bundle. */
#include <stdio.h>

#include "cli.h"
#include "core/cleanup.h"
#include "image/common.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: ensconce image unpack [OPTIONS] IMAGE DIR\n\n"
               "Applies the image's layers (whiteouts included) into DIR, which must not exist or be empty.\n"
               "Entries that would escape DIR (.., absolute or escaping symlinks, outside hard links) and\n"
               "device nodes when not root are refused; nothing is left behind on failure.\n\n"
               "Options:\n"
               "  --bundle              make DIR a runc bundle: DIR/rootfs and DIR/config.json\n"
               IMG_COMMON_HELP
               "  -h, --help            this help\n");
}

int ens_cmd_image_unpack(int argc, char **argv)
{
    static const struct option opts[] = {
        IMG_COMMON_LONGOPTS,
        { "bundle", no_argument, NULL, OPT_BUNDLE },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct ens_image_opts o;
    ens_image_opts_init(&o);
    bool bundle = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = img_common_opt("image unpack", c, optarg, &o);
        if (r == 2)
            return 2;
        if (r == 1)
            continue;
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        if (c == OPT_BUNDLE) {
            bundle = true;
            continue;
        }
        return ens_cli_usage_error("image unpack", "unknown option");
    }
    if (argc - optind != 2)
        return ens_cli_usage_error("image unpack", "expected IMAGE and DIR");
    _cleanup_error_ ens_error_t err = NULL;
    ens_image *img;
    if (ens_image_open(argv[optind], &o, &img, &err) < 0)
        return ens_error_report(&err, "ensconce image unpack");
    int r = ens_image_unpack(img, argv[optind + 1], bundle, &err);
    ens_image_free(img);
    if (r < 0)
        return ens_error_report(&err, "ensconce image unpack");
    return 0;
}
