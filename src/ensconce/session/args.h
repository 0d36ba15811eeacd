/* SPDX-License-Identifier: Apache-2.0 */
/* The option parser of the `ensconce session` subcommands: each describes its options in a table. */
#ifndef ENSCONCE_SESSION_ARGS_H
#define ENSCONCE_SESSION_ARGS_H

#include <stdbool.h>
#include <stdio.h>

/* One option: --NAME (and -VAL too when short_too); an option with an argument stores it in
 * *value, a flag sets *set.  A table ends with {0}. */
struct session_opt {
    const char *name;
    int val;
    bool short_too;
    const char **value;
    bool *set;
};

/* The options several subcommands share. */
#define SESSION_OPT_CAS(dest) {.name = "cas", .val = 'c', .value = (dest)}
#define SESSION_OPT_USE_ENV(dest) {.name = "use-env", .val = 'e', .short_too = true, .set = (dest)}

enum { SESSION_ARGS_OK = -1 };

/* Parses argv (options as opts describes, and -h/--help, which prints usage), then expects exactly
 * one operand, stored in *operand.  cmd names the subcommand in messages ("session create").
 * Returns SESSION_ARGS_OK, or the exit status to end with: 0 after --help, 2 after a usage error
 * (operand_error when the operand is missing or not alone; message printed). */
int session_parse_args(const char *cmd, void (*usage)(FILE *out), const struct session_opt *opts,
                       const char *operand_error, int argc, char **argv, const char **operand);

#endif
