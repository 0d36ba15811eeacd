/* SPDX-License-Identifier: Apache-2.0 */
#include "shoputil.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/digest.h"

#include <stdarg.h>
#include <time.h>
#include <jansson.h>

static void log_emit(json_t *o)
{
    char *line = json_dumps(o, JSON_COMPACT);
    if (line) {
        /* The stream lock keeps lines from different threads whole. */
        flockfile(stdout);
        fputs(line, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        funlockfile(stdout);
        free(line);
    }
    json_decref(o);
}

static json_t *log_base(const char *severity, const char *message)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char t[64];
    size_t l = strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(t + l, sizeof(t) - l, ".%09ldZ", ts.tv_nsec);
    json_t *o = json_object();
    json_object_set_new(o, "timestamp", json_string(t));
    json_object_set_new(o, "severity", json_string(severity));
    json_object_set_new(o, "message", json_string(message));
    return o;
}

void fe_log(const char *severity, const char *message, ...)
{
    json_t *o = log_base(severity, message);
    va_list ap;
    va_start(ap, message);
    const char *k;
    while ((k = va_arg(ap, const char *))) {
        const char *v = va_arg(ap, const char *);
        json_object_set_new(o, k, json_string(v ? v : ""));
    }
    va_end(ap);
    log_emit(o);
}

void fe_logf(const char *severity, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    log_emit(log_base(severity, buf));
}

bool fe_money_valid(const fe_money *m)
{
    if (m->nanos <= -FE_NANOS_PER_UNIT || m->nanos >= FE_NANOS_PER_UNIT)
        return false;
    if ((m->units > 0 && m->nanos < 0) || (m->units < 0 && m->nanos > 0))
        return false;
    return true;
}

int fe_money_sum(const fe_money *a, const fe_money *b, fe_money *out, ens_error_t *err)
{
    if (!fe_money_valid(a) || !fe_money_valid(b))
        return ens_error(err, EINVAL, "invalid money value");
    if (strcmp(a->currency_code, b->currency_code) != 0)
        return ens_error(err, EINVAL, "mismatching currency codes %s and %s", a->currency_code,
                         b->currency_code);
    /* Work in total nanos: the carry/borrow rules of the spec give exactly the
     * split of the exact sum into units and same-signed nanos. */
    __int128 ta = (__int128)a->units * FE_NANOS_PER_UNIT + a->nanos;
    __int128 tb = (__int128)b->units * FE_NANOS_PER_UNIT + b->nanos;
    __int128 t = ta + tb;
    __int128 u = t / FE_NANOS_PER_UNIT;
    if (u > INT64_MAX || u < INT64_MIN)
        return ens_error(err, ERANGE, "money sum overflows");
    memcpy(out->currency_code, a->currency_code, sizeof(out->currency_code));
    out->units = (int64_t)u;
    out->nanos = (int32_t)(t % FE_NANOS_PER_UNIT);
    return 0;
}

int fe_money_multiply(const fe_money *m, uint32_t n, fe_money *out, ens_error_t *err)
{
    if (!fe_money_valid(m))
        return ens_error(err, EINVAL, "invalid money value");
    __int128 t = ((__int128)m->units * FE_NANOS_PER_UNIT + m->nanos) * n;
    __int128 u = t / FE_NANOS_PER_UNIT;
    if (u > INT64_MAX || u < INT64_MIN)
        return ens_error(err, ERANGE, "money product overflows");
    memcpy(out->currency_code, m->currency_code, sizeof(out->currency_code));
    out->units = (int64_t)u;
    out->nanos = (int32_t)(t % FE_NANOS_PER_UNIT);
    return 0;
}

const char *fe_currency_symbol(const char *code)
{
    if (strcmp(code, "USD") == 0 || strcmp(code, "CAD") == 0)
        return "$";
    if (strcmp(code, "EUR") == 0)
        return "€";
    if (strcmp(code, "JPY") == 0)
        return "¥";
    if (strcmp(code, "GBP") == 0)
        return "£";
    if (strcmp(code, "TRY") == 0)
        return "₺";
    return "$";
}

void fe_money_format(const fe_money *m, char *buf, size_t len)
{
    /* Like upstream: "%.2d" of nanos/1e7 (a negative value keeps its sign). */
    int32_t cents = m->nanos / 10000000;
    snprintf(buf, len, "%s%" PRId64 ".%s%02d", fe_currency_symbol(m->currency_code), m->units,
             cents < 0 ? "-" : "", cents < 0 ? -cents : cents);
}

