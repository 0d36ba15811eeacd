/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the boutique back ends: JSON logs, environment, ids,
 * Money arithmetic, the service main loop. */
#ifndef BOUTIQUE_COMMON_H
#define BOUTIQUE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "hipstershop.pb-c.h"
#include "rpc.h"

/* One JSON object per line on stdout: {"message","severity","timestamp"}
 * (RFC 3339 UTC with nanoseconds), plus "service".  Thread-safe. */
void blog_init(const char *service);
void blog(const char *severity, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define blog_info(...) blog("info", __VA_ARGS__)
#define blog_warn(...) blog("warning", __VA_ARGS__)
#define blog_error(...) blog("error", __VA_ARGS__)

/* The listen address: "<LISTEN_ADDR or 0.0.0.0>:<PORT or default_port>".
 * Fails on a PORT that is not a number in 1..65535. */
int boutique_listen_addr(const char *default_port, char *out, size_t outlen, ens_error_t *err);

/* A random UUID v4 in its 36-character text form (out holds 37 bytes). */
int boutique_uuid(char out[37], ens_error_t *err);
/* A uniform random integer in [0, n) from a CSPRNG (n > 0). */
uint32_t boutique_rand_below(uint32_t n);

/* Money: valid = nanos in ±999,999,999 and same sign as units unless one is 0. */
bool money_valid(const Hipstershop__Money *m);
/* a + b (same currency code, both valid) into out (currency_code borrowed from a).
 * Returns <0 with a message on invalid values or mismatching codes. */
int money_sum(const Hipstershop__Money *a, const Hipstershop__Money *b, Hipstershop__Money *out, ens_error_t *err);
/* m × n (n ≥ 0) by repeated addition semantics (exact integer arithmetic). */
int money_multiply(const Hipstershop__Money *m, uint32_t n, Hipstershop__Money *out, ens_error_t *err);

/* The common main: sets up logging, registers `methods` (NULL-terminated by
 * path == NULL) on a server named `service_name`, listens on the PORT env
 * (default `default_port`) and serves until SIGTERM.  Returns the exit status. */
struct boutique_method {
    const char *path;
    const ProtobufCMessageDescriptor *req;
    rpc_handler_fn fn;
};
int boutique_serve(const char *log_name, const char *service_name, const char *default_port,
                   const struct boutique_method *methods, void *ctx, int workers);

#endif
