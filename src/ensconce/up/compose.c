/* SPDX-License-Identifier: Apache-2.0 */
/* The Compose subset that `ensconce up` runs, validated and normalised (docs/up.md). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "deploy/gotmpl.h"
#include "up/up.h"

#define MAX_COMPOSE_SIZE (4u << 20)

static bool one_of(const char *k, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(k, *set) == 0)
            return true;
    return false;
}

/* "1m30s", "10s", "500ms", or a bare number of seconds -> milliseconds. */
static int parse_duration(const char *s, long *ms)
{
    long total = 0;
    const char *p = s;
    if (*p == '\0')
        return -1;
    while (*p) {
        char *end = NULL;
        double v = strtod(p, &end);
        if (end == p || v < 0)
            return -1;
        p = end;
        double unit = 1000;
        if (strncmp(p, "ms", 2) == 0) {
            unit = 1;
            p += 2;
        } else if (*p == 's') {
            p++;
        } else if (*p == 'm') {
            unit = 60000;
            p++;
        } else if (*p == 'h') {
            unit = 3600000;
            p++;
        } else if (*p != '\0') {
            return -1;
        }
        /* a duration beyond a day is refused before the conversion, which would overflow (and NaN fails too) */
        double add = v * unit;
        if (!(add <= 86400000.0) || (double)total + add > 86400000.0)
            return -1;
        total += (long)add;
    }
    *ms = total;
    return 0;
}

static json_t *string_list(json_t *v, bool split_words)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) if (!json_is_string(e)) return NULL;
        return json_incref(v);
    }
    if (json_is_string(v)) {
        json_t *a = json_array();
        if (!split_words) {
            json_array_append(a, v);
            return a;
        }
        _cleanup_free_ char *copy = strdup(json_string_value(v));
        char *save = NULL;
        for (char *t = strtok_r(copy, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save))
            json_array_append_new(a, json_string(t));
        return a;
    }
    return NULL;
}

static int port_of(json_t *v, int *out)
{
    long p = -1;
    if (json_is_integer(v)) {
        p = (long)json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        const char *colon = strrchr(s, ':'); /* "HOST:CONTAINER", "IP:HOST:CONTAINER" */
        char *end = NULL;
        p = strtol(colon ? colon + 1 : s, &end, 10);
        if (*end && strcmp(end, "/tcp") != 0)
            return -1;
    } else if (json_is_object(v) && json_is_integer(json_object_get(v, "target"))) {
        p = (long)json_integer_value(json_object_get(v, "target"));
    }
    if (p < 1 || p > 65535)
        return -1;
    *out = (int)p;
    return 0;
}

