/* SPDX-License-Identifier: Apache-2.0 */
/* run.json (baked into the image by the converter) and the environment overrides; the CAS's configuration. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "crypto/digest.h"
#include "runtime.h"

static void run_json_decref(json_t **j) { json_decref(*j); }
#define _cleanup_json_ __attribute__((cleanup(run_json_decref)))

static const char *env_get(char *const *env, const char *name)
{
    size_t l = strlen(name);
    for (char *const *e = env; e && *e; e++)
        if (strncmp(*e, name, l) == 0 && (*e)[l] == '=')
            return *e + l + 1;
    return NULL;
}

/* A string member (absent: *out unchanged); bounded and free of control characters. */
static int get_str(const json_t *o, const char *key, const char *where, char **out, ens_error_t *err)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return ens_error(err, EINVAL, "%s: \"%s\" must be a string", where, key);
    const char *s = json_string_value(v);
    if (strlen(s) >= PATH_MAX || strlen(s) != json_string_length(v))
        return ens_error(err, EINVAL, "%s: \"%s\" is too long or contains NUL", where, key);
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20)
            return ens_error(err, EINVAL, "%s: \"%s\" contains a control character", where, key);
    free(*out);
    *out = strdup(s);
    return *out ? 0 : ens_error(err, ENOMEM, "out of memory");
}

/* Absolute, without ".." components. */
static int abs_path_ok(const char *p)
{
    if (p == NULL || p[0] != '/')
        return 0;
    for (const char *c = p; (c = strstr(c, "..")) != NULL; c += 2)
        if (c[-1] == '/' && (c[2] == '/' || c[2] == '\0'))
            return 0;
    return 1;
}

void ens_run_config_free(struct ens_run_config *c)
{
    free(c->config_id);
    free(c->cas_addr);
    free(c->las_addr);
    free(c->memory_dir);
    free(c->measured_json);
    free(c->exe);
    free(c->path);
    free(c->shield_dir);
    free(c->shield_mountpoint);
    for (size_t i = 0; i < c->nvolumes; i++) {
        free(c->volumes[i].name);
        free(c->volumes[i].dir);
    }
    free(c->volumes);
    memset(c, 0, sizeof(*c));
}

const char *ens_run_volume_dir(const struct ens_run_config *c, const char *name)
{
    for (size_t i = 0; i < c->nvolumes; i++)
        if (strcmp(c->volumes[i].name, name) == 0)
            return c->volumes[i].dir;
    return NULL;
}

