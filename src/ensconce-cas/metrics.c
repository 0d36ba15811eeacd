/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus text exposition of the CAS's counters and its attestation latency histogram. */
#include <stdio.h>
#include <stdlib.h>

#include "cas.h"

const double cas_lat_bounds[12] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 5};

void cas_metrics_observe(struct cas_metrics *m, uint64_t usec)
{
    double s = (double)usec / 1e6;
    for (int i = 0; i < 12; i++)
        if (s <= cas_lat_bounds[i]) {
            atomic_fetch_add(&m->lat_buckets[i], 1);
            break;
        }
    atomic_fetch_add(&m->lat_count, 1);
    atomic_fetch_add(&m->lat_sum_us, usec);
}

char *cas_metrics_render(struct cas_metrics *m, int64_t sessions)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return NULL;
    fprintf(f, "# HELP ensconce_cas_sessions Sessions stored.\n# TYPE ensconce_cas_sessions gauge\n"
               "ensconce_cas_sessions %lld\n",
            (long long)sessions);
    fprintf(f, "# HELP ensconce_cas_attestations_total Attestation decisions by result.\n"
               "# TYPE ensconce_cas_attestations_total counter\n"
               "ensconce_cas_attestations_total{result=\"ok\"} %llu\n"
               "ensconce_cas_attestations_total{result=\"refused\"} %llu\n"
               "ensconce_cas_attestations_total{result=\"error\"} %llu\n",
            atomic_load(&m->attest_ok), atomic_load(&m->attest_refused), atomic_load(&m->attest_error));
    fprintf(f, "# HELP ensconce_cas_session_writes_total Session create/update requests by result.\n"
               "# TYPE ensconce_cas_session_writes_total counter\n"
               "ensconce_cas_session_writes_total{result=\"ok\"} %llu\n"
               "ensconce_cas_session_writes_total{result=\"refused\"} %llu\n"
               "ensconce_cas_session_writes_total{result=\"conflict\"} %llu\n",
            atomic_load(&m->session_writes_ok), atomic_load(&m->session_writes_refused),
            atomic_load(&m->session_conflicts));
    fprintf(f, "# HELP ensconce_cas_requests_total HTTP requests handled.\n# TYPE ensconce_cas_requests_total counter\n"
               "ensconce_cas_requests_total %llu\n"
               "# HELP ensconce_cas_nonces_total Nonces issued.\n# TYPE ensconce_cas_nonces_total counter\n"
               "ensconce_cas_nonces_total %llu\n",
            atomic_load(&m->requests), atomic_load(&m->nonces));
    fprintf(f, "# HELP ensconce_cas_attestation_duration_seconds Time to decide an attestation request.\n"
               "# TYPE ensconce_cas_attestation_duration_seconds histogram\n");
    unsigned long long cum = 0;
    for (int i = 0; i < 12; i++) {
        cum += atomic_load(&m->lat_buckets[i]);
        fprintf(f, "ensconce_cas_attestation_duration_seconds_bucket{le=\"%g\"} %llu\n", cas_lat_bounds[i], cum);
    }
    unsigned long long count = atomic_load(&m->lat_count);
    fprintf(f, "ensconce_cas_attestation_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
               "ensconce_cas_attestation_duration_seconds_sum %.6f\n"
               "ensconce_cas_attestation_duration_seconds_count %llu\n",
            count, (double)atomic_load(&m->lat_sum_us) / 1e6, count);
    fclose(f);
    return buf;
}
