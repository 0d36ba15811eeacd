/* SPDX-License-Identifier: Apache-2.0 */
/* ensconce fs init: an empty writable volume. */
#include <getopt.h>
#include <stdio.h>

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

static int init(struct fs_args *a, void *ctx, ens_error_t *err)
{
    (void)ctx;
    if (ens_shield_init_chunked(a->operands[0], a->key, a->opts.chunk_size, a->tag, err) < 0)
        return -1;
    return fs_output_tag(a, err);
}

static const struct option init_longopts[] = {
    FS_LONGOPTS_KEY_NEW, {"tag-out", required_argument, NULL, 't'}, {"chunk-size", required_argument, NULL, 'c'},
    FS_LONGOPTS_HELP_END,
};

static const struct fs_cmd init_cmd = {
    .name = "fs init", .usage = usage, .run = init, .needs = FS_NEEDS_KEY,
    .shortopts = "k:t:c:h", .longopts = init_longopts,
    .n_operands = 1, .operands_error = "expected SHIELD_DIR",
};

int ens_cmd_fs_init(int argc, char **argv) { return fs_run(&init_cmd, NULL, argc, argv); }
