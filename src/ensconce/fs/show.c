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

static int show_opt(int c, const char *arg, void *json)
{
    (void)arg;
    if (c != 'j')
        return 0;
    *(bool *)json = true;
    return 1;
}

static int show(struct fs_args *a, void *json, ens_error_t *err)
{
    return ens_shield_show(a->operands[0], a->have_key ? a->key : NULL, a->have_tag ? a->tag : NULL,
                           *(bool *)json, stdout, err);
}

static const struct option show_longopts[] = {
    FS_LONGOPTS_KEY_TAG, {"json", no_argument, NULL, 'j'}, FS_LONGOPTS_HELP_END,
};

static const struct fs_cmd show_cmd = {
    .name = "fs show", .usage = usage, .run = show,
    .shortopts = "k:T:h", .longopts = show_longopts, .own_opt = show_opt,
    .n_operands = 1, .operands_error = "expected SHIELD_DIR",
};

int ens_cmd_fs_show(int argc, char **argv)
{
    bool json = false;
    return fs_run(&show_cmd, &json, argc, argv);
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
    fs_print_tag(tag);
    return 0;
}
