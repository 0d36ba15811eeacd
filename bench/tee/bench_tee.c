/* SPDX-License-Identifier: Apache-2.0 */
/* Verifications per second for each evidence format, collateral loaded once and
 * cached (signature checks of TCB Info / QE Identity and verified chains are
 * reused; the quote's own QE-report and ISV signatures, or the SNP report
 * signature, are checked every time).  Single thread unless -t N.
 * Usage: bench_tee VECTORS_DIR [SECONDS] [THREADS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fsutil.h"
#include "tee/tee.h"

struct fmt {
    const char *name, *evidence, *coll[4];
    const char *at;
    bool trailing;
    uint8_t *ev;
    size_t len;
    struct ens_tee_collateral *c;
    time_t t;
};

static struct fmt fmts[] = {
    {"sgx-v3 (dcap-qvl)", "dcap-qvl/sgx_quote", {"dcap-qvl/sgx_quote_collateral.json", "roots/intel_sgx_root_ca.der"}, "2025-07-01T00:00:00Z", false, NULL, 0, NULL, 0},
    {"tdx-v4 (dcap-qvl)", "dcap-qvl/tdx_quote", {"dcap-qvl/tdx_quote_collateral.json", "roots/intel_sgx_root_ca.der"}, "2025-07-01T00:00:00Z", false, NULL, 0, NULL, 0},
    {"snp-v2 (trustee)", "trustee-snp/test-report.bin", {"trustee-snp/test-vcek.der", "roots/amd_ask_milan.pem", "roots/amd_ark_milan.pem"}, "2024-01-01T00:00:00Z", false, NULL, 0, NULL, 0},
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct job {
    struct fmt *f;
    double seconds;
    unsigned long n;
    double cpu; /* CPU seconds this thread used */
    int failed;
};

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
    struct job *j = arg;
    double end = now() + j->seconds, c0 = thread_cpu();
    while (now() < end) {
        for (int i = 0; i < 50; i++) {
            json_t *claims = NULL;
            ens_error_t err = NULL;
            struct ens_tee_input in = {.evidence = j->f->ev, .len = j->f->len, .allow_trailing_data = j->f->trailing};
            if (ens_tee_verify_ex(&in, j->f->c, j->f->t, &claims, &err) < 0) {
                fprintf(stderr, "bench_tee: %s: %s\n", j->f->name, ens_error_msg(err));
                ens_error_release(&err);
                j->failed = 1;
                return NULL;
            }
            json_decref(claims);
            j->n++;
        }
    }
    j->cpu = thread_cpu() - c0;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_tee VECTORS_DIR [SECONDS] [THREADS]\n");
        return 2;
    }
    double secs = argc > 2 ? atof(argv[2]) : 3.0;
    int threads = argc > 3 ? atoi(argv[3]) : 1;
    if (threads < 1 || threads > 64 || secs <= 0)
        return 2;
    int rc = 0;
    for (size_t k = 0; k < sizeof(fmts) / sizeof(fmts[0]); k++) {
        struct fmt *f = &fmts[k];
        char p[8192];
        ens_error_t err = NULL;
        char *buf;
        snprintf(p, sizeof(p), "%s/%s", argv[1], f->evidence);
        if (ens_read_file(p, ENS_TEE_EVIDENCE_MAX, &buf, &f->len, &err) < 0) {
            fprintf(stderr, "bench_tee: %s\n", ens_error_msg(err));
            return 1;
        }
        f->ev = (uint8_t *)buf;
        f->c = ens_tee_collateral_new();
        for (int i = 0; i < 4 && f->coll[i]; i++) {
            snprintf(p, sizeof(p), "%s/%s", argv[1], f->coll[i]);
            if (ens_tee_collateral_add_file(f->c, p, &err) < 0) {
                fprintf(stderr, "bench_tee: %s\n", ens_error_msg(err));
                return 1;
            }
        }
        struct tm tm = {0};
        strptime(f->at, "%Y-%m-%dT%H:%M:%SZ", &tm);
        f->t = timegm(&tm);
        /* One uncached verification (loads the caches), timed on its own. */
        double t0 = now();
        json_t *claims = NULL;
        struct ens_tee_input in = {.evidence = f->ev, .len = f->len};
        if (ens_tee_verify_ex(&in, f->c, f->t, &claims, &err) < 0) {
            fprintf(stderr, "bench_tee: %s: %s\n", f->name, ens_error_msg(err));
            return 1;
        }
        double first = now() - t0;
        json_decref(claims);
        struct job jobs[64];
        pthread_t th[64];
        double start = now();
        for (int i = 0; i < threads; i++) {
            jobs[i] = (struct job){.f = f, .seconds = secs};
            pthread_create(&th[i], NULL, worker, &jobs[i]);
        }
        unsigned long total = 0;
        double cpu = 0;
        for (int i = 0; i < threads; i++) {
            pthread_join(th[i], NULL);
            total += jobs[i].n;
            cpu += jobs[i].cpu;
            rc |= jobs[i].failed;
        }
        double el = now() - start, rate = (double)total / el;
        /* Per core = per CPU-second actually used (the figure openssl speed reports too):
         * independent of other load on the machine. */
        printf("%-20s threads=%d  %8.0f verifications/s wall  %8.0f /s per core (CPU time)  first (uncached) %.2f ms\n",
               f->name, threads, rate, cpu > 0 ? (double)total / cpu : 0.0, first * 1e3);
        ens_tee_collateral_free(f->c);
        free(f->ev);
    }
    return rc;
}
