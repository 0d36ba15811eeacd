/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder until issue 9 lands. */
#include <stdio.h>

#include "cli.h"

int ens_cmd_evidence(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ensconce evidence: not implemented yet (issue #9)\n");
    return 1;
}
