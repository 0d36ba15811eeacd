/* SPDX-License-Identifier: Apache-2.0 */
#include "card.h"

#include <string.h>

struct card_type {
    const char *name;
    const char *const *prefixes; /* digit-string prefixes; ranges expanded below */
    int min_len, max_len;
    long range_lo, range_hi; /* optional numeric prefix range (digits = range_digits) */
    int range_digits;
};

static const char *const amex[] = {"34", "37", NULL};
static const char *const diners_cb[] = {NULL};
static const char *const diners_int[] = {"36", "38", "39", "309", NULL};
static const char *const jcb[] = {NULL};
static const char *const laser[] = {"6304", "6706", "6709", "6771", NULL};
static const char *const visa_electron[] = {"4026", "417500", "4508", "4844", "4913", "4917", NULL};
static const char *const visa[] = {"4", NULL};
static const char *const mastercard[] = {"51", "52", "53", "54", "55", NULL};
static const char *const maestro[] = {"5018", "5020", "5038", "6304", "6759", "6761", "6762", "6763", NULL};
static const char *const discover[] = {"6011", "65", NULL};

/* First match wins, in this order. */
static const struct card_type types[] = {
    {"amex", amex, 15, 15, 0, 0, 0},
    {"diners_club_carte_blanche", diners_cb, 14, 14, 300, 305, 3},
    {"diners_club_international", diners_int, 14, 14, 0, 0, 0},
    {"jcb", jcb, 16, 16, 3528, 3589, 4},
    {"laser", laser, 16, 19, 0, 0, 0},
    {"visa_electron", visa_electron, 16, 16, 0, 0, 0},
    {"visa", visa, 16, 16, 0, 0, 0},
    {"mastercard", mastercard, 16, 16, 0, 0, 0},
    {"maestro", maestro, 12, 19, 0, 0, 0},
    {"discover", discover, 16, 16, 622126, 622925, 6},
};

static bool matches(const struct card_type *t, const char *d, size_t len)
{
    for (const char *const *p = t->prefixes; *p; p++)
        if (strncmp(d, *p, strlen(*p)) == 0)
            return true;
    if (t->range_digits && len >= (size_t)t->range_digits) {
        long v = 0;
        for (int i = 0; i < t->range_digits; i++)
            v = v * 10 + (d[i] - '0');
        if (v >= t->range_lo && v <= t->range_hi)
            return true;
    }
    /* discover also covers 644-649 */
    if (strcmp(t->name, "discover") == 0 && len >= 3 && d[0] == '6' && d[1] == '4' && d[2] >= '4')
        return true;
    return false;
}

bool card_luhn(const char *d)
{
    size_t len = strlen(d);
    if (len == 0)
        return false;
    int sum = 0;
    bool dbl = false;
    for (size_t i = len; i-- > 0;) {
        int v = d[i] - '0';
        if (v < 0 || v > 9)
            return false;
        if (dbl) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
        dbl = !dbl;
    }
    return sum % 10 == 0;
}

const char *card_validate(const char *number, char *out, size_t outlen)
{
    size_t n = 0;
    if (outlen == 0)
        return NULL;
    out[0] = '\0';
    for (const char *p = number ? number : ""; *p; p++) {
        if (*p == ' ' || *p == '-')
            continue;
        if (*p < '0' || *p > '9' || n + 1 >= outlen)
            return NULL;
        out[n++] = *p;
    }
    out[n] = '\0';
    if (n == 0)
        return NULL;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const struct card_type *t = &types[i];
        if (!matches(t, out, n))
            continue;
        if ((int)n < t->min_len || (int)n > t->max_len || !card_luhn(out))
            return NULL;
        return t->name;
    }
    return NULL;
}
