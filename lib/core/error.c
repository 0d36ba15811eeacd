/* SPDX-License-Identifier: Apache-2.0 */
#include "core/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static char *vformat(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        return NULL;
    return s;
}

static int set_error(ens_error_t *err, int status, char *msg)
{
    if (err == NULL || *err != NULL) {
        free(msg);
        return -1;
    }
    struct ens_error_s *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        free(msg);
        return -1;
    }
    e->status = status;
    e->msg = msg ? msg : strdup("out of memory");
    *err = e;
    return -1;
}

int ens_error(ens_error_t *err, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(fmt, ap);
    va_end(ap);
    return set_error(err, status, msg);
}

int ens_error_errno(ens_error_t *err, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(fmt, ap);
    va_end(ap);
    char *full = NULL;
    if (msg && asprintf(&full, "%s: %s", msg, strerror(saved)) < 0)
        full = NULL;
    free(msg);
    return set_error(err, saved, full);
}

int ens_error_wrap(ens_error_t *err, const char *fmt, ...)
{
    if (err == NULL || *err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *ctx = vformat(fmt, ap);
    va_end(ap);
    char *full = NULL;
    if (ctx && asprintf(&full, "%s: %s", ctx, (*err)->msg) >= 0) {
        free((*err)->msg);
        (*err)->msg = full;
    }
    free(ctx);
    return -1;
}

const char *ens_error_msg(const ens_error_t err)
{
    return err && err->msg ? err->msg : "unknown error";
}

int ens_error_status(const ens_error_t err)
{
    return err ? err->status : 0;
}

void ens_error_release(ens_error_t *err)
{
    if (err == NULL || *err == NULL)
        return;
    free((*err)->msg);
    free(*err);
    *err = NULL;
}

int ens_error_report(ens_error_t *err, const char *prog)
{
    fprintf(stderr, "%s: %s\n", prog, ens_error_msg(err ? *err : NULL));
    ens_error_release(err);
    return 1;
}
