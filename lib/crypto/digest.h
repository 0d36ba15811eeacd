/* SPDX-License-Identifier: Apache-2.0 */
/* Hashing, hex, randomness and constant-time comparison over OpenSSL. */
#ifndef ENSCONCE_CRYPTO_DIGEST_H
#define ENSCONCE_CRYPTO_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define ENS_SHA256_LEN 32
#define ENS_SHA256_HEX_LEN 64
/* "sha256:" + 64 hex digits + NUL */
#define ENS_DIGEST_STR_LEN (7 + 64 + 1)

void ens_sha256(const void *data, size_t len, uint8_t out[ENS_SHA256_LEN]);
/* Hashes a file's contents without loading it whole. */
int ens_sha256_file(const char *path, uint8_t out[ENS_SHA256_LEN], ens_error_t *err);

/* Incremental SHA-256 (opaque; wraps EVP_MD_CTX). */
typedef struct ens_sha256_ctx ens_sha256_ctx;
ens_sha256_ctx *ens_sha256_new(void);
void ens_sha256_update(ens_sha256_ctx *c, const void *data, size_t len);
void ens_sha256_final(ens_sha256_ctx *c, uint8_t out[ENS_SHA256_LEN]);
void ens_sha256_free(ens_sha256_ctx *c);

/* Lower-case hex; out must hold 2*len+1 bytes. */
void ens_hex_encode(const uint8_t *in, size_t len, char *out);
/* Strict hex decode of exactly outlen bytes (2*outlen digits, either case). */
int ens_hex_decode(const char *hex, uint8_t *out, size_t outlen, ens_error_t *err);

/* "sha256:<hex>" of the data. */
void ens_digest_string(const void *data, size_t len, char out[ENS_DIGEST_STR_LEN]);
/* Validates an OCI digest string of the form sha256:<64 lower hex>. */
bool ens_digest_valid(const char *digest);

/* Cryptographically secure random bytes (OpenSSL RAND_bytes). */
int ens_random(void *buf, size_t len, ens_error_t *err);

/* Constant-time equality for MACs, tags and hashes. */
bool ens_ct_equal(const void *a, const void *b, size_t len);

/* Wipes secret material (OPENSSL_cleanse). */
void ens_wipe(void *p, size_t len);

#endif
