/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one error convention of ensconce (modelled on crun's libcrun_error_t):
 * fallible functions return an int (>= 0 success, < 0 failure) and take a
 * trailing `ens_error_t *err`.  On failure they fill *err with an errno-like
 * status and a message that names the problem; callers either handle and
 * release it, or add context with ens_error_wrap() and pass it up.
 * Messages must never contain secret material.
 */
#ifndef ENSCONCE_CORE_ERROR_H
#define ENSCONCE_CORE_ERROR_H

#include <stdio.h>

typedef struct ens_error_s {
    int status; /* errno value, or 0 when not from a system call */
    char *msg;
} *ens_error_t;

/* Sets *err (if err is not NULL and *err is empty) and returns -1. */
int ens_error(ens_error_t *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like ens_error() with status = errno and ": strerror(errno)" appended. */
int ens_error_errno(ens_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefixes context to an existing error ("context: old message"); returns -1. */
int ens_error_wrap(ens_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

const char *ens_error_msg(const ens_error_t err);
int ens_error_status(const ens_error_t err);
void ens_error_release(ens_error_t *err);

/* Prints "PROG: message" to stderr, releases the error, returns 1 (an exit code). */
int ens_error_report(ens_error_t *err, const char *prog);

#endif
