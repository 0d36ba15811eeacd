/* SPDX-License-Identifier: Apache-2.0 */
/* Intel SGX DCAP quotes (v3) and TDX quotes (v4, v5): parsing and the spec's verification order. */
#include <errno.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "crypto/digest.h"
#include "tee/internal.h"

static const uint8_t intel_qe_vendor[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                            0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

#define SGX_BODY_LEN 384
#define TDX10_BODY_LEN 584
#define TDX15_BODY_LEN 648
#define QE_REPORT_LEN 384

struct quote {
    enum ens_tee_type type;
    unsigned version;
    const uint8_t *q;
    size_t end;        /* end of the quote (header + body + signature data) */
    size_t signed_len; /* bytes covered by the ISV signature */
    const uint8_t *body;
    size_t body_len;
    unsigned body_type; /* v5 */
    const uint8_t *isv_sig, *attest_key, *qe_report, *qe_sig, *qe_auth, *pem;
    size_t qe_auth_len, pem_len;
};

/* Bounded reader over the signature data. */
struct rd {
    const uint8_t *p;
    size_t off, len;
};
static const uint8_t *take(struct rd *r, size_t n)
{
    if (r->len - r->off < n)
        return NULL;
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

static int parse_quote(const uint8_t *q, size_t len, bool allow_trailing, struct quote *out, ens_error_t *err)
{
    memset(out, 0, sizeof(*out));
    out->q = q;
    if (len < 48)
        return ens_error(err, EINVAL, "parse: %zu bytes is shorter than a quote header", len);
    out->version = tee_u16(q);
    uint32_t tee_type = tee_u32(q + 4);
    size_t siglen_off;
    if (out->version == 3) {
        out->type = ENS_TEE_SGX;
        out->body = q + 48;
        out->body_len = SGX_BODY_LEN;
        siglen_off = 48 + SGX_BODY_LEN;
    } else if ((out->version == 4 || out->version == 5) && tee_type == 0x81) {
        out->type = ENS_TEE_TDX;
        if (out->version == 4) {
            out->body = q + 48;
            out->body_len = TDX10_BODY_LEN;
            siglen_off = 48 + TDX10_BODY_LEN;
        } else {
            if (len < 54)
                return ens_error(err, EINVAL, "parse: truncated v5 body descriptor");
            out->body_type = tee_u16(q + 48);
            uint32_t bsz = tee_u32(q + 50);
            if (!((out->body_type == 2 && bsz == TDX10_BODY_LEN) || (out->body_type == 3 && bsz == TDX15_BODY_LEN)))
                return ens_error(err, EINVAL, "parse: unsupported v5 body type %u of %u bytes", out->body_type, bsz);
            out->body = q + 54;
            out->body_len = bsz;
            siglen_off = 54 + bsz;
        }
    } else {
        return ens_error(err, EINVAL, "header: unsupported quote version %u / TEE type 0x%x", out->version, tee_type);
    }
    if (len < siglen_off + 4)
        return ens_error(err, EINVAL, "parse: truncated quote (%zu bytes, body needs %zu)", len, siglen_off + 4);
    out->signed_len = siglen_off;
    uint32_t siglen = tee_u32(q + siglen_off);
    if (siglen > len - siglen_off - 4)
        return ens_error(err, EINVAL, "parse: signature data length %u exceeds the %zu bytes left", siglen,
                         len - siglen_off - 4);
    struct rd r = {.p = q + siglen_off + 4, .off = 0, .len = siglen};
    out->isv_sig = take(&r, 64);
    out->attest_key = take(&r, 64);
    if (!out->attest_key)
        return ens_error(err, EINVAL, "parse: signature data too short");
    struct rd inner = r;
    if (out->type == ENS_TEE_TDX) {
        const uint8_t *h = take(&r, 6);
        if (!h)
            return ens_error(err, EINVAL, "parse: missing certification data header");
        uint16_t ctype = tee_u16(h);
        uint32_t csize = tee_u32(h + 2);
        if (ctype != 6)
            return ens_error(err, EINVAL, "parse: certification data type %u, expected 6 (QE report)", ctype);
        const uint8_t *cd = take(&r, csize);
        if (!cd)
            return ens_error(err, EINVAL, "parse: certification data size %u exceeds the signature data", csize);
        inner = (struct rd){.p = cd, .off = 0, .len = csize};
    }
    out->qe_report = take(&inner, QE_REPORT_LEN);
    out->qe_sig = take(&inner, 64);
    const uint8_t *al = take(&inner, 2);
    if (!al)
        return ens_error(err, EINVAL, "parse: truncated QE report data");
    out->qe_auth_len = tee_u16(al);
    out->qe_auth = take(&inner, out->qe_auth_len);
    const uint8_t *ch = out->qe_auth ? take(&inner, 6) : NULL;
    if (!ch)
        return ens_error(err, EINVAL, "parse: truncated QE authentication data");
    uint16_t ctype = tee_u16(ch);
    uint32_t csize = tee_u32(ch + 2);
    if (ctype != 5)
        return ens_error(err, EINVAL, "parse: certification data type %u, expected 5 (PCK chain)", ctype);
    out->pem = take(&inner, csize);
    out->pem_len = csize;
    if (!out->pem)
        return ens_error(err, EINVAL, "parse: PCK chain size %u exceeds the certification data", csize);
    if (inner.off != inner.len)
        return ens_error(err, EINVAL, "parse: %zu unexpected bytes after the PCK chain", inner.len - inner.off);
    if (out->type == ENS_TEE_SGX)
        r = inner;
    if (r.off != r.len)
        return ens_error(err, EINVAL, "parse: %zu unexpected bytes in the signature data", r.len - r.off);
    out->end = siglen_off + 4 + siglen;
    if (out->end < len && !allow_trailing) {
        for (size_t i = out->end; i < len; i++)
            if (q[i] != 0)
                return ens_error(err, EINVAL, "parse: %zu unexpected bytes after the quote (only zero padding is accepted)",
                                 len - out->end);
    }
    return 0;
}

/* ---- claims ------------------------------------------------------------ */

static void set_hex(json_t *o, const char *k, const uint8_t *p, size_t n) { json_object_set_new(o, k, tee_json_hex(p, n)); }

static void quote_claims(const struct quote *q, json_t *claims)
{
    json_t *m = json_object();
    const uint8_t *b = q->body;
    bool debug;
    json_object_set_new(claims, "tee", json_string(ens_tee_type_name(q->type)));
    json_object_set_new(claims, "version", json_integer(q->version));
    json_object_set_new(claims, "qe_svn", json_integer(tee_u16(q->q + 8)));
    json_object_set_new(claims, "pce_svn", json_integer(tee_u16(q->q + 10)));
    if (q->type == ENS_TEE_SGX) {
        set_hex(m, "cpusvn", b, 16);
        json_object_set_new(m, "miscselect", json_integer(tee_u32(b + 16)));
        set_hex(m, "isvextprodid", b + 32, 16);
        set_hex(m, "attributes", b + 48, 16);
        set_hex(m, "mrenclave", b + 64, 32);
        set_hex(m, "mrsigner", b + 128, 32);
        set_hex(m, "configid", b + 192, 64);
        json_object_set_new(m, "isvprodid", json_integer(tee_u16(b + 256)));
        json_object_set_new(m, "isvsvn", json_integer(tee_u16(b + 258)));
        json_object_set_new(m, "configsvn", json_integer(tee_u16(b + 260)));
        set_hex(m, "isvfamilyid", b + 304, 16);
        set_hex(claims, "report_data", b + 320, 64);
        debug = (tee_u64(b + 48) & 0x02) != 0;
    } else {
        set_hex(m, "tee_tcb_svn", b, 16);
        set_hex(m, "mrseam", b + 16, 48);
        set_hex(m, "mrsignerseam", b + 64, 48);
        set_hex(m, "seam_attributes", b + 112, 8);
        set_hex(m, "td_attributes", b + 120, 8);
        set_hex(m, "xfam", b + 128, 8);
        set_hex(m, "mrtd", b + 136, 48);
        set_hex(m, "mrconfigid", b + 184, 48);
        set_hex(m, "mrowner", b + 232, 48);
        set_hex(m, "mrownerconfig", b + 280, 48);
        static const char *rt[4] = {"rtmr0", "rtmr1", "rtmr2", "rtmr3"};
        for (int i = 0; i < 4; i++)
            set_hex(m, rt[i], b + 328 + 48 * i, 48);
        if (q->body_len == TDX15_BODY_LEN) {
            set_hex(m, "tee_tcb_svn2", b + 584, 16);
            set_hex(m, "mrservicetd", b + 600, 48);
        }
        set_hex(claims, "report_data", b + 520, 64);
        debug = (tee_u64(b + 120) & 1) != 0;
    }
    json_object_set_new(claims, "debug", json_boolean(debug));
    json_object_set_new(claims, "measurements", m);
}

/* ---- PCK certificate SGX extension -------------------------------------- */

struct pck_info {
    uint8_t fmspc[6], pceid[2];
    int comp[16];
    int pcesvn;
    unsigned have;
};

static void seq_free(STACK_OF(ASN1_TYPE) **s) { sk_ASN1_TYPE_pop_free(*s, ASN1_TYPE_free); }
#define _cleanup_seq_ __attribute__((cleanup(seq_free)))

static STACK_OF(ASN1_TYPE) *parse_seq(const ASN1_TYPE *t)
{
    if (!t || t->type != V_ASN1_SEQUENCE)
        return NULL;
    const unsigned char *p = t->value.sequence->data;
    STACK_OF(ASN1_TYPE) *s = d2i_ASN1_SEQUENCE_ANY(NULL, &p, t->value.sequence->length);
    ERR_clear_error();
    return s;
}

/* Each element of an SGX extension sequence is SEQUENCE { OID, value }. */
static int oid_pair(const ASN1_TYPE *t, char *oid, size_t oidlen, const ASN1_TYPE **value, STACK_OF(ASN1_TYPE) **hold)
{
    *hold = parse_seq(t);
    if (!*hold || sk_ASN1_TYPE_num(*hold) != 2)
        return -1;
    const ASN1_TYPE *o = sk_ASN1_TYPE_value(*hold, 0);
    if (o->type != V_ASN1_OBJECT || OBJ_obj2txt(oid, (int)oidlen, o->value.object, 1) <= 0)
        return -1;
    *value = sk_ASN1_TYPE_value(*hold, 1);
    return 0;
}

static int parse_pck(X509 *leaf, struct pck_info *pi, ens_error_t *err)
{
    memset(pi, 0, sizeof(*pi));
    ASN1_OBJECT *obj = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
    int idx = obj ? X509_get_ext_by_OBJ(leaf, obj, -1) : -1;
    ASN1_OBJECT_free(obj);
    if (idx < 0)
        return ens_error(err, EINVAL, "pck-chain: the PCK certificate has no SGX extension");
    ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(X509_get_ext(leaf, idx));
    const unsigned char *p = os->data;
    _cleanup_seq_ STACK_OF(ASN1_TYPE) *top = d2i_ASN1_SEQUENCE_ANY(NULL, &p, os->length);
    ERR_clear_error();
    if (!top)
        return ens_error(err, EINVAL, "pck-chain: malformed SGX extension");
    for (int i = 0; i < sk_ASN1_TYPE_num(top); i++) {
        char oid[64];
        const ASN1_TYPE *v;
        _cleanup_seq_ STACK_OF(ASN1_TYPE) *hold = NULL;
        if (oid_pair(sk_ASN1_TYPE_value(top, i), oid, sizeof(oid), &v, &hold) < 0)
            return ens_error(err, EINVAL, "pck-chain: malformed SGX extension entry %d", i);
        if (strcmp(oid, "1.2.840.113741.1.13.1.4") == 0) {
            if (v->type != V_ASN1_OCTET_STRING || v->value.octet_string->length != 6)
                return ens_error(err, EINVAL, "pck-chain: FMSPC is not 6 bytes");
            memcpy(pi->fmspc, v->value.octet_string->data, 6);
            pi->have |= 1;
        } else if (strcmp(oid, "1.2.840.113741.1.13.1.3") == 0) {
            if (v->type != V_ASN1_OCTET_STRING || v->value.octet_string->length != 2)
                return ens_error(err, EINVAL, "pck-chain: PCE-ID is not 2 bytes");
            memcpy(pi->pceid, v->value.octet_string->data, 2);
            pi->have |= 2;
        } else if (strcmp(oid, "1.2.840.113741.1.13.1.2") == 0) {
            _cleanup_seq_ STACK_OF(ASN1_TYPE) *tcb = parse_seq(v);
            if (!tcb)
                return ens_error(err, EINVAL, "pck-chain: malformed TCB in the SGX extension");
            for (int k = 0; k < sk_ASN1_TYPE_num(tcb); k++) {
                char o2[64];
                const ASN1_TYPE *v2;
                _cleanup_seq_ STACK_OF(ASN1_TYPE) *h2 = NULL;
                if (oid_pair(sk_ASN1_TYPE_value(tcb, k), o2, sizeof(o2), &v2, &h2) < 0)
                    return ens_error(err, EINVAL, "pck-chain: malformed TCB component %d", k);
                const char *pre = "1.2.840.113741.1.13.1.2.";
                if (strncmp(o2, pre, strlen(pre)) != 0)
                    continue;
                int n = atoi(o2 + strlen(pre));
                if (n >= 1 && n <= 17) {
                    int64_t val;
                    if (v2->type != V_ASN1_INTEGER || ASN1_INTEGER_get_int64(&val, v2->value.integer) != 1 ||
                        val < 0 || val > 65535)
                        return ens_error(err, EINVAL, "pck-chain: TCB component %d is not a small integer", n);
                    if (n == 17)
                        pi->pcesvn = (int)val;
                    else
                        pi->comp[n - 1] = (int)val;
                    pi->have |= 4u << (n - 1);
                }
            }
        }
    }
    if ((pi->have & 7) != 7 || (pi->have >> 2) != 0x1ffff)
        return ens_error(err, EINVAL, "pck-chain: the SGX extension lacks FMSPC, PCE-ID or TCB components");
    return 0;
}

/* ---- collateral documents ------------------------------------------------ */

static const struct tee_intel_doc *select_doc(const struct tee_intel_doc *docs, size_t n, const char *id,
                                              const char *fmspc, time_t at, const char *step, const char *what,
                                              ens_error_t *err)
{
    const struct tee_intel_doc *best = NULL, *any = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct tee_intel_doc *d = &docs[i];
        if (strcmp(d->id, id) != 0 || (fmspc && strcmp(d->fmspc, fmspc) != 0))
            continue;
        if (!any || d->issue > any->issue)
            any = d;
        if (at < d->issue || at >= d->next)
            continue;
        if (!best || d->eval_num > best->eval_num || (d->eval_num == best->eval_num && d->issue > best->issue))
            best = d;
    }
    if (best)
        return best;
    if (!any) {
        ens_error(err, ENOENT, "%s: no %s with id %s%s%s in the collateral", step, what, id,
                  fmspc ? " for FMSPC " : "", fmspc ? fmspc : "");
        return NULL;
    }
    char t1[32], t2[32];
    tee_format_time(any->issue, t1);
    tee_format_time(any->next, t2);
    ens_error(err, EKEYEXPIRED, "%s: %s (%s) is %s at the verification time (valid %s .. %s)", step, what, any->source,
              at < any->issue ? "not yet valid" : "expired", t1, t2);
    return NULL;
}

static bool is_tcb_signer(X509 *x)
{
    char cn[128];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)) <= 0)
        return false;
    return strstr(cn, "TCB Signing") != NULL;
}

