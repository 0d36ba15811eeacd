/* SPDX-License-Identifier: Apache-2.0 */
/* AMD SEV-SNP attestation reports: parsing, VCEK/VLEK selection, ARK -> ASK -> VCEK chain, signature. */
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

#define SNP_REPORT_LEN 1184
#define SNP_SIGNED_LEN 0x2A0

static const struct {
    const char *kind;
    uint8_t guid[16];
} snp_guids[] = {
    {"vcek", {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd}},
    {"vlek", {0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1}},
    {"ask", {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82}},
    {"ark", {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae}},
};

int ens_tee_snp_certtable_parse(const uint8_t *t, size_t len, struct ens_tee_snp_cert **certs, size_t *n,
                                ens_error_t *err)
{
    *certs = NULL;
    *n = 0;
    static const uint8_t zero[24];
    size_t count = 0;
    for (;; count++) {
        if ((count + 1) * 24 > len)
            return ens_error(err, EINVAL, "snp-certs: certificate table has no terminating entry");
        if (memcmp(t + count * 24, zero, 24) == 0)
            break;
        if (count >= 64)
            return ens_error(err, EINVAL, "snp-certs: certificate table has more than 64 entries");
    }
    struct ens_tee_snp_cert *out = calloc(count ? count : 1, sizeof(*out));
    if (!out)
        return ens_error(err, ENOMEM, "snp-certs: out of memory");
    size_t table_end = (count + 1) * 24;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *e = t + i * 24;
        uint32_t off = tee_u32(e + 16), l = tee_u32(e + 20);
        if (off < table_end || off > len || l == 0 || l > len - off) {
            free(out);
            return ens_error(err, EINVAL, "snp-certs: entry %zu (offset %u, length %u) lies outside the %zu-byte table",
                             i, off, l, len);
        }
        memcpy(out[i].guid, e, 16);
        strcpy(out[i].kind, "other");
        for (size_t g = 0; g < sizeof(snp_guids) / sizeof(snp_guids[0]); g++)
            if (memcmp(e, snp_guids[g].guid, 16) == 0)
                strcpy(out[i].kind, snp_guids[g].kind);
        out[i].data = t + off;
        out[i].len = l;
    }
    *certs = out;
    *n = count;
    return 0;
}

/* ---- VCEK extensions ------------------------------------------------------ */

static const ASN1_OCTET_STRING *amd_ext(X509 *x, const char *suffix)
{
    char oid[64];
    snprintf(oid, sizeof(oid), "1.3.6.1.4.1.3704.1.%s", suffix);
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    int idx = obj ? X509_get_ext_by_OBJ(x, obj, -1) : -1;
    ASN1_OBJECT_free(obj);
    ERR_clear_error();
    return idx < 0 ? NULL : X509_EXTENSION_get_data(X509_get_ext(x, idx));
}

static int amd_ext_int(X509 *x, const char *suffix, long *v)
{
    const ASN1_OCTET_STRING *os = amd_ext(x, suffix);
    if (!os)
        return -1;
    const unsigned char *p = os->data;
    ASN1_INTEGER *i = d2i_ASN1_INTEGER(NULL, &p, os->length);
    int64_t val;
    int ok = i && ASN1_INTEGER_get_int64(&val, i) == 1 && val >= 0 && val <= 255;
    ASN1_INTEGER_free(i);
    ERR_clear_error();
    if (!ok)
        return -1;
    *v = (long)val;
    return 0;
}

static int amd_product(X509 *x, char *out, size_t outlen)
{
    const ASN1_OCTET_STRING *os = amd_ext(x, "2");
    if (!os)
        return -1;
    const unsigned char *p = os->data;
    ASN1_IA5STRING *s = d2i_ASN1_IA5STRING(NULL, &p, os->length);
    ERR_clear_error();
    if (!s)
        return -1;
    snprintf(out, outlen, "%.*s", s->length, (const char *)s->data);
    ASN1_IA5STRING_free(s);
    return 0;
}

