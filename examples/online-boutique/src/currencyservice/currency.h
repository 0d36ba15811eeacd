/* SPDX-License-Identifier: Apache-2.0 */
/* Currency conversion with upstream's exact floating-point steps (spec/boutique.md). */
#ifndef BOUTIQUE_CURRENCY_H
#define BOUTIQUE_CURRENCY_H

#include <stddef.h>
#include <stdint.h>

#define CURRENCY_COUNT 33
/* The supported codes, in the service's order. */
extern const char *const currency_codes[CURRENCY_COUNT];
/* Rate per 1 EUR, or a negative value for an unknown code. */
double currency_rate(const char *code);
/* Converts (units, nanos) in `from` to `to`; unknown codes give 0/0. */
void currency_convert(const char *from, int64_t units, int32_t nanos, const char *to, int64_t *out_units,
                      int32_t *out_nanos);

#endif