static int verify_doc(const struct ens_tee_collateral *cc, const struct tee_intel_doc *dc, time_t at,
                      const char *step, ens_error_t *err)
{
    struct ens_tee_collateral *c = (struct ens_tee_collateral *)cc;
    struct tee_intel_doc *d = (struct tee_intel_doc *)dc; /* only the signature cache is written */
    _cleanup_error_ ens_error_t last = NULL;
    pthread_mutex_lock(&c->lock);
    X509 *known = d->sig_ok_by; /* the certificate whose key verified the signature before */
    pthread_mutex_unlock(&c->lock);
    if (known && tee_verify_chain(c, known, NULL, &tee_intel_root_sha256, 1, TEE_CRL_REQUIRED, at, step, &last) == 0)
        return 0;
    int n = d->signer ? 1 : sk_X509_num(c->certs);
    for (int i = 0; i < n; i++) {
        X509 *s = d->signer ? d->signer : sk_X509_value(c->certs, i);
        if (!d->signer && !is_tcb_signer(s))
            continue;
        ens_error_release(&last);
        if (tee_verify_chain(c, s, NULL, &tee_intel_root_sha256, 1, TEE_CRL_REQUIRED, at, step, &last) < 0)
            continue;
        if (s != known) {
            if (tee_ecdsa_verify_raw(X509_get0_pubkey(s), EVP_sha256(), (const uint8_t *)d->body, d->body_len, d->sig,
                                     32) < 0) {
                ens_error(&last, EACCES, "%s: signature of %s does not verify", step, d->source);
                continue;
            }
            pthread_mutex_lock(&c->lock);
            d->sig_ok_by = s; /* s lives as long as the collateral (pool or d->signer) */
            pthread_mutex_unlock(&c->lock);
        }
        return 0;
    }
    if (last) {
        ens_error(err, ens_error_status(last), "%s", ens_error_msg(last));
        return -1;
    }
    return ens_error(err, ENOENT, "%s: no TCB Signing certificate in the collateral for %s", step, d->source);
}

