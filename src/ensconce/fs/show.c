/* SPDX-License-Identifier: Apache-2.0 */
/* ensconce fs show (fspf show) and ensconce fs tag. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "core/cleanup.h"
#include "crypto/digest.h"
#include "fs_common.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: ensconce fs show [OPTIONS] SHIELD_DIR\n\n"
                 "Prints the shield's tag; with a key also its generation, chunk size, regions and\n"
                 "entries (type, mode, owner, size, region, path).\n\n"
                 "Options:\n"
                 "  -k, --key-file FILE   volume key (without it only the tag is shown)\n"
                 "  -T, --tag HEX         expected tag (refuse any other version)\n"
                 "      --tag-file FILE   expected tag, read from FILE\n"
                 "      --json            JSON output (the manifest itself)\n"
                 "  -h, --help            this help\n");
}

int ens_cmd_fs_show(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"key-file", required_argument, NULL, 'k'}, {"tag", required_argument, NULL, 'T'},
        {"tag-file", required_argument, NULL, 'F'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *keyfile = NULL, *taghex = NULL, *tagfile = NULL;
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:T:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'k': keyfile = optarg; break;
        case 'T': taghex = optarg; break;
        case 'F': tagfile = optarg; break;
        case 'j': json = true; break;
        case 'h': usage(stdout); return 0;
        default: return ens_cli_usage_error("fs show", "bad option");
        }
    }
    if (argc - optind != 1)
        return ens_cli_usage_error("fs show", "expected SHIELD_DIR");
    _cleanup_error_ ens_error_t err = NULL;
    uint8_t key[ENS_SHIELD_KEY_LEN], tag[ENS_SHIELD_TAG_LEN];
    bool have_tag = taghex || tagfile;
    if (have_tag && fs_get_tag(taghex, tagfile, tag, &err) < 0) {
        fprintf(stderr, "ensconce fs show: %s\n", ens_error_msg(err));
        return 2;
    }
    if (keyfile && fs_read_key(keyfile, key, &err) < 0)
        return ens_error_report(&err, "ensconce fs show");
    int rc = ens_shield_show(argv[optind], keyfile ? key : NULL, have_tag ? tag : NULL, json, stdout, &err);
    ens_wipe(key, sizeof(key));
    return rc < 0 ? ens_error_report(&err, "ensconce fs show") : 0;
}

int ens_cmd_fs_tag(int argc, char **argv)
{
    if (ens_cli_wants_help(argc, argv)) {
        printf("Usage: ensconce fs tag SHIELD_DIR\n\nPrints the tag (SHA-256 of the current manifest file);\n"
               "needs no key.  Trust it only as far as you trust where the shield came from.\n");
        return 0;
    }
    if (argc != 2)
        return ens_cli_usage_error("fs tag", "expected SHIELD_DIR");
    _cleanup_error_ ens_error_t err = NULL;
    uint8_t tag[ENS_SHIELD_TAG_LEN];
    if (ens_shield_current_tag(argv[1], tag, &err) < 0)
        return ens_error_report(&err, "ensconce fs tag");
    char hex[2 * ENS_SHIELD_TAG_LEN + 1];
    ens_hex_encode(tag, ENS_SHIELD_TAG_LEN, hex);
    printf("%s\n", hex);
    return 0;
}