static int norm_service(const char *name, json_t *svc, json_t *named_volumes, json_t **out, ens_error_t *err)
{
    static const char *const allowed[] = {"image", "environment", "ports", "expose", "depends_on", "volumes",
                                          "healthcheck", "command", "entrypoint", "devices", "cap_add", "tmpfs",
                                          "container_name", "restart", "labels", "network_mode", "networks",
                                          "x-ensconce-probe", "x-ensconce-session", "working_dir", "user", NULL};
    if (!json_is_object(svc))
        return ens_error(err, EINVAL, "services.%s: expected a mapping", name);
    const char *key;
    json_t *v;
    json_object_foreach(svc, key, v) {
        if (!one_of(key, allowed) && strncmp(key, "x-", 2) != 0)
            return ens_error(err, EINVAL, "services.%s.%s: not in the Compose subset ensconce up runs (docs/up.md)",
                             name, key);
    }
    json_t *image = json_object_get(svc, "image");
    if (!json_is_string(image) || json_string_length(image) == 0)
        return ens_error(err, EINVAL, "services.%s.image: required (an image reference such as oci:DIR:TAG)", name);
    json_t *nm = json_object_get(svc, "network_mode");
    if (nm && !(json_is_string(nm) && strcmp(json_string_value(nm), "host") == 0))
        return ens_error(err, EINVAL, "services.%s.network_mode: only \"host\" (every service shares the host's "
                                      "network namespace)", name);

    json_auto_t *n = json_pack("{s:s, s:O}", "name", name, "image", image);
    /* environment: map or ["K=V"] */
    json_t *env = json_object();
    json_object_set_new(n, "environment", env);
    json_t *e = json_object_get(svc, "environment");
    if (json_is_object(e)) {
        json_object_foreach(e, key, v) {
            if (json_is_string(v))
                json_object_set(env, key, v);
            else if (json_is_integer(v) || json_is_real(v) || json_is_boolean(v) || json_is_null(v)) {
                char *t = json_is_null(v) ? strdup("") : json_dumps(v, JSON_ENCODE_ANY);
                json_object_set_new(env, key, json_string(t));
                free(t);
            } else
                return ens_error(err, EINVAL, "services.%s.environment.%s: expected a scalar", name, key);
        }
    } else if (json_is_array(e)) {
        size_t i;
        json_array_foreach(e, i, v) {
            const char *s = json_string_value(v), *eq = s ? strchr(s, '=') : NULL;
            if (eq == NULL || eq == s)
                return ens_error(err, EINVAL, "services.%s.environment[%zu]: expected NAME=VALUE", name, i);
            _cleanup_free_ char *k = strndup(s, (size_t)(eq - s));
            json_object_set_new(env, k, json_string(eq + 1));
        }
    } else if (e) {
        return ens_error(err, EINVAL, "services.%s.environment: expected a mapping or a list", name);
    }
    const char *argk[] = {"command", "entrypoint"};
    for (int k = 0; k < 2; k++) {
        json_t *a = json_object_get(svc, argk[k]);
        if (a == NULL)
            continue;
        json_t *l = string_list(a, true);
        if (l == NULL)
            return ens_error(err, EINVAL, "services.%s.%s: expected a string or a list of strings", name, argk[k]);
        json_object_set_new(n, argk[k], l);
    }
    if (json_is_string(json_object_get(svc, "working_dir")))
        json_object_set(n, "working_dir", json_object_get(svc, "working_dir"));
    if (json_is_string(json_object_get(svc, "user")))
        json_object_set(n, "user", json_object_get(svc, "user"));
    /* depends_on: list or map with condition */
    json_t *deps = json_object();
    json_object_set_new(n, "depends_on", deps);
    json_t *d = json_object_get(svc, "depends_on");
    if (json_is_array(d)) {
        size_t i;
        json_array_foreach(d, i, v) {
            if (!json_is_string(v))
                return ens_error(err, EINVAL, "services.%s.depends_on[%zu]: expected a service name", name, i);
            json_object_set_new(deps, json_string_value(v), json_string("service_started"));
        }
    } else if (json_is_object(d)) {
        json_object_foreach(d, key, v) {
            const char *cond = json_string_value(json_object_get(v, "condition"));
            static const char *const conds[] = {"service_started", "service_healthy",
                                                "service_completed_successfully", NULL};
            if (cond == NULL)
                cond = "service_started";
            if (!one_of(cond, conds))
                return ens_error(err, EINVAL, "services.%s.depends_on.%s.condition: '%s' is not one of "
                                              "service_started, service_healthy, service_completed_successfully",
                                 name, key, cond);
            json_object_set_new(deps, key, json_string(cond));
        }
    } else if (d) {
        return ens_error(err, EINVAL, "services.%s.depends_on: expected a list or a mapping", name);
    }
    /* ports (published on the host: with host networking the container port is the host port) */
    json_t *ports = json_array();
    json_object_set_new(n, "ports", ports);
    const char *pk[] = {"ports", "expose"};
    for (int k = 0; k < 2; k++) {
        json_t *p = json_object_get(svc, pk[k]);
        if (p && !json_is_array(p))
            return ens_error(err, EINVAL, "services.%s.%s: expected a list", name, pk[k]);
        size_t i;
        json_array_foreach(p, i, v) {
            int port;
            if (port_of(v, &port) < 0)
                return ens_error(err, EINVAL, "services.%s.%s[%zu]: not a port", name, pk[k], i);
            if (k == 0 && json_is_string(v)) {
                /* "HOST:CONTAINER" must agree: there is no port mapping on the host network */
                const char *s = json_string_value(v), *c1 = strchr(s, ':');
                if (c1 && atoi(s) != port && strchr(c1 + 1, ':') == NULL)
                    return ens_error(err, EINVAL, "services.%s.ports[%zu]: '%s' maps ports, but services share the "
                                                  "host network: use the same port on both sides", name, i, s);
            }
            json_array_append_new(ports, json_integer(port));
        }
    }
    /* volumes: "NAME:/path[:ro]", "./dir:/path" or the long form */
    json_t *vols = json_array();
    json_object_set_new(n, "volumes", vols);
    json_t *vl = json_object_get(svc, "volumes");
    if (vl && !json_is_array(vl))
        return ens_error(err, EINVAL, "services.%s.volumes: expected a list", name);
    size_t i;
    json_array_foreach(vl, i, v) {
        const char *src = NULL, *dst = NULL;
        bool ro = false;
        _cleanup_free_ char *copy = NULL;
        if (json_is_string(v)) {
            copy = strdup(json_string_value(v));
            char *c1 = strchr(copy, ':');
            if (c1 == NULL)
                return ens_error(err, EINVAL, "services.%s.volumes[%zu]: expected SOURCE:TARGET", name, i);
            *c1 = '\0';
            src = copy;
            dst = c1 + 1;
            char *c2 = strchr(dst, ':');
            if (c2) {
                *c2 = '\0';
                ro = strcmp(c2 + 1, "ro") == 0;
            }
        } else if (json_is_object(v)) {
            src = json_string_value(json_object_get(v, "source"));
            dst = json_string_value(json_object_get(v, "target"));
            ro = json_is_true(json_object_get(v, "read_only"));
        }
        if (src == NULL || dst == NULL || dst[0] != '/' || *src == '\0')
            return ens_error(err, EINVAL, "services.%s.volumes[%zu]: needs a source and an absolute target", name, i);
        bool bind = src[0] == '/' || src[0] == '.';
        if (!bind && !json_object_get(named_volumes, src))
            return ens_error(err, EINVAL, "services.%s.volumes[%zu]: volume '%s' is not declared under top-level "
                                          "volumes", name, i, src);
        json_array_append_new(vols, json_pack("{s:s,s:s,s:s,s:b}", "type", bind ? "bind" : "volume", "source", src,
                                              "target", dst, "read_only", ro));
    }
    /* devices and capabilities: only what confidential services need */
    json_t *devs = json_object_get(svc, "devices");
    json_array_foreach(devs, i, v) {
        const char *s = json_string_value(v);
        if (s == NULL || strncmp(s, "/dev/fuse", 9) != 0)
            return ens_error(err, EINVAL, "services.%s.devices[%zu]: only /dev/fuse is supported", name, i);
        json_object_set_new(n, "fuse", json_true());
    }
    json_t *caps = json_object_get(svc, "cap_add");
    json_array_foreach(caps, i, v) {
        const char *s = json_string_value(v);
        if (s == NULL)
            return ens_error(err, EINVAL, "services.%s.cap_add[%zu]: expected a capability name", name, i);
    }
    if (caps)
        json_object_set(n, "cap_add", caps);
    json_t *tmpfs = json_object_get(svc, "tmpfs");
    if (tmpfs) {
        json_t *l = string_list(tmpfs, false);
        if (l == NULL)
            return ens_error(err, EINVAL, "services.%s.tmpfs: expected a path or a list of paths", name);
        json_object_set_new(n, "tmpfs", l);
    }
    /* health: healthcheck.test (run inside the container) or x-ensconce-probe (from the host) */
    json_t *health = NULL;
    json_t *hc = json_object_get(svc, "healthcheck");
    json_t *probe = json_object_get(svc, "x-ensconce-probe");
    if (hc && !json_is_true(json_object_get(hc, "disable"))) {
        json_t *test = json_object_get(hc, "test");
        json_t *l = string_list(test, false);
        if (l == NULL || json_array_size(l) == 0) {
            json_decref(l);
            return ens_error(err, EINVAL, "services.%s.healthcheck.test: expected [\"CMD\", ...] or "
                                          "[\"CMD-SHELL\", \"...\"]", name);
        }
        const char *first = json_string_value(json_array_get(l, 0));
        json_t *argv = json_array();
        if (strcmp(first, "CMD") == 0) {
            for (size_t k = 1; k < json_array_size(l); k++)
                json_array_append(argv, json_array_get(l, k));
        } else if (strcmp(first, "CMD-SHELL") == 0 || json_is_string(test)) {
            const char *cmd = json_is_string(test) ? json_string_value(test) : json_string_value(json_array_get(l, 1));
            json_array_append_new(argv, json_string("/bin/sh"));
            json_array_append_new(argv, json_string("-c"));
            json_array_append_new(argv, json_string(cmd ? cmd : "true"));
        } else if (strcmp(first, "NONE") == 0) {
            json_decref(argv);
            argv = NULL;
        } else {
            json_decref(l);
            json_decref(argv);
            return ens_error(err, EINVAL, "services.%s.healthcheck.test: starts with CMD, CMD-SHELL or NONE", name);
        }
        json_decref(l);
        if (argv)
            health = json_pack("{s:s,s:o}", "kind", "exec", "test", argv);
    } else if (probe) {
        const char *kind = json_string_value(json_object_get(probe, "kind"));
        json_t *port = json_object_get(probe, "port");
        static const char *const kinds[] = {"grpc", "tcp", "http", NULL};
        if (kind == NULL || !one_of(kind, kinds) || !json_is_integer(port))
            return ens_error(err, EINVAL, "services.%s.x-ensconce-probe: expected {kind: grpc|tcp|http, port: N}", name);
        health = json_pack("{s:s,s:O}", "kind", kind, "port", port);
        if (json_is_string(json_object_get(probe, "path")))
            json_object_set(health, "path", json_object_get(probe, "path"));
    }
    if (health) {
        json_object_set_new(n, "health", health); /* n owns it from here, on every path */
        const char *tk[] = {"interval", "timeout", "start_period"};
        long defaults[] = {1000, 5000, 120000};
        for (int k = 0; k < 3; k++) {
            long ms = defaults[k];
            json_t *t = hc ? json_object_get(hc, tk[k]) : NULL;
            if (t && (!json_is_string(t) || parse_duration(json_string_value(t), &ms) < 0))
                return ens_error(err, EINVAL, "services.%s.healthcheck.%s: expected a duration like 10s (at most 24h)", name, tk[k]);
            char key[32];
            snprintf(key, sizeof(key), "%s_ms", tk[k]);
            json_object_set_new(health, key, json_integer(ms));
        }
    }
    json_t *sess = json_object_get(svc, "x-ensconce-session");
    if (sess && !json_is_string(sess))
        return ens_error(err, EINVAL, "services.%s.x-ensconce-session: expected a policy file path", name);
    if (sess)
        json_object_set(n, "session", sess);
    *out = ens_steal(&n);
    return 0;
}