/* ---- TCB evaluation ----------------------------------------------------- */

static int status_rank(const char *s)
{
    static const char *order[] = {"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded",
                                  "ConfigurationAndSWHardeningNeeded", "OutOfDate", "OutOfDateConfigurationNeeded",
                                  "Revoked"};
    for (int i = 0; i < 7; i++)
        if (s && strcmp(s, order[i]) == 0)
            return i;
    return -1;
}

/* Intel QVL's convergence of the platform status with the QE / TDX module status. */
static const char *converge(const char *platform, const char *other)
{
    if (strcmp(other, "Revoked") == 0)
        return "Revoked";
    if (strcmp(other, "OutOfDate") == 0) {
        if (!strcmp(platform, "UpToDate") || !strcmp(platform, "SWHardeningNeeded"))
            return "OutOfDate";
        if (!strcmp(platform, "ConfigurationNeeded") || !strcmp(platform, "ConfigurationAndSWHardeningNeeded"))
            return "OutOfDateConfigurationNeeded";
    }
    return platform;
}

static int level_svn(json_t *tcb, const char *arr, const char *v2fmt, int i, bool *ok)
{
    json_t *a = json_object_get(tcb, arr);
    json_t *v;
    if (a) {
        v = json_object_get(json_array_get(a, (size_t)i), "svn");
    } else {
        char k[32];
        snprintf(k, sizeof(k), v2fmt, i + 1);
        v = json_object_get(tcb, k);
    }
    if (!json_is_integer(v)) {
        *ok = false;
        return 0;
    }
    return (int)json_integer_value(v);
}

