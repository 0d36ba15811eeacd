/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce session verify`: parse and validate a session file offline. */
#include <stdio.h>

#include "cli.h"
#include "core/cleanup.h"
#include "policy/policy.h"
#include "session/args.h"
#include "session/session.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ensconce session verify [OPTIONS] FILE\n\n"
            "Parses and validates a session (policy language " ENS_POLICY_VERSION ") without contacting a CAS.\n"
            "Errors are printed as FILE:LINE:COLUMN: FIELD: problem.  FILE '-' reads standard input.\n\n"
            "Options:\n"
            "  -e, --use-env   substitute $VAR / ${VAR} from the environment first\n"
            "  -c, --create    also check the rules for a new session (no predecessor)\n"
            "  -q, --quiet     print nothing on success\n"
            "  -h, --help      show this help\n");
}

int ens_cmd_session_verify(int argc, char **argv)
{
    bool use_env = false, create = false, quiet = false;
    const char *file;
    const struct session_opt opts[] = {
        SESSION_OPT_USE_ENV(&use_env),
        {.name = "create", .val = 'c', .short_too = true, .set = &create},
        {.name = "quiet", .val = 'q', .short_too = true, .set = &quiet},
        {0},
    };
    int rc = session_parse_args("session verify", usage, opts, "expected exactly one FILE", argc, argv, &file);
    if (rc != SESSION_ARGS_OK)
        return rc;

    _cleanup_error_ ens_error_t err = NULL;
    ens_policy_t *p = NULL;
    if (ens_policy_parse_file(file, use_env, &p, &err) < 0)
        return ens_error_report(&err, "ensconce session verify");
    rc = 0;
    char hash[ENS_POLICY_HASH_HEX_LEN];
    if (create && ens_policy_check_create(p, &err) < 0)
        rc = ens_error_report(&err, "ensconce session verify");
    else if (ens_policy_hash(p, hash, &err) < 0)
        rc = ens_error_report(&err, "ensconce session verify");
    else if (!quiet)
        printf("%s: ok: session %s, %zu service(s), %zu secret(s), hash %s\n", file, ens_policy_name(p),
               ens_policy_service_count(p), ens_policy_secret_count(p), hash);
    ens_policy_free(p);
    return rc;
}
