/* SPDX-License-Identifier: Apache-2.0 */
/* Processes, runc and the local CAS/LAS for `ensconce up`. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cas/casclient.h"
#include "cas/cascmd.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "up/up.h"

char *up_state_dir(const char *explicit_dir, const char *project)
{
    char *p = NULL;
    if (explicit_dir)
        return strdup(explicit_dir);
    const char *base = getenv("ENSCONCE_STATE_DIR");
    if (asprintf(&p, "%s/%s", base ? base : "/run/ensconce", project) < 0)
        return NULL;
    return p;
}

char *up_container_id(const char *project, const char *service)
{
    char *id = NULL;
    if (asprintf(&id, "%s-%s", project, service) < 0)
        return NULL;
    return id;
}

char *up_sibling(const char *name)
{
    char self[PATH_MAX];
    ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (l > 0) {
        self[l] = '\0';
        *strrchr(self, '/') = '\0';
        const char *fmts[] = {"%s/%s", "%s/../%s/%s"};
        for (int i = 0; i < 2; i++) {
            char *p = NULL;
            int r = i == 0 ? asprintf(&p, fmts[0], self, name) : asprintf(&p, fmts[1], self, name, name);
            if (r >= 0 && access(p, X_OK) == 0)
                return p;
            free(p);
        }
    }
    return strdup(name); /* from PATH */
}

static int child_exec(char *const argv[], const char *log_path, bool new_session)
{
    if (new_session)
        setsid();
    int in = open("/dev/null", O_RDONLY);
    if (in >= 0)
        dup2(in, 0);
    if (log_path) {
        int out = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (out >= 0) {
            dup2(out, 1);
            dup2(out, 2);
        }
    }
    execvp(argv[0], argv);
    fprintf(stderr, "ensconce up: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int up_spawn_wait(char *const argv[], const char *log_path, ens_error_t *err)
{
    pid_t pid = fork();
    if (pid < 0)
        return ens_error_errno(err, "fork");
    if (pid == 0)
        child_exec(argv, log_path, false);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return ens_error_errno(err, "wait for %s", argv[0]);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return ens_error(err, EIO, "%s failed (status %d)%s%s", argv[0], WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
                         log_path ? "; see " : "", log_path ? log_path : "");
    return 0;
}

int up_spawn_bg(char *const argv[], const char *log_path, pid_t *pid, ens_error_t *err)
{
    *pid = fork();
    if (*pid < 0)
        return ens_error_errno(err, "fork");
    if (*pid == 0)
        child_exec(argv, log_path, true);
    return 0;
}

bool up_wait_port(int port, int timeout_ms)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        if (fd >= 0)
            close(fd);
        if (ok)
            return true;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 > timeout_ms)
            return false;
        usleep(50 * 1000);
    }
}

int up_runc(const char *state, const char *const *args, const char *log_path, ens_error_t *err)
{
    _cleanup_free_ char *root = ens_path_join(state, "runc");
    const char *argv[32] = {"runc", "--root", root};
    size_t n = 3;
    for (; *args && n < 31; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    return up_spawn_wait((char *const *)argv, log_path, err);
}

char *up_runc_status(const char *state, const char *id)
{
    _cleanup_free_ char *cmd = NULL;
    if (asprintf(&cmd, "runc --root '%s/runc' state '%s' 2>/dev/null", state, id) < 0)
        return NULL;
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return NULL;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, p);
    buf[n] = '\0';
    pclose(p);
    json_auto_t *j = json_loads(buf, 0, NULL);
    const char *s = json_string_value(json_object_get(j, "status"));
    return s ? strdup(s) : NULL;
}

int up_runc_stop(const char *state, const char *id, int timeout_s, ens_error_t *err)
{
    _cleanup_free_ char *st = up_runc_status(state, id);
    if (st == NULL)
        return 0;
    if (strcmp(st, "running") == 0) {
        const char *term[] = {"kill", id, "TERM", NULL};
        up_runc(state, term, NULL, NULL);
        for (int i = 0; i < timeout_s * 10; i++) {
            free(st);
            st = up_runc_status(state, id);
            if (st == NULL || strcmp(st, "running") != 0)
                break;
            usleep(100 * 1000);
        }
        if (st && strcmp(st, "running") == 0) {
            /* PID 1 of a container ignores SIGTERM without a handler: KILL, then wait for the exit */
            const char *kill9[] = {"kill", id, "KILL", NULL};
            up_runc(state, kill9, NULL, NULL);
            for (int i = 0; i < 50; i++) {
                free(st);
                st = up_runc_status(state, id);
                if (st == NULL || strcmp(st, "running") != 0)
                    break;
                usleep(100 * 1000);
            }
        }
    }
    const char *del[] = {"delete", "--force", id, NULL};
    return up_runc(state, del, NULL, err);
}

/* ---- the local CAS and LAS ---------------------------------------------- */

