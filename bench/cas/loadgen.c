/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ens-cas-load: a C load client for the CAS benchmark (bench/cas/run.sh).
 *
 *   ens-cas-load attest   --cas A --pin HEX --las L --config-id S/SVC --measurement M --clients N --seconds T
 *       full attestation round trips (fresh key, new TLS connection, nonce, LAS evidence,
 *       configuration) back to back in N threads.
 *   ens-cas-load handshake --cas A --pin HEX --clients N --seconds T
 *       the floor under an attestation: a fresh key and certificate, a new mutual-TLS connection
 *       and GET /healthz, back to back in N threads (what OpenSSL alone costs).
 *   ens-cas-load sessions --cas A --pin HEX --identity DIR --clients N --seconds T
 *       session create then update (predecessor from the reply) on a keep-alive connection
 *       per thread.
 * Prints one line: kind clients ops ops_per_s p50_ms p99_ms errors.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "attest/attest.h"
#include "core/cleanup.h"
#include "crypto/digest.h"
#include "net/net.h"

static const char *cas, *las, *cid, *meas, *idir;
static uint8_t pin[32];
static double seconds = 5;
static atomic_int stop;
static EVP_PKEY *id_key;
static X509 *id_cert;

struct worker {
    pthread_t t;
    int idx;
    double *lat; /* ms */
    size_t n, cap;
    unsigned long errors, creates, updates;
    char last_error[256];
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void record(struct worker *w, double ms)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4096;
        w->lat = realloc(w->lat, w->cap * sizeof(double));
    }
    w->lat[w->n++] = ms;
}

static void *attest_loop(void *arg)
{
    struct worker *w = arg;
    struct ens_attest_client_opts o = {.cas_addr = cas, .cas_pin = pin, .config_id = cid, .measurement = meas,
                                       .las_addr = las};
    while (!atomic_load(&stop)) {
        double t0 = now_ms();
        ens_error_t err = NULL;
        ens_attest_session *s = NULL;
        json_t *cfg = NULL;
        if (ens_attest_run(&o, &s, &cfg, &err) < 0) {
            w->errors++;
            snprintf(w->last_error, sizeof(w->last_error), "%s", ens_error_msg(err));
            ens_error_release(&err);
            continue;
        }
        record(w, now_ms() - t0);
        json_decref(cfg);
        ens_attest_session_free(s);
    }
    return NULL;
}

static void *handshake_loop(void *arg)
{
    struct worker *w = arg;
    while (!atomic_load(&stop)) {
        double t0 = now_ms();
        ens_error_t err = NULL;
        EVP_PKEY *key = NULL;
        X509 *cert = NULL;
        ens_http_conn *c = NULL;
        struct ens_http_response r = {0};
        struct ens_http_client_opts o = {.addr = cas, .pin = pin};
        if (ens_tls_keygen(&key, &err) < 0 || ens_tls_selfsigned(key, "ensconce-run", 2, NULL, &cert, &err) < 0 ||
            (o.client_key = key, o.client_cert = cert, ens_http_connect(&o, &c, &err) < 0) ||
            ens_http_request(c, "GET", "/healthz", NULL, NULL, 0, &r, &err) < 0 ||
            (r.status != 200 && ens_error(&err, EPROTO, "GET /healthz: status %d", r.status) < 0)) {
            w->errors++;
            snprintf(w->last_error, sizeof(w->last_error), "%s", ens_error_msg(err));
            ens_error_release(&err);
        } else {
            record(w, now_ms() - t0);
        }
        ens_http_response_clear(&r);
        ens_http_close(c);
        X509_free(cert);
        EVP_PKEY_free(key);
    }
    return NULL;
}

static int post_session(ens_http_conn *c, const char *yaml, char hash[65], ens_error_t *err)
{
    struct ens_http_response r;
    if (ens_http_request(c, "POST", "/session", "application/x-yaml", yaml, strlen(yaml), &r, err) < 0)
        return -1;
    int rc = 0;
    json_error_t je;
    json_t *d = r.body ? json_loads(r.body, 0, &je) : NULL;
    const char *h = json_string_value(json_object_get(d, "hash"));
    if ((r.status != 200 && r.status != 201) || h == NULL)
        rc = ens_error(err, EPROTO, "status %d: %s", r.status, r.body ? r.body : "");
    else
        snprintf(hash, 65, "%s", h);
    json_decref(d);
    ens_http_response_clear(&r);
    return rc;
}

