/* SPDX-License-Identifier: Apache-2.0 */
/* Text checks shared by the parsers of external input. */
#ifndef ENSCONCE_CORE_TEXT_H
#define ENSCONCE_CORE_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).  On failure *line
 * and *col (1-based, may be NULL) locate the first bad byte. */
bool ens_utf8_valid(const char *s, size_t len, int *line, int *col);

#endif