/* hwID is an OCTET STRING in real VCEKs; some encoders put the raw bytes directly. */
static int amd_hwid(X509 *x, const uint8_t **id, size_t *len, ASN1_OCTET_STRING **hold)
{
    const ASN1_OCTET_STRING *os = amd_ext(x, "4");
    if (!os)
        return -1;
    const unsigned char *p = os->data;
    *hold = d2i_ASN1_OCTET_STRING(NULL, &p, os->length);
    ERR_clear_error();
    if (*hold && p == os->data + os->length) {
        *id = (*hold)->data;
        *len = (size_t)(*hold)->length;
    } else {
        *id = os->data;
        *len = (size_t)os->length;
    }
    return 0;
}

static bool is_p384_leaf(X509 *x)
{
    EVP_PKEY *k = X509_get0_pubkey(x);
    char g[32];
    size_t gl;
    return k && EVP_PKEY_get_base_id(k) == EVP_PKEY_EC &&
           EVP_PKEY_get_utf8_string_param(k, "group", g, sizeof(g), &gl) == 1 && strcmp(g, "secp384r1") == 0;
}

/* ---- claims ------------------------------------------------------------- */

static void set_hex(json_t *o, const char *k, const uint8_t *p, size_t n) { json_object_set_new(o, k, tee_json_hex(p, n)); }

static void report_claims(const uint8_t *r, json_t *claims)
{
    uint32_t version = tee_u32(r);
    uint64_t policy = tee_u64(r + 0x08);
    json_t *m = json_object();
    json_object_set_new(claims, "tee", json_string("snp"));
    json_object_set_new(claims, "version", json_integer(version));
    set_hex(claims, "report_data", r + 0x50, 64);
    json_object_set_new(claims, "debug", json_boolean((policy >> 19) & 1));
    json_object_set_new(claims, "smt_enabled", json_boolean(tee_u64(r + 0x40) & 1));
    json_object_set_new(claims, "vmpl", json_integer(tee_u32(r + 0x30)));
    json_object_set_new(claims, "signing_key", json_string(((tee_u32(r + 0x48) >> 2) & 7) == 1 ? "vlek" : "vcek"));
    set_hex(m, "measurement", r + 0x90, 48);
    set_hex(m, "host_data", r + 0xC0, 32);
    json_object_set_new(m, "policy", json_integer((json_int_t)policy));
    json_object_set_new(m, "guest_svn", json_integer(tee_u32(r + 0x04)));
    set_hex(m, "family_id", r + 0x10, 16);
    set_hex(m, "image_id", r + 0x20, 16);
    set_hex(m, "id_key_digest", r + 0xE0, 48);
    set_hex(m, "author_key_digest", r + 0x110, 48);
    json_object_set_new(claims, "measurements", m);
    set_hex(claims, "report_id", r + 0x140, 32);
    set_hex(claims, "chip_id", r + 0x1A0, 64);
    set_hex(claims, "reported_tcb", r + 0x180, 8);
    set_hex(claims, "current_tcb", r + 0x38, 8);
    set_hex(claims, "launch_tcb", r + 0x1F0, 8);
}

/* ---- verification ----------------------------------------------------------- */

static void x509_stack_free(STACK_OF(X509) **s) { sk_X509_pop_free(*s, X509_free); }

