/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce session update FILE`: replace a session; fills in the predecessor from the CAS. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cas/casclient.h"
#include "cli.h"
#include "core/cleanup.h"
#include "policy/policy.h"
#include "session/args.h"
#include "session/remote.h"
#include "session/session.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: ensconce session update [OPTIONS] FILE\n\n"
                 "Replaces a session on the CAS.  Without a `predecessor` in FILE, the current hash is read from\n"
                 "the CAS and inserted (a top-level `predecessor:` line).  If someone else updated the session\n"
                 "in between, the CAS refuses with a conflict naming the current hash.  Prints the new hash.\n\n"
                 "Options:\n"
                 "  --cas ADDR            CAS client API (default $ENSCONCE_CAS_ADDR, $SCONE_CAS_ADDR, 127.0.0.1:8081)\n"
                 "  --predecessor HASH    use this predecessor instead of asking the CAS\n"
                 "  -e, --use-env         substitute $VAR / ${VAR} from the environment first\n"
                 "  -h, --help            this help\n");
}

/* Inserts "predecessor: HASH" as the first key of the top-level block mapping (after a
 * leading "---" line, if any); the result is parsed again before upload. */
static char *with_predecessor(const char *text, size_t len, const char *hash, size_t *out_len)
{
    size_t at = 0;
    if (len >= 3 && strncmp(text, "---", 3) == 0) {
        const char *nl = memchr(text, '\n', len);
        at = nl ? (size_t)(nl - text) + 1 : len;
    }
    char *out = NULL;
    int n = asprintf(&out, "%.*spredecessor: \"%s\"\n%.*s", (int)at, text, hash, (int)(len - at), text + at);
    if (n < 0)
        return NULL;
    *out_len = (size_t)n;
    return out;
}

int ens_cmd_session_update(int argc, char **argv)
{
    const char *cas = NULL, *pred_opt = NULL, *file;
    bool use_env = false;
    const struct session_opt opts[] = {
        SESSION_OPT_CAS(&cas),
        {.name = "predecessor", .val = 'p', .value = &pred_opt},
        SESSION_OPT_USE_ENV(&use_env),
        {0},
    };
    int rc = session_parse_args("session update", usage, opts, "expected exactly one FILE", argc, argv, &file);
    if (rc != SESSION_ARGS_OK)
        return rc;
    _cleanup_error_ ens_error_t err = NULL;
    _cleanup_free_ char *text = NULL, *upload = NULL;
    size_t len = 0, ulen = 0;
    ens_policy_t *p = NULL;
    if (ens_session_read_text(file, use_env, &text, &len, &err) < 0
        || ens_policy_parse(text, len, file, &p, &err) < 0)
        return ens_error_report(&err, "ensconce session update");
    _cleanup_free_ char *addr = ens_casc_addr(cas);
    _cleanup_free_ char *name = strdup(ens_policy_name(p));
    bool has_pred = ens_policy_predecessor(p) != NULL;
    ens_policy_free(p);
    p = NULL;
    if (has_pred) {
        if (pred_opt)
            return ens_cli_usage_error("session update", "%s already has a predecessor; drop --predecessor", file);
        upload = ens_steal(&text);
        ulen = len;
    } else {
        _cleanup_free_ char *pred = pred_opt ? strdup(pred_opt) : NULL;
        if (pred == NULL) {
            json_t *cur = NULL;
            if (ens_session_fetch(addr, name, &cur, &err) < 0)
                return ens_error_report(&err, "ensconce session update");
            pred = strdup(json_string_value(json_object_get(cur, "hash")) ?: "");
            json_decref(cur);
        }
        upload = with_predecessor(text, len, pred, &ulen);
        if (upload == NULL)
            return ens_error_report(&err, "ensconce session update");
        if (ens_policy_parse(upload, ulen, file, &p, &err) < 0) {
            ens_error_wrap(&err, "after inserting the predecessor (write it into the file yourself)");
            return ens_error_report(&err, "ensconce session update");
        }
        ens_policy_free(p);
    }
    json_t *reply = NULL;
    if (ens_session_upload(addr, upload, ulen, &reply, &err) < 0)
        return ens_error_report(&err, "ensconce session update");
    printf("%s\n", json_string_value(json_object_get(reply, "hash")));
    fprintf(stderr, "updated session %s (version %lld)\n", name,
            (long long)json_integer_value(json_object_get(reply, "version")));
    json_decref(reply);
    return 0;
}
