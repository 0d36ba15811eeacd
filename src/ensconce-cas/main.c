/* SPDX-License-Identifier: Apache-2.0 */
/* ensconce-cas: the Configuration and Attestation Service (docs/cas.md). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cas.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "crypto/digest.h"
#include "net/net.h"

static const char *PROG = "ensconce-cas";

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: ensconce-cas [serve] [OPTIONS]\n"
            "       ensconce-cas backup  --data DIR FILE\n"
            "       ensconce-cas restore --data DIR FILE\n"
            "       ensconce-cas measurement\n"
            "       ensconce-cas identity --data DIR\n\n"
            "The Configuration and Attestation Service.\n\n"
            "Options (serve):\n"
            "  --data DIR           state: cas.db, master.key, tls.key/tls.crt (default /var/lib/ensconce-cas)\n"
            "  --master-key FILE    32-byte master key file, mode 0600 (default DIR/master.key; created)\n"
            "  --listen ADDR        client API, mutual TLS (default 127.0.0.1:8081)\n"
            "  --attest-listen ADDR attestation API (default 127.0.0.1:18765)\n"
            "  --admin KEYHASH      a client key hash allowed to register platforms and read the audit\n"
            "                       log (repeatable; also read from DIR/admins, one per line)\n"
            "  --san LIST           subjectAltNames of a new TLS certificate\n"
            "                       (default DNS:localhost,DNS:cas,IP:127.0.0.1,IP:::1)\n"
            "  --threads N          event-loop threads per API (default 2)\n"
            "  --timeout S          drop clients idle for S seconds mid-request (default 10)\n"
            "  --collateral DIR     hardware attestation collateral (default DIR/collateral; see\n"
            "                       `ensconce cas collateral add`), loaded at start\n"
            "  -h, --help           this help\n\n"
            "`measurement` prints the CAS's measurement (SHA-256 of this executable): the value for\n"
            "`ensconce cas attest ADDR --measurement M`.  `identity` prints the TLS key id.\n");
}

static int self_measurement(char out[65], ens_error_t *err)
{
    uint8_t h[32];
    if (ens_sha256_file("/proc/self/exe", h, err) < 0)
        return -1;
    ens_hex_encode(h, 32, out);
    return 0;
}

static int add_admin(struct cas *cas, const char *h, ens_error_t *err)
{
    if (strlen(h) != 64 || !ens_attest_hex_valid(h, 32))
        return ens_error(err, EINVAL, "admin key hash '%.80s': expected 64 lower-case hex digits", h);
    char **n = realloc(cas->admins, (cas->admin_count + 1) * sizeof(*n));
    if (n == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    cas->admins = n;
    cas->admins[cas->admin_count] = strdup(h);
    if (cas->admins[cas->admin_count] == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    cas->admin_count++;
    return 0;
}

static int read_admins(struct cas *cas, const char *dir, ens_error_t *err)
{
    _cleanup_free_ char *path = ens_path_join(dir, "admins");
    if (path == NULL || access(path, F_OK) != 0)
        return 0;
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    if (ens_read_file(path, 1 << 20, &buf, &len, err) < 0)
        return -1;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        while (*line == ' ' || *line == '\t')
            line++;
        if (*line == '\0' || *line == '#')
            continue;
        char *end = line + strlen(line);
        while (end > line && (end[-1] == ' ' || end[-1] == '\r' || end[-1] == '\t'))
            *--end = '\0';
        if (add_admin(cas, line, err) < 0)
            return ens_error_wrap(err, "%s", path);
    }
    return 0;
}

static int lock_data_dir(const char *dir, ens_error_t *err)
{
    _cleanup_free_ char *path = ens_path_join(dir, "cas.lock");
    if (path == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return ens_error_errno(err, "%s", path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        return ens_error(err, EBUSY, "%s: another ensconce-cas uses this data directory", dir);
    }
    return fd;
}

/* Frees whatever serve() has set up so far (every path out of it is leak-free, so that
 * sanitizer builds see no leak on a refused start either). */
