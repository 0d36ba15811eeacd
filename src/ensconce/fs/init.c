/* SPDX-License-Identifier: Apache-2.0 */
/* ensconce fs init: an empty writable volume. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "core/cleanup.h"
#include "crypto/digest.h"
#include "fs_common.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: ensconce fs init [OPTIONS] SHIELD_DIR\n\n"
                 "Creates an empty writable volume and prints its tag.\n\n"
                 "Options:\n"
                 "  -k, --key-file FILE   volume key (64 hex digits or 32 raw bytes)\n"
                 "      --new-key         create FILE with a new random key (mode 0600) first\n"
                 "  -c, --chunk-size BYTES  power of two in [4096, 4194304] (default 65536)\n"
                 "  -t, --tag-out FILE    also write the tag to FILE\n"
                 "  -h, --help            this help\n");
}

int ens_cmd_fs_init(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"key-file", required_argument, NULL, 'k'}, {"new-key", no_argument, NULL, 'N'},
        {"tag-out", required_argument, NULL, 't'}, {"chunk-size", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *keyfile = NULL, *tagout = NULL;
    bool newkey = false;
    uint32_t chunk = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:t:c:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'k': keyfile = optarg; break;
        case 'N': newkey = true; break;
        case 't': tagout = optarg; break;
        case 'c': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 0);
            if (*end || v == 0 || v > (4u << 20))
                return ens_cli_usage_error("fs init", "bad chunk size '%s'", optarg);
            chunk = (uint32_t)v;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: return ens_cli_usage_error("fs init", "bad option");
        }
    }
    if (argc - optind != 1)
        return ens_cli_usage_error("fs init", "expected SHIELD_DIR");
    if (!keyfile)
        return ens_cli_usage_error("fs init", "--key-file is required");
    _cleanup_error_ ens_error_t err = NULL;
    uint8_t key[ENS_SHIELD_KEY_LEN], tag[ENS_SHIELD_TAG_LEN];
    if ((newkey ? fs_new_key(keyfile, key, &err) : fs_read_key(keyfile, key, &err)) < 0)
        return ens_error_report(&err, "ensconce fs init");
    int rc = ens_shield_init_chunked(argv[optind], key, chunk, tag, &err);
    ens_wipe(key, sizeof(key));
    if (rc < 0 || (tagout && fs_write_tag(tagout, tag, &err) < 0))
        return ens_error_report(&err, "ensconce fs init");
    char hex[2 * ENS_SHIELD_TAG_LEN + 1];
    ens_hex_encode(tag, ENS_SHIELD_TAG_LEN, hex);
    printf("%s\n", hex);
    return 0;
}