static int write_pid(const char *state, const char *name, pid_t pid, ens_error_t *err)
{
    _cleanup_free_ char *path = NULL;
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
    if (asprintf(&path, "%s/%s.pid", state, name) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    return ens_write_file_atomic(path, buf, (size_t)n, 0644, err);
}

static pid_t read_pid(const char *state, const char *name)
{
    _cleanup_free_ char *path = NULL, *buf = NULL;
    if (asprintf(&path, "%s/%s.pid", state, name) < 0 || ens_read_file(path, 64, &buf, NULL, NULL) < 0)
        return 0;
    pid_t pid = (pid_t)atoi(buf);
    return pid > 0 && kill(pid, 0) == 0 ? pid : 0;
}

/* Runs argv and returns its standard output (the first line only when first_line). */
static char *capture(char *const argv[], bool first_line)
{
    int fds[2];
    if (pipe(fds) < 0)
        return NULL;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    char *out = NULL;
    ens_read_fd(fds[0], 1 << 16, &out, NULL, NULL);
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    if (out == NULL || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        free(out);
        return NULL;
    }
    if (first_line)
        out[strcspn(out, "\n")] = '\0';
    return out;
}

int up_infra_start(const char *state, ens_error_t *err)
{
    if (getenv("ENSCONCE_CAS_ADDR")) {
        ens_log(ENS_LOG_INFO, "using the CAS at %s", getenv("ENSCONCE_CAS_ADDR"));
        return 0;
    }
    _cleanup_free_ char *logs = ens_path_join(state, "logs");
    _cleanup_free_ char *cas_dir = ens_path_join(state, "cas");
    _cleanup_free_ char *las_dir = ens_path_join(state, "las");
    if (ens_mkdir_p(logs, 0755, err) < 0 || ens_mkdir_p(cas_dir, 0700, err) < 0 || ens_mkdir_p(las_dir, 0700, err) < 0)
        return -1;
    _cleanup_free_ char *cas_bin = up_sibling("ensconce-cas");
    _cleanup_free_ char *las_bin = up_sibling("ensconce-las");
    bool cas_ours = read_pid(state, "cas") != 0;
    if (!cas_ours && up_wait_port(8081, 0)) {
        ens_log(ENS_LOG_INFO, "a CAS is listening on 127.0.0.1:8081 already: using it");
    } else if (!cas_ours) {
        ens_step("starting a local CAS (state in %s)", cas_dir);
        EVP_PKEY *key = NULL;
        X509 *cert = NULL;
        char admin[65];
        if (ens_casc_identity(&key, &cert, admin, err) < 0)
            return -1;
        EVP_PKEY_free(key);
        X509_free(cert);
        _cleanup_free_ char *log = ens_path_join(logs, "cas.log");
        char *argv[] = {cas_bin, "serve", "--data", cas_dir, "--admin", admin, NULL};
        pid_t pid;
        if (up_spawn_bg(argv, log, &pid, err) < 0 || write_pid(state, "cas", pid, err) < 0)
            return -1;
        if (!up_wait_port(8081, 15000) || !up_wait_port(18765, 5000))
            return ens_error(err, ETIMEDOUT, "the local CAS did not start; see %s", log);
    }
    /* attest and pin the CAS (again: its key may have changed with a new state dir) */
    char *mv[] = {cas_bin, "measurement", NULL};
    _cleanup_free_ char *measurement = capture(mv, true);
    if (measurement == NULL)
        return ens_error(err, EIO, "cannot read the CAS measurement from %s", cas_bin);
    char *attest[] = {"attest", "127.0.0.1:8081", "--measurement", measurement, NULL};
    optind = 1;
    if (ens_cmd_cas_attest(4, attest) != 0)
        return ens_error(err, EPERM, "attesting the local CAS failed");

    if (read_pid(state, "las") == 0 && !up_wait_port(18766, 0)) {
        ens_step("starting a local LAS");
        _cleanup_free_ char *log = ens_path_join(logs, "las.log");
        char *argv[] = {las_bin, "--listen", "127.0.0.1:18766", "--state-dir", las_dir, NULL};
        pid_t pid;
        if (up_spawn_bg(argv, log, &pid, err) < 0 || write_pid(state, "las", pid, err) < 0)
            return -1;
        if (!up_wait_port(18766, 10000))
            return ens_error(err, ETIMEDOUT, "the local LAS did not start; see %s", log);
        /* register this node's key with the CAS */
        char *cv[] = {las_bin, "--print-cert", "--state-dir", las_dir, NULL};
        _cleanup_free_ char *crt_path = ens_path_join(las_dir, "node-cert.pem");
        _cleanup_free_ char *pem = capture(cv, false);
        if (pem == NULL || ens_write_file_atomic(crt_path, pem, strlen(pem), 0644, err) < 0)
            return pem ? -1 : ens_error(err, EIO, "cannot read the LAS node certificate");
        char *add[] = {"platform", "add", "--cas", "127.0.0.1:8081", "--cert", crt_path, NULL};
        optind = 1;
        if (ens_cmd_cas_platform(6, add) != 0)
            return ens_error(err, EPERM, "registering the LAS with the CAS failed");
    }
    return 0;
}

static void stop_pid(const char *state, const char *name)
{
    pid_t pid = read_pid(state, name);
    if (pid == 0)
        return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 50 && kill(pid, 0) == 0; i++) {
        waitpid(pid, NULL, WNOHANG);
        usleep(100 * 1000);
    }
    if (kill(pid, 0) == 0)
        kill(pid, SIGKILL);
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s.pid", state, name) >= 0)
        unlink(path);
}

int up_infra_stop(const char *state, ens_error_t *err)
{
    (void)err;
    stop_pid(state, "las");
    stop_pid(state, "cas");
    return 0;
}
