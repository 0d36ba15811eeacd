/* SPDX-License-Identifier: Apache-2.0 */
/* ensconce fs verify: manifest, tag and every chunk. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "core/cleanup.h"
#include "crypto/digest.h"
#include "fs_common.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: ensconce fs verify [OPTIONS] SHIELD_DIR\n\n"
                 "Checks that SHIELD_DIR is the version with the expected tag and that every chunk of\n"
                 "every file authenticates.  Exit status 0 only if all of it does.\n\n"
                 "Options:\n"
                 "  -k, --key-file FILE   volume key\n"
                 "  -T, --tag HEX         expected tag\n"
                 "      --tag-file FILE   expected tag, read from FILE\n"
                 "  -h, --help            this help\n");
}

int ens_cmd_fs_verify(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"key-file", required_argument, NULL, 'k'}, {"tag", required_argument, NULL, 'T'},
        {"tag-file", required_argument, NULL, 'F'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *keyfile = NULL, *taghex = NULL, *tagfile = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:T:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'k': keyfile = optarg; break;
        case 'T': taghex = optarg; break;
        case 'F': tagfile = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return ens_cli_usage_error("fs verify", "bad option");
        }
    }
    if (argc - optind != 1)
        return ens_cli_usage_error("fs verify", "expected SHIELD_DIR");
    if (!keyfile)
        return ens_cli_usage_error("fs verify", "--key-file is required");
    _cleanup_error_ ens_error_t err = NULL;
    uint8_t key[ENS_SHIELD_KEY_LEN], tag[ENS_SHIELD_TAG_LEN];
    if (fs_get_tag(taghex, tagfile, tag, &err) < 0) {
        fprintf(stderr, "ensconce fs verify: %s\n", ens_error_msg(err));
        return 2;
    }
    if (fs_read_key(keyfile, key, &err) < 0)
        return ens_error_report(&err, "ensconce fs verify");
    int rc = ens_shield_verify(argv[optind], key, tag, &err);
    ens_wipe(key, sizeof(key));
    if (rc < 0)
        return ens_error_report(&err, "ensconce fs verify");
    printf("ok\n");
    return 0;
}
