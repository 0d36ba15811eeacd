/* SPDX-License-Identifier: Apache-2.0 */
/* A service's runc bundle: the image unpacked, config.json adapted to the Compose service. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "image/image.h"
#include "up/up.h"

#define MAX_CONFIG_JSON (1u << 20)

static void image_freep(ens_image **i) { ens_image_free(*i); }

static void set_env(json_t *envl, const char *k, const char *v)
{
    size_t kl = strlen(k), i;
    json_t *e;
    json_t *kv = json_sprintf("%s=%s", k, v);
    json_array_foreach(envl, i, e) {
        const char *s = json_string_value(e);
        if (s && strncmp(s, k, kl) == 0 && s[kl] == '=') {
            json_array_set_new(envl, i, kv);
            return;
        }
    }
    json_array_append_new(envl, kv);
}

static void add_cap(json_t *caps, const char *cap)
{
    const char *sets[] = {"bounding", "effective", "permitted"};
    for (int i = 0; i < 3; i++) {
        json_t *l = json_object_get(caps, sets[i]);
        if (!json_is_array(l)) {
            l = json_array();
            json_object_set_new(caps, sets[i], l);
        }
        size_t k;
        json_t *e;
        bool have = false;
        json_array_foreach(l, k, e) have = have || (json_is_string(e) && strcmp(json_string_value(e), cap) == 0);
        if (!have)
            json_array_append_new(l, json_string(cap));
    }
}

static void add_mount(json_t *mounts, const char *dst, const char *type, const char *src, json_t *options)
{
    /* a later mount at the same place replaces an earlier one */
    size_t i;
    json_t *m;
    json_array_foreach(mounts, i, m) {
        if (strcmp(json_string_value(json_object_get(m, "destination")), dst) == 0) {
            json_array_remove(mounts, i);
            break;
        }
    }
    json_array_append_new(mounts, json_pack("{s:s,s:s,s:s,s:o}", "destination", dst, "type", type, "source", src,
                                            "options", options));
}

