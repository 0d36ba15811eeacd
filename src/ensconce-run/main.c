/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ensconce-run: PID 1 of every converted container (docs/runtime.md).
 * measure -> ephemeral key + CAS nonce -> evidence (LAS) -> TLS to the pinned CAS -> configuration ->
 * shield mounted / unpacked -> injection files in memory -> the service with the policy's environment,
 * supervised as PID 1.  Every failure before the service starts is one line naming the cause and the
 * config id, and never shows a secret.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "attest/attest.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "crypto/digest.h"
#include "elf/elf_internal.h"
#include "measure/measure.h"
#include "runtime.h"
#ifdef ENS_HAVE_SHIELD
#include "shield/shield.h"
#endif

#ifndef ENS_VERSION
#define ENS_VERSION "0.1.0"
#endif
#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif

extern char **environ;

static const char *g_config_id = "(none)";

/* The one-line failure: cause and config id; messages from lib/ never carry secrets. */
static int die(ens_error_t *err, const char *what)
{
    fprintf(stderr, "ensconce-run: config %s: %s%s%s\n", g_config_id, what, err && *err ? ": " : "",
            err && *err ? ens_error_msg(*err) : "");
    if (err)
        ens_error_release(err);
    return 1;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static struct {
    double measure, evidence, cas, mount, start;
} timing;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: ensconce-run [--measure [--verbose]] [--config FILE]\n"
            "\n"
            "The runtime of converted containers (PID 1).  Without options: measure, attest to the CAS,\n"
            "receive the configuration, mount the shield and run the service as configured.\n"
            "\n"
            "  --measure        print the measurement of this image's service (hex) and exit\n"
            "  -v, --verbose    with --measure: also list every measured file and its SHA-256\n"
            "  --config FILE    runtime configuration (default " ENS_RUN_DEFAULT_CONFIG ")\n"
            "  --root DIR       with --measure: measure an unpacked image root instead of /\n"
            "  --runtime FILE   with --measure --root: the ensconce-run binary to measure\n"
            "  -h, --help       this help\n"
            "      --version    print the version\n"
            "\n"
            "Environment: ENSCONCE_CONFIG_ID, ENSCONCE_CAS_ADDR, ENSCONCE_LAS_ADDR (or SCONE_CONFIG_ID,\n"
            "SCONE_CAS_ADDR, SCONE_LAS_ADDR) override run.json; ENSCONCE_CAS_TIMEOUT (seconds);\n"
            "ENSCONCE_LOG (error|warn|info|debug); ENSCONCE_TIMING=1 prints the start-up breakdown.\n");
}

static int do_measure(const struct ens_run_config *c, const char *root, const char *runtime,
                      struct ens_measurement *m, ens_error_t *err)
{
    if (c->exe == NULL)
        return ens_error(err, EINVAL, "run.json has no \"measured.exe\" (the service executable)");
    struct ens_measure_spec spec = {
        .root = root,
        .runtime = runtime,
        .exe = c->exe,
        .path = c->path,
        .settings_json = c->measured_json,
    };
    return ens_measure(&spec, m, err);
}

/* ---------- the measurement, overlapped with the first network steps ---------- */

/* The measurement is only needed when the evidence is requested (after TLS to the CAS and the
 * nonce), so it runs in a thread meanwhile; the evidence callback waits for it. */
struct measure_job {
    const struct ens_run_config *cfg;
    struct ens_measurement *m;
    pthread_t thread;
    bool started, joined;
    int rc;
    ens_error_t err;
    double ms;
    _Atomic int finished;
};

static void *measure_thread(void *arg)
{
    struct measure_job *j = arg;
    double t0 = now_ms();
    j->rc = do_measure(j->cfg, "/", "/proc/self/exe", j->m, &j->err);
    j->ms = now_ms() - t0;
    j->finished = 1;
    return NULL;
}

static int measure_wait(struct measure_job *j)
{
    if (j->started && !j->joined) {
        pthread_join(j->thread, NULL);
        j->joined = true;
        timing.measure = j->ms;
    }
    return j->rc;
}

