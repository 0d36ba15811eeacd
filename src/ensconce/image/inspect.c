/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce image inspect IMAGE`: config, layers, digests and sizes as JSON. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/cleanup.h"
#include "image/common.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: ensconce image inspect [OPTIONS] IMAGE\n\n"
               "Prints the image's manifest digest, config and layers (digest, diffID, size, mediaType) as JSON.\n"
               "IMAGE is oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE or docker://HOST/REPO[:TAG|@DIGEST].\n\n"
               "Options:\n"
               "  --config              print only the image config\n"
               IMG_COMMON_HELP
               "  -h, --help            this help\n");
}

int ens_cmd_image_inspect(int argc, char **argv)
{
    static const struct option opts[] = {
        IMG_COMMON_LONGOPTS,
        { "config", no_argument, NULL, OPT_CONFIG },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct ens_image_opts o;
    ens_image_opts_init(&o);
    bool only_config = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = img_common_opt("image inspect", c, optarg, &o);
        if (r == 2)
            return 2;
        if (r == 1)
            continue;
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        if (c == OPT_CONFIG) {
            only_config = true;
            continue;
        }
        return ens_cli_usage_error("image inspect", "unknown option");
    }
    if (argc - optind != 1)
        return ens_cli_usage_error("image inspect", "expected one IMAGE");
    _cleanup_error_ ens_error_t err = NULL;
    ens_image *img;
    if (ens_image_open(argv[optind], &o, &img, &err) < 0)
        return ens_error_report(&err, "ensconce image inspect");
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
