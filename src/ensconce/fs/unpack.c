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
                 FS_KEY_TAG_HELP
                 "  -h, --help            this help\n");
}

static int unpack(struct fs_args *a, void *ctx, ens_error_t *err)
{
    (void)ctx;
    return ens_shield_unpack(a->operands[0], a->key, a->tag, a->operands[1], err);
}

static const struct fs_cmd unpack_cmd = {
    .name = "fs unpack", .usage = usage, .run = unpack, .needs = FS_NEEDS_KEY | FS_NEEDS_TAG,
    .shortopts = "k:T:h", .longopts = fs_key_tag_longopts,
    .n_operands = 2, .operands_error = "expected SHIELD_DIR and DEST_DIR",
};

int ens_cmd_fs_unpack(int argc, char **argv) { return fs_run(&unpack_cmd, NULL, argc, argv); }
