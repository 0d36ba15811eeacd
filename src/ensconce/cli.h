/* SPDX-License-Identifier: Apache-2.0 */
/* The `ensconce` CLI: a command table in main.c, one directory per command
 * group, one file per subcommand.  Every command returns its exit status:
 * 0 success, 1 failure (message already printed), 2 usage error. */
#ifndef ENSCONCE_CLI_H
#define ENSCONCE_CLI_H

#include <stdbool.h>

struct ens_subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

/* Runs argv[1] from table (argv[0] is the group name); prints the group's
 * help for -h/--help or no argument, and a usage error for unknown names. */
int ens_cli_dispatch(const char *group, const struct ens_subcommand *table, int argc, char **argv);

/* True when argv holds -h or --help before any "--". */
bool ens_cli_wants_help(int argc, char **argv);

/* Prints "ensconce: MESSAGE" and a hint to use --help; returns 2. */
int ens_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Command groups (each in its own directory). */
int ens_cmd_image(int argc, char **argv);
int ens_cmd_fs(int argc, char **argv);
int ens_cmd_chart(int argc, char **argv);
int ens_cmd_session(int argc, char **argv);
int ens_cmd_cas(int argc, char **argv);
int ens_cmd_evidence(int argc, char **argv);
int ens_cmd_sconify(int argc, char **argv);
int ens_cmd_up(int argc, char **argv);
int ens_cmd_down(int argc, char **argv);
int ens_cmd_ps(int argc, char **argv);
int ens_cmd_logs(int argc, char **argv);

/* Subcommands shared across groups. */
int ens_cmd_cas_collateral(int argc, char **argv); /* cas/collateral.c (issue 9) */

#endif
