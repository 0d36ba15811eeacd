/* SPDX-License-Identifier: Apache-2.0 */
/* Shared option handling of the `ensconce fs` subcommands: fs_run parses a subcommand's arguments
 * as its struct fs_cmd describes, reads the key and the expected tag, and runs it. */
#ifndef ENSCONCE_CLI_FS_COMMON_H
#define ENSCONCE_CLI_FS_COMMON_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "shield/shield.h"

/* Reads a volume key file: 64 hex digits (surrounding white space allowed) or 32 raw bytes. */
int fs_read_key(const char *path, uint8_t key[ENS_SHIELD_KEY_LEN], ens_error_t *err);
/* Creates a new random key file (mode 0600, refuses to overwrite). */
int fs_new_key(const char *path, uint8_t key[ENS_SHIELD_KEY_LEN], ens_error_t *err);
/* Tag from --tag HEX or --tag-file FILE (exactly one of them). */
int fs_get_tag(const char *hex, const char *file, uint8_t tag[ENS_SHIELD_TAG_LEN], ens_error_t *err);
/* Writes tag hex + newline atomically to path. */
int fs_write_tag(const char *path, const uint8_t tag[ENS_SHIELD_TAG_LEN], ens_error_t *err);

/* Prints tag as 64 hex digits and a newline. */
void fs_print_tag(const uint8_t tag[ENS_SHIELD_TAG_LEN]);

/* The long options most subcommands share; each returns its short letter ('F' for --tag-file,
 * 'N' for --new-key).  Each subcommand keeps its order: getopt_long names the candidates of an
 * ambiguous abbreviation in table order. */
#define FS_LONGOPTS_KEY_TAG                                                                    \
    {"key-file", required_argument, NULL, 'k'}, {"tag", required_argument, NULL, 'T'},         \
        {"tag-file", required_argument, NULL, 'F'}
#define FS_LONGOPTS_KEY_NEW {"key-file", required_argument, NULL, 'k'}, {"new-key", no_argument, NULL, 'N'}
#define FS_LONGOPTS_HELP_END {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}
/* Just those and --help (verify, unpack). */
extern const struct option fs_key_tag_longopts[];

/* The --help lines of -k, -T and --tag-file where both the key and the tag are required. */
#define FS_KEY_TAG_HELP                                     \
    "  -k, --key-file FILE   volume key\n"                   \
    "  -T, --tag HEX         expected tag\n"                 \
    "      --tag-file FILE   expected tag, read from FILE\n"

/* The shared options, as given. */
struct fs_opts {
    const char *key_file;           /* -k, --key-file */
    bool new_key;                   /* --new-key: create key_file first */
    const char *tag_hex, *tag_file; /* -T, --tag and --tag-file: the expected tag */
    const char *tag_out;            /* -t, --tag-out */
    uint32_t chunk_size;            /* -c, --chunk-size; 0: the default */
};

/* What a subcommand works with once fs_run has parsed its arguments. */
struct fs_args {
    char **operands;
    struct fs_opts opts;
    bool have_key, have_tag;
    uint8_t key[ENS_SHIELD_KEY_LEN]; /* read (or created) from opts.key_file; wiped after the run */
    uint8_t tag[ENS_SHIELD_TAG_LEN]; /* the expected tag; init and pack put the new one here */
};

enum {
    FS_NEEDS_KEY = 1 << 0, /* --key-file is required */
    FS_NEEDS_TAG = 1 << 1, /* --tag or --tag-file is required */
};

struct fs_cmd {
    const char *name; /* "fs verify": messages say "ensconce fs verify: ..." */
    void (*usage)(FILE *out);
    const char *shortopts;
    const struct option *longopts;
    /* The subcommand's own options: returns 1 if c was one, 0 if not, 2 after a usage error
     * (message printed).  NULL: it has none. */
    int (*own_opt)(int c, const char *arg, void *ctx);
    int n_operands;
    const char *operands_error; /* the usage error when the number of operands differs */
    unsigned needs;             /* FS_NEEDS_* */
    /* The work: returns < 0 with err set on failure. */
    int (*run)(struct fs_args *a, void *ctx, ens_error_t *err);
};

/* Parses argv as cmd describes, reads the expected tag (if given or needed) and the key (if given;
 * a new one with --new-key), and runs cmd->run; ctx goes to cmd->own_opt and cmd->run.  Returns
 * the exit status: 0 on success and after --help, 1 on failure, 2 after a usage error or a bad
 * tag (messages printed). */
int fs_run(const struct fs_cmd *cmd, void *ctx, int argc, char **argv);

/* For init and pack: writes the new tag to --tag-out, if given, and prints it. */
int fs_output_tag(const struct fs_args *a, ens_error_t *err);

int ens_cmd_fs_pack(int argc, char **argv);
int ens_cmd_fs_init(int argc, char **argv);
int ens_cmd_fs_verify(int argc, char **argv);
int ens_cmd_fs_unpack(int argc, char **argv);
int ens_cmd_fs_show(int argc, char **argv);
int ens_cmd_fs_mount(int argc, char **argv);
int ens_cmd_fs_keygen(int argc, char **argv);
int ens_cmd_fs_tag(int argc, char **argv);

#endif
