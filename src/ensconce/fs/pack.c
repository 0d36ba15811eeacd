/* SPDX-License-Identifier: Apache-2.0 */
/* ensconce fs pack: a directory tree into a shield. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "core/cleanup.h"
#include "crypto/digest.h"
#include "fs_common.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ensconce fs pack [OPTIONS] SRC_DIR SHIELD_DIR\n\n"
            "Encrypts and authenticates the tree SRC_DIR into the new shield directory SHIELD_DIR and\n"
            "prints its tag (64 hex digits).  Region rules name paths as seen inside the tree; the\n"
            "longest matching rule wins.  Plain paths are left out of the shield.\n\n"
            "Options:\n"
            "  -k, --key-file FILE       volume key (64 hex digits or 32 raw bytes)\n"
            "      --new-key             create FILE with a new random key (mode 0600) first\n"
            "  -e, --encrypted PATH      encrypted region (confidentiality + integrity)\n"
            "  -a, --authenticated PATH  authenticated region (integrity only)\n"
            "  -p, --plain PATH          plain region (not protected, not in the shield)\n"
            "  -d, --default REGION      region of unmatched paths (default: encrypted)\n"
            "  -c, --chunk-size BYTES    power of two in [4096, 4194304] (default 65536)\n"
            "  -t, --tag-out FILE        also write the tag to FILE\n"
            "  -h, --help                this help\n");
}

int ens_cmd_fs_pack(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"key-file", required_argument, NULL, 'k'}, {"new-key", no_argument, NULL, 'N'},
        {"encrypted", required_argument, NULL, 'e'}, {"authenticated", required_argument, NULL, 'a'},
        {"plain", required_argument, NULL, 'p'}, {"default", required_argument, NULL, 'd'},
        {"chunk-size", required_argument, NULL, 'c'}, {"tag-out", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *keyfile = NULL, *tagout = NULL;
    bool newkey = false;
    _cleanup_free_ struct ens_shield_rule *rules = calloc((size_t)argc + 1, sizeof(*rules));
    struct ens_shield_pack_opts po = {.rules = rules};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:e:a:p:d:c:t:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'k': keyfile = optarg; break;
        case 'N': newkey = true; break;
        case 'e': rules[po.nrules++] = (struct ens_shield_rule){optarg, ENS_SHIELD_ENCRYPTED}; break;
        case 'a': rules[po.nrules++] = (struct ens_shield_rule){optarg, ENS_SHIELD_AUTHENTICATED}; break;
        case 'p': rules[po.nrules++] = (struct ens_shield_rule){optarg, ENS_SHIELD_PLAIN}; break;
        case 'd':
            if (ens_shield_region_parse(optarg, &po.default_region) < 0)
                return ens_cli_usage_error("fs pack", "unknown region '%s' (encrypted, authenticated, plain)", optarg);
            break;
        case 'c': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 0);
            if (*end || v == 0 || v > (4u << 20))
                return ens_cli_usage_error("fs pack", "bad chunk size '%s'", optarg);
            po.chunk_size = (uint32_t)v;
            break;
        }
        case 't': tagout = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return ens_cli_usage_error("fs pack", "bad option");
        }
    }
    if (argc - optind != 2)
        return ens_cli_usage_error("fs pack", "expected SRC_DIR and SHIELD_DIR");
    if (!keyfile)
        return ens_cli_usage_error("fs pack", "--key-file is required");
    _cleanup_error_ ens_error_t err = NULL;
    uint8_t key[ENS_SHIELD_KEY_LEN], tag[ENS_SHIELD_TAG_LEN];
    if ((newkey ? fs_new_key(keyfile, key, &err) : fs_read_key(keyfile, key, &err)) < 0)
        return ens_error_report(&err, "ensconce fs pack");
    int rc = ens_shield_pack(argv[optind], argv[optind + 1], key, &po, tag, &err);
    ens_wipe(key, sizeof(key));
    if (rc < 0 || (tagout && fs_write_tag(tagout, tag, &err) < 0))
        return ens_error_report(&err, "ensconce fs pack");
    char hex[2 * ENS_SHIELD_TAG_LEN + 1];
    ens_hex_encode(tag, ENS_SHIELD_TAG_LEN, hex);
    printf("%s\n", hex);
    return 0;
}
