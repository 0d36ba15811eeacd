/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce session create FILE`: upload a new session (no predecessor) to the CAS. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cas/casclient.h"
#include "cli.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "policy/policy.h"
#include "session/args.h"
#include "session/remote.h"
#include "session/session.h"

int ens_session_read_text(const char *file, bool use_env, char **text, size_t *len, ens_error_t *err)
{
    _cleanup_free_ char *raw = NULL;
    size_t rl = 0;
    int r = strcmp(file, "-") == 0 ? ens_read_fd(STDIN_FILENO, ENS_POLICY_MAX_SIZE, &raw, &rl, err)
                                   : ens_read_file(file, ENS_POLICY_MAX_SIZE, &raw, &rl, err);
    if (r < 0)
        return -1;
    if (!use_env) {
        *text = ens_steal(&raw);
        *len = rl;
        return 0;
    }
    return ens_policy_expand_env(raw, rl, text, len, err) < 0 ? ens_error_wrap(err, "%s", file) : 0;
}

int ens_session_upload(const char *addr, const char *yaml, size_t len, json_t **reply, ens_error_t *err)
{
    ens_http_conn *c = NULL;
    if (ens_casc_connect(addr, &c, err) < 0)
        return -1;
    int r = ens_casc_call(c, "POST", "/session", "application/x-yaml", yaml, len, reply, err);
    ens_http_close(c);
    return r;
}

int ens_session_fetch(const char *addr, const char *name, json_t **reply, ens_error_t *err)
{
    if (!ens_policy_name_valid(name))
        return ens_error(err, EINVAL, "invalid session name '%s'", name);
    ens_http_conn *c = NULL;
    if (ens_casc_connect(addr, &c, err) < 0)
        return -1;
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "/v1/sessions/%s", name) < 0) {
        ens_http_close(c);
        return ens_error(err, ENOMEM, "out of memory");
    }
    int r = ens_casc_call(c, "GET", path, NULL, NULL, 0, reply, err);
    ens_http_close(c);
    return r;
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: ensconce session create [OPTIONS] FILE\n\n"
                 "Uploads a new session to the CAS (POST /session over mutual TLS, checking the CAS pin from\n"
                 "`ensconce cas attest`).  The session must not carry a predecessor; a session in a namespace\n"
                 "(parent/child) needs create_sessions on the parent.  Prints the session's hash.\n\n"
                 "Options:\n"
                 "  --cas ADDR      CAS client API (default $ENSCONCE_CAS_ADDR, $SCONE_CAS_ADDR, 127.0.0.1:8081)\n"
                 "  -e, --use-env   substitute $VAR / ${VAR} from the environment first\n"
                 "  -h, --help      this help\n");
}

int ens_cmd_session_create(int argc, char **argv)
{
    const char *cas = NULL, *file;
    bool use_env = false;
    const struct session_opt opts[] = {SESSION_OPT_CAS(&cas), SESSION_OPT_USE_ENV(&use_env), {0}};
    int rc = session_parse_args("session create", usage, opts, "expected exactly one FILE", argc, argv, &file);
    if (rc != SESSION_ARGS_OK)
        return rc;
    _cleanup_error_ ens_error_t err = NULL;
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    ens_policy_t *p = NULL;
    /* Validate locally first: errors with line and column before any network traffic. */
    if (ens_session_read_text(file, use_env, &text, &len, &err) < 0
        || ens_policy_parse(text, len, file, &p, &err) < 0 || ens_policy_check_create(p, &err) < 0) {
        ens_policy_free(p);
        return ens_error_report(&err, "ensconce session create");
    }
    ens_policy_free(p);
    _cleanup_free_ char *addr = ens_casc_addr(cas);
    json_t *reply = NULL;
    if (ens_session_upload(addr, text, len, &reply, &err) < 0)
        return ens_error_report(&err, "ensconce session create");
    printf("%s\n", json_string_value(json_object_get(reply, "hash")));
    fprintf(stderr, "created session %s\n", json_string_value(json_object_get(reply, "name")));
    json_decref(reply);
    return 0;
}
