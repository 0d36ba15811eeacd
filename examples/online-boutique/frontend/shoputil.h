/* SPDX-License-Identifier: Apache-2.0 */
/* Money arithmetic and display, form validation, cookies and ids for the frontend. */
#ifndef ENSCONCE_FRONTEND_SHOPUTIL_H
#define ENSCONCE_FRONTEND_SHOPUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "core/error.h"

#define FE_NANOS_PER_UNIT 1000000000

/* nanos within ±999,999,999 with the sign of units (unless one of them is 0). */
bool fe_money_valid(const fe_money *m);
/* a + b; fails on invalid values or different currency codes. */
int fe_money_sum(const fe_money *a, const fe_money *b, fe_money *out, ens_error_t *err);
/* m × n (same result as n repeated sums). */
int fe_money_multiply(const fe_money *m, uint32_t n, fe_money *out, ens_error_t *err);
/* Symbol + units + "." + two digits of nanos/1e7 (truncated), into buf. */
void fe_money_format(const fe_money *m, char *buf, size_t len);
const char *fe_currency_symbol(const char *code);

/* Validation rules of the checkout and cart forms (spec/boutique.md). */
bool fe_valid_email(const char *s);
/* Digits, groups separated by single spaces, 12-19 digits, Luhn. */
bool fe_valid_card_number(const char *s);
bool fe_luhn(const char *digits);
bool fe_valid_iso4217(const char *code);
/* Strict decimal parse of a signed 32-bit integer (leading/trailing junk → false). */
bool fe_parse_int32(const char *s, int32_t *out);

/* Value of cookie name in a Cookie header (malloc'd), or NULL. */
char *fe_cookie_get(const char *header, const char *name);
/* Calls fn for every cookie name in the header (for /logout). */
void fe_cookie_names(const char *header, void (*fn)(const char *name, void *arg), void *arg);

/* One JSON object per line on stdout: {"timestamp","severity","message"} plus
 * the string fields given as NULL-terminated key, value pairs. */
void fe_log(const char *severity, const char *message, ...) __attribute__((sentinel));
void fe_logf(const char *severity, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A random UUID v4 in canonical form (37 bytes with the NUL). */
int fe_uuid4(char out[37], ens_error_t *err);

#endif
