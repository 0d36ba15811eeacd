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
                 FS_KEY_TAG_HELP
                 "  -h, --help            this help\n");
}

static int verify(struct fs_args *a, void *ctx, ens_error_t *err)
{
    (void)ctx;
    if (ens_shield_verify(a->operands[0], a->key, a->tag, err) < 0)
        return -1;
    printf("ok\n");
    return 0;
}

static const struct fs_cmd verify_cmd = {
    .name = "fs verify", .usage = usage, .run = verify, .needs = FS_NEEDS_KEY | FS_NEEDS_TAG,
    .shortopts = "k:T:h", .longopts = fs_key_tag_longopts,
    .n_operands = 1, .operands_error = "expected SHIELD_DIR",
};

int ens_cmd_fs_verify(int argc, char **argv) { return fs_run(&verify_cmd, NULL, argc, argv); }
