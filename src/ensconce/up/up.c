/* SPDX-License-Identifier: Apache-2.0 */
/* ensconce up: run a Compose file's services as runc containers, in dependency order. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cas/casclient.h"
#include "cli.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "crypto/digest.h"
#include "up/up.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: ensconce up [-f FILE] [-p PROJECT] [OPTIONS]\n\n"
                 "Runs the services of a Compose file as runc containers on this machine, in dependency order,\n"
                 "waiting for each to be healthy.  Starts a local CAS and LAS first unless ENSCONCE_CAS_ADDR names\n"
                 "one (or --no-infra); uploads x-ensconce-session policies.  Needs root and runc.\n\n"
                 "  -f, --file=FILE        the Compose file (default compose.yaml / docker-compose.yml)\n"
                 "  -p, --project-name=P   project name (default: the file's name: or its directory)\n"
                 "      --state-dir=DIR    state (default /run/ensconce/PROJECT or $ENSCONCE_STATE_DIR/PROJECT)\n"
                 "      --infra-only       only start (and attest) the local CAS and LAS, then exit\n"
                 "      --no-infra         do not start a CAS or LAS\n"
                 "      --timeout=S        how long a service may take to become healthy (default 120)\n"
                 "\nAll services share the host's network namespace: service names resolve to 127.0.0.1, and\n"
                 "two services may not use the same port.  See docs/up.md.\n");
}

static int write_hosts(const char *state, json_t *project, ens_error_t *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (m == NULL)
        return ens_error_errno(err, "open_memstream");
    fprintf(m, "# written by ensconce up: every service runs on this host's loopback\n127.0.0.1\tlocalhost cas las");
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(project, "services"), i, s) fprintf(m, " %s",
                                                                           json_string_value(json_object_get(s, "name")));
    fprintf(m, "\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    fclose(m);
    _cleanup_free_ char *path = ens_path_join(state, "hosts");
    int r = ens_write_file_atomic(path, buf, len, 0644, err);
    free(buf);
    return r;
}

static int upload_session(const char *compose_dir, const char *file, ens_error_t *err)
{
    _cleanup_free_ char *path = file[0] == '/' ? strdup(file) : ens_path_join(compose_dir, file);
    _cleanup_free_ char *yaml = NULL;
    size_t len = 0;
    if (ens_read_file(path, 1 << 20, &yaml, &len, err) < 0)
        return -1;
    _cleanup_free_ char *addr = ens_casc_addr(NULL);
    ens_http_conn *c = NULL;
    if (ens_casc_connect(addr, &c, err) < 0)
        return -1;
    json_t *reply = NULL;
    _cleanup_error_ ens_error_t e = NULL;
    int r = ens_casc_call(c, "POST", "/session", "application/yaml", yaml, len, &reply, &e);
    json_decref(reply);
    ens_http_close(c);
    if (r < 0 && ens_error_status(e) != EEXIST)
        return ens_error(err, ens_error_status(e), "uploading %s: %s", file, ens_error_msg(e));
    ens_wipe(yaml, len);
    return 0;
}

static void print_log_tail(const char *log)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    if (ens_read_file(log, 1 << 22, &text, &len, NULL) < 0)
        return;
    const char *p = text + len;
    for (int lines = 0; p > text && lines < 11; p--)
        if (p[-1] == '\n')
            lines++;
    fprintf(stderr, "--- last lines of %s\n%s", log, p);
}

/* Starts every service in order, each only after the one before is healthy. */
static int start_services(struct up_project *p, json_t *project, int timeout_s, ens_error_t *err)
{
    _cleanup_free_ char *compose_abs = realpath(p->compose_path, NULL);
    _cleanup_free_ char *compose_dir = strdup(dirname(compose_abs));
    _cleanup_free_ char *hosts = ens_path_join(p->state, "hosts");
    _cleanup_free_ char *volumes = ens_path_join(p->state, "volumes");
    _cleanup_free_ char *logs = ens_path_join(p->state, "logs");
    _cleanup_free_ char *bundles = ens_path_join(p->state, "bundles");
    if (write_hosts(p->state, project, err) < 0 || ens_mkdir_p(logs, 0755, err) < 0 ||
        ens_mkdir_p(bundles, 0700, err) < 0 ||
        ens_mkdir_p(volumes, 0700, err) < 0)
        return -1;
    json_object_set_new(project, "compose", json_string(compose_abs));
    _cleanup_free_ char *upjson = ens_path_join(p->state, "up.json");
    _cleanup_free_ char *doc = json_dumps(project, JSON_INDENT(2));
    if (ens_write_file_atomic(upjson, doc, strlen(doc), 0644, err) < 0)
        return -1;

    size_t i;
    json_t *svc;
    json_array_foreach(json_object_get(project, "services"), i, svc) {
        const char *sess = json_string_value(json_object_get(svc, "session"));
        if (sess && upload_session(compose_dir, sess, err) < 0)
            return -1;
    }
    struct up_bundle_ctx bctx = {.hosts_file = hosts, .volumes_dir = volumes, .compose_dir = compose_dir};
    json_array_foreach(json_object_get(project, "services"), i, svc) {
        const char *name = json_string_value(json_object_get(svc, "name"));
        _cleanup_free_ char *id = up_container_id(p->name, name);
        _cleanup_free_ char *bundle = NULL, *log = NULL, *pidf = NULL;
        if (asprintf(&bundle, "%s/bundles/%s", p->state, name) < 0 || asprintf(&log, "%s/%s.log", logs, name) < 0 ||
            asprintf(&pidf, "%s/bundles/%s.pid", p->state, name) < 0)
            return -1;
        _cleanup_free_ char *status = up_runc_status(p->state, id);
        if (status && strcmp(status, "running") == 0) {
            /* like compose: a running service is left alone; stopped ones are recreated */
            printf("%-24s running  %s (unchanged)\n", name, id);
            continue;
        }
        if (up_runc_stop(p->state, id, 10, err) < 0)
            return -1;
        unlink(log); /* a new container starts a new log */
        ens_step("%s: preparing %s", name, json_string_value(json_object_get(svc, "image")));
        if (up_bundle_prepare(&bctx, svc, bundle, err) < 0)
            return -1;
        const char *run[] = {"run", "-d", "--pid-file", pidf, "-b", bundle, id, NULL};
        if (up_runc(p->state, run, log, err) < 0) {
            print_log_tail(log);
            ens_error_wrap(err, "starting %s", name);
            return -1;
        }
        ens_step("%s: started, waiting until healthy", name);
        json_t *health = json_object_get(svc, "health");
        long limit_ms = health ? (long)json_integer_value(json_object_get(health, "start_period_ms")) : 2000;
        if (limit_ms < (long)timeout_s * 1000)
            limit_ms = (long)timeout_s * 1000;
        long interval = health ? (long)json_integer_value(json_object_get(health, "interval_ms")) : 200;
        if (interval < 100)
            interval = 100;
        struct timespec t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
            int h = up_health_check(p->state, id, health, err);
            if (h < 0) {
                print_log_tail(log);
                ens_error_wrap(err, "service %s stopped before it was healthy", name);
                return -1;
            }
            if (h > 0)
                break;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 > limit_ms) {
                print_log_tail(log);
                ens_error(err, ETIMEDOUT, "service %s was not healthy within %ld s", name, limit_ms / 1000);
                return -1;
            }
            usleep((useconds_t)interval * 1000);
        }
        printf("%-24s running  %s\n", name, id);
        fflush(stdout);
    }
    printf("all %zu services are up (state in %s; logs: ensconce logs -p %s SERVICE)\n",
           json_array_size(json_object_get(project, "services")), p->state, p->name);
    return 0;
}