/* ---------- attestation ---------- */

struct evidence_ctx {
    const char *las_addr;
    int timeout_s;
    struct measure_job *job;
};

static int evidence_from_las(void *arg, const char *measurement_hex, const uint8_t report_data[ENS_REPORT_DATA_LEN],
                             json_t **evidence, ens_error_t *err)
{
    struct evidence_ctx *e = arg;
    (void)measurement_hex; /* a placeholder: the measurement was still being computed */
    if (measure_wait(e->job) < 0)
        return ens_error(err, EINVAL, "no measurement");
    measurement_hex = e->job->m->hex;
    double t0 = now_ms();
    if (e->las_addr == NULL)
        return ens_error(err, EINVAL, "no LAS address (set ENSCONCE_LAS_ADDR or \"las_addr\" in run.json)");
    int rc = ens_las_get_evidence(e->las_addr, measurement_hex, report_data, e->timeout_s, evidence, err);
    timing.evidence += now_ms() - t0;
    return rc;
}

static bool transient(const ens_error_t e)
{
    switch (ens_error_status(e)) {
    case ECONNREFUSED: case ETIMEDOUT: case ECONNRESET: case EHOSTUNREACH: case ENETUNREACH:
    case EPIPE: case EAGAIN: case ECONNABORTED: case ENOENT:
        return true;
    default:
        return false;
    }
}

