/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The conversion: read the image, pack the protected regions into the shield,
 * remove their plaintext from every layer, add ensconce-run and its
 * configuration, measure, and write the image.  Everything is staged in a
 * private work directory that is removed on every path.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cas/casclient.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "crypto/digest.h"
#include "image/image.h"
#include "measure/measure.h"
#include "shield/shield.h"
#include "sconify/sconify.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static void image_freep(ens_image **i) { ens_image_free(*i); }
static void rm_workp(char **dir)
{
    if (*dir) {
        ens_rm_rf(*dir, NULL);
        free(*dir);
    }
}

/* Room left under the memory limit of this process's cgroup (as a container sees its own at
 * /sys/fs/cgroup), UINT64_MAX when there is no limit: tmpfs pages count against it. */
static uint64_t cgroup_memory_room(void)
{
    static const char *const files[][2] = {
        {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},                            /* v2 */
        {"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"}, /* v1 */
    };
    for (size_t i = 0; i < 2; i++) {
        unsigned long long limit = 0, used = 0;
        FILE *l = fopen(files[i][0], "re"), *u = fopen(files[i][1], "re");
        bool ok = l && u && fscanf(l, "%llu", &limit) == 1 && fscanf(u, "%llu", &used) == 1;
        if (l)
            fclose(l);
        if (u)
            fclose(u);
        if (ok) /* "max" (v2) does not scan; v1 writes a huge number for no limit */
            return limit > used ? limit - used : 0;
    }
    return UINT64_MAX;
}

/* Where the unpacked image and the shield are staged.  $TMPDIR when set; else memory (/dev/shm)
 * when the image fits there with room to spare, because creating and deleting thousands of files
 * costs far more on a journalled disk file system than the conversion itself, and the plaintext of
 * the protected files then never reaches a disk outside the source image; else /var/tmp.  "Fits" means
 * in /dev/shm's free space, and twice over in both free memory and the cgroup's memory limit. */
static const char *work_parent(const ens_image *img)
{
    const char *t = getenv("TMPDIR");
    if (t && *t)
        return t;
    uint64_t need = 64u << 20;
    for (size_t i = 0; i < ens_image_layer_count(img); i++) {
        struct ens_image_layer l;
        if (ens_image_layer_info(img, i, &l) == 0) /* compressed layers: assume 3x */
            need += (uint64_t)l.size *
                    (l.media_type && (strstr(l.media_type, "gzip") || strstr(l.media_type, "zstd")) ? 3 : 1);
    }
    need *= 2; /* the unpacked tree and the shield */
    struct statfs fs;
    struct statvfs vfs;
    long pages = sysconf(_SC_AVPHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    if (statfs("/dev/shm", &fs) == 0 && fs.f_type == TMPFS_MAGIC && statvfs("/dev/shm", &vfs) == 0 &&
        access("/dev/shm", W_OK) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize >= need && pages > 0 &&
        psize > 0 && (uint64_t)pages * (uint64_t)psize / 2 >= need && cgroup_memory_room() / 2 >= need)
        return "/dev/shm";
    return "/var/tmp";
}

void sconify_result_free(struct sconify_result *r)
{
    if (r->session_yaml) {
        ens_wipe(r->session_yaml, strlen(r->session_yaml));
        free(r->session_yaml);
    }
    ens_wipe(r->shield_key_hex, sizeof(r->shield_key_hex));
    memset(r, 0, sizeof(*r));
}

/* Is path equal to dir or below it? */
static bool path_under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/' || n == 1);
}

static void free_argv(char **argv)
{
    for (char **a = argv; a && *a; a++)
        free(*a);
    free(argv);
}

