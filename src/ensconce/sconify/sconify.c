/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder until issue 6 lands. */
#include <stdio.h>

#include "cli.h"

int ens_cmd_sconify(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ensconce sconify: not implemented yet (issue #6)\n");
    return 1;
}
