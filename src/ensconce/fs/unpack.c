/* SPDX-License-Identifier: Apache-2.0 */
/* ensconce fs unpack: memory mode (decrypt and verify into a directory). */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "core/cleanup.h"
#include "crypto/digest.h"
#include "fs_common.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: ensconce fs unpack [OPTIONS] SHIELD_DIR DEST_DIR\n\n"
                 "Memory mode: decrypts and verifies the whole shield into DEST_DIR (created if missing,\n"
                 "must be empty; meant to be a tmpfs such as an emptyDir with medium Memory).  Needs no\n"
                 "privileges.  On any failure what was written is removed again.\n\n"
                 "Options:\n"
                 "  -k, --key-file FILE   volume key\n"
                 "  -T, --tag HEX         expected tag\n"
                 "      --tag-file FILE   expected tag, read from FILE\n"
                 "  -h, --help            this help\n");
}

int ens_cmd_fs_unpack(int argc, char **argv)
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
        default: return ens_cli_usage_error("fs unpack", "bad option");
        }
    }
    if (argc - optind != 2)
        return ens_cli_usage_error("fs unpack", "expected SHIELD_DIR and DEST_DIR");
    if (!keyfile)
        return ens_cli_usage_error("fs unpack", "--key-file is required");
    _cleanup_error_ ens_error_t err = NULL;
    uint8_t key[ENS_SHIELD_KEY_LEN], tag[ENS_SHIELD_TAG_LEN];
    if (fs_get_tag(taghex, tagfile, tag, &err) < 0) {
        fprintf(stderr, "ensconce fs unpack: %s\n", ens_error_msg(err));
        return 2;
    }
    if (fs_read_key(keyfile, key, &err) < 0)
        return ens_error_report(&err, "ensconce fs unpack");
    int rc = ens_shield_unpack(argv[optind], key, tag, argv[optind + 1], &err);
    ens_wipe(key, sizeof(key));
    if (rc < 0)
        return ens_error_report(&err, "ensconce fs unpack");
    return 0;
}
