/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce session`: policy sessions (language 0.3, docs/policy.md). */
#include <stddef.h>

#include "cli.h"
#include "session/session.h"

int ens_cmd_session(int argc, char **argv)
{
    static const struct ens_subcommand table[] = {
        {"create", ens_cmd_session_create, "upload a new session to the CAS"},
        {"update", ens_cmd_session_update, "replace a session on the CAS (fills in the predecessor)"},
        {"read", ens_cmd_session_read, "fetch a session and its hash from the CAS"},
        {"verify", ens_cmd_session_verify, "parse and validate a session file offline"},
        {"hash", ens_cmd_session_hash, "print a session file's canonical hash"},
        {NULL, NULL, NULL},
    };
    return ens_cli_dispatch("session", table, argc, argv);
}