int up_bundle_prepare(const struct up_bundle_ctx *c, json_t *svc, const char *bundle, ens_error_t *err)
{
    const char *name = json_string_value(json_object_get(svc, "name"));
    const char *image = json_string_value(json_object_get(svc, "image"));
    struct ens_image_opts io;
    ens_image_opts_init(&io);
    if (getenv("ENSCONCE_TLS_VERIFY") && strcmp(getenv("ENSCONCE_TLS_VERIFY"), "false") == 0)
        io.tls_verify = false;
    __attribute__((cleanup(image_freep))) ens_image *img = NULL;
    if (ens_image_open(image, &io, &img, err) < 0)
        return ens_error_wrap(err, "service %s: image %s", name, image);
    if (ens_rm_rf(bundle, err) < 0)
        return -1;
    if (ens_image_unpack(img, bundle, true, err) < 0)
        return ens_error_wrap(err, "service %s: unpacking %s", name, image);

    _cleanup_free_ char *cfg_path = ens_path_join(bundle, "config.json");
    _cleanup_free_ char *text = NULL;
    if (ens_read_file(cfg_path, MAX_CONFIG_JSON, &text, NULL, err) < 0)
        return -1;
    json_error_t jerr;
    json_auto_t *cfg = json_loads(text, 0, &jerr);
    if (cfg == NULL)
        return ens_error(err, EINVAL, "%s: %s", cfg_path, jerr.text);
    json_t *process = json_object_get(cfg, "process");
    json_t *linux_ = json_object_get(cfg, "linux");
    if (!json_is_object(process) || !json_is_object(linux_))
        return ens_error(err, EINVAL, "%s: no process or linux section", cfg_path);

    /* environment and command */
    json_t *envl = json_object_get(process, "env");
    if (!json_is_array(envl)) {
        envl = json_array();
        json_object_set_new(process, "env", envl);
    }
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(svc, "environment"), k, v) set_env(envl, k, json_string_value(v));
    json_t *entry = json_object_get(svc, "entrypoint"), *cmd = json_object_get(svc, "command");
    if (entry || cmd) {
        json_t *args = json_array();
        json_t *img_entry = json_object_get(json_object_get(ens_image_config(img), "config"), "Entrypoint");
        if (entry)
            json_array_extend(args, entry);
        else if (json_is_array(img_entry))
            json_array_extend(args, img_entry);
        if (cmd)
            json_array_extend(args, cmd);
        if (json_array_size(args) == 0) {
            json_decref(args);
            return ens_error(err, EINVAL, "service %s: empty command", name);
        }
        json_object_set_new(process, "args", args);
    }
    if (json_is_string(json_object_get(svc, "working_dir")))
        json_object_set(process, "cwd", json_object_get(svc, "working_dir"));
    const char *user = json_string_value(json_object_get(svc, "user"));
    if (user) {
        unsigned uid, gid;
        int n = sscanf(user, "%u:%u", &uid, &gid);
        if (n < 1)
            return ens_error(err, EINVAL, "service %s: user '%s': give a numeric uid[:gid]", name, user);
        json_object_set_new(process, "user", json_pack("{s:i,s:i}", "uid", uid, "gid", n == 2 ? gid : uid));
    }
    json_object_set_new(process, "terminal", json_false());

    /* the host's network namespace: names resolve through the generated /etc/hosts */
    json_t *ns = json_object_get(linux_, "namespaces");
    for (size_t i = json_array_size(ns); i-- > 0;)
        if (strcmp(json_string_value(json_object_get(json_array_get(ns, i), "type")), "network") == 0)
            json_array_remove(ns, i);
    json_object_set_new(cfg, "hostname", json_string(name));

    json_t *mounts = json_object_get(cfg, "mounts");
    if (!json_is_array(mounts)) {
        mounts = json_array();
        json_object_set_new(cfg, "mounts", mounts);
    }
    add_mount(mounts, "/etc/hosts", "bind", c->hosts_file, json_pack("[s,s]", "rbind", "ro"));
    if (access("/etc/resolv.conf", R_OK) == 0)
        add_mount(mounts, "/etc/resolv.conf", "bind", "/etc/resolv.conf", json_pack("[s,s]", "rbind", "ro"));
    /* converted images keep injected files and the memory-mode shield in memory */
    _cleanup_free_ char *ens_dir = ens_path_join(bundle, "rootfs/.ensconce");
    struct stat st;
    if (stat(ens_dir, &st) == 0)
        add_mount(mounts, "/.ensconce/mem", "tmpfs", "tmpfs",
                  json_pack("[s,s,s,s]", "nosuid", "nodev", "mode=0755", "size=1024m"));
    size_t i;
    json_array_foreach(json_object_get(svc, "tmpfs"), i, v)
        add_mount(mounts, json_string_value(v), "tmpfs", "tmpfs", json_pack("[s,s,s]", "nosuid", "nodev", "mode=1777"));
    json_array_foreach(json_object_get(svc, "volumes"), i, v) {
        const char *type = json_string_value(json_object_get(v, "type"));
        const char *src = json_string_value(json_object_get(v, "source"));
        const char *dst = json_string_value(json_object_get(v, "target"));
        _cleanup_free_ char *host = NULL;
        if (strcmp(type, "volume") == 0) {
            host = ens_path_join(c->volumes_dir, src);
            if (host == NULL || ens_mkdir_p(host, 0700, err) < 0)
                return -1;
        } else {
            host = src[0] == '/' ? strdup(src) : ens_path_join(c->compose_dir, src);
            if (host == NULL || stat(host, &st) < 0)
                return ens_error(err, ENOENT, "service %s: bind source %s does not exist", name, src);
        }
        add_mount(mounts, dst, "bind", host,
                  json_pack("[s,s]", "rbind", json_is_true(json_object_get(v, "read_only")) ? "ro" : "rw"));
    }

    /* FUSE and capabilities, only when the service asks */
    json_t *caps = json_object_get(process, "capabilities");
    if (!json_is_object(caps)) {
        caps = json_object();
        json_object_set_new(process, "capabilities", caps);
    }
    json_array_foreach(json_object_get(svc, "cap_add"), i, v) {
        char cap[64];
        const char *s = json_string_value(v);
        snprintf(cap, sizeof(cap), "%s%s", strncmp(s, "CAP_", 4) == 0 ? "" : "CAP_", s);
        add_cap(caps, cap);
    }
    if (json_is_true(json_object_get(svc, "fuse"))) {
        json_t *devs = json_object_get(linux_, "devices");
        if (!json_is_array(devs)) {
            devs = json_array();
            json_object_set_new(linux_, "devices", devs);
        }
        json_array_append_new(devs, json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:i}", "path", "/dev/fuse", "type", "c",
                                              "major", 10, "minor", 229, "fileMode", 0666, "uid", 0, "gid", 0));
        json_t *res = json_object_get(linux_, "resources");
        if (!json_is_object(res)) {
            res = json_object();
            json_object_set_new(linux_, "resources", res);
        }
        json_t *rdev = json_object_get(res, "devices");
        if (!json_is_array(rdev)) {
            rdev = json_array();
            json_object_set_new(res, "devices", rdev);
        }
        json_array_append_new(rdev, json_pack("{s:b,s:s,s:i,s:i,s:s}", "allow", 1, "type", "c", "major", 10, "minor",
                                              229, "access", "rwm"));
        add_cap(caps, "CAP_SYS_ADMIN");
    }
    _cleanup_free_ char *out = json_dumps(cfg, JSON_INDENT(2));
    if (out == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    return ens_write_file_atomic(cfg_path, out, strlen(out), 0644, err);
}
