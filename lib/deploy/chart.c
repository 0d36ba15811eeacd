/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "deploy/deploy.h"
#include "deploy/embedded.h"
#include "deploy/gotmpl.h"

#ifndef ENSCONCE_VERSION
#define ENSCONCE_VERSION "0.1.0"
#endif

#define MAX_CHART_FILE (1 << 20)


#define _cleanup_json_ __attribute__((cleanup(json_decrefp))) /* jansson provides json_decrefp */

static bool one_of(const char *v, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (strcmp(v, *allowed) == 0)
            return true;
    return false;
}

static bool dns_label(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (const char *p = s; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-'))
            return false;
    return true;
}

#define OR(v, d) ((v) ? (v) : (d))

int ens_deploy_check(const struct ens_deploy_spec *s, ens_error_t *err)
{
    static const char *const workloads[] = {"deployment", "statefulset", "daemonset", "job", NULL};
    static const char *const plugins[] = {"cvm", "scone", "azure", "intel", "disabled", NULL};
    static const char *const modes[] = {"memory", "fuse", NULL};
    static const char *const types[] = {"ClusterIP", "NodePort", "LoadBalancer", NULL};
    if (s->name == NULL || !dns_label(s->name, 53))
        return ens_error(err, EINVAL, "chart name '%s' is not a DNS-1123 label of at most 53 characters "
                                      "(lower-case letters, digits, '-')", OR(s->name, ""));
    if (s->image == NULL || *s->image == '\0')
        return ens_error(err, EINVAL, "no image reference for chart %s", s->name);
    if (s->config_id == NULL || strchr(s->config_id, '/') == NULL)
        return ens_error(err, EINVAL, "config id '%s' is not of the form SESSION/SERVICE", OR(s->config_id, ""));
    if (!one_of(OR(s->workload, "deployment"), workloads))
        return ens_error(err, EINVAL, "workload type '%s': use deployment, statefulset, daemonset or job", s->workload);
    if (!one_of(OR(s->device_plugin, "cvm"), plugins))
        return ens_error(err, EINVAL, "device plugin '%s': use cvm, scone, azure, intel or disabled", s->device_plugin);
    if (!one_of(OR(s->shield_mode, "memory"), modes))
        return ens_error(err, EINVAL, "shield mode '%s': use memory or fuse", s->shield_mode);
    if (!one_of(OR(s->service_type, "ClusterIP"), types))
        return ens_error(err, EINVAL, "service type '%s': use ClusterIP, NodePort or LoadBalancer", s->service_type);
    for (size_t i = 0; i < s->nports; i++)
        if (s->ports[i] < 1 || s->ports[i] > 65535)
            return ens_error(err, EINVAL, "port %d is out of range", s->ports[i]);
    if (s->probe) {
        static const char *const kinds[] = {"grpc", "http", "tcp", NULL};
        if (s->probe->kind == NULL || !one_of(s->probe->kind, kinds))
            return ens_error(err, EINVAL, "probe kind '%s': use grpc, http or tcp", OR(s->probe->kind, ""));
        if (s->probe->port < 1 || s->probe->port > 65535)
            return ens_error(err, EINVAL, "probe port %d is out of range", s->probe->port);
    }
    for (size_t i = 0; i < s->nvolumes; i++) {
        if (!dns_label(s->volumes[i].name, 63))
            return ens_error(err, EINVAL, "volume name '%s' is not a DNS-1123 label", s->volumes[i].name);
        if (s->volumes[i].path[0] != '/')
            return ens_error(err, EINVAL, "volume %s: mount path '%s' is not absolute", s->volumes[i].name,
                             s->volumes[i].path);
    }
    return 0;
}

static json_t *yaml_scalar(const char *text)
{
    ens_error_t e = NULL;
    json_t *v = ens_yaml_to_json(text, strlen(text), "value", &e);
    ens_error_release(&e);
    if (v == NULL || json_is_object(v) || json_is_array(v)) {
        json_decref(v);
        return json_string(text);
    }
    return v;
}

int ens_deploy_set(json_t *values, const char *assignment, ens_error_t *err)
{
    const char *eq = strchr(assignment, '=');
    if (eq == NULL || eq == assignment)
        return ens_error(err, EINVAL, "--k8s-helm-set '%s': expected PARAM=VALUE", assignment);
    _cleanup_free_ char *path = strndup(assignment, (size_t)(eq - assignment));
    if (path == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    if (strpbrk(path, "[]{} "))
        return ens_error(err, EINVAL, "--k8s-helm-set '%s': only dotted parameter paths are supported", path);
    json_t *obj = values;
    char *save = NULL;
    char *part = strtok_r(path, ".", &save);
    while (part) {
        char *next = strtok_r(NULL, ".", &save);
        if (next == NULL) {
            json_object_set_new(obj, part, yaml_scalar(eq + 1));
            return 0;
        }
        json_t *child = json_object_get(obj, part);
        if (!json_is_object(child)) {
            child = json_object();
            json_object_set_new(obj, part, child);
        }
        obj = child;
        part = next;
    }
    return ens_error(err, EINVAL, "--k8s-helm-set '%s': empty parameter path", assignment);
}

static json_t *probe_json(const struct ens_probe *p)
{
    json_t *j;
    if (strcmp(p->kind, "grpc") == 0)
        j = json_pack("{s:{s:i}}", "grpc", "port", p->port);
    else if (strcmp(p->kind, "http") == 0)
        j = json_pack("{s:{s:s,s:i}}", "httpGet", "path", OR(p->path, "/"), "port", p->port);
    else
        j = json_pack("{s:{s:i}}", "tcpSocket", "port", p->port);
    /* the runtime attests before the service listens: give it time */
    json_object_set_new(j, "initialDelaySeconds", json_integer(5));
    json_object_set_new(j, "periodSeconds", json_integer(10));
    json_object_set_new(j, "timeoutSeconds", json_integer(3));
    return j;
}

int ens_deploy_values(const struct ens_deploy_spec *s, json_t **values, ens_error_t *err)
{
    if (ens_deploy_check(s, err) < 0)
        return -1;
    json_t *ports = json_array();
    for (size_t i = 0; i < s->nports; i++) {
        char name[32];
        snprintf(name, sizeof(name), "port-%d", s->ports[i]);
        json_array_append_new(ports, json_pack("{s:s,s:i,s:i}", "name", name, "port", s->ports[i], "targetPort",
                                               s->ports[i]));
    }
    json_t *vols = json_array();
    for (size_t i = 0; i < s->nvolumes; i++)
        json_array_append_new(vols, json_pack("{s:s,s:s,s:s,s:s}", "name", s->volumes[i].name, "mountPath",
                                              s->volumes[i].path, "size", "1Gi", "claimName", ""));
    json_t *probes = json_object();
    if (s->probe) {
        json_object_set_new(probes, "liveness", probe_json(s->probe));
        json_object_set_new(probes, "readiness", probe_json(s->probe));
    }
    _cleanup_json_ json_t *v = json_pack(
        "{s:i, s:s, s:s, s:[], s:s, s:i, s:s, s:s, s:{s:s,s:s,s:i,s:s,s:s}, s:{s:s,s:o}, s:o, s:{}, s:{}, s:[], s:{},"
        " s:[], s:o}",
        "replicaCount", 1, "image", s->image, "imagePullPolicy", "IfNotPresent", "imagePullSecrets",
        "useSGXDevPlugin", OR(s->device_plugin, "cvm"), "sgxEpcMemMiB", 16, "workloadType",
        OR(s->workload, "deployment"), "nameOverride", "", "ensconce", "configId", s->config_id, "casAddr",
        OR(s->cas_addr, "cas"), "lasPort", s->las_port ? s->las_port : 18766, "shieldMode",
        OR(s->shield_mode, "memory"), "memorySize", "256Mi", "service", "type", OR(s->service_type, "ClusterIP"),
        "ports", ports, "probes", probes, "resources", "nodeSelector", "tolerations", "affinity", "extraEnvVars",
        "volumes", vols);
    if (v == NULL)
        return ens_error(err, ENOMEM, "cannot build chart values");
    for (size_t i = 0; i < s->nsets; i++)
        if (ens_deploy_set(v, s->sets[i], err) < 0)
            return -1;
    *values = ens_steal(&v);
    return 0;
}

static char *subst_chart_yaml(const char *text, size_t len, const char *name)
{
    /* Chart.yaml templates carry {{NAME}} and {{APP_VERSION}} placeholders. */
    char *buf = NULL;
    size_t blen = 0;
    FILE *m = open_memstream(&buf, &blen);
    if (m == NULL)
        return NULL;
    for (size_t i = 0; i < len;) {
        if (strncmp(text + i, "{{NAME}}", 8) == 0) {
            fputs(name, m);
            i += 8;
        } else if (strncmp(text + i, "{{APP_VERSION}}", 15) == 0) {
            fputs(ENSCONCE_VERSION, m);
            i += 15;
        } else {
            fputc(text[i++], m);
        }
    }
    fclose(m);
    return buf;
}

/* Writes the embedded chart "which" into dir (which must exist). */
static int write_embedded(const char *which, const char *dir, const char *name, ens_error_t *err)
{
    size_t wl = strlen(which);
    int n = 0;
    for (const struct ens_embedded_file *f = ens_chart_files; f->path; f++) {
        if (strncmp(f->path, which, wl) != 0 || f->path[wl] != '/')
            continue;
        const char *rel = f->path + wl + 1;
        _cleanup_free_ char *dst = ens_path_join(dir, rel);
        _cleanup_free_ char *sub = strdup(dst ? dst : "");
        if (dst == NULL || sub == NULL)
            return ens_error(err, ENOMEM, "out of memory");
        char *slash = strrchr(sub, '/');
        *slash = '\0';
        if (ens_mkdir_p(sub, 0755, err) < 0)
            return -1;
        if (strcmp(rel, "Chart.yaml") == 0) {
            _cleanup_free_ char *c = subst_chart_yaml(f->data, f->len, name);
            if (c == NULL || ens_write_file_atomic(dst, c, strlen(c), 0644, err) < 0)
                return c ? -1 : ens_error(err, ENOMEM, "out of memory");
        } else if (ens_write_file_atomic(dst, f->data, f->len, 0644, err) < 0) {
            return -1;
        }
        n++;
    }
    if (n == 0)
        return ens_error(err, ENOENT, "no embedded chart named %s", which);
    return 0;
}

/* Builds the chart in a temporary sibling directory and renames it into place,
 * so a failure never leaves a half-written chart. */
static int write_chart_dir(const char *out_dir, const char *dirname, const char *which, const char *name,
                           json_t *values, ens_error_t *err)
{
    if (ens_mkdir_p(out_dir, 0755, err) < 0)
        return -1;
    _cleanup_free_ char *final = ens_path_join(out_dir, dirname);
    _cleanup_free_ char *tmp = NULL;
    if (final == NULL || asprintf(&tmp, "%s/.%s.tmp-XXXXXX", out_dir, dirname) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    if (mkdtemp(tmp) == NULL)
        return ens_error_errno(err, "create %s", tmp);
    chmod(tmp, 0755); /* mkdtemp makes it 0700; a chart is not secret */
    int r = write_embedded(which, tmp, name, err);
    if (r == 0 && values) {
        _cleanup_free_ char *y = ens_json_to_yaml(values, err);
        _cleanup_free_ char *vp = ens_path_join(tmp, "values.yaml");
        _cleanup_free_ char *doc = NULL;
        if (y == NULL || vp == NULL ||
            asprintf(&doc, "# Values of the %s chart, generated by ensconce sconify.\n%s\n", name, y) < 0)
            r = -1;
        else
            r = ens_write_file_atomic(vp, doc, strlen(doc), 0644, err);
    }
    if (r == 0) {
        _cleanup_free_ char *old = NULL;
        if (asprintf(&old, "%s/.%s.old-%d", out_dir, dirname, (int)getpid()) < 0)
            r = ens_error(err, ENOMEM, "out of memory");
        else if (rename(final, old) < 0 && errno != ENOENT)
            r = ens_error_errno(err, "replace %s", final);
        else if (rename(tmp, final) < 0)
            r = ens_error_errno(err, "rename to %s", final);
        if (old)
            ens_rm_rf(old, NULL);
    }
    if (r < 0) {
        if (err && *err == NULL)
            ens_error(err, EIO, "cannot write chart %s", name);
        ens_rm_rf(tmp, NULL);
    }
    return r;
}

int ens_deploy_write_chart(const struct ens_deploy_spec *s, const char *out_dir, ens_error_t *err)
{
    _cleanup_json_ json_t *values = NULL;
    if (ens_deploy_values(s, &values, err) < 0)
        return -1;
    return write_chart_dir(out_dir, s->name, "service", s->name, values, err);
}

int ens_deploy_write_infra_chart(const char *which, const char *out_dir, ens_error_t *err)
{
    if (strcmp(which, "cas") != 0 && strcmp(which, "las") != 0)
        return ens_error(err, EINVAL, "infrastructure chart '%s': use cas or las", which);
    char dirname[32];
    snprintf(dirname, sizeof(dirname), "ensconce-%s", which);
    return write_chart_dir(out_dir, dirname, which, dirname, NULL, err);
}

void ens_json_merge(json_t *dst, json_t *src)
{
    const char *k;
    json_t *v;
    json_object_foreach(src, k, v) {
        json_t *d = json_object_get(dst, k);
        if (json_is_object(d) && json_is_object(v))
            ens_json_merge(d, v);
        else
            json_object_set(dst, k, v);
    }
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int ens_deploy_render(const char *chart_dir, json_t *overrides, const char *release, const char *ns, char **yaml,
                      ens_error_t *err)
{
    _cleanup_free_ char *chart_path = ens_path_join(chart_dir, "Chart.yaml");
    _cleanup_free_ char *values_path = ens_path_join(chart_dir, "values.yaml");
    _cleanup_free_ char *tdir = ens_path_join(chart_dir, "templates");
    _cleanup_free_ char *chart_text = NULL, *values_text = NULL;
    size_t clen = 0, vlen = 0;
    if (ens_read_file(chart_path, MAX_CHART_FILE, &chart_text, &clen, err) < 0)
        return -1;
    _cleanup_json_ json_t *chart = ens_yaml_to_json(chart_text, clen, chart_path, err);
    if (chart == NULL)
        return -1;
    if (!json_is_string(json_object_get(chart, "name")))
        return ens_error(err, EINVAL, "%s: no chart name", chart_path);
    _cleanup_json_ json_t *values = NULL;
    if (access(values_path, F_OK) == 0) {
        if (ens_read_file(values_path, MAX_CHART_FILE, &values_text, &vlen, err) < 0)
            return -1;
        values = ens_yaml_to_json(values_text, vlen, values_path, err);
        if (values == NULL)
            return -1;
    } else {
        values = json_object();
    }
    if (!json_is_object(values))
        return ens_error(err, EINVAL, "%s: values must be a mapping", values_path);
    if (overrides)
        ens_json_merge(values, overrides);
    json_t *version = json_object_get(chart, "version"), *app_version = json_object_get(chart, "appVersion");
    _cleanup_json_ json_t *ctx = json_pack(
        "{s:O, s:{s:s,s:s,s:s,s:b,s:b}, s:{s:O,s:O*,s:O*}}", "Values", values, "Release", "Name", release,
        "Namespace", ns, "Service", "Helm", "IsInstall", 1, "IsUpgrade", 0, "Chart", "Name",
        json_object_get(chart, "name"), "Version", version, "AppVersion", app_version);
    if (ctx == NULL)
        return ens_error(err, ENOMEM, "out of memory");

    _cleanup_closedir_ DIR *d = opendir(tdir);
    if (d == NULL)
        return ens_error_errno(err, "open %s", tdir);
    char *names[256];
    size_t nn = 0;
    struct dirent *de;
    while ((de = readdir(d)) && nn < 256)
        if (de->d_name[0] != '.' && (strstr(de->d_name, ".yaml") || strstr(de->d_name, ".tpl")))
            names[nn++] = strdup(de->d_name);
    qsort(names, nn, sizeof(names[0]), cmp_names);

    ens_gotmpl *t = ens_gotmpl_new();
    int r = t ? 0 : ens_error(err, ENOMEM, "out of memory");
    /* helpers first so their defines exist, then every file */
    for (int pass = 0; pass < 2 && r == 0; pass++) {
        for (size_t i = 0; i < nn && r == 0; i++) {
            if ((names[i][0] == '_') != (pass == 0))
                continue;
            _cleanup_free_ char *p = ens_path_join(tdir, names[i]);
            _cleanup_free_ char *text = NULL;
            if (ens_read_file(p, MAX_CHART_FILE, &text, NULL, err) < 0 || ens_gotmpl_add(t, names[i], text, err) < 0)
                r = -1;
        }
    }
    char *buf = NULL;
    size_t blen = 0;
    FILE *out = r == 0 ? open_memstream(&buf, &blen) : NULL;
    for (size_t i = 0; i < nn && r == 0 && out; i++) {
        if (names[i][0] == '_' || strstr(names[i], ".yaml") == NULL)
            continue;
        _cleanup_free_ char *doc = NULL;
        if (ens_gotmpl_render(t, names[i], ctx, &doc, err) < 0) {
            r = -1;
            break;
        }
        bool blank = true;
        for (char *c = doc; *c && blank; c++)
            blank = isspace((unsigned char)*c);
        if (!blank)
            fprintf(out, "---\n# Source: %s/templates/%s\n%s\n", json_string_value(json_object_get(chart, "name")),
                    names[i], doc + strspn(doc, "\n"));
    }
    if (out)
        fclose(out);
    ens_gotmpl_free(t);
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    if (r < 0) {
        free(buf);
        return -1;
    }
    *yaml = buf ? buf : strdup("");
    return 0;
}

int ens_deploy_compose(const struct ens_deploy_spec *s, char **yaml, ens_error_t *err)
{
    if (ens_deploy_check(s, err) < 0)
        return -1;
    char las[64];
    snprintf(las, sizeof(las), "las:%d", s->las_port ? s->las_port : 18766);
    json_t *svc = json_pack("{s:s, s:{s:s,s:s,s:s}}", "image", s->image, "environment", "ENSCONCE_CONFIG_ID",
                            s->config_id, "ENSCONCE_CAS_ADDR", OR(s->cas_addr, "cas"), "ENSCONCE_LAS_ADDR", las);
    if (s->nports) {
        json_t *expose = json_array();
        for (size_t i = 0; i < s->nports; i++)
            json_array_append_new(expose, json_sprintf("%d", s->ports[i]));
        json_object_set_new(svc, "expose", expose);
    }
    json_t *top = json_pack("{s:{s:o}}", "services", s->name, svc);
    if (s->nvolumes) {
        json_t *mounts = json_array(), *named = json_object();
        for (size_t i = 0; i < s->nvolumes; i++) {
            json_array_append_new(mounts, json_sprintf("%s:%s", s->volumes[i].name, s->volumes[i].path));
            json_object_set_new(named, s->volumes[i].name, json_object());
        }
        json_object_set_new(svc, "volumes", mounts);
        json_object_set_new(top, "volumes", named);
    }
    if (s->probe) {
        /* Docker cannot run our probes inside the service's image; ensconce up reads this extension. */
        json_t *p = json_pack("{s:s,s:i}", "kind", s->probe->kind, "port", s->probe->port);
        if (s->probe->path)
            json_object_set_new(p, "path", json_string(s->probe->path));
        json_object_set_new(svc, "x-ensconce-probe", p);
    }
    if (strcmp(OR(s->shield_mode, "memory"), "fuse") == 0) {
        json_object_set_new(svc, "devices", json_pack("[s]", "/dev/fuse"));
        json_object_set_new(svc, "cap_add", json_pack("[s]", "SYS_ADMIN"));
    } else {
        json_object_set_new(svc, "tmpfs", json_pack("[s]", "/.ensconce/mem"));
    }
    char *y = ens_json_to_yaml(top, err);
    json_decref(top);
    if (y == NULL)
        return -1;
    char *doc = NULL;
    if (asprintf(&doc, "# Compose service for %s, generated by ensconce sconify.\n%s\n", s->name, y) < 0) {
        free(y);
        return ens_error(err, ENOMEM, "out of memory");
    }
    free(y);
    *yaml = doc;
    return 0;
}
