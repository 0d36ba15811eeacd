/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder until issue 6 lands. */
#include <stdio.h>

#include "cli.h"

int ens_cmd_up(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ensconce up: not implemented yet (issue #6)\n");
    return 1;
}

int ens_cmd_down(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ensconce down: not implemented yet (issue #6)\n");
    return 1;
}

int ens_cmd_ps(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ensconce ps: not implemented yet (issue #6)\n");
    return 1;
}

int ens_cmd_logs(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ensconce logs: not implemented yet (issue #6)\n");
    return 1;
}