static int load_aux(const struct ens_tee_input *in, STACK_OF(X509) **extra, ens_error_t *err)
{
    _cleanup_free_ struct ens_tee_snp_cert *certs = NULL;
    size_t n;
    if (ens_tee_snp_certtable_parse(in->aux, in->aux_len, &certs, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        X509 *x = NULL;
        const unsigned char *p = certs[i].data;
        if (certs[i].len > 27 && memcmp(p, "-----BEGIN CERTIFICATE-----", 27) == 0) {
            if (tee_pem_certs(p, certs[i].len, extra, "snp-certs", err) < 0)
                return -1;
            continue;
        }
        x = d2i_X509(NULL, &p, (long)certs[i].len);
        ERR_clear_error();
        if (!x)
            return ens_error(err, EINVAL, "snp-certs: %s certificate (entry %zu) is neither PEM nor DER", certs[i].kind, i);
        if (!sk_X509_push(*extra, x)) {
            X509_free(x);
            return ens_error(err, ENOMEM, "snp-certs: out of memory");
        }
    }
    return 0;
}

/* SPL positions in REPORTED_TCB by product. */
static int check_spls(X509 *x, const char *product, const uint8_t *tcb, char *why, size_t whylen)
{
    bool turin = strncmp(product, "Turin", 5) == 0;
    struct {
        const char *ext, *name;
        int pos;
    } spl[] = {
        {"3.1", "blSPL", turin ? 1 : 0}, {"3.2", "teeSPL", turin ? 2 : 1}, {"3.3", "snpSPL", turin ? 3 : 6},
        {"3.8", "ucodeSPL", 7},          {"3.9", "fmcSPL", 0},
    };
    for (size_t i = 0; i < 5; i++) {
        if (i == 4 && !turin)
            continue;
        long v;
        if (amd_ext_int(x, spl[i].ext, &v) < 0) {
            snprintf(why, whylen, "the certificate has no %s", spl[i].name);
            return -1;
        }
        if (v != tcb[spl[i].pos]) {
            snprintf(why, whylen, "%s %ld differs from REPORTED_TCB's %u", spl[i].name, v, tcb[spl[i].pos]);
            return -1;
        }
    }
    return 0;
}

/* REPORTED_TCB's SPLs as integer measurements, so policies can ask for minimums ("tcb_snp_min"). */
static void spl_claims(json_t *claims, const char *product, const uint8_t *tcb)
{
    json_t *m = json_object_get(claims, "measurements");
    bool turin = strncmp(product, "Turin", 5) == 0;
    json_object_set_new(m, "tcb_bootloader", json_integer(tcb[turin ? 1 : 0]));
    json_object_set_new(m, "tcb_tee", json_integer(tcb[turin ? 2 : 1]));
    json_object_set_new(m, "tcb_snp", json_integer(tcb[turin ? 3 : 6]));
    json_object_set_new(m, "tcb_microcode", json_integer(tcb[7]));
    if (turin)
        json_object_set_new(m, "tcb_fmc", json_integer(tcb[0]));
    json_object_set_new(claims, "product", json_string(product));
}

struct snp_sel {
    X509 *x;
    bool vlek;
    char product[32];
};

/* SPLs (unless already known to match), chain at t, then the report signature. */
static int try_cert(const struct ens_tee_collateral *c, X509 *x, const char *product, bool vlek, bool spl_known,
                    const uint8_t *r, STACK_OF(X509) *extra, time_t at, ens_error_t *err)
{
    char why[128];
    if (!spl_known && check_spls(x, product, r + 0x180, why, sizeof(why)) < 0)
        return ens_error(err, EACCES, "snp-tcb: %s: %s", vlek ? "VLEK" : "VCEK", why);
    if (tee_verify_chain(c, x, extra, tee_amd_ark_sha256, 3, TEE_CRL_IF_PRESENT, at, "snp-chain", err) < 0)
        return -1;
    /* R and S are little-endian, 72 bytes each; P-384 uses the low 48. */
    uint8_t rs[96];
    bool high_zero = true;
    for (int k = 0; k < 48; k++) {
        rs[k] = r[0x2A0 + 47 - k];
        rs[48 + k] = r[0x2E8 + 47 - k];
    }
    for (int k = 48; k < 72; k++)
        high_zero &= r[0x2A0 + k] == 0 && r[0x2E8 + k] == 0;
    if (!high_zero || tee_ecdsa_verify_raw(X509_get0_pubkey(x), EVP_sha384(), r, SNP_SIGNED_LEN, rs, 48) < 0)
        return ens_error(err, EACCES, "snp-signature: the report signature does not verify with the %s",
                         vlek ? "VLEK" : "VCEK");
    return 0;
}

int tee_snp_verify(const struct ens_tee_input *in, const struct ens_tee_collateral *c, time_t at, json_t *claims,
                   bool verify, ens_error_t *err)
{
    const uint8_t *r = in->evidence;
    if (in->len < SNP_REPORT_LEN)
        return ens_error(err, EINVAL, "parse: %zu bytes is shorter than an SNP report (%d)", in->len, SNP_REPORT_LEN);
    if (in->len > SNP_REPORT_LEN) {
        bool zeros = true;
        for (size_t i = SNP_REPORT_LEN; i < in->len && zeros; i++)
            zeros = r[i] == 0;
        if (!zeros && !in->allow_trailing_data)
            return ens_error(err, EINVAL, "parse: %zu unexpected bytes after the SNP report", in->len - SNP_REPORT_LEN);
    }
    uint32_t version = tee_u32(r);
    if (version < 2 || version > 5)
        return ens_error(err, EINVAL, "header: unsupported SNP report version %u", version);
    if (tee_u32(r + 0x34) != 1)
        return ens_error(err, EINVAL, "header: signature algorithm %u is not ECDSA P-384 with SHA-384", tee_u32(r + 0x34));
    unsigned signing_key = (tee_u32(r + 0x48) >> 2) & 7;
    if (signing_key > 1)
        return ens_error(err, EINVAL, "header: the report is not signed (signing key %u)", signing_key);
    if (!((tee_u64(r + 0x08) >> 17) & 1))
        return ens_error(err, EINVAL, "header: guest POLICY reserved bit 17 is not set");
    /* After R and S (72 bytes each) the signature area is reserved and unsigned: require zeros. */
    for (size_t i = 0x2E8 + 72; i < SNP_REPORT_LEN; i++)
        if (r[i] != 0)
            return ens_error(err, EINVAL, "parse: reserved byte 0x%zx after the signature is not zero", i);
    report_claims(r, claims);
    if (!verify)
        return 0;

    __attribute__((cleanup(x509_stack_free))) STACK_OF(X509) *extra = sk_X509_new_null();
    if (!extra)
        return ens_error(err, ENOMEM, "out of memory");
    if (in->aux && in->aux_len && load_aux(in, &extra, err) < 0)
        return -1;

    /* Candidates: P-384 certificates with the AMD product extension, of the
     * key type the report names, for this chip (VCEK hwID == CHIP_ID). */
    const uint8_t *chip = r + 0x1A0, *tcb = r + 0x180;
    _cleanup_error_ ens_error_t last = NULL;
    int ncand = 0;
    /* The VCEK chosen for (CHIP_ID, REPORTED_TCB, key type) from the store is remembered. */
    uint8_t sel_key[32];
    {
        uint8_t buf[73];
        memcpy(buf, chip, 64);
        memcpy(buf + 64, tcb, 8);
        buf[72] = (uint8_t)signing_key;
        ens_sha256(buf, sizeof(buf), sel_key);
    }
    const bool use_cache = sk_X509_num(extra) == 0;
    struct snp_sel *sel = use_cache ? tee_obj_get(c, 'S', sel_key) : NULL;
    if (sel && try_cert(c, sel->x, sel->product, sel->vlek, true, r, extra, at, &last) == 0) {
        spl_claims(claims, sel->product, tcb);
        return 0;
    }
    for (int pass = 0; pass < 2; pass++) {
        STACK_OF(X509) *set = pass == 0 ? extra : c->certs;
        for (int i = 0; i < sk_X509_num(set); i++) {
            X509 *x = sk_X509_value(set, i);
            char product[32];
            if (!is_p384_leaf(x) || amd_product(x, product, sizeof(product)) < 0)
                continue;
            bool vlek = amd_ext(x, "5") != NULL; /* cspID */
            if (vlek != (signing_key == 1))
                continue;
            if (!vlek) {
                const uint8_t *id;
                size_t idlen;
                ASN1_OCTET_STRING *hold = NULL;
                int ok = amd_hwid(x, &id, &idlen, &hold) == 0 &&
                         ((idlen == 64 && memcmp(id, chip, 64) == 0) || (idlen == 8 && memcmp(id, chip, 8) == 0));
                ASN1_OCTET_STRING_free(hold);
                if (!ok)
                    continue;
            }
            ncand++;
            ens_error_release(&last);
            if (try_cert(c, x, product, vlek, false, r, extra, at, &last) < 0)
                continue;
            if (use_cache && pass == 1) {
                struct snp_sel *n = calloc(1, sizeof(*n));
                if (n) {
                    n->x = x; /* owned by the collateral's pool */
                    n->vlek = vlek;
                    snprintf(n->product, sizeof(n->product), "%s", product);
                    if (!tee_obj_put(c, 'S', sel_key, n, free))
                        free(n);
                }
            }
            spl_claims(claims, product, tcb);
            return 0;
        }
    }
    if (last) {
        ens_error(err, ens_error_status(last), "%s", ens_error_msg(last));
        return -1;
    }
    char hex[17];
    ens_hex_encode(chip, 8, hex);
    return ens_error(err, ENOENT, "snp-vcek: no %s for CHIP_ID %s... in the collateral (%d candidates)",
                     signing_key == 1 ? "VLEK" : "VCEK", hex, ncand);
}
