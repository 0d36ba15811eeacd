/* SPDX-License-Identifier: Apache-2.0 */
#include "crypto/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>
#include <unistd.h>

#include "core/cleanup.h"

struct ens_sha256_ctx {
    EVP_MD_CTX *md;
};

void ens_sha256(const void *data, size_t len, uint8_t out[ENS_SHA256_LEN])
{
    unsigned int n = 0;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

ens_sha256_ctx *ens_sha256_new(void)
{
    ens_sha256_ctx *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->md = EVP_MD_CTX_new();
    if (c->md == NULL || EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(c->md);
        free(c);
        return NULL;
    }
    return c;
}

void ens_sha256_update(ens_sha256_ctx *c, const void *data, size_t len)
{
    EVP_DigestUpdate(c->md, data, len);
}

void ens_sha256_final(ens_sha256_ctx *c, uint8_t out[ENS_SHA256_LEN])
{
    unsigned int n = 0;
    EVP_DigestFinal_ex(c->md, out, &n);
}

void ens_sha256_free(ens_sha256_ctx *c)
{
    if (c == NULL)
        return;
    EVP_MD_CTX_free(c->md);
    free(c);
}

int ens_sha256_file(const char *path, uint8_t out[ENS_SHA256_LEN], ens_error_t *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ens_error_errno(err, "open %s", path);
    ens_sha256_ctx *c = ens_sha256_new();
    if (c == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    static __thread uint8_t buf[1 << 16];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            ens_sha256_free(c);
            return ens_error_errno(err, "read %s", path);
        }
        if (r == 0)
            break;
        ens_sha256_update(c, buf, (size_t)r);
    }
    ens_sha256_final(c, out);
    ens_sha256_free(c);
    return 0;
}

void ens_hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ens_hex_decode(const char *hex, uint8_t *out, size_t outlen, ens_error_t *err)
{
    if (hex == NULL)
        return ens_error(err, EINVAL, "expected %zu hex digits, got none", 2 * outlen);
    if (strlen(hex) != 2 * outlen)
        return ens_error(err, EINVAL, "expected %zu hex digits, got %zu", 2 * outlen, strlen(hex));
    for (size_t i = 0; i < outlen; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return ens_error(err, EINVAL, "invalid hex digit at position %zu", 2 * i + (hi < 0 ? 0 : 1));
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

void ens_digest_string(const void *data, size_t len, char out[ENS_DIGEST_STR_LEN])
{
    uint8_t d[ENS_SHA256_LEN];
    ens_sha256(data, len, d);
    memcpy(out, "sha256:", 7);
    ens_hex_encode(d, sizeof(d), out + 7);
}

bool ens_digest_valid(const char *digest)
{
    if (digest == NULL || strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != 7 + 64)
        return false;
    for (const char *p = digest + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

int ens_random(void *buf, size_t len, ens_error_t *err)
{
    if (RAND_bytes(buf, (int)len) != 1)
        return ens_error(err, EIO, "random number generator failed");
    return 0;
}

bool ens_ct_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

void ens_wipe(void *p, size_t len)
{
    OPENSSL_cleanse(p, len);
}
