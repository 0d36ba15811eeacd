/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder until issue 4 lands. */
#include <stdio.h>

#include "cli.h"

int ens_cmd_cas(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ensconce cas: not implemented yet (issue #4)\n");
    return 1;
}