/* The service's argv: --command split on whitespace, else ENTRYPOINT + CMD. */
static char **service_argv(const struct sconify_opts *o, json_t *cfg, ens_error_t *err)
{
    char **argv = calloc(257, sizeof(char *));
    size_t n = 0;
    if (argv == NULL) {
        ens_error(err, ENOMEM, "out of memory");
        return NULL;
    }
    if (o->command) {
        _cleanup_free_ char *copy = strdup(o->command);
        char *save = NULL;
        for (char *t = strtok_r(copy, " \t\n", &save); t && n < 256; t = strtok_r(NULL, " \t\n", &save))
            argv[n++] = strdup(t);
    } else {
        const char *parts[] = {"Entrypoint", "Cmd"};
        for (int p = 0; p < 2; p++) {
            json_t *a = json_object_get(cfg, parts[p]), *e;
            size_t i;
            json_array_foreach(a, i, e) if (json_is_string(e) && n < 256) argv[n++] = strdup(json_string_value(e));
        }
    }
    if (n == 0) {
        free(argv);
        ens_error(err, EINVAL, "the image has no ENTRYPOINT or CMD: give the service's command with --command");
        return NULL;
    }
    return argv;
}

static const char *image_env(json_t *cfg, const char *name)
{
    size_t i, l = strlen(name);
    json_t *e;
    json_array_foreach(json_object_get(cfg, "Env"), i, e) {
        const char *s = json_string_value(e);
        if (s && strncmp(s, name, l) == 0 && s[l] == '=')
            return s + l + 1;
    }
    return NULL;
}

/* ensconce-run on this machine: --runtime, $ENSCONCE_RUNTIME, beside this program, or the build tree. */
static char *find_runtime(const char *explicit_path, ens_error_t *err)
{
    if (explicit_path == NULL)
        explicit_path = getenv("ENSCONCE_RUNTIME");
    if (explicit_path) {
        if (access(explicit_path, X_OK) < 0) {
            ens_error_errno(err, "ensconce-run at %s", explicit_path);
            return NULL;
        }
        return strdup(explicit_path);
    }
    char self[PATH_MAX];
    ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (l > 0) {
        self[l] = '\0';
        char *slash = strrchr(self, '/');
        *slash = '\0';
        const char *rel[] = {"ensconce-run", "../ensconce-run/ensconce-run", "../libexec/ensconce/ensconce-run"};
        for (size_t i = 0; i < 3; i++) {
            char *p = NULL;
            if (asprintf(&p, "%s/%s", self, rel[i]) >= 0 && access(p, X_OK) == 0)
                return p;
            free(p);
        }
    }
    ens_error(err, ENOENT, "cannot find ensconce-run: give its path with --runtime or ENSCONCE_RUNTIME");
    return NULL;
}

static int copy_file(const char *src, const char *dst, mode_t mode, ens_error_t *err)
{
    _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return ens_error_errno(err, "open %s", src);
    _cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (out < 0)
        return ens_error_errno(err, "create %s", dst);
    char buf[1 << 16];
    ssize_t r;
    while ((r = read(in, buf, sizeof(buf))) > 0)
        if (ens_write_all(out, buf, (size_t)r, err) < 0)
            return -1;
    if (r < 0)
        return ens_error_errno(err, "read %s", src);
    return fchmod(out, mode) < 0 ? ens_error_errno(err, "chmod %s", dst) : 0;
}

/* Creates the parents of path (inside stage) with the modes and owners they have in rootfs,
 * so the new layer does not change them. */
static int stage_parents(const char *stage, const char *rootfs, const char *path, ens_error_t *err)
{
    _cleanup_free_ char *p = strdup(path);
    for (char *s = p + 1; s && (s = strchr(s, '/')); s++) {
        *s = '\0';
        _cleanup_free_ char *in_root = ens_path_join(rootfs, p);
        _cleanup_free_ char *in_stage = ens_path_join(stage, p);
        struct stat st;
        mode_t mode = 0755;
        uid_t uid = 0;
        gid_t gid = 0;
        if (lstat(in_root, &st) == 0 && S_ISDIR(st.st_mode)) {
            mode = st.st_mode & 07777;
            uid = st.st_uid;
            gid = st.st_gid;
        }
        if (mkdir(in_stage, mode) < 0 && errno != EEXIST)
            return ens_error_errno(err, "mkdir %s", in_stage);
        if (chmod(in_stage, mode) < 0 || (geteuid() == 0 && lchown(in_stage, uid, gid) < 0))
            return ens_error_errno(err, "set owner of %s", in_stage);
        *s = '/';
    }
    return 0;
}

