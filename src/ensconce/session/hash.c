/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce session hash`: the canonical hash of a session file (the `predecessor` value). */
#include <stdio.h>

#include "cli.h"
#include "core/cleanup.h"
#include "policy/policy.h"
#include "session/args.h"
#include "session/session.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ensconce session hash [OPTIONS] FILE\n\n"
            "Prints the canonical hash of a session (hex SHA-256 of its canonical JSON form, see\n"
            "docs/policy.md): the value a successor session gives as `predecessor`.\n"
            "FILE '-' reads standard input.\n\n"
            "Options:\n"
            "  -e, --use-env     substitute $VAR / ${VAR} from the environment first\n"
            "      --canonical   print the canonical JSON form instead of its hash\n"
            "  -h, --help        show this help\n");
}

int ens_cmd_session_hash(int argc, char **argv)
{
    bool use_env = false, canonical = false;
    const char *file;
    const struct session_opt opts[] = {
        SESSION_OPT_USE_ENV(&use_env), {.name = "canonical", .val = 'C', .set = &canonical}, {0}};
    int rc = session_parse_args("session hash", usage, opts, "expected exactly one FILE", argc, argv, &file);
    if (rc != SESSION_ARGS_OK)
        return rc;

    _cleanup_error_ ens_error_t err = NULL;
    ens_policy_t *p = NULL;
    if (ens_policy_parse_file(file, use_env, &p, &err) < 0)
        return ens_error_report(&err, "ensconce session hash");
    rc = 0;
    if (canonical) {
        json_t *j = NULL;
        if (ens_policy_canonical_json(p, &j, &err) < 0) {
            rc = ens_error_report(&err, "ensconce session hash");
        } else {
            char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
            if (s)
                printf("%s\n", s);
            else
                rc = 1;
            free(s);
            json_decref(j);
        }
    } else {
        char hash[ENS_POLICY_HASH_HEX_LEN];
        if (ens_policy_hash(p, hash, &err) < 0)
            rc = ens_error_report(&err, "ensconce session hash");
        else
            printf("%s\n", hash);
    }
    ens_policy_free(p);
    return rc;
}
