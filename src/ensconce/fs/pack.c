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

struct pack_ctx {
    struct ens_shield_rule *rules; /* room for one per argument */
    struct ens_shield_pack_opts po;
};

/* The region rules (-e, -a, -p) and -d. */
static int pack_opt(int c, const char *arg, void *ctx)
{
    struct pack_ctx *p = ctx;
    switch (c) {
    case 'e': p->rules[p->po.nrules++] = (struct ens_shield_rule){arg, ENS_SHIELD_ENCRYPTED}; return 1;
    case 'a': p->rules[p->po.nrules++] = (struct ens_shield_rule){arg, ENS_SHIELD_AUTHENTICATED}; return 1;
    case 'p': p->rules[p->po.nrules++] = (struct ens_shield_rule){arg, ENS_SHIELD_PLAIN}; return 1;
    case 'd':
        if (ens_shield_region_parse(arg, &p->po.default_region) < 0)
            return ens_cli_usage_error("fs pack", "unknown region '%s' (encrypted, authenticated, plain)", arg);
        return 1;
    default: return 0;
    }
}

static int pack(struct fs_args *a, void *ctx, ens_error_t *err)
{
    struct pack_ctx *p = ctx;
    p->po.chunk_size = a->opts.chunk_size;
    if (ens_shield_pack(a->operands[0], a->operands[1], a->key, &p->po, a->tag, err) < 0)
        return -1;
    return fs_output_tag(a, err);
}

static const struct option pack_longopts[] = {
    FS_LONGOPTS_KEY_NEW,
    {"encrypted", required_argument, NULL, 'e'}, {"authenticated", required_argument, NULL, 'a'},
    {"plain", required_argument, NULL, 'p'}, {"default", required_argument, NULL, 'd'},
    {"chunk-size", required_argument, NULL, 'c'}, {"tag-out", required_argument, NULL, 't'},
    FS_LONGOPTS_HELP_END,
};

static const struct fs_cmd pack_cmd = {
    .name = "fs pack", .usage = usage, .run = pack, .needs = FS_NEEDS_KEY,
    .shortopts = "k:e:a:p:d:c:t:h", .longopts = pack_longopts, .own_opt = pack_opt,
    .n_operands = 2, .operands_error = "expected SRC_DIR and SHIELD_DIR",
};

int ens_cmd_fs_pack(int argc, char **argv)
{
    _cleanup_free_ struct ens_shield_rule *rules = calloc((size_t)argc + 1, sizeof(*rules));
    struct pack_ctx p = {.rules = rules, .po = {.rules = rules}};
    return fs_run(&pack_cmd, &p, argc, argv);
}