static void cas_release(struct cas *cas, int lockfd, SSL_CTX *a, SSL_CTX *b)
{
    SSL_CTX_free(a);
    SSL_CTX_free(b);
    cas_hw_free();
    if (cas->log_store)
        cas_store_close(cas->log_store);
    if (cas->store)
        cas_store_close(cas->store);
    ens_nonce_store_free(cas->nonces);
    EVP_PKEY_free(cas->key);
    X509_free(cas->cert);
    for (size_t i = 0; i < cas->admin_count; i++)
        free(cas->admins[i]);
    free(cas->admins);
    memset(cas, 0, sizeof(*cas));
    if (lockfd >= 0)
        close(lockfd);
}

static int serve(int argc, char **argv)
{
    const char *collateral = NULL;
    const char *data = "/var/lib/ensconce-cas", *master = NULL, *listen = "127.0.0.1:8081",
               *alisten = "127.0.0.1:18765", *san = "DNS:localhost,DNS:cas,IP:127.0.0.1,IP:::1";
    unsigned threads = 2;
    int timeout = 10;
    struct cas cas = {0};
    _cleanup_error_ ens_error_t err = NULL;
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'}, {"master-key", required_argument, NULL, 'm'},
        {"listen", required_argument, NULL, 'l'}, {"attest-listen", required_argument, NULL, 'a'},
        {"admin", required_argument, NULL, 'A'}, {"san", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 't'}, {"timeout", required_argument, NULL, 'T'},
        {"collateral", required_argument, NULL, 'C'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'C': collateral = optarg; break;
        case 'd': data = optarg; break;
        case 'm': master = optarg; break;
        case 'l': listen = optarg; break;
        case 'a': alisten = optarg; break;
        case 's': san = optarg; break;
        case 'A':
            if (add_admin(&cas, optarg, &err) < 0)
                return ens_error_report(&err, PROG);
            break;
        case 't':
            threads = (unsigned)atoi(optarg);
            if (threads < 1 || threads > 64) {
                fprintf(stderr, "%s: --threads: expected 1..64\n", PROG);
                return 2;
            }
            break;
        case 'T':
            timeout = atoi(optarg);
            if (timeout < 1 || timeout > 3600) {
                fprintf(stderr, "%s: --timeout: expected 1..3600 seconds\n", PROG);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", PROG, argv[optind]);
        return 2;
    }
    if (ens_mkdir_p(data, 0700, &err) < 0 || read_admins(&cas, data, &err) < 0) {
        cas_release(&cas, -1, NULL, NULL);
        return ens_error_report(&err, PROG);
    }
    int lockfd = lock_data_dir(data, &err);
    if (lockfd < 0) {
        cas_release(&cas, -1, NULL, NULL);
        return ens_error_report(&err, PROG);
    }
    _cleanup_free_ char *dbp = ens_path_join(data, "cas.db");
    _cleanup_free_ char *mkp = master ? strdup(master) : ens_path_join(data, "master.key");
    _cleanup_free_ char *colp = collateral ? strdup(collateral) : ens_path_join(data, "collateral");
    if (cas_hw_init(colp, &err) < 0 || self_measurement(cas.measurement, &err) < 0
        || ens_tls_load_or_create(data, "tls", "ensconce-cas", san, &cas.key, &cas.cert, &err) < 0
        || cas_store_open(dbp, mkp, &cas.store, &err) < 0 || cas_store_open(dbp, mkp, &cas.log_store, &err) < 0) {
        cas_release(&cas, lockfd, NULL, NULL);
        return ens_error_report(&err, PROG);
    }
    cas.nonces = ens_nonce_store_new(ENS_NONCE_TTL_S, 1 << 18);
    SSL_CTX *client_tls = ens_tls_server_ctx(cas.key, cas.cert, true, &err);
    SSL_CTX *attest_tls = client_tls ? ens_tls_server_ctx(cas.key, cas.cert, true, &err) : NULL;
    if (cas.nonces == NULL || attest_tls == NULL) {
        cas_release(&cas, lockfd, client_tls, attest_tls);
        return ens_error_report(&err, PROG);
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    ens_http_server *cs = NULL, *as = NULL;
    struct ens_http_config cc = {.listen = listen, .tls = client_tls, .max_body = ENS_POLICY_MAX_SIZE,
                                 .max_headers = 16384, .timeout_s = timeout, .threads = threads,
                                 .cb = cas_api_client, .arg = &cas};
    struct ens_http_config ac = {.listen = alisten, .tls = attest_tls, .max_body = 256 * 1024,
                                 .max_headers = 16384, .timeout_s = timeout, .threads = threads,
                                 .cb = cas_api_attest, .arg = &cas};
    if (cas_commit_start(&cas, &err) < 0) {
        cas_release(&cas, lockfd, client_tls, attest_tls);
        return ens_error_report(&err, PROG);
    }
    if (ens_http_server_start(&cc, &cs, &err) < 0 || ens_http_server_start(&ac, &as, &err) < 0) {
        if (cs)
            ens_http_server_stop(cs);
        cas_commit_stop(&cas);
        cas_commit_free(&cas);
        cas_release(&cas, lockfd, client_tls, attest_tls);
        return ens_error_report(&err, PROG);
    }
    SSL_CTX_free(client_tls);
    SSL_CTX_free(attest_tls);
    uint8_t id[32];
    char idhex[65] = "";
    if (ens_tls_key_id(cas.key, id, &err) == 0)
        ens_hex_encode(id, 32, idhex);
    fprintf(stderr, "%s: client API on %s, attestation API on %s, key %s, measurement %s\n", PROG, listen, alisten,
            idhex, cas.measurement);
    int sig = 0;
    sigwait(&set, &sig);
    cas_commit_stop(&cas);
    ens_http_server_stop(cs);
    ens_http_server_stop(as);
    cas_commit_free(&cas);
    cas_release(&cas, lockfd, NULL, NULL);
    return 0;
}

static int data_and_file(int argc, char **argv, const char **data, const char **master, const char **file)
{
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                         {"master-key", required_argument, NULL, 'm'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': *data = optarg; break;
        case 'm': *master = optarg; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return 2;
        }
    }
    if (file == NULL) {
        if (optind != argc) {
            fprintf(stderr, "%s: unexpected argument '%s'\n", PROG, argv[optind]);
            return 2;
        }
        return 0;
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "%s %s: expected exactly one FILE\n", PROG, argv[0]);
        return 2;
    }
    *file = argv[optind];
    return 0;
}