static int check_inputs(const struct sconify_opts *o, const char *rootfs, const char *exe, ens_error_t *err)
{
    const struct str_list *regions[] = {&o->dirs, &o->auth_dirs};
    const char *names[] = {"--dir", "--auth-dir"};
    for (int r = 0; r < 2; r++) {
        for (size_t i = 0; i < regions[r]->n; i++) {
            const char *d = regions[r]->v[i];
            if (d[0] != '/' || strstr(d, "/../") || strcmp(d, "/") == 0)
                return ens_error(err, EINVAL, "%s %s: give an absolute directory other than /", names[r], d);
            if (strncmp(d, "/.ensconce", 10) == 0)
                return ens_error(err, EINVAL, "%s %s: /.ensconce is reserved for ensconce", names[r], d);
            _cleanup_free_ char *p = ens_path_join(rootfs, d);
            struct stat st;
            if (lstat(p, &st) < 0 || !S_ISDIR(st.st_mode))
                return ens_error(err, ENOENT, "%s %s: no such directory in the image", names[r], d);
            if (path_under(exe, d))
                return ens_error(err, EINVAL,
                                 "%s %s holds the service binary %s: the runtime measures the binary before it can "
                                 "open the shield, so keep binaries outside protected directories",
                                 names[r], d, exe);
            const struct str_list *open_lists[] = {&o->plain, &o->plain_files, &o->host_paths};
            const char *open_names[] = {"--plain", "--plain-file", "--host-path"};
            for (int k = 0; k < 3; k++)
                for (size_t j = 0; j < open_lists[k]->n; j++)
                    if (path_under(open_lists[k]->v[j], d))
                        return ens_error(err, EINVAL, "%s %s lies inside %s %s: a protected directory is protected "
                                                      "whole; move the unprotected files out of it",
                                         open_names[k], open_lists[k]->v[j], names[r], d);
        }
    }
    for (size_t i = 0; i < o->volumes.n; i++) {
        const char *colon = strchr(o->volumes.v[i], ':');
        if (colon == NULL || colon == o->volumes.v[i] || colon[1] != '/')
            return ens_error(err, EINVAL, "--volume %s: expected NAME:/PATH", o->volumes.v[i]);
    }
    return 0;
}

/* run.json: what the runtime reads at start; its "measured" part is in the measurement. */
static json_t *run_json(const struct sconify_opts *o, const char *config_id, const char *exe, const char *path,
                        bool shield, const char *cas_pin_hex, ens_error_t *err)
{
    json_t *measured = json_pack("{s:s, s:s}", "exe", exe, "path", path);
    if (shield)
        json_object_set_new(measured, "shield", json_pack("{s:s,s:s,s:s}", "dir", SCONIFY_SHIELD_DIR, "mountpoint",
                                                          SCONIFY_SHIELD_MOUNT, "mode",
                                                          o->k8s.spec.shield_mode ? o->k8s.spec.shield_mode : "auto"));
    if (o->volumes.n) {
        json_t *vols = json_object();
        for (size_t i = 0; i < o->volumes.n; i++) {
            const char *colon = strchr(o->volumes.v[i], ':');
            _cleanup_free_ char *name = strndup(o->volumes.v[i], (size_t)(colon - o->volumes.v[i]));
            /* the shield lives one level below the (mounted) volume directory: it is replaced by rename */
            json_object_set_new(vols, name, json_sprintf("%s/%s/shield", SCONIFY_VOLUME_DIR, name));
        }
        json_object_set_new(measured, "volumes", vols);
    }
    char cas[300], las[300];
    snprintf(cas, sizeof(cas), "%s%s", o->cas ? o->cas : "cas", o->cas && strchr(o->cas, ':') ? "" : ":18765");
    snprintf(las, sizeof(las), "%s%s", o->las ? o->las : "las", o->las && strchr(o->las, ':') ? "" : ":18766");
    json_t *doc = json_pack("{s:i, s:s, s:s, s:s, s:s, s:o}", "version", 1, "config_id", config_id, "cas_addr", cas,
                            "las_addr", las, "memory_dir", SCONIFY_MEMORY_DIR, "measured", measured);
    if (doc && cas_pin_hex)
        json_object_set_new(doc, "cas_identity", json_string(cas_pin_hex));
    if (doc == NULL)
        ens_error(err, ENOMEM, "out of memory");
    return doc;
}