static void *session_loop(void *arg)
{
    struct worker *w = arg;
    struct ens_http_client_opts o = {.addr = cas, .client_key = id_key, .client_cert = id_cert, .pin = pin};
    ens_http_conn *c = NULL;
    unsigned long i = 0;
    uint8_t rnd[6];
    char tag[13];
    ens_random(rnd, sizeof(rnd), NULL);
    ens_hex_encode(rnd, sizeof(rnd), tag);
    while (!atomic_load(&stop)) {
        ens_error_t err = NULL;
        if (c == NULL && ens_http_connect(&o, &c, &err) < 0) {
            w->errors++;
            snprintf(w->last_error, sizeof(w->last_error), "%s", ens_error_msg(err));
            ens_error_release(&err);
            continue;
        }
        char yaml[1024], hash[65];
        snprintf(yaml, sizeof(yaml),
                 "name: bench-%s-%d-%lu\nversion: \"0.3\"\nservices:\n  - {name: svc, mrenclaves: [%064d], "
                 "command: ./x}\nsecrets:\n  - {name: pw, kind: ascii}\n",
                 tag, w->idx, i, 0);
        double t0 = now_ms();
        if (post_session(c, yaml, hash, &err) < 0)
            goto failed;
        record(w, now_ms() - t0);
        w->creates++;
        snprintf(yaml, sizeof(yaml),
                 "name: bench-%s-%d-%lu\nversion: \"0.3\"\npredecessor: \"%s\"\nservices:\n  - {name: svc, "
                 "mrenclaves: [%064d], command: ./y}\nsecrets:\n  - {name: pw, kind: ascii}\n",
                 tag, w->idx, i, hash, 0);
        t0 = now_ms();
        if (post_session(c, yaml, hash, &err) < 0)
            goto failed;
        record(w, now_ms() - t0);
        w->updates++;
        i++;
        continue;
    failed:
        w->errors++;
        snprintf(w->last_error, sizeof(w->last_error), "%s", ens_error_msg(err));
        ens_error_release(&err);
        ens_http_close(c);
        c = NULL;
    }
    ens_http_close(c);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: ens-cas-load attest|sessions OPTIONS (see loadgen.c)\n");
        return 2;
    }
    const char *kind = argv[1];
    int clients = 1;
    const char *pin_hex = NULL;
    static const struct option opts[] = {
        {"cas", required_argument, NULL, 'c'}, {"pin", required_argument, NULL, 'p'},
        {"las", required_argument, NULL, 'l'}, {"config-id", required_argument, NULL, 'i'},
        {"measurement", required_argument, NULL, 'm'}, {"clients", required_argument, NULL, 'n'},
        {"seconds", required_argument, NULL, 's'}, {"identity", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0}};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cas = optarg; break;
        case 'p': pin_hex = optarg; break;
        case 'l': las = optarg; break;
        case 'i': cid = optarg; break;
        case 'm': meas = optarg; break;
        case 'n': clients = atoi(optarg); break;
        case 's': seconds = atof(optarg); break;
        case 'd': idir = optarg; break;
        default: return 2;
        }
    }
    _cleanup_error_ ens_error_t err = NULL;
    bool att = strcmp(kind, "attest") == 0, hs = strcmp(kind, "handshake") == 0;
    bool ses = strcmp(kind, "sessions") == 0;
    if (!cas || !pin_hex || ens_hex_decode(pin_hex, pin, 32, &err) < 0 || clients < 1 || clients > 512
        || (att && (!las || !cid || !meas)) || (ses && !idir) || !(att || hs || ses)) {
        fprintf(stderr, "ens-cas-load: bad arguments (see loadgen.c)\n");
        return 2;
    }
    if (ses && ens_tls_load_or_create(idir, "identity", "bench", NULL, &id_key, &id_cert, &err) < 0)
        return ens_error_report(&err, "ens-cas-load");
    struct worker *w = calloc((size_t)clients, sizeof(*w));
    double t0 = now_ms();
    for (int i = 0; i < clients; i++) {
        w[i].idx = i;
        pthread_create(&w[i].t, NULL, att ? attest_loop : hs ? handshake_loop : session_loop, &w[i]);
    }
    struct timespec d = {.tv_sec = (time_t)seconds, .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&d, NULL);
    atomic_store(&stop, 1);
    size_t total = 0;
    unsigned long errors = 0, creates = 0, updates = 0;
    const char *last = NULL;
    for (int i = 0; i < clients; i++) {
        pthread_join(w[i].t, NULL);
        total += w[i].n;
        errors += w[i].errors;
        creates += w[i].creates;
        updates += w[i].updates;
        if (w[i].errors)
            last = w[i].last_error;
    }
    double elapsed = (now_ms() - t0) / 1e3;
    double *all = malloc((total ? total : 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(all + k, w[i].lat, w[i].n * sizeof(double));
        k += w[i].n;
        free(w[i].lat);
    }
    qsort(all, total, sizeof(double), cmp);
    double p50 = total ? all[total / 2] : 0, p99 = total ? all[(size_t)((double)(total - 1) * 0.99)] : 0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3
                    + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    printf("%s clients=%d ops=%zu ops_per_s=%.0f p50_ms=%.2f p99_ms=%.2f errors=%lu client_cpu_ms_per_op=%.3f", kind,
           clients, total, (double)total / elapsed, p50, p99, errors, total ? cpu_ms / (double)total : 0.0);
    if (ses)
        printf(" creates=%lu updates=%lu", creates, updates);
    printf("\n");
    if (last)
        fprintf(stderr, "ens-cas-load: last error: %s\n", last);
    free(all);
    free(w);
    return total > 0 ? 0 : 1;
}