static int backup(int argc, char **argv)
{
    const char *data = "/var/lib/ensconce-cas", *master = NULL, *file = NULL;
    int u = data_and_file(argc, argv, &data, &master, &file);
    if (u)
        return u;
    _cleanup_error_ ens_error_t err = NULL;
    _cleanup_free_ char *dbp = ens_path_join(data, "cas.db");
    _cleanup_free_ char *mkp = master ? strdup(master) : ens_path_join(data, "master.key");
    if (access(dbp, F_OK) != 0) {
        fprintf(stderr, "%s backup: no store at %s\n", PROG, dbp);
        return 1;
    }
    cas_store *s = NULL;
    if (cas_store_open(dbp, mkp, &s, &err) < 0 || cas_store_backup(s, file, &err) < 0) {
        cas_store_close(s);
        return ens_error_report(&err, PROG);
    }
    cas_store_close(s);
    printf("backup of %s written to %s (secrets stay encrypted under %s: keep that key too)\n", dbp, file, mkp);
    return 0;
}

static int restore(int argc, char **argv)
{
    const char *data = "/var/lib/ensconce-cas", *master = NULL, *file = NULL;
    int u = data_and_file(argc, argv, &data, &master, &file);
    if (u)
        return u;
    _cleanup_error_ ens_error_t err = NULL;
    if (ens_mkdir_p(data, 0700, &err) < 0)
        return ens_error_report(&err, PROG);
    int lockfd = lock_data_dir(data, &err);
    if (lockfd < 0)
        return ens_error_report(&err, PROG);
    _cleanup_free_ char *dbp = ens_path_join(data, "cas.db");
    _cleanup_free_ char *mkp = master ? strdup(master) : ens_path_join(data, "master.key");
    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s.restore-%d", dbp, (int)getpid()) < 0)
        return 1;
    /* Check the backup before touching anything: integrity, format and master key. */
    sqlite3 *src = NULL;
    if (sqlite3_open_v2(file, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s restore: %s: %s\n", PROG, file, src ? sqlite3_errmsg(src) : "cannot open");
        sqlite3_close(src);
        close(lockfd);
        return 1;
    }
    sqlite3_stmt *st = NULL;
    bool ok = sqlite3_prepare_v2(src, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK
              && sqlite3_step(st) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    sqlite3_finalize(st);
    st = NULL;
    ok = ok && sqlite3_prepare_v2(src, "SELECT v FROM meta WHERE k='format'", -1, &st, NULL) == SQLITE_OK
         && sqlite3_step(st) == SQLITE_ROW
         && strcmp((const char *)sqlite3_column_text(st, 0), "ensconce-cas-1") == 0;
    sqlite3_finalize(st);
    if (!ok) {
        sqlite3_close(src);
        close(lockfd);
        fprintf(stderr, "%s restore: %s is not an intact ensconce-cas store\n", PROG, file);
        return 1;
    }
    unlink(tmp);
    sqlite3 *dst = NULL;
    int rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    sqlite3_backup *b = rc == SQLITE_OK ? sqlite3_backup_init(dst, "main", src, "main") : NULL;
    rc = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
    sqlite3_backup_finish(b);
    sqlite3_close(src);
    sqlite3_close(dst);
    chmod(tmp, 0600);
    if (rc != SQLITE_DONE) {
        unlink(tmp);
        close(lockfd);
        fprintf(stderr, "%s restore: copying %s failed\n", PROG, file);
        return 1;
    }
    /* The master key must open it (store_open checks the key canary). */
    cas_store *s = NULL;
    if (cas_store_open(tmp, mkp, &s, &err) < 0) {
        unlink(tmp);
        close(lockfd);
        return ens_error_report(&err, PROG);
    }
    cas_store_close(s);
    _cleanup_free_ char *wal = NULL, *shm = NULL, *twal = NULL, *tshm = NULL;
    if (asprintf(&wal, "%s-wal", dbp) < 0 || asprintf(&shm, "%s-shm", dbp) < 0 || asprintf(&twal, "%s-wal", tmp) < 0
        || asprintf(&tshm, "%s-shm", tmp) < 0)
        return 1;
    unlink(twal);
    unlink(tshm);
    unlink(wal);
    unlink(shm);
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    if (rename(tmp, dbp) < 0) {
        perror("ensconce-cas restore: rename");
        unlink(tmp);
        close(lockfd);
        return 1;
    }
    close(lockfd);
    printf("restored %s from %s\n", dbp, file);
    return 0;
}

int main(int argc, char **argv)
{
    ens_log_init(PROG);
    if (argc >= 2 && strcmp(argv[1], "backup") == 0)
        return backup(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "restore") == 0)
        return restore(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "measurement") == 0) {
        char m[65];
        _cleanup_error_ ens_error_t err = NULL;
        if (self_measurement(m, &err) < 0)
            return ens_error_report(&err, PROG);
        printf("%s\n", m);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "identity") == 0) {
        const char *data = "/var/lib/ensconce-cas", *master = NULL;
        int u = data_and_file(argc - 1, argv + 1, &data, &master, NULL);
        if (u)
            return u;
        _cleanup_error_ ens_error_t err = NULL;
        EVP_PKEY *k = NULL;
        X509 *c = NULL;
        uint8_t id[32];
        char hex[65];
        if (ens_tls_load_or_create(data, "tls", "ensconce-cas", "DNS:localhost,DNS:cas,IP:127.0.0.1,IP:::1", &k, &c,
                                   &err)
                < 0
            || ens_tls_key_id(k, id, &err) < 0)
            return ens_error_report(&err, PROG);
        ens_hex_encode(id, 32, hex);
        printf("%s\n", hex);
        EVP_PKEY_free(k);
        X509_free(c);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        return serve(argc - 1, argv + 1);
    return serve(argc, argv);
}
