/* SPDX-License-Identifier: Apache-2.0 */
/* Key derivation (HKDF-SHA256), per-chunk AES-256-GCM and the sealed manifest. */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/digest.h"
#include "shield/shield_internal.h"

int sh_hkdf(const uint8_t vk[32], const char *label, const uint8_t *ctx, size_t ctxlen, uint8_t out[32])
{
    uint8_t info[128];
    size_t ll = strlen(label);
    if (ll + 1 + ctxlen > sizeof(info))
        return -1;
    memcpy(info, label, ll);
    info[ll] = 0; /* separates label from context: no ambiguity between labels */
    if (ctxlen)
        memcpy(info + ll + 1, ctx, ctxlen);
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (!kdf)
        return -1;
    EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (!kctx)
        return -1;
    static const char salt[] = "ensconce-shield-v1";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)vk, 32),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, sizeof(salt) - 1),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, ll + 1 + ctxlen),
        OSSL_PARAM_construct_end(),
    };
    int rc = EVP_KDF_derive(kctx, out, 32, params) == 1 ? 0 : -1;
    EVP_KDF_CTX_free(kctx);
    ens_wipe(info, sizeof(info));
    return rc;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

int sh_manifest_seal(const uint8_t vk[32], const char *plain, size_t len, uint8_t **out, size_t *outlen,
                     ens_error_t *err)
{
    if (len > SH_MAX_MANIFEST)
        return ens_error(err, EFBIG, "manifest too large (%zu bytes)", len);
    size_t total = SH_MAGIC_LEN + SH_SALT_LEN + len + SH_GCM_TAG_LEN;
    uint8_t *buf = malloc(total);
    if (!buf)
        return ens_error(err, ENOMEM, "out of memory");
    memcpy(buf, SH_MAGIC, SH_MAGIC_LEN);
    if (ens_random(buf + SH_MAGIC_LEN, SH_SALT_LEN, err) < 0) {
        free(buf);
        return -1;
    }
    uint8_t key[32];
    /* A fresh key per manifest (random salt), so the all-zero nonce is used once per key. */
    if (sh_hkdf(vk, "manifest", buf + SH_MAGIC_LEN, SH_SALT_LEN, key) < 0) {
        free(buf);
        return ens_error(err, EIO, "manifest key derivation failed");
    }
    static const uint8_t iv[12] = {0};
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ol = 0, ok = c && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv) == 1 &&
                     EVP_EncryptUpdate(c, NULL, &ol, buf, SH_MAGIC_LEN) == 1;
    uint8_t *ct = buf + SH_MAGIC_LEN + SH_SALT_LEN;
    size_t done = 0;
    while (ok && done < len) {
        int chunk = (int)(len - done > (1u << 30) ? (1u << 30) : len - done);
        ok = EVP_EncryptUpdate(c, ct + done, &ol, (const uint8_t *)plain + done, chunk) == 1;
        done += (size_t)chunk;
    }
    ok = ok && EVP_EncryptFinal_ex(c, ct + len, &ol) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SH_GCM_TAG_LEN, ct + len) == 1;
    EVP_CIPHER_CTX_free(c);
    ens_wipe(key, sizeof(key));
    if (!ok) {
        free(buf);
        return ens_error(err, EIO, "manifest encryption failed");
    }
    *out = buf;
    *outlen = total;
    return 0;
}

int sh_manifest_open(const uint8_t vk[32], const uint8_t *buf, size_t len, char **plain, size_t *plainlen,
                     ens_error_t *err)
{
    if (len < SH_MAGIC_LEN + SH_SALT_LEN + SH_GCM_TAG_LEN || memcmp(buf, SH_MAGIC, SH_MAGIC_LEN) != 0)
        return ens_error(err, EINVAL, "manifest: not a shield manifest (bad magic or too short)");
    size_t ctlen = len - SH_MAGIC_LEN - SH_SALT_LEN - SH_GCM_TAG_LEN;
    if (ctlen > SH_MAX_MANIFEST)
        return ens_error(err, EFBIG, "manifest too large");
    uint8_t key[32];
    if (sh_hkdf(vk, "manifest", buf + SH_MAGIC_LEN, SH_SALT_LEN, key) < 0)
        return ens_error(err, EIO, "manifest key derivation failed");
    char *out = malloc(ctlen + 1);
    if (!out)
        return ens_error(err, ENOMEM, "out of memory");
    static const uint8_t iv[12] = {0};
    const uint8_t *ct = buf + SH_MAGIC_LEN + SH_SALT_LEN;
    uint8_t tag[SH_GCM_TAG_LEN];
    memcpy(tag, ct + ctlen, sizeof(tag));
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ol = 0, ok = c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv) == 1 &&
                     EVP_DecryptUpdate(c, NULL, &ol, buf, SH_MAGIC_LEN) == 1;
    size_t done = 0;
    while (ok && done < ctlen) {
        int chunk = (int)(ctlen - done > (1u << 30) ? (1u << 30) : ctlen - done);
        ok = EVP_DecryptUpdate(c, (uint8_t *)out + done, &ol, ct + done, chunk) == 1;
        done += (size_t)chunk;
    }
    ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SH_GCM_TAG_LEN, tag) == 1 &&
         EVP_DecryptFinal_ex(c, (uint8_t *)out + ctlen, &ol) == 1;
    EVP_CIPHER_CTX_free(c);
    ens_wipe(key, sizeof(key));
    if (!ok) {
        ens_wipe(out, ctlen);
        free(out);
        return ens_error(err, EBADMSG, "manifest: authentication failed (wrong key or tampered manifest)");
    }
    out[ctlen] = '\0';
    *plain = out;
    *plainlen = ctlen;
    return 0;
}

