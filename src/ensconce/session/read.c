/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce session read NAME`: the session text and its hash from the CAS. */
#include <stdio.h>
#include <string.h>

#include "cas/casclient.h"
#include "cli.h"
#include "core/cleanup.h"
#include "session/args.h"
#include "session/remote.h"
#include "session/session.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: ensconce session read [OPTIONS] NAME\n\n"
                 "Fetches a session (GET /v1/sessions/NAME; needs read access) and prints it; the hash\n"
                 "goes to standard error.\n\n"
                 "Options:\n"
                 "  --cas ADDR   CAS client API (default $ENSCONCE_CAS_ADDR, $SCONE_CAS_ADDR, 127.0.0.1:8081)\n"
                 "  --hash       print only the hash\n"
                 "  --json       print the CAS's JSON reply (name, hash, session, version, creator)\n"
                 "  -h, --help   this help\n");
}

int ens_cmd_session_read(int argc, char **argv)
{
    bool hash_only = false, json = false;
    const char *cas = NULL, *name;
    const struct session_opt opts[] = {
        SESSION_OPT_CAS(&cas),
        {.name = "hash", .val = 'H', .set = &hash_only},
        {.name = "json", .val = 'j', .set = &json},
        {0},
    };
    int rc = session_parse_args("session read", usage, opts, "expected exactly one NAME", argc, argv, &name);
    if (rc != SESSION_ARGS_OK)
        return rc;
    _cleanup_error_ ens_error_t err = NULL;
    _cleanup_free_ char *addr = ens_casc_addr(cas);
    json_t *reply = NULL;
    if (ens_session_fetch(addr, name, &reply, &err) < 0)
        return ens_error_report(&err, "ensconce session read");
    const char *hash = json_string_value(json_object_get(reply, "hash"));
    if (json) {
        json_dumpf(reply, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        putchar('\n');
    } else if (hash_only) {
        printf("%s\n", hash);
    } else {
        json_t *s = json_object_get(reply, "session");
        fwrite(json_string_value(s), 1, json_string_length(s), stdout);
        fprintf(stderr, "hash %s\n", hash);
    }
    json_decref(reply);
    return 0;
}