int ens_cmd_up(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, 0, 'h'},         {"file", required_argument, 0, 'f'},
        {"project-name", required_argument, 0, 'p'}, {"state-dir", required_argument, 0, 'S'},
        {"infra-only", no_argument, 0, 'I'},   {"no-infra", no_argument, 0, 'N'},
        {"timeout", required_argument, 0, 't'}, {"detach", no_argument, 0, 'd'},
        {0, 0, 0, 0},
    };
    const char *file = NULL, *project_name = NULL, *state_arg = NULL;
    bool infra_only = false, no_infra = false;
    int timeout_s = 120, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hf:p:d", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return 0;
        case 'f': file = optarg; break;
        case 'p': project_name = optarg; break;
        case 'S': state_arg = optarg; break;
        case 'I': infra_only = true; break;
        case 'N': no_infra = true; break;
        case 't': timeout_s = atoi(optarg); if (timeout_s <= 0) return ens_cli_usage_error("up", "--timeout needs seconds > 0"); break;
        case 'd': break; /* always detached */
        default: return ens_cli_usage_error("up", "unknown option");
        }
    }
    if (optind != argc)
        return ens_cli_usage_error("up", "unexpected argument '%s'", argv[optind]);
    if (geteuid() != 0) {
        fprintf(stderr, "ensconce up: needs root (runc containers, mounts); run it with sudo\n");
        return 1;
    }
    _cleanup_error_ ens_error_t err = NULL;
    char *runc_version[] = {"runc", "--version", NULL};
    if (up_spawn_wait(runc_version, "/dev/null", &err) < 0) {
        ens_error_release(&err);
        fprintf(stderr, "ensconce up: runc is not installed (Debian: apt-get install runc)\n");
        return 1;
    }
    struct up_project p;
    if (up_project_resolve(file, project_name, state_arg, !infra_only, &p, &err) < 0)
        return ens_error_report(&err, "ensconce up");
    int rc = 1;
    json_t *project = NULL;
    if (ens_mkdir_p(p.state, 0755, &err) < 0)
        goto out;
    if (!infra_only && up_compose_load(p.compose_path, p.name, &project, &err) < 0)
        goto out;
    if (!no_infra && up_infra_start(p.state, &err) < 0)
        goto out;
    if (infra_only) {
        _cleanup_free_ char *addr = ens_casc_addr(NULL);
        printf("CAS %s (attested and pinned), LAS 127.0.0.1:18766; state in %s\n", addr, p.state);
        rc = 0;
        goto out;
    }
    if (start_services(&p, project, timeout_s, &err) < 0)
        goto out;
    rc = 0;
out:
    if (rc != 0 && err) {
        ens_error_report(&err, "ensconce up");
        fprintf(stderr, "ensconce up: what started is still running; stop it with 'ensconce down -p %s'\n", p.name);
    }
    json_decref(project);
    up_project_free(&p);
    return rc;
}
