/* SPDX-License-Identifier: Apache-2.0 */
/* ensconce fs mount: serve a shield through FUSE until unmounted. */
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
            "Usage: ensconce fs mount [OPTIONS] SHIELD_DIR MOUNTPOINT\n\n"
            "Serves the shield at MOUNTPOINT (FUSE, runs in the foreground until unmounted with\n"
            "'fusermount3 -u MOUNTPOINT' or SIGTERM).  Refuses a shield whose tag is not the expected one.\n"
            "A writable volume commits on fsync, on close (see --commit-interval) and at unmount; each\n"
            "commit prints 'tag GENERATION HEX' on stdout and updates --tag-out.\n\n"
            "Options:\n"
            "  -k, --key-file FILE         volume key\n"
            "  -T, --tag HEX               expected tag\n"
            "      --tag-file FILE         expected tag, read from FILE\n"
            "  -w, --rw                    writable volume (default: read-only)\n"
            "  -t, --tag-out FILE          write each new tag to FILE (atomically)\n"
            "  -i, --commit-interval MS    commit closed files at most MS ms late (default 1000; 0: at once)\n"
            "      --allow-other           let other users access the mount\n"
            "      --debug                 libfuse debug output\n"
            "  -h, --help                  this help\n");
}

/* What the options fill in, and what on_commit needs. */
struct mount_ctx {
    struct ens_shield_mount_opts mo;
    const char *tagout;
};

static void on_commit(const uint8_t tag[ENS_SHIELD_TAG_LEN], uint64_t gen, void *arg)
{
    struct mount_ctx *cb = arg;
    char hex[2 * ENS_SHIELD_TAG_LEN + 1];
    ens_hex_encode(tag, ENS_SHIELD_TAG_LEN, hex);
    if (cb->tagout) {
        _cleanup_error_ ens_error_t err = NULL;
        if (fs_write_tag(cb->tagout, tag, &err) < 0)
            fprintf(stderr, "ensconce fs mount: %s\n", ens_error_msg(err));
    }
    printf("tag %llu %s\n", (unsigned long long)gen, hex);
    fflush(stdout);
}

/* The mount options (struct ens_shield_mount_opts). */
static int mount_opt(int c, const char *arg, void *ctx)
{
    struct ens_shield_mount_opts *mo = &((struct mount_ctx *)ctx)->mo;
    switch (c) {
    case 'w': mo->writable = true; return 1;
    case 'i': {
        char *end;
        unsigned long v = strtoul(arg, &end, 10);
        if (*end || v > 3600000)
            return ens_cli_usage_error("fs mount", "bad commit interval '%s'", arg);
        mo->commit_interval_ms = (unsigned)v;
        return 1;
    }
    case 'A': mo->allow_other = true; return 1;
    case 'D': mo->debug = true; return 1;
    default: return 0;
    }
}

static int serve(struct fs_args *a, void *ctx, ens_error_t *err)
{
    struct mount_ctx *m = ctx;
    m->tagout = a->opts.tag_out;
    return ens_shield_mount(a->operands[0], a->key, a->tag, a->operands[1], &m->mo, err);
}

static const struct option mount_longopts[] = {
    FS_LONGOPTS_KEY_TAG, {"rw", no_argument, NULL, 'w'},
    {"tag-out", required_argument, NULL, 't'}, {"commit-interval", required_argument, NULL, 'i'},
    {"allow-other", no_argument, NULL, 'A'}, {"debug", no_argument, NULL, 'D'},
    FS_LONGOPTS_HELP_END,
};

static const struct fs_cmd mount_cmd = {
    .name = "fs mount", .usage = usage, .run = serve, .needs = FS_NEEDS_KEY | FS_NEEDS_TAG,
    .shortopts = "k:T:wt:i:h", .longopts = mount_longopts, .own_opt = mount_opt,
    .n_operands = 2, .operands_error = "expected SHIELD_DIR and MOUNTPOINT",
};

int ens_cmd_fs_mount(int argc, char **argv)
{
    struct mount_ctx m = {.mo = {.commit_interval_ms = 1000, .on_commit = on_commit}};
    m.mo.cb_arg = &m;
    return fs_run(&mount_cmd, &m, argc, argv);
}
