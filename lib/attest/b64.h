/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: strict base64 over OpenSSL's EVP_EncodeBlock/DecodeBlock. */
#ifndef ENSCONCE_ATTEST_B64_H
#define ENSCONCE_ATTEST_B64_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

char *ens_attest_b64_encode(const void *data, size_t len);
int ens_attest_b64_decode(const char *s, uint8_t **out, size_t *len, ens_error_t *err);

#endif
