/* SPDX-License-Identifier: Apache-2.0 */
/* Type detection and the verification entry points. */
#include <errno.h>
#include <string.h>

#include "tee/internal.h"

const char *ens_tee_type_name(enum ens_tee_type t)
{
    switch (t) {
    case ENS_TEE_SGX: return "sgx";
    case ENS_TEE_TDX: return "tdx";
    case ENS_TEE_SNP: return "snp";
    default: return "unknown";
    }
}

enum ens_tee_type ens_tee_type_from_name(const char *name)
{
    if (!name)
        return ENS_TEE_UNKNOWN;
    if (strcmp(name, "sgx") == 0)
        return ENS_TEE_SGX;
    if (strcmp(name, "tdx") == 0)
        return ENS_TEE_TDX;
    if (strcmp(name, "snp") == 0)
        return ENS_TEE_SNP;
    return ENS_TEE_UNKNOWN;
}

enum ens_tee_type ens_tee_detect(const uint8_t *e, size_t len)
{
    if (!e || len < 8)
        return ENS_TEE_UNKNOWN;
    uint16_t v = tee_u16(e), key = tee_u16(e + 2);
    uint32_t tee = tee_u32(e + 4);
    /* Intel quotes: version 3/4/5 with key type 2 (ECDSA P-256). */
    if (v == 3 && key == 2)
        return ENS_TEE_SGX;
    if ((v == 4 || v == 5) && key == 2 && tee == 0x81)
        return ENS_TEE_TDX;
    /* SNP: u32 version 2..5 followed by GUEST_SVN; SIGNATURE_ALGO 1 at 0x34. */
    if (len >= 0x38 && tee_u32(e) >= 2 && tee_u32(e) <= 5 && tee_u32(e + 0x34) == 1)
        return ENS_TEE_SNP;
    return ENS_TEE_UNKNOWN;
}

static int run(const struct ens_tee_input *in, const struct ens_tee_collateral *c, time_t at, json_t **claims,
               bool verify, ens_error_t *err)
{
    *claims = NULL;
    if (!in || !in->evidence || in->len == 0)
        return ens_error(err, EINVAL, "parse: empty evidence");
    if (in->len > ENS_TEE_EVIDENCE_MAX)
        return ens_error(err, EFBIG, "parse: evidence larger than %d bytes", ENS_TEE_EVIDENCE_MAX);
    if (verify && !c)
        return ens_error(err, EINVAL, "collateral: none given");
    enum ens_tee_type t = in->type != ENS_TEE_UNKNOWN ? in->type : ens_tee_detect(in->evidence, in->len);
    json_t *cl = json_object();
    if (!cl)
        return ens_error(err, ENOMEM, "out of memory");
    int r;
    if (t == ENS_TEE_SGX || t == ENS_TEE_TDX)
        r = tee_intel_verify(in, c, at, cl, verify, err);
    else if (t == ENS_TEE_SNP)
        r = tee_snp_verify(in, c, at, cl, verify, err);
    else
        r = ens_error(err, EINVAL, "header: not an SGX quote v3, TDX quote v4/v5 or SNP report");
    if (r < 0) {
        json_decref(cl);
        return -1;
    }
    json_object_set_new(cl, "verified", json_boolean(verify));
    if (verify) {
        char ts[32];
        tee_format_time(at, ts);
        json_object_set_new(cl, "verified_at", json_string(ts));
    }
    *claims = cl;
    return 0;
}

int ens_tee_verify_ex(const struct ens_tee_input *in, const struct ens_tee_collateral *c, time_t at, json_t **claims,
                      ens_error_t *err)
{
    return run(in, c, at, claims, true, err);
}

int ens_tee_verify(const uint8_t *evidence, size_t len, const struct ens_tee_collateral *c, time_t at,
                   json_t **claims, ens_error_t *err)
{
    struct ens_tee_input in = {.evidence = evidence, .len = len};
    return run(&in, c, at, claims, true, err);
}

int ens_tee_parse(const uint8_t *evidence, size_t len, enum ens_tee_type type, json_t **claims, ens_error_t *err)
{
    struct ens_tee_input in = {.evidence = evidence, .len = len, .type = type, .allow_trailing_data = true};
    return run(&in, NULL, 0, claims, false, err);
}
