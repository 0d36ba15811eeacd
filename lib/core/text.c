/* SPDX-License-Identifier: Apache-2.0 */
#include "core/text.h"

#include <stdint.h>

bool ens_utf8_valid(const char *s, size_t len, int *line, int *col)
{
    const unsigned char *p = (const unsigned char *)s;
    int ln = 1, cl = 1;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            n = 1;
            cp = c;
        } else if ((c & 0xe0) == 0xc0) {
            n = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4;
            cp = c & 0x07;
        } else {
            goto bad;
        }
        if (i + n > len)
            goto bad;
        for (size_t k = 1; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                goto bad;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            goto bad;
        if (c == '\n') {
            ln++;
            cl = 1;
        } else {
            cl++;
        }
        i += n;
    }
    return true;
bad:
    if (line)
        *line = ln;
    if (col)
        *col = cl;
    return false;
}