/* Depth-first topological order; a cycle is an error naming it. */
static int visit(json_t *byname, const char *name, json_t *state, json_t *order, const char *from, ens_error_t *err)
{
    json_t *svc = json_object_get(byname, name);
    if (svc == NULL)
        return ens_error(err, EINVAL, "services.%s.depends_on: no service named '%s'", from, name);
    const char *st = json_string_value(json_object_get(state, name));
    if (st && strcmp(st, "done") == 0)
        return 0;
    if (st)
        return ens_error(err, EINVAL, "services.%s.depends_on: dependency cycle through '%s'", from, name);
    json_object_set_new(state, name, json_string("visiting"));
    const char *dep;
    json_t *v;
    json_object_foreach(json_object_get(svc, "depends_on"), dep, v) {
        if (visit(byname, dep, state, order, name, err) < 0)
            return -1;
    }
    json_object_set_new(state, name, json_string("done"));
    json_array_append(order, svc);
    return 0;
}

int up_compose_load(const char *path, const char *project, json_t **out, ens_error_t *err)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    if (ens_read_file(path, MAX_COMPOSE_SIZE, &text, &len, err) < 0)
        return -1;
    return up_compose_parse(text, len, path, project, out, err);
}

int up_compose_parse(const char *text, size_t len, const char *path, const char *project, json_t **out,
                     ens_error_t *err)
{
    if (len > MAX_COMPOSE_SIZE)
        return ens_error(err, EFBIG, "%s: larger than %u bytes", path, MAX_COMPOSE_SIZE);
    json_auto_t *doc = ens_yaml_to_json(text, len, path, err);
    if (doc == NULL)
        return -1;
    if (!json_is_object(doc))
        return ens_error(err, EINVAL, "%s: expected a mapping with 'services'", path);
    static const char *const top[] = {"services", "volumes", "networks", "version", "name", NULL};
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v) {
        if (!one_of(key, top) && strncmp(key, "x-", 2) != 0)
            return ens_error(err, EINVAL, "%s: top-level '%s' is not in the Compose subset ensconce up runs", path, key);
    }
    json_t *services = json_object_get(doc, "services");
    if (!json_is_object(services) || json_object_size(services) == 0)
        return ens_error(err, EINVAL, "%s: no services", path);
    json_t *named = json_object_get(doc, "volumes");
    if (named && !json_is_object(named))
        return ens_error(err, EINVAL, "%s: top-level volumes must be a mapping", path);
    json_auto_t *no_volumes = json_object();
    if (named == NULL)
        named = no_volumes;
    json_auto_t *byname = json_object();
    json_object_foreach(services, key, v) {
        for (const char *c = key; *c; c++)
            if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '_' || *c == '.'))
                return ens_error(err, EINVAL, "%s: service name '%s' may only hold letters, digits, '-', '_', '.'",
                                 path, key);
        json_t *n = NULL;
        if (norm_service(key, v, named, &n, err) < 0)
            return ens_error_wrap(err, "%s", path);
        json_object_set_new(byname, key, n);
    }
    /* no two services on one port: they share the host network */
    json_auto_t *seen = json_object();
    json_object_foreach(byname, key, v) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(v, "ports"), i, p) {
            char ps[16];
            snprintf(ps, sizeof(ps), "%lld", (long long)json_integer_value(p));
            const char *other = json_string_value(json_object_get(seen, ps));
            if (other && strcmp(other, key) != 0)
                return ens_error(err, EINVAL, "%s: services %s and %s both use port %s, but they share the host "
                                              "network: give one of them another port", path, other, key, ps);
            json_object_set_new(seen, ps, json_string(key));
        }
    }
    json_auto_t *state = json_object();
    json_t *order = json_array();
    json_object_foreach(byname, key, v) {
        if (visit(byname, key, state, order, key, err) < 0) {
            json_decref(order);
            return ens_error_wrap(err, "%s", path);
        }
    }
    const char *name = project ? project : json_string_value(json_object_get(doc, "name"));
    json_t *res = json_object();
    if (res == NULL || json_object_set_new(res, "name", json_string(name ? name : "default")) < 0 ||
        json_object_set_new(res, "services", order) < 0 || json_object_set(res, "volumes", named) < 0) {
        json_decref(res);
        return ens_error(err, EINVAL, "%s: cannot represent the project (invalid name?)", path);
    }
    *out = res;
    return 0;
}
