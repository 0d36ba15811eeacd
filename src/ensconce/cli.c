/* SPDX-License-Identifier: Apache-2.0 */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool ens_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    }
    return false;
}

int ens_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ensconce %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'ensconce %s --help'.\n", cmd);
    va_end(ap);
    return 2;
}

static void group_help(FILE *out, const char *group, const struct ens_subcommand *table)
{
    fprintf(out, "Usage: ensconce %s COMMAND [OPTIONS]\n\nCommands:\n", group);
    for (const struct ens_subcommand *c = table; c->name; c++)
        fprintf(out, "  %-12s %s\n", c->name, c->summary);
    fprintf(out, "\nRun 'ensconce %s COMMAND --help' for a command's options.\n", group);
}

int ens_cli_dispatch(const char *group, const struct ens_subcommand *table, int argc, char **argv)
{
    if (argc < 2) {
        group_help(stderr, group, table);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        group_help(stdout, group, table);
        return 0;
    }
    for (const struct ens_subcommand *c = table; c->name; c++)
        if (strcmp(c->name, argv[1]) == 0)
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "ensconce %s: unknown command '%s'\n", group, argv[1]);
    group_help(stderr, group, table);
    return 2;
}
