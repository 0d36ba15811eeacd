/* SPDX-License-Identifier: Apache-2.0 */
#include "boutique.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/cleanup.h"
#include "crypto/digest.h"

static const char *log_service = "boutique";

void blog_init(const char *service)
{
    log_service = service;
    /* Line-buffered so logs interleave sanely with other processes. */
    setvbuf(stdout, NULL, _IOLBF, 0);
}

void blog(const char *severity, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[64];
    size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof stamp - n, ".%09ldZ", ts.tv_nsec);

    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "message", msg, "severity", severity, "timestamp", stamp,
                          "service", log_service);
    if (!o)
        return;
    char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!line)
        return;
    flockfile(stdout);
    fputs(line, stdout);
    fputc('\n', stdout);
    funlockfile(stdout);
    free(line);
}

int boutique_listen_addr(const char *default_port, char *out, size_t outlen, ens_error_t *err)
{
    const char *port = getenv("PORT");
    if (!port || !*port)
        port = default_port;
    char *end;
    errno = 0;
    long p = strtol(port, &end, 10);
    if (errno || *end || end == port || p < 1 || p > 65535)
        return ens_error(err, EINVAL, "PORT '%s' is not a port number (1-65535)", port);
    const char *host = getenv("LISTEN_ADDR");
    if (!host || !*host)
        host = "0.0.0.0";
    if (strchr(host, ':') && host[0] != '[')
        snprintf(out, outlen, "[%s]:%ld", host, p);
    else
        snprintf(out, outlen, "%s:%ld", host, p);
    return 0;
}

int boutique_uuid(char out[37], ens_error_t *err)
{
    uint8_t b[16];
    if (ens_random(b, sizeof b, err) < 0)
        return -1;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
             b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return 0;
}

uint32_t boutique_rand_below(uint32_t n)
{
    if (n <= 1)
        return 0;
    /* Rejection sampling keeps the choice uniform. */
    uint32_t limit = UINT32_MAX - UINT32_MAX % n;
    for (;;) {
        uint32_t r;
        if (ens_random(&r, sizeof r, NULL) < 0)
            r = (uint32_t)random();
        if (r < limit)
            return r % n;
    }
}

bool money_valid(const Hipstershop__Money *m)
{
    if (!m)
        return false;
    if (m->nanos > 999999999 || m->nanos < -999999999)
        return false;
    if ((m->units > 0 && m->nanos < 0) || (m->units < 0 && m->nanos > 0))
        return false;
    return true;
}

#define NANOS_MOD 1000000000LL

int money_sum(const Hipstershop__Money *a, const Hipstershop__Money *b, Hipstershop__Money *out, ens_error_t *err)
{
    if (!money_valid(a) || !money_valid(b))
        return ens_error(err, EINVAL, "one of the specified money values is invalid");
    const char *ca = a->currency_code ? a->currency_code : "";
    const char *cb = b->currency_code ? b->currency_code : "";
    if (strcmp(ca, cb) != 0)
        return ens_error(err, EINVAL, "mismatching currency codes '%s' and '%s'", ca, cb);
    if ((a->units > 0 && b->units > INT64_MAX - a->units - 1) || (a->units < 0 && b->units < INT64_MIN - a->units + 1))
        return ens_error(err, ERANGE, "money sum overflows");
    int64_t units = a->units + b->units;
    int64_t nanos = (int64_t)a->nanos + b->nanos;
    if ((units == 0 || nanos == 0) || (units > 0) == (nanos > 0)) {
        /* same sign (or zero): carry */
        units += nanos / NANOS_MOD;
        nanos = nanos % NANOS_MOD;
    } else if (units > 0) { /* units positive, nanos negative: borrow */
        units--;
        nanos += NANOS_MOD;
    } else { /* units negative, nanos positive */
        units++;
        nanos -= NANOS_MOD;
    }
    out->currency_code = (char *)ca;
    out->units = units;
    out->nanos = (int32_t)nanos;
    return 0;
}

int money_multiply(const Hipstershop__Money *m, uint32_t n, Hipstershop__Money *out, ens_error_t *err)
{
    if (!money_valid(m))
        return ens_error(err, EINVAL, "money value is invalid");
    /* nanos × n fits easily in 128 bits; carry once. */
    __int128 total = ((__int128)m->units * NANOS_MOD + m->nanos) * n;
    __int128 units = total / NANOS_MOD;
    if (units > INT64_MAX || units < INT64_MIN)
        return ens_error(err, ERANGE, "money product overflows");
    out->currency_code = m->currency_code;
    out->units = (int64_t)units;
    out->nanos = (int32_t)(total % NANOS_MOD);
    return 0;
}

int boutique_serve(const char *log_name, const char *service_name, const char *default_port,
                   const struct boutique_method *methods, void *ctx, int workers)
{
    _cleanup_error_ ens_error_t err = NULL;
    char addr[300];
    if (boutique_listen_addr(default_port, addr, sizeof addr, &err) < 0) {
        blog_error("%s: %s", log_name, ens_error_msg(err));
        return 1;
    }
    rpc_server *s = rpc_server_new(service_name, &err);
    if (!s) {
        blog_error("%s", ens_error_msg(err));
        return 1;
    }
    for (const struct boutique_method *m = methods; m->path; m++) {
        if (rpc_server_add_method(s, m->path, m->req, m->fn, ctx, &err) < 0) {
            blog_error("%s", ens_error_msg(err));
            rpc_server_free(s);
            return 1;
        }
    }
    /* BOUTIQUE_WORKERS overrides the service's default worker count (tuning) */
    const char *w = getenv("BOUTIQUE_WORKERS");
    if (w && *w) {
        char *end;
        long v = strtol(w, &end, 10);
        if (*end || v < 1 || v > 256) {
            blog_error("BOUTIQUE_WORKERS '%s' is not a number in 1..256", w);
            rpc_server_free(s);
            return 1;
        }
        workers = (int)v;
    }
    int port = 0;
    if (rpc_server_start(s, addr, workers, &port, &err) < 0) {
        blog_error("%s", ens_error_msg(err));
        rpc_server_free(s);
        return 1;
    }
    blog_info("%s listening on %s", log_name, addr);
    rpc_server_stop_on_signals(s);
    rpc_server_wait(s);
    blog_info("%s stopped", log_name);
    rpc_server_free(s);
    return 0;
}
