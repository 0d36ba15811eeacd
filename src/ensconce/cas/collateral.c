/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder until issue 9 lands: `ensconce cas collateral add FILE`. */
#include <stdio.h>

#include "cli.h"

int ens_cmd_cas_collateral(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ensconce cas collateral: not implemented yet (issue #9)\n");
    return 1;
}