static int parse_measured(json_t *m, const char *where, struct ens_run_config *c, ens_error_t *err)
{
    if (!json_is_object(m))
        return ens_error(err, EINVAL, "%s: \"measured\" must be an object", where);
    c->measured_json = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    if (c->measured_json == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    if (get_str(m, "exe", where, &c->exe, err) < 0 || get_str(m, "path", where, &c->path, err) < 0)
        return -1;
    json_t *sh = json_object_get(m, "shield");
    if (sh && !json_is_null(sh)) {
        if (!json_is_object(sh))
            return ens_error(err, EINVAL, "%s: \"measured.shield\" must be an object", where);
        _cleanup_free_ char *mode = NULL;
        if (get_str(sh, "dir", where, &c->shield_dir, err) < 0 ||
            get_str(sh, "mountpoint", where, &c->shield_mountpoint, err) < 0 ||
            get_str(sh, "mode", where, &mode, err) < 0)
            return -1;
        if (!abs_path_ok(c->shield_dir) || !abs_path_ok(c->shield_mountpoint))
            return ens_error(err, EINVAL, "%s: \"measured.shield\" needs absolute \"dir\" and \"mountpoint\"", where);
        if (mode == NULL || strcmp(mode, "auto") == 0)
            c->shield_mode = ENS_SHIELD_MODE_AUTO;
        else if (strcmp(mode, "fuse") == 0)
            c->shield_mode = ENS_SHIELD_MODE_FUSE;
        else if (strcmp(mode, "memory") == 0)
            c->shield_mode = ENS_SHIELD_MODE_MEMORY;
        else
            return ens_error(err, EINVAL, "%s: \"measured.shield.mode\" must be auto, fuse or memory", where);
    }
    json_t *vols = json_object_get(m, "volumes");
    if (vols && !json_is_null(vols)) {
        if (!json_is_object(vols) || json_object_size(vols) > 64)
            return ens_error(err, EINVAL, "%s: \"measured.volumes\" must be an object of at most 64 entries", where);
        c->volumes = calloc(json_object_size(vols) + 1, sizeof(*c->volumes));
        if (c->volumes == NULL)
            return ens_error(err, ENOMEM, "out of memory");
        const char *k;
        json_t *v;
        json_object_foreach(vols, k, v) {
            if (!json_is_string(v) || !abs_path_ok(json_string_value(v)))
                return ens_error(err, EINVAL, "%s: volume \"%s\": backing directory must be an absolute path", where, k);
            c->volumes[c->nvolumes].name = strdup(k);
            c->volumes[c->nvolumes].dir = strdup(json_string_value(v));
            c->nvolumes++;
            if (!c->volumes[c->nvolumes - 1].name || !c->volumes[c->nvolumes - 1].dir)
                return ens_error(err, ENOMEM, "out of memory");
        }
    }
    json_t *u = json_object_get(m, "user");
    if (u && !json_is_null(u)) {
        json_t *uid = json_object_get(u, "uid"), *gid = json_object_get(u, "gid");
        if (!json_is_object(u) || !json_is_integer(uid) || !json_is_integer(gid) || json_integer_value(uid) < 0 ||
            json_integer_value(gid) < 0 || json_integer_value(uid) > 0x7fffffff || json_integer_value(gid) > 0x7fffffff)
            return ens_error(err, EINVAL, "%s: \"measured.user\" must be {\"uid\": N, \"gid\": N}", where);
        c->have_user = true;
        c->uid = (uid_t)json_integer_value(uid);
        c->gid = (gid_t)json_integer_value(gid);
    }
    return 0;
}

int ens_run_config_load(const char *path, char *const *env, struct ens_run_config *c, ens_error_t *err)
{
    memset(c, 0, sizeof(*c));
    c->timeout_s = 30;
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    _cleanup_error_ ens_error_t rerr = NULL;
    if (ens_read_file(path, ENS_RUN_MAX_CONFIG, &buf, &len, &rerr) < 0) {
        if (ens_error_status(rerr) != ENOENT) {
            *err = ens_steal(&rerr);
            return -1;
        }
        buf = NULL; /* no file: environment only */
    }
    if (buf) {
        json_error_t je;
        _cleanup_json_ json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
        if (doc == NULL)
            return ens_error(err, EINVAL, "%s: invalid JSON at line %d: %s", path, je.line, je.text);
        if (!json_is_object(doc))
            return ens_error(err, EINVAL, "%s: not a JSON object", path);
        json_t *ver = json_object_get(doc, "version");
        if (ver && (!json_is_integer(ver) || json_integer_value(ver) != 1))
            return ens_error(err, EINVAL, "%s: unsupported \"version\" (this runtime reads version 1)", path);
        _cleanup_free_ char *pin = NULL;
        if (get_str(doc, "config_id", path, &c->config_id, err) < 0 ||
            get_str(doc, "cas_addr", path, &c->cas_addr, err) < 0 ||
            get_str(doc, "las_addr", path, &c->las_addr, err) < 0 ||
            get_str(doc, "memory_dir", path, &c->memory_dir, err) < 0 ||
            get_str(doc, "cas_identity", path, &pin, err) < 0)
            return -1;
        if (pin) {
            if (strlen(pin) != 64 || ens_hex_decode(pin, c->cas_pin, 32, err) < 0)
                return ens_error(err, EINVAL, "%s: \"cas_identity\" must be 64 hex digits (the CAS key id)", path);
            c->have_pin = true;
        }
        json_t *t = json_object_get(doc, "timeout_s");
        if (t) {
            if (!json_is_integer(t) || json_integer_value(t) < 1 || json_integer_value(t) > 3600)
                return ens_error(err, EINVAL, "%s: \"timeout_s\" must be an integer in [1, 3600]", path);
            c->timeout_s = (int)json_integer_value(t);
        }
        json_t *m = json_object_get(doc, "measured");
        if (m && parse_measured(m, path, c, err) < 0)
            return -1;
    }
    /* Environment overrides, ours first, then the replaced product's names. */
    struct { const char *a, *b; char **dst; } ov[] = {
        {"ENSCONCE_CONFIG_ID", "SCONE_CONFIG_ID", &c->config_id},
        {"ENSCONCE_CAS_ADDR", "SCONE_CAS_ADDR", &c->cas_addr},
        {"ENSCONCE_LAS_ADDR", "SCONE_LAS_ADDR", &c->las_addr},
    };
    for (size_t i = 0; i < sizeof(ov) / sizeof(ov[0]); i++) {
        const char *v = env_get(env, ov[i].a);
        if (v == NULL || v[0] == '\0')
            v = env_get(env, ov[i].b);
        if (v && v[0]) {
            if (strlen(v) >= 1024)
                return ens_error(err, EINVAL, "%s: value too long", ov[i].a);
            free(*ov[i].dst);
            if ((*ov[i].dst = strdup(v)) == NULL)
                return ens_error(err, ENOMEM, "out of memory");
        }
    }
    const char *t = env_get(env, "ENSCONCE_CAS_TIMEOUT");
    if (t && t[0]) {
        char *end = NULL;
        long v = strtol(t, &end, 10);
        if (*end || v < 1 || v > 3600)
            return ens_error(err, EINVAL, "ENSCONCE_CAS_TIMEOUT must be seconds in [1, 3600]");
        c->timeout_s = (int)v;
    }
    if (c->memory_dir == NULL && (c->memory_dir = strdup(ENS_RUN_DEFAULT_MEMDIR)) == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    if (!abs_path_ok(c->memory_dir))
        return ens_error(err, EINVAL, "\"memory_dir\" must be an absolute path");
    if (c->config_id && (strlen(c->config_id) > 256 || strchr(c->config_id, '/') == NULL))
        return ens_error(err, EINVAL, "config id \"%.64s\" must be SESSION/SERVICE", c->config_id);
    return 0;
}

/* ---------- the CAS's configuration ---------- */

void ens_run_service_free(struct ens_run_service *s)
{
    for (char **p = s->argv; p && *p; p++)
        free(*p);
    free(s->argv);
    for (char **p = s->envp; p && *p; p++) {
        ens_wipe(*p, strlen(*p));
        free(*p);
    }
    free(s->envp);
    free(s->pwd);
    for (size_t i = 0; i < s->nfiles; i++) {
        free(s->files[i].path);
        if (s->files[i].data)
            ens_wipe(s->files[i].data, s->files[i].len);
        free(s->files[i].data);
    }
    free(s->files);
    for (size_t i = 0; i < s->nvolumes; i++) {
        free(s->volumes[i].name);
        free(s->volumes[i].path);
    }
    free(s->volumes);
    ens_wipe(s->fspf_key, sizeof(s->fspf_key));
    memset(s, 0, sizeof(*s));
}

static int hex32(const json_t *o, const char *key, uint8_t out[32], bool *present, const char *what, ens_error_t *err)
{
    json_t *v = json_object_get(o, key);
    if (present)
        *present = false;
    if (v == NULL || json_is_null(v))
        return present ? 0 : ens_error(err, EINVAL, "configuration: %s: \"%s\" missing", what, key);
    if (!json_is_string(v) || json_string_length(v) != 64 || ens_hex_decode(json_string_value(v), out, 32, NULL) < 0)
        return ens_error(err, EINVAL, "configuration: %s: \"%s\" must be 64 hex digits", what, key);
    if (present)
        *present = true;
    return 0;
}

static int b64_decode(const char *in, size_t inlen, unsigned char **out, size_t *outlen, ens_error_t *err)
{
    if (inlen > (64u << 20))
        return ens_error(err, E2BIG, "injection file larger than 48 MiB");
    if (inlen % 4 != 0)
        return ens_error(err, EINVAL, "bad base64 length");
    unsigned char *buf = malloc(inlen / 4 * 3 + 1);
    if (buf == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    int n = inlen ? EVP_DecodeBlock(buf, (const unsigned char *)in, (int)inlen) : 0;
    if (n < 0) {
        free(buf);
        return ens_error(err, EINVAL, "bad base64");
    }
    /* EVP_DecodeBlock counts padding bytes as data. */
    if (inlen >= 1 && in[inlen - 1] == '=')
        n--;
    if (inlen >= 2 && in[inlen - 2] == '=')
        n--;
    *out = buf;
    *outlen = (size_t)n;
    return 0;
}

int ens_run_service_parse(const json_t *cfg, struct ens_run_service *s, ens_error_t *err)
{
    memset(s, 0, sizeof(*s));
    if (!json_is_object(cfg))
        return ens_error(err, EINVAL, "configuration: not a JSON object");
    json_t *cmd = json_object_get(cfg, "command");
    if (!json_is_array(cmd) || json_array_size(cmd) == 0 || json_array_size(cmd) > 4096)
        return ens_error(err, EINVAL, "configuration: \"command\" must be a non-empty array");
    s->argv = calloc(json_array_size(cmd) + 1, sizeof(char *));
    if (s->argv == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < json_array_size(cmd); i++) {
        json_t *a = json_array_get(cmd, i);
        if (!json_is_string(a) || strlen(json_string_value(a)) != json_string_length(a))
            return ens_error(err, EINVAL, "configuration: \"command\"[%zu] must be a string without NUL", i);
        if ((s->argv[i] = strdup(json_string_value(a))) == NULL)
            return ens_error(err, ENOMEM, "out of memory");
    }
    json_t *env = json_object_get(cfg, "environment");
    size_t ne = json_is_object(env) ? json_object_size(env) : 0;
    if (env && !json_is_null(env) && !json_is_object(env))
        return ens_error(err, EINVAL, "configuration: \"environment\" must be an object");
    s->envp = calloc(ne + 1, sizeof(char *));
    if (s->envp == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    size_t k = 0;
    const char *key;
    json_t *val;
    if (ne)
        json_object_foreach(env, key, val) {
            if (!json_is_string(val) || key[0] == '\0' || strchr(key, '=') ||
                strlen(json_string_value(val)) != json_string_length(val))
                return ens_error(err, EINVAL, "configuration: environment variable \"%.64s\" is malformed", key);
            if (asprintf(&s->envp[k], "%s=%s", key, json_string_value(val)) < 0)
                return ens_error(err, ENOMEM, "out of memory");
            k++;
        }
    if (get_str(cfg, "pwd", "configuration", &s->pwd, err) < 0)
        return -1;
    if (s->pwd && s->pwd[0] != '/')
        return ens_error(err, EINVAL, "configuration: \"pwd\" must be absolute");
    json_t *files = json_object_get(cfg, "injection_files");
    if (files && !json_is_null(files)) {
        if (!json_is_array(files) || json_array_size(files) > 1024)
            return ens_error(err, EINVAL, "configuration: \"injection_files\" must be an array");
        s->files = calloc(json_array_size(files) + 1, sizeof(*s->files));
        if (s->files == NULL)
            return ens_error(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < json_array_size(files); i++) {
            json_t *f = json_array_get(files, i);
            json_t *content = json_object_get(f, "content");
            struct ens_run_file *rf = &s->files[s->nfiles++];
            if (!json_is_object(f) || get_str(f, "path", "injection file", &rf->path, err) < 0)
                return -1;
            if (rf->path == NULL || !abs_path_ok(rf->path) || !json_is_string(content))
                return ens_error(err, EINVAL, "configuration: injection file %zu needs an absolute \"path\" and \"content\"", i);
            if (b64_decode(json_string_value(content), json_string_length(content), &rf->data, &rf->len, err) < 0)
                return ens_error_wrap(err, "configuration: injection file %s", rf->path);
        }
    }
    json_t *fspf = json_object_get(cfg, "fspf");
    if (fspf && !json_is_null(fspf)) {
        bool hk = false, ht = false;
        if (!json_is_object(fspf) || hex32(fspf, "key", s->fspf_key, &hk, "fspf", err) < 0 ||
            hex32(fspf, "tag", s->fspf_tag, &ht, "fspf", err) < 0)
            return ens_error(err, EINVAL, "configuration: malformed \"fspf\"");
        if (hk != ht)
            return ens_error(err, EINVAL, "configuration: \"fspf\" needs both key and tag");
        s->have_fspf = hk;
    }
    json_t *vols = json_object_get(cfg, "volumes");
    if (vols && !json_is_null(vols)) {
        if (!json_is_array(vols) || json_array_size(vols) > 64)
            return ens_error(err, EINVAL, "configuration: \"volumes\" must be an array");
        s->volumes = calloc(json_array_size(vols) + 1, sizeof(*s->volumes));
        if (s->volumes == NULL)
            return ens_error(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < json_array_size(vols); i++) {
            json_t *v = json_array_get(vols, i);
            struct ens_run_volume *rv = &s->volumes[s->nvolumes++];
            if (!json_is_object(v) || get_str(v, "name", "volume", &rv->name, err) < 0 ||
                get_str(v, "path", "volume", &rv->path, err) < 0)
                return -1;
            if (rv->name == NULL || rv->path == NULL || !abs_path_ok(rv->path))
                return ens_error(err, EINVAL, "configuration: volume %zu needs a \"name\" and an absolute \"path\"", i);
            if (hex32(v, "key", rv->key, NULL, rv->name, err) < 0 || hex32(v, "tag", rv->tag, &rv->have_tag, rv->name, err) < 0)
                return -1;
            if (rv->have_tag)
                ens_hex_encode(rv->tag, 32, rv->tag_hex);
        }
    }
    json_t *uid = json_object_get(cfg, "uid"), *gid = json_object_get(cfg, "gid");
    if (uid || gid) {
        if (!json_is_integer(uid) || !json_is_integer(gid) || json_integer_value(uid) < 0 ||
            json_integer_value(gid) < 0 || json_integer_value(uid) > 0x7fffffff || json_integer_value(gid) > 0x7fffffff)
            return ens_error(err, EINVAL, "configuration: \"uid\" and \"gid\" must both be non-negative integers");
        s->have_user = true;
        s->uid = (uid_t)json_integer_value(uid);
        s->gid = (gid_t)json_integer_value(gid);
    }
    return 0;
}
