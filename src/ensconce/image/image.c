/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder until issue 2 lands. */
#include <stdio.h>

#include "cli.h"

int ens_cmd_image(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ensconce image: not implemented yet (issue #2)\n");
    return 1;
}
