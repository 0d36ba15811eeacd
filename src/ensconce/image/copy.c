/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce image copy SRC DST`, optionally removing paths from every layer and editing the config. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "core/cleanup.h"
#include "image/common.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: ensconce image copy [OPTIONS] SRC DST\n\n"
               "Copies an image between transports: oci:DIR[:TAG], oci-archive:FILE[:TAG],\n"
               "docker-archive:FILE[:NAME:TAG], docker://HOST/REPO[:TAG|@DIGEST].  Every blob is verified.\n\n"
               "Options:\n"
               "  --remove=PATH         remove PATH (and everything below it) from every layer; only the\n"
               "                        layers holding it are rewritten (repeatable)\n"
               IMG_CONFIG_HELP
               IMG_COMMON_HELP
               "  -h, --help            this help\n");
}

int ens_cmd_image_copy(int argc, char **argv)
{
    static const struct option opts[] = {
        IMG_COMMON_LONGOPTS,
        IMG_CONFIG_LONGOPTS,
        { "remove", required_argument, NULL, OPT_REMOVE },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct ens_image_opts o;
    ens_image_opts_init(&o);
    struct img_edits edits = { 0 };
    _cleanup_free_ const char **remove = calloc((size_t)argc + 1, sizeof(char *));
    size_t n_remove = 0;
    _cleanup_error_ ens_error_t err = NULL;
    ens_image *img = NULL;
    int c, ret = 2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = img_common_opt("image copy", c, optarg, &o);
        if (r == 0)
            r = img_edit_opt("image copy", c, optarg, &edits, &o);
        if (r == 2)
            goto out;
        if (r == 1)
            continue;
        if (c == 'h') {
            usage(stdout);
            ret = 0;
            goto out;
        }
        if (c == OPT_REMOVE) {
            remove[n_remove++] = optarg;
            continue;
        }
        ens_cli_usage_error("image copy", "unknown option");
        goto out;
    }
    if (argc - optind != 2) {
        ens_cli_usage_error("image copy", "expected SRC and DST");
        goto out;
    }
    ret = 1;
    if (ens_image_open(argv[optind], &o, &img, &err) < 0 ||
        (n_remove && ens_image_remove_paths(img, remove, n_remove, &err) < 0) ||
        img_apply_edits(img, &edits, &err) < 0 || ens_image_write(img, argv[optind + 1], &o, &err) < 0) {
        ens_image_free(img);
        ret = ens_error_report(&err, "ensconce image copy");
        goto out;
    }
    ens_image_free(img);
    ret = 0;
out:
    img_edits_free(&edits);
    return ret;
}