static void add_advisories(json_t *dst, json_t *level)
{
    json_t *a = json_object_get(level, "advisoryIDs"), *v;
    size_t i;
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v))
            continue;
        bool dup = false;
        size_t k;
        json_t *e;
        json_array_foreach(dst, k, e) dup |= json_equal(e, v);
        /* copies: collateral values are shared between threads, claims are the caller's */
        if (!dup)
            json_array_append_new(dst, json_string(json_string_value(v)));
    }
}

static int hexeq(const char *hex, const uint8_t *p, size_t n)
{
    uint8_t buf[64];
    if (!hex || n > sizeof(buf) || strlen(hex) != 2 * n || ens_hex_decode(hex, buf, n, NULL) < 0)
        return -1;
    return memcmp(buf, p, n) == 0 ? 1 : 0;
}

static int masked_eq(const char *hex, const char *mask_hex, const uint8_t *p, size_t n)
{
    uint8_t v[64], m[64];
    if (!hex || !mask_hex || n > sizeof(v) || strlen(hex) != 2 * n || strlen(mask_hex) != 2 * n ||
        ens_hex_decode(hex, v, n, NULL) < 0 || ens_hex_decode(mask_hex, m, n, NULL) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((p[i] & m[i]) != v[i])
            return 0;
    return 1;
}

/* TDX module identity and its TCB level (spec: TDX quote, module identity). */
static int tdx_module(const struct quote *q, json_t *tcbinfo, const char **status, json_t *adv, json_t *claims,
                      ens_error_t *err)
{
    const uint8_t *b = q->body;
    uint8_t svn0 = b[0], svn1 = b[1];
    json_t *ids = json_object_get(tcbinfo, "tdxModuleIdentities");
    json_t *ident = NULL;
    *status = "UpToDate";
    if (ids && svn1 > 0) {
        char want[16];
        snprintf(want, sizeof(want), "TDX_%02X", svn1);
        size_t i;
        json_t *v;
        json_array_foreach(ids, i, v)
        {
            const char *id = json_string_value(json_object_get(v, "id"));
            if (id && strcasecmp(id, want) == 0)
                ident = v;
        }
        if (!ident)
            return ens_error(err, EACCES, "tdx-module: no TDX module identity %s in the TCB Info", want);
    } else {
        ident = json_object_get(tcbinfo, "tdxModule");
        if (!ident)
            return ens_error(err, EACCES, "tdx-module: the TCB Info has no tdxModule");
    }
    if (hexeq(json_string_value(json_object_get(ident, "mrsigner")), b + 64, 48) != 1)
        return ens_error(err, EACCES, "tdx-module: MRSIGNERSEAM differs from the TDX module identity");
    if (masked_eq(json_string_value(json_object_get(ident, "attributes")),
                  json_string_value(json_object_get(ident, "attributesMask")), b + 112, 8) != 1)
        return ens_error(err, EACCES, "tdx-module: SEAMATTRIBUTES do not match the TDX module identity");
    json_t *levels = json_object_get(ident, "tcbLevels");
    if (levels) {
        size_t i;
        json_t *lv;
        json_t *match = NULL;
        json_array_foreach(levels, i, lv)
        {
            json_t *isv = json_object_get(json_object_get(lv, "tcb"), "isvsvn");
            if (json_is_integer(isv) && json_integer_value(isv) <= svn0) {
                match = lv;
                break;
            }
        }
        if (!match)
            return ens_error(err, EACCES, "tdx-module: TDX module SVN %u is below every TCB level", svn0);
        *status = json_string_value(json_object_get(match, "tcbStatus"));
        if (status_rank(*status) < 0)
            return ens_error(err, EINVAL, "tdx-module: unknown tcbStatus");
        add_advisories(adv, match);
    }
    json_object_set_new(claims, "tdx_module_tcb_status", json_string(*status));
    return 0;
}

static int platform_level(const struct quote *q, const struct pck_info *pi, json_t *tcbinfo, json_t **level,
                          ens_error_t *err)
{
    json_t *levels = json_object_get(tcbinfo, "tcbLevels"), *lv;
    size_t i;
    json_array_foreach(levels, i, lv)
    {
        json_t *tcb = json_object_get(lv, "tcb");
        bool ok = true, match = true;
        for (int k = 0; k < 16 && match; k++)
            match = level_svn(tcb, "sgxtcbcomponents", "sgxtcbcomp%02dsvn", k, &ok) <= pi->comp[k];
        json_t *pce = json_object_get(tcb, "pcesvn");
        if (!json_is_integer(pce))
            ok = false;
        else if (json_integer_value(pce) > pi->pcesvn)
            match = false;
        if (q->type == ENS_TEE_TDX && match) {
            json_t *tc = json_object_get(tcb, "tdxtcbcomponents");
            if (!json_is_array(tc) || json_array_size(tc) != 16)
                ok = false;
            for (int k = q->body[1] > 0 ? 2 : 0; k < 16 && match && ok; k++)
                match = level_svn(tcb, "tdxtcbcomponents", "", k, &ok) <= q->body[k];
        }
        if (!ok)
            return ens_error(err, EINVAL, "tcb-level: malformed TCB level %zu in the TCB Info", i);
        if (match) {
            *level = lv;
            return 0;
        }
    }
    return ens_error(err, EACCES, "tcb-level: no TCB level matches the platform (TCB status unknown)");
}

/* ---- the verification order (spec: SGX ECDSA quote v3, TDX quote v4 and v5) ---- */

static void pkey_free(EVP_PKEY **k) { EVP_PKEY_free(*k); }
static void pkey_free_void(void *k) { EVP_PKEY_free(k); }

struct pck_entry {
    STACK_OF(X509) *chain;
    struct pck_info pi;
};
static void pck_entry_free(void *p)
{
    struct pck_entry *e = p;
    if (!e)
        return;
    sk_X509_pop_free(e->chain, X509_free);
    free(e);
}
static void pck_entry_freep(struct pck_entry **e) { pck_entry_free(*e); }

int tee_intel_verify(const struct ens_tee_input *in, const struct ens_tee_collateral *c, time_t at, json_t *claims,
                     bool verify, ens_error_t *err)
{
    struct quote q;
    if (parse_quote(in->evidence, in->len, in->allow_trailing_data, &q, err) < 0)
        return -1;
    if (in->type != ENS_TEE_UNKNOWN && in->type != q.type)
        return ens_error(err, EINVAL, "header: evidence is a %s quote, %s was expected", ens_tee_type_name(q.type),
                         ens_tee_type_name(in->type));
    /* 1. Header. */
    if (tee_u16(q.q + 2) != 2)
        return ens_error(err, EINVAL, "header: attestation key type %u is not ECDSA P-256 (2)", tee_u16(q.q + 2));
    if (memcmp(q.q + 12, intel_qe_vendor, 16) != 0)
        return ens_error(err, EINVAL, "header: QE vendor id is not Intel's");
    quote_claims(&q, claims);
    json_object_set_new(claims, "quote_length", json_integer((json_int_t)q.end));
    if (!verify) {
        /* Best effort for operators: the FMSPC names the TCB Info to fetch. */
        STACK_OF(X509) *pc = NULL;
        struct pck_info ppi;
        if (tee_pem_certs(q.pem, q.pem_len, &pc, "pck-chain", NULL) == 0 && parse_pck(sk_X509_value(pc, 0), &ppi, NULL) == 0) {
            char hex[13];
            ens_hex_encode(ppi.fmspc, 6, hex);
            json_object_set_new(claims, "fmspc", json_string(hex));
            ens_hex_encode(ppi.pceid, 2, hex);
            json_object_set_new(claims, "pce_id", json_string(hex));
        }
        sk_X509_pop_free(pc, X509_free);
        return 0;
    }

    /* The PCK chain is per platform: parse it once per collateral object. */
    uint8_t pem_key[32];
    ens_sha256(q.pem, q.pem_len, pem_key);
    struct pck_entry *pe = tee_obj_get(c, 'P', pem_key);
    __attribute__((cleanup(pck_entry_freep))) struct pck_entry *own = NULL;
    if (!pe) {
        own = calloc(1, sizeof(*own));
        if (!own)
            return ens_error(err, ENOMEM, "pck-chain: out of memory");
        if (tee_pem_certs(q.pem, q.pem_len, &own->chain, "pck-chain", err) < 0 ||
            parse_pck(sk_X509_value(own->chain, 0), &own->pi, err) < 0)
            return -1;
        pe = tee_obj_put(c, 'P', pem_key, own, pck_entry_free);
        if (pe)
            own = NULL; /* now owned by the cache */
        else
            pe = own;
    }
    STACK_OF(X509) *chain = pe->chain;
    X509 *leaf = sk_X509_value(chain, 0);
    const struct pck_info pi = pe->pi;
    char fmspc[13];
    ens_hex_encode(pi.fmspc, 6, fmspc);
    bool tdx = q.type == ENS_TEE_TDX;

    /* 2. TCB Info. */
    const struct tee_intel_doc *ti = select_doc(c->tcb, c->n_tcb, tdx ? "TDX" : "SGX", fmspc, at, "tcb-info",
                                                "TCB Info", err);
    if (!ti || verify_doc(c, ti, at, "tcb-info", err) < 0)
        return -1;
    /* 3. QE Identity. */
    const struct tee_intel_doc *qi = select_doc(c->qe, c->n_qe, tdx ? "TD_QE" : "QE", NULL, at, "qe-identity",
                                                "QE Identity", err);
    if (!qi || verify_doc(c, qi, at, "qe-identity", err) < 0)
        return -1;
    /* 4. PCK chain with CRLs at time at. */
    if (tee_verify_chain(c, leaf, chain, &tee_intel_root_sha256, 1, TEE_CRL_REQUIRED, at, "pck-chain", err) < 0)
        return -1;
    /* 5. FMSPC (selected above) and PCE-ID. */
    if (hexeq(json_string_value(json_object_get(ti->json, "pceId")), pi.pceid, 2) != 1)
        return ens_error(err, EACCES, "pck-fmspc: PCE-ID of the PCK certificate differs from the TCB Info's");
    /* 6. QE report signature by the PCK key. */
    if (tee_ecdsa_verify_raw(X509_get0_pubkey(leaf), EVP_sha256(), q.qe_report, QE_REPORT_LEN, q.qe_sig, 32) < 0)
        return ens_error(err, EACCES, "qe-report-signature: the QE report is not signed by the PCK key");
    /* 7. QE binding of the attestation key. */
    {
        uint8_t h[32];
        ens_sha256_ctx *hc = ens_sha256_new();
        if (!hc)
            return ens_error(err, ENOMEM, "qe-binding: out of memory");
        ens_sha256_update(hc, q.attest_key, 64);
        ens_sha256_update(hc, q.qe_auth, q.qe_auth_len);
        ens_sha256_final(hc, h);
        ens_sha256_free(hc);
        static const uint8_t zero[32];
        if (!ens_ct_equal(h, q.qe_report + 320, 32) || memcmp(q.qe_report + 352, zero, 32) != 0)
            return ens_error(err, EACCES, "qe-binding: QE REPORTDATA does not bind the attestation key");
    }
    /* 8. QE identity. */
    const char *qe_status;
    json_t *adv = json_array();
    json_object_set_new(claims, "advisory_ids", adv);
    {
        const uint8_t *r = q.qe_report;
        json_t *j = qi->json;
        if (hexeq(json_string_value(json_object_get(j, "mrsigner")), r + 128, 32) != 1)
            return ens_error(err, EACCES, "qe-identity-match: QE MRSIGNER differs from the QE Identity");
        json_t *pid = json_object_get(j, "isvprodid");
        if (!json_is_integer(pid) || json_integer_value(pid) != tee_u16(r + 256))
            return ens_error(err, EACCES, "qe-identity-match: QE ISVPRODID differs from the QE Identity");
        /* miscselect is a u32: the JSON hex is its big-endian text, the report holds it little-endian. */
        uint8_t misc_be[4] = {r[19], r[18], r[17], r[16]};
        if (masked_eq(json_string_value(json_object_get(j, "miscselect")),
                      json_string_value(json_object_get(j, "miscselectMask")), misc_be, 4) != 1)
            return ens_error(err, EACCES, "qe-identity-match: QE MISCSELECT does not match the QE Identity");
        if (masked_eq(json_string_value(json_object_get(j, "attributes")),
                      json_string_value(json_object_get(j, "attributesMask")), r + 48, 16) != 1)
            return ens_error(err, EACCES, "qe-identity-match: QE ATTRIBUTES do not match the QE Identity");
        unsigned isvsvn = tee_u16(r + 258);
        json_t *lv, *match = NULL;
        size_t i;
        json_array_foreach(json_object_get(j, "tcbLevels"), i, lv)
        {
            json_t *s = json_object_get(json_object_get(lv, "tcb"), "isvsvn");
            if (json_is_integer(s) && json_integer_value(s) <= isvsvn) {
                match = lv;
                break;
            }
        }
        if (!match)
            return ens_error(err, EACCES, "qe-identity-match: QE ISVSVN %u is below every QE TCB level", isvsvn);
        qe_status = json_string_value(json_object_get(match, "tcbStatus"));
        if (status_rank(qe_status) < 0)
            return ens_error(err, EINVAL, "qe-identity-match: unknown QE tcbStatus");
        add_advisories(adv, match);
        json_object_set_new(claims, "qe_tcb_status", json_string(qe_status));
    }
    /* 9. ISV signature by the attestation key. */
    {
        /* Attestation keys live as long as the QE's: decode each once (OpenSSL 3 decoding is slow). */
        uint8_t ak_key[32];
        ens_sha256(q.attest_key, 64, ak_key);
        EVP_PKEY *ak = tee_obj_get(c, 'K', ak_key);
        __attribute__((cleanup(pkey_free))) EVP_PKEY *ak_own = NULL;
        if (!ak) {
            ak_own = tee_p256_key(q.attest_key);
            if (!ak_own)
                return ens_error(err, EACCES, "quote-signature: the attestation key is not a P-256 point");
            ak = tee_obj_put(c, 'K', ak_key, ak_own, pkey_free_void);
            if (ak)
                ak_own = NULL;
            else
                ak = ak_own;
        }
        if (tee_ecdsa_verify_raw(ak, EVP_sha256(), q.q, q.signed_len, q.isv_sig, 32) < 0)
            return ens_error(err, EACCES, "quote-signature: the quote signature does not verify");
    }
    /* 10. Platform TCB level (PCK certificate values), TDX module, convergence. */
    json_t *level = NULL;
    if (platform_level(&q, &pi, ti->json, &level, err) < 0)
        return -1;
    const char *pstatus = json_string_value(json_object_get(level, "tcbStatus"));
    if (status_rank(pstatus) < 0)
        return ens_error(err, EINVAL, "tcb-level: unknown tcbStatus in the TCB Info");
    add_advisories(adv, level);
    const char *status = converge(pstatus, qe_status);
    if (tdx) {
        const char *mstatus;
        if (tdx_module(&q, ti->json, &mstatus, adv, claims, err) < 0)
            return -1;
        status = converge(status, mstatus);
    }
    json_object_set_new(claims, "platform_tcb_status", json_string(pstatus));
    json_object_set_new(claims, "tcb_status", json_string(status));
    json_t *td = json_object_get(level, "tcbDate");
    if (json_is_string(td))
        json_object_set_new(claims, "tcb_date", json_string(json_string_value(td)));
    json_object_set_new(claims, "fmspc", json_string(fmspc));
    json_object_set_new(claims, "tcb_evaluation_data_number", json_integer(ti->eval_num));
    time_t until = ti->next < qi->next ? ti->next : qi->next;
    char ts[32];
    tee_format_time(until, ts);
    json_object_set_new(claims, "collateral_next_update", json_string(ts));
    return 0;
}
