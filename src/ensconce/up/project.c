/* SPDX-License-Identifier: Apache-2.0 */
/* Which project a command means, and the health of its services. */
#include <curl/curl.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "up/up.h"

void up_project_free(struct up_project *p)
{
    free(p->name);
    free(p->state);
    free(p->compose_path);
    memset(p, 0, sizeof(*p));
}

int up_project_resolve(const char *compose_arg, const char *project_arg, const char *state_arg, bool need_compose,
                       struct up_project *p, ens_error_t *err)
{
    memset(p, 0, sizeof(*p));
    const char *candidates[] = {"compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml", NULL};
    if (compose_arg) {
        if (access(compose_arg, R_OK) < 0)
            return ens_error_errno(err, "Compose file %s", compose_arg);
        p->compose_path = strdup(compose_arg);
    } else {
        for (const char **c = candidates; *c; c++)
            if (access(*c, R_OK) == 0) {
                p->compose_path = strdup(*c);
                break;
            }
    }
    if (need_compose && p->compose_path == NULL)
        return ens_error(err, ENOENT, "no Compose file: give one with -f (looked for compose.yaml, docker-compose.yml)");
    if (project_arg) {
        p->name = strdup(project_arg);
    } else if (p->compose_path) {
        json_t *doc = NULL;
        _cleanup_error_ ens_error_t e = NULL;
        if (up_compose_load(p->compose_path, NULL, &doc, &e) == 0) {
            const char *n = json_string_value(json_object_get(doc, "name"));
            if (n && strcmp(n, "default") != 0)
                p->name = strdup(n);
            json_decref(doc);
        }
        if (p->name == NULL) {
            char *abs = realpath(p->compose_path, NULL);
            if (abs) {
                p->name = strdup(basename(dirname(abs)));
                free(abs);
            }
        }
    }
    if (p->name == NULL)
        p->name = strdup("default");
    for (char *c = p->name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
            *c = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : '-';
    p->state = up_state_dir(state_arg, p->name);
    return p->state ? 0 : ens_error(err, ENOMEM, "out of memory");
}

static size_t discard(char *ptr, size_t size, size_t n, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * n;
}

int up_health_check(const char *state, const char *id, json_t *health, ens_error_t *err)
{
    _cleanup_free_ char *status = up_runc_status(state, id);
    if (status == NULL || strcmp(status, "running") != 0) {
        ens_error(err, ECHILD, "container %s is %s", id, status ? status : "gone");
        return -1;
    }
    if (health == NULL)
        return 1;
    const char *kind = json_string_value(json_object_get(health, "kind"));
    int port = (int)json_integer_value(json_object_get(health, "port"));
    if (strcmp(kind, "exec") == 0) {
        const char *args[40] = {"exec", id};
        size_t n = 2, i;
        json_t *a;
        json_array_foreach(json_object_get(health, "test"), i, a) if (n < 39) args[n++] = json_string_value(a);
        args[n] = NULL;
        return up_runc(state, args, "/dev/null", NULL) == 0 ? 1 : 0;
    }
    if (strcmp(kind, "http") == 0) {
        const char *path = json_string_value(json_object_get(health, "path"));
        char url[512];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path ? path : "/");
        CURL *c = curl_easy_init();
        if (c == NULL)
            return 0;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        long code = 0;
        int ok = curl_easy_perform(c) == CURLE_OK && curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
                 code >= 200 && code < 400;
        curl_easy_cleanup(c);
        return ok;
    }
    /* tcp, and grpc (a listening gRPC port: the service has passed attestation and started) */
    return up_wait_port(port, 0) ? 1 : 0;
}
