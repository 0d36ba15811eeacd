/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholders for the CAS-backed subcommands (create.c, update.c, read.c).
 * The CAS engineer deletes this file when adding those (see session.h). */
#include <stdio.h>

#include "cli.h"
#include "session/session.h"

static int not_yet(const char *name, int argc, char **argv)
{
    if (ens_cli_wants_help(argc, argv)) {
        printf("Usage: ensconce session %s [--use-env] FILE\n\nNot available yet (needs the CAS client).\n", name);
        return 0;
    }
    fprintf(stderr, "ensconce session %s: not implemented yet (needs the CAS client)\n", name);
    return 1;
}

int ens_cmd_session_create(int argc, char **argv) { return not_yet("create", argc, argv); }
int ens_cmd_session_update(int argc, char **argv) { return not_yet("update", argc, argv); }
int ens_cmd_session_read(int argc, char **argv) { return not_yet("read", argc, argv); }
