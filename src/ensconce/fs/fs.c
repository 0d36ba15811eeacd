/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder until issue 3 lands. */
#include <stdio.h>

#include "cli.h"

int ens_cmd_fs(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ensconce fs: not implemented yet (issue #3)\n");
    return 1;
}
