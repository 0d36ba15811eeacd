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

struct cb {
    const char *tagout;
};

static void on_commit(const uint8_t tag[ENS_SHIELD_TAG_LEN], uint64_t gen, void *arg)
{
    struct cb *cb = arg;
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

int ens_cmd_fs_mount(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"key-file", required_argument, NULL, 'k'}, {"tag", required_argument, NULL, 'T'},
        {"tag-file", required_argument, NULL, 'F'}, {"rw", no_argument, NULL, 'w'},
        {"tag-out", required_argument, NULL, 't'}, {"commit-interval", required_argument, NULL, 'i'},
        {"allow-other", no_argument, NULL, 'A'}, {"debug", no_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *keyfile = NULL, *taghex = NULL, *tagfile = NULL;
    struct cb cb = {0};
    struct ens_shield_mount_opts mo = {.commit_interval_ms = 1000, .on_commit = on_commit, .cb_arg = &cb};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:T:wt:i:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'k': keyfile = optarg; break;
        case 'T': taghex = optarg; break;
        case 'F': tagfile = optarg; break;
        case 'w': mo.writable = true; break;
        case 't': cb.tagout = optarg; break;
        case 'i': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || v > 3600000)
                return ens_cli_usage_error("fs mount", "bad commit interval '%s'", optarg);
            mo.commit_interval_ms = (unsigned)v;
            break;
        }
        case 'A': mo.allow_other = true; break;
        case 'D': mo.debug = true; break;
        case 'h': usage(stdout); return 0;
        default: return ens_cli_usage_error("fs mount", "bad option");
        }
    }
    if (argc - optind != 2)
        return ens_cli_usage_error("fs mount", "expected SHIELD_DIR and MOUNTPOINT");
    if (!keyfile)
        return ens_cli_usage_error("fs mount", "--key-file is required");
    _cleanup_error_ ens_error_t err = NULL;
    uint8_t key[ENS_SHIELD_KEY_LEN], tag[ENS_SHIELD_TAG_LEN];
    if (fs_get_tag(taghex, tagfile, tag, &err) < 0) {
        fprintf(stderr, "ensconce fs mount: %s\n", ens_error_msg(err));
        return 2;
    }
    if (fs_read_key(keyfile, key, &err) < 0)
        return ens_error_report(&err, "ensconce fs mount");
    int rc = ens_shield_mount(argv[optind], key, tag, argv[optind + 1], &mo, &err);
    ens_wipe(key, sizeof(key));
    return rc < 0 ? ens_error_report(&err, "ensconce fs mount") : 0;
}