/* The steps after the inputs are known; key receives the shield key (wiped by the caller). */
static int convert_steps(const struct sconify_opts *o, struct sconify_result *r, ens_image *img,
                         const struct ens_image_opts *iop, json_t *cfg, char **argv, const char *rootfs,
                         const char *stage, const char *runtime, const char *exe, const char *path,
                         const char *pin_hex, uint8_t key[ENS_SHIELD_KEY_LEN], ens_error_t *err)
{
    uint8_t tag[ENS_SHIELD_TAG_LEN] = {0};
    struct ens_image_opts io = *iop;
    bool shield = o->dirs.n + o->auth_dirs.n > 0;
    _cleanup_free_ char *bin_dir = ens_path_join(stage, "/.ensconce/bin");
    _cleanup_free_ char *mem_dir = ens_path_join(stage, SCONIFY_MEMORY_DIR);
    if (ens_mkdir_p(bin_dir, 0755, err) < 0 || ens_mkdir_p(mem_dir, 0755, err) < 0)
        return -1;
    if (shield) {
        ens_step("packing %zu protected director%s into the shield", o->dirs.n + o->auth_dirs.n,
                 o->dirs.n + o->auth_dirs.n == 1 ? "y" : "ies");
        struct ens_shield_rule rules[2 * SCONIFY_MAX_LIST];
        size_t nr = 0;
        for (size_t i = 0; i < o->dirs.n; i++)
            rules[nr++] = (struct ens_shield_rule){o->dirs.v[i], ENS_SHIELD_ENCRYPTED};
        for (size_t i = 0; i < o->auth_dirs.n; i++)
            rules[nr++] = (struct ens_shield_rule){o->auth_dirs.v[i], ENS_SHIELD_AUTHENTICATED};
        struct ens_shield_pack_opts po = {.rules = rules, .nrules = nr, .default_region = ENS_SHIELD_PLAIN};
        _cleanup_free_ char *shield_dir = ens_path_join(stage, SCONIFY_SHIELD_DIR);
        if (ens_random(key, ENS_SHIELD_KEY_LEN, err) < 0 || ens_shield_pack(rootfs, shield_dir, key, &po, tag, err) < 0)
            return ens_error_wrap(err, "packing the shield");
        /* the original paths become links into the shield's mount point */
        const struct str_list *lists[] = {&o->dirs, &o->auth_dirs};
        for (int l = 0; l < 2; l++) {
            for (size_t i = 0; i < lists[l]->n; i++) {
                const char *d = lists[l]->v[i];
                _cleanup_free_ char *link_path = ens_path_join(stage, d);
                _cleanup_free_ char *target = ens_path_join(SCONIFY_SHIELD_MOUNT, d);
                if (stage_parents(stage, rootfs, d, err) < 0)
                    return -1;
                if (symlink(target, link_path) < 0) {
                    ens_error_errno(err, "link %s", d);
                    return -1;
                }
            }
        }
        ens_step("removing the plaintext of protected files from every layer");
        const char *paths[2 * SCONIFY_MAX_LIST];
        size_t np = 0;
        for (size_t i = 0; i < o->dirs.n; i++)
            paths[np++] = o->dirs.v[i];
        for (size_t i = 0; i < o->auth_dirs.n; i++)
            paths[np++] = o->auth_dirs.v[i];
        if (ens_image_remove_paths(img, paths, np, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < o->volumes.n; i++) {
        const char *colon = strchr(o->volumes.v[i], ':');
        _cleanup_free_ char *rel = NULL;
        if (asprintf(&rel, "%s/%.*s", SCONIFY_VOLUME_DIR, (int)(colon - o->volumes.v[i]), o->volumes.v[i]) < 0)
            return -1;
        _cleanup_free_ char *vd = ens_path_join(stage, rel);
        if (ens_mkdir_p(vd, 0700, err) < 0)
            return -1;
        _cleanup_free_ char *mp = ens_path_join(stage, colon + 1);
        if (stage_parents(stage, rootfs, colon + 1, err) < 0 || ens_mkdir_p(mp, 0755, err) < 0)
            return -1;
    }

    /* ensconce-run and run.json */
    _cleanup_free_ char *rt_dst = ens_path_join(stage, SCONIFY_RUNTIME_PATH);
    if (copy_file(runtime, rt_dst, 0755, err) < 0)
        return -1;
    json_t *run = run_json(o, r->config_id, exe, path, shield, pin_hex[0] ? pin_hex : NULL, err);
    if (run == NULL)
        return -1;
    _cleanup_free_ char *measured = json_dumps(json_object_get(run, "measured"), JSON_COMPACT | JSON_SORT_KEYS);
    _cleanup_free_ char *run_text = json_dumps(run, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(run);
    _cleanup_free_ char *run_dst = ens_path_join(stage, SCONIFY_RUN_JSON);
    if (ens_write_file_atomic(run_dst, run_text, strlen(run_text), 0644, err) < 0)
        return -1;

    ens_step("measuring %s", exe);
    struct ens_measure_spec ms = {.root = rootfs, .runtime = runtime, .exe = exe, .path = path,
                                  .settings_json = measured};
    struct ens_measurement m = {0};
    if (ens_measure(&ms, &m, err) < 0) {
        ens_error_wrap(err, "measuring the service");
        return -1;
    }
    memcpy(r->measurement, m.hex, sizeof(r->measurement));
    ens_measurement_free(&m);

    /* the new layer and the config: ensconce-run becomes the entrypoint */
    const char *entry[] = {SCONIFY_RUNTIME_PATH, NULL};
    /* the new layer is mostly ciphertext, which does not compress: store it as a plain tar */
    if (ens_image_set_compression(img, shield ? "none" : "gzip", err) < 0 ||
        ens_image_add_layer_dir(img, stage, "/", err) < 0 || ens_image_set_entrypoint(img, entry, err) < 0 ||
        ens_image_set_cmd(img, NULL, err) < 0 || ens_image_set_label(img, "io.ensconce.config-id", r->config_id, err) < 0 ||
        ens_image_set_label(img, "io.ensconce.measurement", r->measurement, err) < 0)
        return -1;

    ens_hex_encode(key, ENS_SHIELD_KEY_LEN, r->shield_key_hex);
    ens_hex_encode(tag, ENS_SHIELD_TAG_LEN, r->shield_tag_hex);
    if (sconify_policy(o, cfg, argv, r->measurement, shield ? r->shield_key_hex : NULL,
                       shield ? r->shield_tag_hex : NULL, &r->session_yaml, err) < 0)
        return -1;

    /* Upload first: a CAS refusal must leave no output behind. */
    if (!o->dry_run && !o->no_upload) {
        ens_step("uploading the policy %s to the CAS", r->config_id);
        if (sconify_upload(o, r->session_yaml, err) < 0)
            return -1;
    }
    ens_step("writing %s", o->to);
    if (ens_image_write(img, o->to, &io, err) < 0) {
        ens_error_wrap(err, "--to %s", o->to);
        return -1;
    }
    return 0;
}

int sconify_convert(const struct sconify_opts *o, struct sconify_result *r, ens_error_t *err)
{
    snprintf(r->config_id, sizeof(r->config_id), "%s%s%s/%s", o->ns ? o->ns : "", o->ns ? "/" : "", o->session,
             o->service);

    /* The pin of the CAS this image will trust (from `ensconce cas attest`). */
    char pin_hex[65] = "";
    {
        uint8_t pin[32];
        _cleanup_free_ char *addr = ens_casc_addr(o->cas);
        _cleanup_error_ ens_error_t pin_err = NULL;
        if (ens_casc_load_pin(addr, pin, &pin_err) == 0)
            ens_hex_encode(pin, 32, pin_hex);
        else if (!o->dry_run)
            return ens_error(err, ENOENT, "no pinned identity for the CAS %s: attest it first with "
                                          "'ensconce cas attest %s --measurement M' (%s)",
                             addr, addr, ens_error_msg(pin_err));
        else
            ens_log(ENS_LOG_WARN, "no pinned identity for the CAS %s: the image will refuse to start until it is "
                                  "converted again after 'ensconce cas attest'", addr);
    }

    _cleanup_free_ char *runtime = find_runtime(o->runtime, err);
    if (runtime == NULL)
        return -1;

    ens_step("reading %s", o->from);
    struct ens_image_opts io;
    ens_image_opts_init(&io);
    /* the shield layer is ciphertext, which does not compress: spend little time trying */
    io.gzip_level = 1;
    if (o->tls_verify && strcmp(o->tls_verify, "false") == 0)
        io.tls_verify = false;
    __attribute__((cleanup(image_freep))) ens_image *img = NULL;
    if (ens_image_open(o->from, &io, &img, err) < 0)
        return ens_error_wrap(err, "--from %s", o->from);
    json_t *cfg = json_object_get(ens_image_config(img), "config");

    const char *tmp = work_parent(img);
    ens_log(ENS_LOG_INFO, "staging the image in %s", tmp);
    __attribute__((cleanup(rm_workp))) char *work = NULL;
    if (asprintf(&work, "%s/ensconce-sconify-XXXXXX", tmp) < 0 || mkdtemp(work) == NULL) {
        free(work);
        work = NULL;
        return ens_error_errno(err, "create a work directory in %s", tmp);
    }
    chmod(work, 0700);
    _cleanup_free_ char *rootfs = ens_path_join(work, "rootfs");
    _cleanup_free_ char *stage = ens_path_join(work, "layer");
    ens_step("unpacking the image");
    if (ens_image_unpack(img, rootfs, false, err) < 0)
        return ens_error_wrap(err, "unpacking %s", o->from);

    char **argv = service_argv(o, cfg, err);
    if (argv == NULL)
        return -1;
    const char *path = image_env(cfg, "PATH") ? image_env(cfg, "PATH") : DEFAULT_PATH;
    _cleanup_free_ char *exe = NULL;
    const char *binary = o->binary ? o->binary : argv[0];
    if (ens_measure_which(rootfs, binary, path, &exe, err) < 0) {
        ens_error_wrap(err, "service binary %s (give it with --binary)", binary); /* binary may be argv[0] */
        free_argv(argv);
        return -1;
    }
    if (check_inputs(o, rootfs, exe, err) < 0) {
        free_argv(argv);
        return -1;
    }

    uint8_t key[ENS_SHIELD_KEY_LEN] = {0};
    int rc = convert_steps(o, r, img, &io, cfg, argv, rootfs, stage, runtime, exe, path, pin_hex, key, err);
    ens_wipe(key, sizeof(key));
    free_argv(argv);
    return rc;
}
