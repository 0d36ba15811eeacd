/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "policy/policy_int.h"

char *ens_b64_encode(const void *data, size_t len)
{
    if (len > (size_t)1 << 30)
        return NULL;
    size_t olen = 4 * ((len + 2) / 3) + 1;
    char *out = malloc(olen);
    if (!out)
        return NULL;
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    if (n < 0) {
        free(out);
        return NULL;
    }
    out[n] = '\0';
    return out;
}

/* Strict standard base64 with padding; surrounding whitespace and embedded newlines are ignored. */
int ens_b64_decode(const char *s, size_t len, unsigned char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    char *clean = malloc(len + 1);
    if (!clean)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
            continue;
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' ||
              ch == '/' || ch == '=')) {
            free(clean);
            return -1;
        }
        clean[n++] = ch;
    }
    if (n % 4) {
        free(clean);
        return -1;
    }
    size_t pad = 0;
    if (n >= 1 && clean[n - 1] == '=')
        pad++;
    if (n >= 2 && clean[n - 2] == '=')
        pad++;
    for (size_t i = 0; i + pad < n; i++)
        if (clean[i] == '=') {
            free(clean);
            return -1;
        }
    unsigned char *buf = malloc(n / 4 * 3 + 1);
    if (!buf) {
        free(clean);
        return -1;
    }
    int r = n ? EVP_DecodeBlock(buf, (unsigned char *)clean, (int)n) : 0;
    free(clean);
    if (r < 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = (size_t)r - pad;
    return 0;
}

char *ens_strdup_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}
