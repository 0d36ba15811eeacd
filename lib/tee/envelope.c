/* SPDX-License-Identifier: Apache-2.0 */
/* The JSON envelope hardware evidence travels in (runtime -> CAS), and helpers
 * for the attestation flow (lib/attest) to map verified claims. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "tee/internal.h"

static char *b64_encode(const uint8_t *p, size_t n)
{
    if (n > ENS_TEE_EVIDENCE_MAX)
        return NULL;
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

/* Strict base64 (no whitespace, canonical padding). */
static int b64_decode(const char *s, uint8_t **out, size_t *len, const char *field, ens_error_t *err)
{
    size_t n = strlen(s);
    if (n == 0 || n % 4 || n / 4 * 3 > ENS_TEE_EVIDENCE_MAX + 2)
        return ens_error(err, EINVAL, "parse: envelope %s is not base64 of at most %d bytes", field, ENS_TEE_EVIDENCE_MAX);
    size_t pad = (s[n - 1] == '=') + (s[n - 2] == '=');
    for (size_t i = 0; i < n - pad; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/'))
            return ens_error(err, EINVAL, "parse: envelope %s is not base64", field);
    }
    uint8_t *buf = malloc(n / 4 * 3 + 1);
    if (!buf)
        return ens_error(err, ENOMEM, "parse: out of memory");
    int l = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n);
    if (l < 0 || (size_t)l < pad) {
        free(buf);
        return ens_error(err, EINVAL, "parse: envelope %s is not base64", field);
    }
    *out = buf;
    *len = (size_t)l - pad;
    return 0;
}

int ens_tee_envelope_make(enum ens_tee_type type, const uint8_t *evidence, size_t len, const uint8_t *aux,
                          size_t aux_len, json_t **out, ens_error_t *err)
{
    *out = NULL;
    if (type == ENS_TEE_UNKNOWN)
        type = ens_tee_detect(evidence, len);
    if (type == ENS_TEE_UNKNOWN)
        return ens_error(err, EINVAL, "envelope: unknown evidence type");
    _cleanup_free_ char *e = b64_encode(evidence, len);
    _cleanup_free_ char *a = aux && aux_len ? b64_encode(aux, aux_len) : NULL;
    if (!e || (aux && aux_len && !a))
        return ens_error(err, EFBIG, "envelope: evidence too large or out of memory");
    json_t *j = json_pack("{s:i, s:s, s:s}", "version", 1, "type", ens_tee_type_name(type), "evidence", e);
    if (!j || (a && json_object_set_new(j, "aux", json_string(a)) < 0)) {
        json_decref(j);
        return ens_error(err, ENOMEM, "envelope: out of memory");
    }
    *out = j;
    return 0;
}

int ens_tee_verify_envelope(const json_t *env, const struct ens_tee_collateral *c, time_t at, json_t **claims,
                            ens_error_t *err)
{
    *claims = NULL;
    const char *type = json_string_value(json_object_get(env, "type"));
    const char *ev = json_string_value(json_object_get(env, "evidence"));
    json_t *auxj = json_object_get(env, "aux");
    enum ens_tee_type t = ens_tee_type_from_name(type);
    if (!json_is_object(env) || t == ENS_TEE_UNKNOWN || !ev || (auxj && !json_is_string(auxj)))
        return ens_error(err, EINVAL, "parse: envelope needs type (sgx|tdx|snp), evidence and optional aux strings");
    json_t *ver = json_object_get(env, "version");
    if (ver && (!json_is_integer(ver) || json_integer_value(ver) != 1))
        return ens_error(err, EINVAL, "parse: unsupported envelope version");
    _cleanup_free_ uint8_t *raw = NULL, *aux = NULL;
    size_t rl = 0, al = 0;
    if (b64_decode(ev, &raw, &rl, "evidence", err) < 0 ||
        (auxj && b64_decode(json_string_value(auxj), &aux, &al, "aux", err) < 0))
        return -1;
    struct ens_tee_input in = {.evidence = raw, .len = rl, .type = t, .aux = aux, .aux_len = al};
    return ens_tee_verify_ex(&in, c, at, claims, err);
}

unsigned ens_tee_claims_needs(const json_t *claims)
{
    unsigned need = 0;
    if (json_is_true(json_object_get(claims, "debug")))
        need |= ENS_TEE_TOLERATE_DEBUG;
    if (json_is_true(json_object_get(claims, "smt_enabled")))
        need |= ENS_TEE_TOLERATE_HYPERTHREADING;
    const char *s = json_string_value(json_object_get(claims, "tcb_status"));
    if (s) {
        if (strstr(s, "SWHardening"))
            need |= ENS_TEE_TOLERATE_SW_HARDENING;
        if (strstr(s, "Configuration"))
            need |= ENS_TEE_TOLERATE_INSECURE_CONFIG;
        if (strstr(s, "OutOfDate"))
            need |= ENS_TEE_TOLERATE_OUTDATED_TCB;
    }
    return need;
}

const char *ens_tee_claims_measurement(const json_t *claims)
{
    const char *tee = json_string_value(json_object_get(claims, "tee"));
    const json_t *m = json_object_get(claims, "measurements");
    if (!tee)
        return NULL;
    if (strcmp(tee, "sgx") == 0)
        return json_string_value(json_object_get(m, "mrenclave"));
    if (strcmp(tee, "tdx") == 0)
        return json_string_value(json_object_get(m, "mrtd"));
    if (strcmp(tee, "snp") == 0)
        return json_string_value(json_object_get(m, "measurement"));
    return NULL;
}
