/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce session read NAME`: the session text and its hash from the CAS. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cas/casclient.h"
#include "cli.h"
#include "core/cleanup.h"
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
    static const struct option opts[] = {{"cas", required_argument, NULL, 'c'},
                                         {"hash", no_argument, NULL, 'H'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cas = NULL;
    bool hash_only = false, json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cas = optarg; break;
        case 'H': hash_only = true; break;
        case 'j': json = true; break;
        case 'h': usage(stdout); return 0;
        default: return ens_cli_usage_error("session read", "invalid option");
        }
    }
    if (argc - optind != 1)
        return ens_cli_usage_error("session read", "expected exactly one NAME");
    _cleanup_error_ ens_error_t err = NULL;
    _cleanup_free_ char *addr = ens_casc_addr(cas);
    json_t *reply = NULL;
    if (ens_session_fetch(addr, argv[optind], &reply, &err) < 0)
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