int sh_obj_keys(struct sh_obj *o, const uint8_t vk[32])
{
    if (o->enc)
        return 0;
    uint8_t key[32];
    if (sh_hkdf(vk, "object", o->id, SH_OBJ_ID_LEN, key) < 0)
        return -1;
    o->enc = EVP_CIPHER_CTX_new();
    o->dec = EVP_CIPHER_CTX_new();
    int ok = o->enc && o->dec && EVP_EncryptInit_ex(o->enc, EVP_aes_256_gcm(), NULL, key, NULL) == 1 &&
             EVP_DecryptInit_ex(o->dec, EVP_aes_256_gcm(), NULL, key, NULL) == 1;
    memcpy(o->key, key, sizeof(key));
    ens_wipe(key, sizeof(key));
    if (!ok) {
        EVP_CIPHER_CTX_free(o->enc);
        EVP_CIPHER_CTX_free(o->dec);
        o->enc = o->dec = NULL;
        return -1;
    }
    return 0;
}

/* AAD binds a chunk to its object, position, region and length. */
static size_t chunk_aad(uint8_t aad[40], const uint8_t id[SH_OBJ_ID_LEN], int region, uint64_t idx, size_t len)
{
    memcpy(aad, "ENSC", 4);
    memcpy(aad + 4, id, SH_OBJ_ID_LEN);
    put64(aad + 20, idx);
    aad[28] = region == ENS_SHIELD_AUTHENTICATED ? 'a' : 'e';
    put64(aad + 29, (uint64_t)len);
    return 37;
}

static void chunk_iv(uint8_t iv[12], uint64_t ctr)
{
    put64(iv, ctr);
    memset(iv + 8, 0, 4);
}

int sh_chunk_seal(struct sh_obj *o, int region, uint64_t idx, uint64_t ctr, const uint8_t *in, size_t len,
                  uint8_t *out, uint8_t tag[SH_GCM_TAG_LEN])
{
    uint8_t aad[40], iv[12];
    size_t al = chunk_aad(aad, o->id, region, idx, len);
    chunk_iv(iv, ctr);
    int ol = 0;
    EVP_CIPHER_CTX *c = o->enc;
    if (EVP_EncryptInit_ex(c, NULL, NULL, NULL, iv) != 1 || EVP_EncryptUpdate(c, NULL, &ol, aad, (int)al) != 1)
        return -1;
    if (region == ENS_SHIELD_AUTHENTICATED) {
        /* integrity only: the data is extra authenticated data, stored as is */
        if (len && EVP_EncryptUpdate(c, NULL, &ol, in, (int)len) != 1)
            return -1;
        if (out != in)
            memcpy(out, in, len);
    } else if (len && EVP_EncryptUpdate(c, out, &ol, in, (int)len) != 1) {
        return -1;
    }
    if (EVP_EncryptFinal_ex(c, out + len, &ol) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SH_GCM_TAG_LEN, tag) != 1)
        return -1;
    return 0;
}

int sh_chunk_open(struct sh_obj *o, int region, uint64_t idx, uint64_t ctr, const uint8_t *in, size_t len,
                  const uint8_t tag[SH_GCM_TAG_LEN], uint8_t *out)
{
    return sh_chunk_open_ctx(o->dec, o->id, region, idx, ctr, in, len, tag, out);
}

int sh_chunk_open_ctx(EVP_CIPHER_CTX *c, const uint8_t id[SH_OBJ_ID_LEN], int region, uint64_t idx, uint64_t ctr,
                      const uint8_t *in, size_t len, const uint8_t tag[SH_GCM_TAG_LEN], uint8_t *out)
{
    uint8_t aad[40], iv[12], t[SH_GCM_TAG_LEN];
    size_t al = chunk_aad(aad, id, region, idx, len);
    chunk_iv(iv, ctr);
    memcpy(t, tag, sizeof(t));
    int ol = 0;
    if (EVP_DecryptInit_ex(c, NULL, NULL, NULL, iv) != 1 || EVP_DecryptUpdate(c, NULL, &ol, aad, (int)al) != 1)
        return -1;
    if (region == ENS_SHIELD_AUTHENTICATED) {
        if (len && EVP_DecryptUpdate(c, NULL, &ol, in, (int)len) != 1)
            return -1;
        if (out != in)
            memcpy(out, in, len);
    } else if (len && EVP_DecryptUpdate(c, out, &ol, in, (int)len) != 1) {
        return -1;
    }
    if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SH_GCM_TAG_LEN, t) != 1)
        return -1;
    return EVP_DecryptFinal_ex(c, out + len, &ol) == 1 ? 0 : -1;
}

void sh_table_encode(const struct sh_tent *tab, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        put64(out + i * SH_TENT_LEN, tab[i].ctr);
        memcpy(out + i * SH_TENT_LEN + 8, tab[i].tag, SH_GCM_TAG_LEN);
    }
}

void sh_table_root(const struct sh_tent *tab, size_t n, uint8_t root[SH_ROOT_LEN])
{
    ens_sha256_ctx *c = ens_sha256_new();
    uint8_t buf[SH_TENT_LEN * 256];
    ens_sha256_update(c, "ENST", 4);
    for (size_t i = 0; i < n; i += 256) {
        size_t k = n - i < 256 ? n - i : 256;
        sh_table_encode(tab + i, k, buf);
        ens_sha256_update(c, buf, k * SH_TENT_LEN);
    }
    ens_sha256_final(c, root);
    ens_sha256_free(c);
}

uint64_t sh_get64(const uint8_t *p);
uint64_t sh_get64(const uint8_t *p) { return get64(p); }
