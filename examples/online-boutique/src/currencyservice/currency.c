/* SPDX-License-Identifier: Apache-2.0 */
#include "currency.h"

#include <math.h>
#include <string.h>

const char *const currency_codes[CURRENCY_COUNT] = {
    "EUR", "USD", "JPY", "BGN", "CZK", "DKK", "GBP", "HUF", "PLN", "RON", "SEK", "CHF", "ISK", "NOK", "HRK", "RUB", "TRY",
    "AUD", "BRL", "CAD", "CNY", "HKD", "IDR", "ILS", "INR", "KRW", "MXN", "MYR", "NZD", "PHP", "SGD", "THB", "ZAR",
};

static const double rates[CURRENCY_COUNT] = {
    1.0,     1.1305,  126.40,   1.9558,  25.592,  7.4609, 0.85970, 315.51, 4.2996, 4.7463, 10.5375,
    1.1360,  136.80,  9.8040,   7.4210,  74.4208, 6.1247, 1.6072,  4.2682, 1.5128, 7.5857, 8.8743,
    15999.40, 4.0875, 79.4320, 1275.05, 21.7999, 4.6289, 1.6679,  59.083, 1.5349, 36.012, 16.0583,
};

double currency_rate(const char *code)
{
    if (!code || strlen(code) != 3)
        return -1;
    for (int i = 0; i < CURRENCY_COUNT; i++)
        if (memcmp(code, currency_codes[i], 3) == 0)
            return rates[i];
    return -1;
}

/* upstream's _carry(): fractional units move into nanos, whole nanos into units. */
static void carry(double *units, double *nanos)
{
    const double fraction = 1e9;
    *nanos += fmod(*units, 1.0) * fraction;
    *units = floor(*units) + floor(*nanos / fraction);
    *nanos = fmod(*nanos, fraction);
}

static int64_t to_i64(double v)
{
    if (isnan(v))
        return 0;
    if (v >= 9223372036854775807.0)
        return INT64_MAX;
    if (v <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)v;
}

void currency_convert(const char *from, int64_t units, int32_t nanos, const char *to, int64_t *out_units,
                      int32_t *out_nanos)
{
    double rf = currency_rate(from), rt = currency_rate(to);
    if (rf <= 0 || rt <= 0) {
        *out_units = 0;
        *out_nanos = 0;
        return;
    }
    double eu = (double)units / rf, en = (double)nanos / rf;
    carry(&eu, &en);
    en = floor(en + 0.5); /* Math.round: halves up */
    double ru = eu * rt, rn = en * rt;
    carry(&ru, &rn);
    ru = floor(ru);
    rn = floor(rn);
    *out_units = to_i64(ru);
    *out_nanos = isnan(rn) ? 0 : (int32_t)rn; /* |rn| < 1e9 after carry */
}