bool fe_valid_email(const char *s)
{
    size_t len = strlen(s);
    if (len < 3 || len > 254)
        return false;
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@'))
        return false;
    size_t local = (size_t)(at - s);
    if (local > 64 || s[0] == '.' || at[-1] == '.')
        return false;
    for (const char *p = s; p < at; p++) {
        if (isalnum((unsigned char)*p))
            continue;
        if (!strchr("!#$%&'*+/=?^_`{|}~.-", *p))
            return false;
        if (*p == '.' && p[1] == '.')
            return false;
    }
    /* Domain: dot-separated labels of letters, digits and inner hyphens, at least two labels. */
    const char *d = at + 1;
    int labels = 0;
    while (*d) {
        const char *e = d;
        while (*e && *e != '.')
            e++;
        size_t l = (size_t)(e - d);
        if (l == 0 || l > 63 || d[0] == '-' || e[-1] == '-')
            return false;
        for (const char *p = d; p < e; p++)
            if (!isalnum((unsigned char)*p) && *p != '-')
                return false;
        labels++;
        if (!*e)
            break;
        d = e + 1;
        if (!*d)
            return false; /* trailing dot */
    }
    return labels >= 2;
}

bool fe_luhn(const char *digits)
{
    size_t n = strlen(digits);
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int d = digits[n - 1 - i] - '0';
        if (d < 0 || d > 9)
            return false;
        if (i % 2 == 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return n > 0 && sum % 10 == 0;
}

bool fe_valid_card_number(const char *s)
{
    char digits[20];
    size_t n = 0;
    bool prev_space = true; /* no leading space */
    for (const char *p = s; *p; p++) {
        if (*p == ' ') {
            if (prev_space)
                return false; /* leading or double space */
            prev_space = true;
            continue;
        }
        if (*p < '0' || *p > '9')
            return false; /* dashes and anything else */
        if (n == 19)
            return false;
        digits[n++] = *p;
        prev_space = false;
    }
    if (prev_space && n > 0)
        return false; /* trailing space */
    digits[n] = '\0';
    return n >= 12 && n <= 19 && fe_luhn(digits);
}

/* ISO 4217 alphabetic codes (current list plus those the currency service knows). */
static const char iso4217[] =
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN "
    "BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS "
    "KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN "
    "MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR "
    "SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD "
    "USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XDR XOF XPD XPF XPT XSU XTS "
    "XUA XXX YER ZAR ZMW ZWL";

bool fe_valid_iso4217(const char *code)
{
    if (strlen(code) != 3)
        return false;
    for (int i = 0; i < 3; i++)
        if (code[i] < 'A' || code[i] > 'Z')
            return false;
    for (const char *p = iso4217; *p; p += 4) {
        if (memcmp(p, code, 3) == 0)
            return true;
        if (!p[3])
            break;
    }
    return false;
}

bool fe_parse_int32(const char *s, int32_t *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < INT32_MIN || v > INT32_MAX)
        return false;
    *out = (int32_t)v;
    return true;
}

/* Walks "a=1; b=2" calling fn(name, nlen, value, vlen). */
static void cookie_walk(const char *h, int (*fn)(const char *, size_t, const char *, size_t, void *), void *arg)
{
    const char *p = h;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        if (!end)
            end = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq && eq > p) {
            const char *v = eq + 1, *ve = end;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if (ve - v >= 2 && v[0] == '"' && ve[-1] == '"')
                v++, ve--;
            const char *ne = eq;
            while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t'))
                ne--;
            if (fn(p, (size_t)(ne - p), v, (size_t)(ve - v), arg))
                return;
        }
        p = *end ? end + 1 : end;
    }
}

struct cookie_find {
    const char *name;
    char *value;
};

static int cookie_find_cb(const char *n, size_t nl, const char *v, size_t vl, void *arg)
{
    struct cookie_find *cf = arg;
    if (strlen(cf->name) == nl && memcmp(n, cf->name, nl) == 0) {
        cf->value = strndup(v, vl);
        return 1;
    }
    return 0;
}

char *fe_cookie_get(const char *header, const char *name)
{
    if (!header)
        return NULL;
    struct cookie_find cf = {name, NULL};
    cookie_walk(header, cookie_find_cb, &cf);
    return cf.value;
}

struct cookie_names {
    void (*fn)(const char *, void *);
    void *arg;
};

static int cookie_names_cb(const char *n, size_t nl, const char *v, size_t vl, void *arg)
{
    (void)v, (void)vl;
    struct cookie_names *cn = arg;
    char name[128];
    if (nl >= sizeof(name))
        return 0;
    for (size_t i = 0; i < nl; i++) /* only token characters make a name we echo back */
        if ((unsigned char)n[i] <= 0x20 || (unsigned char)n[i] >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", n[i]))
            return 0;
    memcpy(name, n, nl);
    name[nl] = '\0';
    cn->fn(name, cn->arg);
    return 0;
}

void fe_cookie_names(const char *header, void (*fn)(const char *name, void *arg), void *arg)
{
    if (!header)
        return;
    struct cookie_names cn = {fn, arg};
    cookie_walk(header, cookie_names_cb, &cn);
}

int fe_uuid4(char out[37], ens_error_t *err)
{
    uint8_t b[16];
    if (ens_random(b, sizeof(b), err) < 0)
        return -1;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
             b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return 0;
}