static int attest(const struct ens_run_config *c, const char *cas, const char *las, struct measure_job *job,
                  ens_attest_session **session, json_t **config, ens_error_t *err)
{
    struct evidence_ctx ectx = {.las_addr = las, .job = job};
    double deadline = now_ms() + c->timeout_s * 1000.0;
    unsigned backoff_ms = 100;
    for (int attempt = 1;; attempt++) {
        double left = deadline - now_ms();
        int t = left > 10000 ? 10 : (int)(left / 1000) + 1;
        ectx.timeout_s = t;
        struct ens_attest_client_opts o = {
            .cas_addr = cas,
            .cas_pin = c->cas_pin,
            .config_id = c->config_id,
            .measurement = "pending", /* see evidence_from_las */
            .las_addr = las,
            .evidence_fn = evidence_from_las,
            .evidence_arg = &ectx,
            .timeout_s = t,
        };
        ens_error_t e = NULL;
        if (ens_attest_run(&o, session, config, &e) == 0)
            return 0;
        left = deadline - now_ms();
        if (!transient(e) || left <= 50 || (job->finished && job->rc < 0)) {
            if (transient(e))
                ens_error_wrap(&e, "gave up after %d attempts in %d s", attempt, c->timeout_s);
            *err = e;
            return -1;
        }
        ens_log(ENS_LOG_INFO, "attempt %d: %s; retrying", attempt, ens_error_msg(e));
        ens_error_release(&e);
        /* Keep trying until the deadline: the last attempt starts just before it. */
        unsigned sleep_ms = left - 50 < backoff_ms ? (unsigned)(left - 50) : backoff_ms;
        struct timespec ts = {sleep_ms / 1000, (long)(sleep_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        if (backoff_ms < 2000)
            backoff_ms *= 2;
    }
}

/* The command must run the measured program: argv[0] found with the policy's PATH is that file. */
static int check_command(const struct ens_run_service *s, const struct ens_run_config *c,
                         const struct ens_measurement *m, char **exe, ens_error_t *err)
{
    const char *path = c->path;
    for (char **e = s->envp; *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0)
            path = *e + 5;
    _cleanup_free_ char *found = NULL;
    if (ens_measure_which("/", s->argv[0], path, &found, err) < 0)
        return ens_error_wrap(err, "service command");
    if (ens_root_resolve("/", found, exe, NULL, err) < 0)
        return -1;
    if (strcmp(*exe, m->exe) != 0)
        return ens_error(err, EPERM, "the command runs %s, not the measured %s", *exe, m->exe);
    return 0;
}

/* ---------- shield and volumes ---------- */

#ifdef ENS_HAVE_SHIELD
struct mount_job {
    pthread_t thread;
    bool started, is_volume;
    char *dir, *mountpoint, *name;
    uint8_t key[32], tag[32];
    struct ens_shield_mount_opts opts;
    ens_error_t err;
    volatile int finished;
    /* volumes: tag reporting */
    ens_attest_session *session;
    pthread_mutex_t *lock;
    char prev_tag[65];
    bool have_prev;
    volatile int report_failed;
};

static void on_commit(const uint8_t tag[ENS_SHIELD_TAG_LEN], uint64_t generation, void *arg)
{
    struct mount_job *j = arg;
    char hex[65];
    ens_hex_encode(tag, 32, hex);
    pthread_mutex_lock(j->lock);
    if (!j->have_prev || strcmp(hex, j->prev_tag) != 0) {
        ens_error_t e = NULL;
        if (ens_attest_report_tag(j->session, j->name, j->have_prev ? j->prev_tag : NULL, hex, &e) < 0) {
            fprintf(stderr, "ensconce-run: config %s: volume %s: reporting tag (generation %llu): %s\n", g_config_id,
                    j->name, (unsigned long long)generation, ens_error_msg(e));
            ens_error_release(&e);
            j->report_failed = 1;
        } else {
            memcpy(j->prev_tag, hex, sizeof(hex));
            j->have_prev = true;
        }
    }
    pthread_mutex_unlock(j->lock);
}

static void *mount_thread(void *arg)
{
    struct mount_job *j = arg;
    ens_shield_mount(j->dir, j->key, j->tag, j->mountpoint, &j->opts, &j->err);
    j->finished = 1;
    return NULL;
}

static bool fuse_usable(void)
{
    int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static bool is_fuse_mounted(const char *path)
{
    struct statfs sf;
    return statfs(path, &sf) == 0 && sf.f_type == FUSE_SUPER_MAGIC;
}

static int start_mount(struct mount_job *j, ens_error_t *err)
{
    if (ens_mkdir_p(j->mountpoint, 0755, err) < 0)
        return -1;
    if (pthread_create(&j->thread, NULL, mount_thread, j) != 0)
        return ens_error(err, EAGAIN, "cannot start the FUSE thread");
    j->started = true;
    /* Polled from 0.2 ms up, doubling to 10 ms: the mount usually takes well under a millisecond,
     * and a fixed 10 ms step put 10 ms on every start. */
    useconds_t step = 200;
    for (long waited = 0; waited < 10000000; waited += step, step = step < 10000 ? step * 2 : 10000) {
        if (is_fuse_mounted(j->mountpoint))
            return 0;
        if (j->finished) {
            pthread_join(j->thread, NULL);
            j->started = false;
            if (j->err) {
                *err = j->err;
                j->err = NULL;
                return -1;
            }
            return ens_error(err, EIO, "FUSE mount at %s ended at once", j->mountpoint);
        }
        usleep(step);
    }
    return ens_error(err, ETIMEDOUT, "FUSE mount at %s did not come up", j->mountpoint);
}

static void stop_mount(struct mount_job *j)
{
    if (!j->started)
        return;
    if (umount2(j->mountpoint, 0) < 0)
        umount2(j->mountpoint, MNT_DETACH);
    pthread_join(j->thread, NULL);
    j->started = false;
    if (j->err) {
        fprintf(stderr, "ensconce-run: config %s: %s: %s\n", g_config_id, j->mountpoint, ens_error_msg(j->err));
        ens_error_release(&j->err);
        if (j->is_volume)
            j->report_failed = 1;
    }
}

static bool dir_empty_or_missing(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT;
    struct dirent *de;
    bool empty = true;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            empty = false;
            break;
        }
    closedir(d);
    return empty;
}
#endif

struct run_state {
    struct ens_run_config cfg;
    struct ens_measurement m;
    struct ens_run_service svc;
    ens_attest_session *session;
    json_t *config;
#ifdef ENS_HAVE_SHIELD
    struct mount_job image;
    struct mount_job *vols;
    size_t nvols;
    pthread_mutex_t lock;
#endif
};

static int setup_shields(struct run_state *st, ens_error_t *err)
{
    struct ens_run_config *c = &st->cfg;
    struct ens_run_service *s = &st->svc;
    if (!s->have_fspf && s->nvolumes == 0)
        return 0;
#ifndef ENS_HAVE_SHIELD
    (void)c;
    return ens_error(err, ENOSYS, "this runtime was built without the shield");
#else
    double t0 = now_ms();
    pthread_mutex_init(&st->lock, NULL);
    if (s->have_fspf) {
        if (c->shield_dir == NULL)
            return ens_error(err, EINVAL, "the CAS sent a shield key but run.json names no shield");
        bool fuse = c->shield_mode == ENS_SHIELD_MODE_FUSE ||
                    (c->shield_mode == ENS_SHIELD_MODE_AUTO && fuse_usable());
        if (c->shield_mode == ENS_SHIELD_MODE_FUSE && !fuse_usable())
            return ens_error(err, ENODEV, "the policy requires FUSE but /dev/fuse is not usable in this container");
        struct mount_job *j = &st->image;
        j->dir = c->shield_dir;
        j->mountpoint = c->shield_mountpoint;
        j->name = "image";
        memcpy(j->key, s->fspf_key, 32);
        memcpy(j->tag, s->fspf_tag, 32);
        j->opts.allow_other = true;
        ens_error_t ferr = NULL;
        if (fuse && start_mount(j, &ferr) == 0) {
            ens_log(ENS_LOG_INFO, "shield mounted with FUSE at %s", j->mountpoint);
        } else {
            if (c->shield_mode == ENS_SHIELD_MODE_FUSE) {
                *err = ferr;
                return ens_error_wrap(err, "shield (FUSE required)");
            }
            if (ferr) {
                ens_log(ENS_LOG_INFO, "FUSE mount failed (%s); using memory mode", ens_error_msg(ferr));
                ens_error_release(&ferr);
            }
            /* Memory mode: decrypt into the memory directory only. */
            _cleanup_free_ char *mcopy = strdup(j->mountpoint);
            if (mcopy == NULL)
                return ens_error(err, ENOMEM, "out of memory");
            char *slash = strrchr(mcopy, '/');
            if (slash && slash != mcopy)
                *slash = '\0';
            if (ens_mkdir_p(mcopy, 0711, err) < 0)
                return -1;
            if (!ens_run_is_memory_fs(mcopy) && ens_run_memory_dir(mcopy, err) < 0)
                return ens_error_wrap(err, "shield memory mode");
            if (ens_shield_unpack(j->dir, j->key, j->tag, j->mountpoint, err) < 0)
                return ens_error_wrap(err, "shield %s", j->dir);
            ens_log(ENS_LOG_INFO, "shield unpacked into memory at %s", j->mountpoint);
        }
    }
    if (s->nvolumes) {
        st->vols = calloc(s->nvolumes, sizeof(*st->vols));
        if (st->vols == NULL)
            return ens_error(err, ENOMEM, "out of memory");
        if (!fuse_usable())
            return ens_error(err, ENODEV, "writable volumes need FUSE but /dev/fuse is not usable in this container");
    }
    for (size_t i = 0; i < s->nvolumes; i++) {
        struct ens_run_volume *v = &s->volumes[i];
        const char *dir = ens_run_volume_dir(c, v->name);
        if (dir == NULL)
            return ens_error(err, EINVAL, "volume %s: run.json names no backing directory for it", v->name);
        struct mount_job *j = &st->vols[st->nvols++];
        j->is_volume = true;
        j->dir = (char *)dir;
        j->mountpoint = v->path;
        j->name = v->name;
        j->session = st->session;
        j->lock = &st->lock;
        memcpy(j->key, v->key, 32);
        if (v->have_tag) {
            memcpy(j->tag, v->tag, 32);
            memcpy(j->prev_tag, v->tag_hex, 65);
            j->have_prev = true;
        } else {
            /* A fresh volume: only an empty backing directory may become one. */
            if (!dir_empty_or_missing(dir))
                return ens_error(err, EPERM, "volume %s: %s holds data but the CAS knows no tag for it", v->name, dir);
            if (ens_mkdir_p(dir, 0700, err) < 0 || ens_shield_init(dir, v->key, j->tag, err) < 0)
                return ens_error_wrap(err, "volume %s", v->name);
            on_commit(j->tag, 0, j);
            if (j->report_failed)
                return ens_error(err, EIO, "volume %s: the CAS did not accept its first tag", v->name);
        }
        j->opts.writable = true;
        j->opts.allow_other = true;
        j->opts.on_commit = on_commit;
        j->opts.cb_arg = j;
        if (start_mount(j, err) < 0)
            return ens_error_wrap(err, "volume %s", v->name);
    }
    timing.mount = now_ms() - t0;
    return 0;
#endif
}

static int teardown_shields(struct run_state *st)
{
    int failed = 0;
#ifdef ENS_HAVE_SHIELD
    for (size_t i = 0; i < st->nvols; i++) {
        stop_mount(&st->vols[i]);
        failed |= st->vols[i].report_failed;
    }
    stop_mount(&st->image);
    free(st->vols);
    st->vols = NULL;
    st->nvols = 0;
#else
    (void)st;
#endif
    return failed;
}

static void run_state_free(struct run_state *st)
{
    ens_run_service_free(&st->svc);
    ens_measurement_free(&st->m);
    if (st->session)
        ens_attest_session_free(st->session);
    json_decref(st->config);
    ens_run_config_free(&st->cfg);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"measure", no_argument, NULL, 'm'},  {"verbose", no_argument, NULL, 'v'},
        {"config", required_argument, NULL, 'c'}, {"root", required_argument, NULL, 'r'},
        {"runtime", required_argument, NULL, 'R'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},  {NULL, 0, NULL, 0},
    };
    bool measure_only = false, verbose = false;
    const char *config_path = ENS_RUN_DEFAULT_CONFIG, *root = "/", *runtime = "/proc/self/exe";
    int o;
    ens_log_init("ensconce-run");
    timing.start = now_ms();
    /* '+': options end at the first non-option (the image's own arguments, which are ignored). */
    while ((o = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
        switch (o) {
        case 'm': measure_only = true; break;
        case 'v': verbose = true; break;
        case 'c': config_path = optarg; break;
        case 'r': root = optarg; break;
        case 'R': runtime = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("ensconce-run %s\n", ENS_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!measure_only && (strcmp(root, "/") != 0 || strcmp(runtime, "/proc/self/exe") != 0)) {
        fprintf(stderr, "ensconce-run: --root and --runtime only go with --measure\n");
        return 2;
    }

    struct run_state st = {0};
    ens_error_t err = NULL;
    /* Declared before the first "goto out" so that every path frees them. */
    _cleanup_free_ char *cas = NULL, *las = NULL, *exe = NULL;
    struct measure_job mjob = {0};
    int rc;
    if (ens_run_config_load(config_path, environ, &st.cfg, &err) < 0) {
        rc = die(&err, "configuration");
        goto out;
    }
    if (st.cfg.config_id)
        g_config_id = st.cfg.config_id;

    if (measure_only) {
        if (do_measure(&st.cfg, root, runtime, &st.m, &err) < 0) {
            rc = die(&err, "measurement");
            goto out;
        }
        printf("%s\n", st.m.hex);
        if (verbose) {
            for (size_t i = 0; i < st.m.nitems; i++) {
                char hex[65];
                ens_hex_encode(st.m.items[i].digest, 32, hex);
                printf("%c %s %s\n", st.m.items[i].kind, hex, st.m.items[i].path);
            }
            printf("kind %s\n", ens_interp_kind_name(st.m.kind));
        }
        rc = 0;
        goto out;
    }

    if (st.cfg.config_id == NULL) {
        rc = die(NULL, "no config id (set ENSCONCE_CONFIG_ID or \"config_id\" in run.json)");
        goto out;
    }
    if (st.cfg.cas_addr == NULL) {
        rc = die(NULL, "no CAS address (set ENSCONCE_CAS_ADDR or \"cas_addr\" in run.json)");
        goto out;
    }
    if (!st.cfg.have_pin) {
        rc = die(NULL, "no pinned CAS identity (\"cas_identity\" in run.json)");
        goto out;
    }
    /* From here on the signals are ours (threads inherit the mask). */
    ens_run_block_signals();
    mjob.cfg = &st.cfg;
    mjob.m = &st.m;
    if (pthread_create(&mjob.thread, NULL, measure_thread, &mjob) != 0) {
        rc = die(NULL, "measurement: cannot start a thread");
        goto out;
    }
    mjob.started = true;

    if (ens_run_resolve_addr(st.cfg.cas_addr, ENS_ATTEST_PORT, st.cfg.timeout_s, &cas, &err) < 0) {
        rc = die(&err, "CAS address");
        goto out;
    }
    if (st.cfg.las_addr && ens_run_resolve_addr(st.cfg.las_addr, ENS_LAS_PORT, st.cfg.timeout_s, &las, &err) < 0) {
        rc = die(&err, "LAS address");
        goto out;
    }
    double t0 = now_ms();
    int arc = attest(&st.cfg, cas, las, &mjob, &st.session, &st.config, &err);
    /* A failed measurement is the cause to report, whatever the CAS said. */
    if (measure_wait(&mjob) < 0) {
        ens_error_release(&err);
        rc = die(&mjob.err, "measurement");
        goto out;
    }
    if (arc < 0) {
        rc = die(&err, "attestation");
        goto out;
    }
    timing.cas = now_ms() - t0 - timing.evidence; /* overlaps the measurement */
    if (ens_run_service_parse(st.config, &st.svc, &err) < 0) {
        rc = die(&err, "configuration from the CAS");
        goto out;
    }
    json_decref(st.config); /* holds secrets: keep it no longer than needed */
    st.config = NULL;
    if (check_command(&st.svc, &st.cfg, &st.m, &exe, &err) < 0) {
        rc = die(&err, "refused");
        goto out;
    }
    if (st.svc.nfiles && ens_run_memory_dir(st.cfg.memory_dir, &err) < 0) {
        rc = die(&err, "injection files");
        goto out;
    }
    if (setup_shields(&st, &err) < 0) {
        teardown_shields(&st);
        rc = die(&err, "shield");
        goto out;
    }
    if (ens_run_inject(st.cfg.memory_dir, st.svc.files, st.svc.nfiles, &err) < 0) {
        teardown_shields(&st);
        rc = die(&err, "injection files");
        goto out;
    }
    /* Keys and file contents are no longer needed in this process. */
    for (size_t i = 0; i < st.svc.nfiles; i++)
        ens_wipe(st.svc.files[i].data, st.svc.files[i].len);
    ens_wipe(st.svc.fspf_key, sizeof(st.svc.fspf_key));

    if (getenv("ENSCONCE_TIMING"))
        fprintf(stderr, "ensconce-run: timing: measure=%.2f evidence=%.2f cas=%.2f mount=%.2f total=%.2f ms\n",
                timing.measure, timing.evidence, timing.cas, timing.mount, now_ms() - timing.start);
    struct ens_run_exec x = {
        .exe = exe,
        .argv = st.svc.argv,
        .envp = st.svc.envp,
        .pwd = st.svc.pwd,
        .set_user = st.svc.have_user || st.cfg.have_user,
        .uid = st.svc.have_user ? st.svc.uid : st.cfg.uid,
        .gid = st.svc.have_user ? st.svc.gid : st.cfg.gid,
    };
    int status = 0;
    if (ens_run_supervise(&x, &status, &err) < 0) {
        teardown_shields(&st);
        rc = die(&err, "service");
        goto out;
    }
    /* Volumes commit on unmount; a tag the CAS did not take makes the exit status non-zero. */
    if (teardown_shields(&st)) {
        fprintf(stderr, "ensconce-run: config %s: a volume tag report failed\n", g_config_id);
        if (status == 0)
            status = 1;
    }
    rc = status;
out:
    measure_wait(&mjob);
    ens_error_release(&mjob.err);
    run_state_free(&st);
    return rc;
}
