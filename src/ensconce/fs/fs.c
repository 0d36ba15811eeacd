/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce fs`: the shield tools (the replaced product's fspf, see docs/shield.md). */
#include "cli.h"
#include "fs_common.h"

static const struct ens_subcommand fs_commands[] = {
    {"pack", ens_cmd_fs_pack, "encrypt a directory tree into a shield (fspf create/addr/addf/encrypt)"},
    {"init", ens_cmd_fs_init, "create an empty writable volume"},
    {"verify", ens_cmd_fs_verify, "check a shield against its key and expected tag, every chunk"},
    {"unpack", ens_cmd_fs_unpack, "memory mode: decrypt and verify a shield into a directory"},
    {"show", ens_cmd_fs_show, "print a shield's tag, regions and entries (fspf show)"},
    {"mount", ens_cmd_fs_mount, "serve a shield through FUSE (read-only, or a writable volume)"},
    {"tag", ens_cmd_fs_tag, "print the tag of a shield's current manifest (no key needed)"},
    {"keygen", ens_cmd_fs_keygen, "create a new random volume key file"},
    {NULL, NULL, NULL},
};

int ens_cmd_fs(int argc, char **argv) { return ens_cli_dispatch("fs", fs_commands, argc, argv); }
