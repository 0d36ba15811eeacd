/* SPDX-License-Identifier: Apache-2.0 */
/* Options shared by the `ensconce image` subcommands. */
#ifndef ENSCONCE_CLI_IMAGE_COMMON_H
#define ENSCONCE_CLI_IMAGE_COMMON_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "image/image.h"

enum {
    OPT_TLS_VERIFY = 1000, OPT_PLATFORM, OPT_AUTHFILE, OPT_COMPRESSION,
    OPT_ENTRYPOINT, OPT_CMD, OPT_ENV, OPT_WORKDIR, OPT_USER, OPT_LABEL, OPT_EXPOSE,
    OPT_REMOVE, OPT_ROOT, OPT_EXE, OPT_FILE, OPT_FROM, OPT_RAW, OPT_FLAG,
};

#define IMG_COMMON_LONGOPTS                                                                            \
    { "tls-verify", optional_argument, NULL, OPT_TLS_VERIFY }, { "platform", required_argument, NULL, OPT_PLATFORM }, \
        { "authfile", required_argument, NULL, OPT_AUTHFILE }

#define IMG_COMMON_HELP                                                                                \
    "  --tls-verify=BOOL     verify registry TLS certificates (default true; false also allows HTTP)\n" \
    "  --platform=OS/ARCH    pick this platform from an image index (default linux/amd64)\n"           \
    "  --authfile=FILE       registry credentials (default $REGISTRY_AUTH_FILE, ~/.docker/config.json)\n"

#define IMG_CONFIG_LONGOPTS                                                                                 \
    { "entrypoint", required_argument, NULL, OPT_ENTRYPOINT }, { "cmd", required_argument, NULL, OPT_CMD },   \
        { "env", required_argument, NULL, OPT_ENV }, { "workdir", required_argument, NULL, OPT_WORKDIR },     \
        { "user", required_argument, NULL, OPT_USER }, { "label", required_argument, NULL, OPT_LABEL },       \
        { "expose", required_argument, NULL, OPT_EXPOSE },                                                  \
        { "compression", required_argument, NULL, OPT_COMPRESSION }

#define IMG_CONFIG_HELP                                                                                  \
    "  --entrypoint=ARGS     entrypoint: a JSON array, or words split at spaces (\"\" clears)\n"          \
    "  --cmd=ARGS            command, same forms\n"                                                     \
    "  --env=NAME=VALUE      set an environment variable (repeatable)\n"                                \
    "  --workdir=DIR         working directory\n"                                                       \
    "  --user=USER[:GROUP]   user to run as\n"                                                          \
    "  --label=KEY=VALUE     set a label (repeatable)\n"                                                \
    "  --expose=PORT[/PROTO] expose a port (repeatable)\n"                                              \
    "  --compression=ALGO    new layers: gzip (default), zstd or none\n"

/* A subcommand that takes the common options, one on/off flag and a fixed number of operands
 * (inspect, unpack): its usage text and arguments, for img_open_from_args. */
struct img_cmd {
    const char *name;           /* "image inspect": messages say "ensconce image inspect: ..." */
    const char *operands;       /* usage line: "Usage: ensconce NAME [OPTIONS] OPERANDS" */
    const char *about;          /* the paragraph after it */
    const char *flag;           /* the flag's long name */
    const char *flag_help;      /* its line in the options list */
    int n_operands;             /* the first names the image */
    const char *operands_error; /* the usage error when the number of operands differs */
};

enum { IMG_ARGS_OK = -1 };

/* Parses argv as cmd describes (--help prints the usage) and opens the image the first operand
 * names; the operands start at argv[optind].  Returns IMG_ARGS_OK with *img to free, or the exit
 * status to end with: 0 after --help, 2 after a usage error, 1 when the image does not open
 * (message printed). */
int img_open_from_args(const struct img_cmd *cmd, int argc, char **argv, bool *flag, ens_image **img);

struct img_edits {
    struct img_edit { int opt; const char *arg; } *v;
    size_t n;
};

/* Returns 1 if c was a common option (applied to o), 0 if not, 2 on a usage error. */
int img_common_opt(const char *cmd, int c, const char *arg, struct ens_image_opts *o);
/* Returns 1 if c was a config option (recorded), 0 if not, 2 on a usage error. */
int img_edit_opt(const char *cmd, int c, const char *arg, struct img_edits *e, struct ens_image_opts *o);
int img_apply_edits(ens_image *img, const struct img_edits *e, ens_error_t *err);
void img_edits_free(struct img_edits *e);

#endif
