/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The canonical form of a session and its hash, and the access check.
 * docs/policy.md documents the canonical form field by field: change it only
 * together with that document (every stored predecessor depends on it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto/digest.h"
#include "policy/policy_int.h"

static json_t *jstr_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A sorted JSON array of strings (for lists whose order has no meaning). */
static json_t *sorted_array(char **v, size_t n)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    char **copy = n ? malloc(n * sizeof(char *)) : NULL;
    if (n && !copy) {
        json_decref(a);
        return NULL;
    }
    if (n)
        memcpy(copy, v, n * sizeof(char *));
    if (n > 1)
        qsort(copy, n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(copy[i]));
    free(copy);
    return a;
}

static json_t *ordered_array(char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* Sorts an array of objects by their "name" member (names are unique). */
static int cmp_obj_name(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "name"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "name"));
    return strcmp(x ? x : "", y ? y : "");
}

static json_t *sort_by_name(json_t **items, size_t n)
{
    if (n > 1)
        qsort(items, n, sizeof(json_t *), cmp_obj_name);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, items[i]);
    return a;
}

static json_t *service_json(const ens_policy_service_t *s)
{
    json_t *env = json_object();
    for (size_t i = 0; i < s->environment_count; i++)
        json_object_set_new(env, s->environment[i].key, json_string(s->environment[i].value));
    return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "name", s->name, "command",
                     ordered_array(s->command, s->command_count), "environment", env, "pwd", jstr_or_null(s->pwd),
                     "image_name", jstr_or_null(s->image_name), "mrenclaves",
                     sorted_array(s->mrenclaves, s->mrenclave_count), "fspf_path", jstr_or_null(s->fspf_path),
                     "fspf_key", jstr_or_null(s->fspf_key), "fspf_tag", jstr_or_null(s->fspf_tag), "platforms",
                     sorted_array(s->platforms, s->platform_count));
}

/* Objects {"name": path, "v": x} sorted by path (sort_by_name's key), each given out as {"path": path, key: x}. */
static json_t *sorted_by_path(json_t **tmp, size_t n, const char *key)
{
    json_t *out = json_array();
    json_t *sorted = sort_by_name(tmp, n);
    for (size_t i = 0; i < json_array_size(sorted); i++) {
        json_t *o = json_array_get(sorted, i);
        json_array_append_new(out, json_pack("{s:O, s:O}", "path", json_object_get(o, "name"), key,
                                             json_object_get(o, "v")));
    }
    json_decref(sorted);
    return out;
}

static json_t *image_json(const ens_policy_image_t *im)
{
    /* mount order and file order carry no meaning: sort by path */
    json_t **tmp = calloc(im->volume_count + im->injection_file_count + 1, sizeof(json_t *));
    if (!tmp)
        return NULL;
    for (size_t i = 0; i < im->volume_count; i++)
        tmp[i] = json_pack("{s:s, s:s}", "name", im->volumes[i].path, "v", im->volumes[i].name);
    json_t *vols = sorted_by_path(tmp, im->volume_count, "name");
    for (size_t i = 0; i < im->injection_file_count; i++)
        tmp[i] = json_pack("{s:s, s:s}", "name", im->injection_files[i].path, "v", im->injection_files[i].content);
    json_t *inj = sorted_by_path(tmp, im->injection_file_count, "content");
    free(tmp);
    return json_pack("{s:s, s:o, s:o}", "name", im->name, "volumes", vols, "injection_files", inj);
}

static json_t *import_json(const char *session, const char *key, const char *name)
{
    if (!session)
        return json_null();
    return json_pack("{s:s, s:s}", "session", session, key, name);
}

static json_t *volume_json(const ens_policy_volume_t *v)
{
    return json_pack("{s:s, s:o, s:o, s:o, s:o}", "name", v->name, "fspf_key", jstr_or_null(v->fspf_key), "fspf_tag",
                     jstr_or_null(v->fspf_tag), "export", sorted_array(v->export_sessions, v->export_count),
                     "import", import_json(v->import_session, "volume", v->import_volume));
}

static json_t *secret_json(const ens_policy_secret_t *s)
{
    /* explicit values enter as their SHA-256 so the canonical form (printed by
     * `ensconce session hash --canonical`) never carries a secret */
    json_t *value = json_null();
    if (s->value) {
        uint8_t d[ENS_SHA256_LEN];
        char hex[ENS_SHA256_HEX_LEN + 1];
        ens_sha256(s->value, s->value_len, d);
        ens_hex_encode(d, sizeof(d), hex);
        value = json_string(hex);
    }
    bool x509 = s->kind == ENS_SECRET_X509 || s->kind == ENS_SECRET_X509_CA;
    bool sized = s->kind == ENS_SECRET_ASCII || s->kind == ENS_SECRET_BINARY;
    bool keyed = (s->kind == ENS_SECRET_PRIVATE_KEY || x509) && !s->private_key;
    json_t *o = json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o}", "name", s->name, "kind",
        s->kind_set ? json_string(ens_secret_kind_name(s->kind)) : json_null(), "size",
        sized && !s->import_session ? json_integer((json_int_t)s->size) : json_null(), "value_sha256", value,
        "key_type", keyed && !s->import_session ? json_string(ens_key_type_name(s->key_type)) : json_null(),
        "export", sorted_array(s->export_sessions, s->export_count), "import",
        import_json(s->import_session, "secret", s->import_secret), "export_public", s->export_public, "x509",
        x509 && !s->import_session
            ? json_pack("{s:o, s:o, s:s, s:o, s:o, s:i}", "private_key", jstr_or_null(s->private_key), "issuer",
                        jstr_or_null(s->issuer), "common_name", s->common_name, "dns",
                        sorted_array(s->dns, s->dns_count), "ip", sorted_array(s->ips, s->ip_count), "valid_for_days",
                        (int)s->valid_for_days)
            : json_null());
    return o;
}

static json_t *principals_json(const ens_policy_principal_t *l, size_t n)
{
    char **names = calloc(n + 1, sizeof(char *));
    if (!names)
        return NULL;
    for (size_t i = 0; i < n; i++)
        names[i] = l[i].kind == ENS_PRINCIPAL_CREATOR ? "CREATOR"
                   : l[i].kind == ENS_PRINCIPAL_ANY   ? "ANY"
                   : l[i].kind == ENS_PRINCIPAL_NONE  ? "NONE"
                                                      : (char *)l[i].hash;
    json_t *a = sorted_array(names, n);
    free(names);
    return a;
}

int ens_policy_canonical_json(const ens_policy_t *p, json_t **out, ens_error_t *err)
{
    *out = NULL;
    size_t max = p->service_count + p->image_count + p->volume_count + p->secret_count + 1;
    json_t **tmp = calloc(max, sizeof(json_t *));
    if (!tmp)
        return ens_error(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < p->service_count; i++)
        tmp[i] = service_json(&p->services[i]);
    json_t *services = sort_by_name(tmp, p->service_count);
    for (size_t i = 0; i < p->image_count; i++)
        tmp[i] = image_json(&p->images[i]);
    json_t *images = sort_by_name(tmp, p->image_count);
    for (size_t i = 0; i < p->volume_count; i++)
        tmp[i] = volume_json(&p->volumes[i]);
    json_t *volumes = sort_by_name(tmp, p->volume_count);
    for (size_t i = 0; i < p->secret_count; i++)
        tmp[i] = secret_json(&p->secrets[i]);
    json_t *secrets = sort_by_name(tmp, p->secret_count);
    free(tmp);

    const ens_policy_attestation_t *a = &p->attestation;
    static const char *tol[] = {"debug-mode", "hyperthreading", "outdated-tcb", "software-hardening-needed",
                                "insecure-configuration"};
    json_t *tolerate = json_array();
    for (unsigned i = 0; i < 5; i++)
        if (a->tolerate & (1u << i))
            json_array_append_new(tolerate, json_string(tol[i]));
    json_t *tsorted = NULL;
    {
        char *names[5];
        size_t n = 0;
        for (unsigned i = 0; i < 5; i++)
            if (a->tolerate & (1u << i))
                names[n++] = (char *)tol[i];
        tsorted = sorted_array(names, n);
        json_decref(tolerate);
    }
    const char *mode = a->mode == ENS_ATTEST_HARDWARE ? "hardware" : a->mode == ENS_ATTEST_SIMULATION ? "simulation"
                                                                                                    : "none";
    json_t *adv = a->ignore_all_advisories ? json_string("*")
                                           : sorted_array(a->ignore_advisories, a->ignore_advisory_count);
    json_t *root = json_pack(
        "{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:{s:o, s:o, s:o}, s:{s:{s:s, s:o, s:o}}}", "version",
        ENS_POLICY_VERSION, "name", p->name, "predecessor", jstr_or_null(p->predecessor), "services", services,
        "images", images, "volumes", volumes, "secrets", secrets, "access_policy", "read",
        principals_json(p->access[0], p->access_count[0]), "update", principals_json(p->access[1], p->access_count[1]),
        "create_sessions", principals_json(p->access[2], p->access_count[2]), "security", "attestation", "mode", mode,
        "tolerate", tsorted, "ignore_advisories", adv);
    if (!root)
        return ens_error(err, ENOMEM, "session %s: cannot build the canonical form", p->name);
    *out = root;
    return 0;
}

int ens_policy_hash(const ens_policy_t *p, char out[ENS_POLICY_HASH_HEX_LEN], ens_error_t *err)
{
    json_t *j = NULL;
    out[0] = '\0';
    if (ens_policy_canonical_json(p, &j, err) < 0)
        return -1;
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    if (!s)
        return ens_error(err, ENOMEM, "session %s: cannot serialise the canonical form", p->name);
    uint8_t d[ENS_SHA256_LEN];
    ens_sha256(s, strlen(s), d);
    free(s);
    ens_hex_encode(d, sizeof(d), out);
    return 0;
}

/* ------------------------------------------------------------------ access */

static bool hash_eq(const char *a, const char *b)
{
    if (!a || !b || strlen(a) != 64 || strlen(b) != 64)
        return false;
    char x[64], y[64];
    for (int i = 0; i < 64; i++) {
        x[i] = (char)((a[i] >= 'A' && a[i] <= 'F') ? a[i] + 32 : a[i]);
        y[i] = (char)((b[i] >= 'A' && b[i] <= 'F') ? b[i] + 32 : b[i]);
    }
    return ens_ct_equal(x, y, 64);
}

bool ens_policy_access_allowed(const ens_policy_t *p, ens_policy_op_t op, const char *client_key_hash,
                               const char *creator_key_hash)
{
    size_t n = 0;
    const ens_policy_principal_t *l = ens_policy_access_list(p, op, &n);
    if (!l)
        return false;
    for (size_t i = 0; i < n; i++)
        if (l[i].kind == ENS_PRINCIPAL_NONE)
            return false; /* NONE wins: fail closed on contradictory lists */
    for (size_t i = 0; i < n; i++) {
        switch (l[i].kind) {
        case ENS_PRINCIPAL_ANY:
            return true;
        case ENS_PRINCIPAL_CREATOR:
            if (client_key_hash && hash_eq(client_key_hash, creator_key_hash))
                return true;
            break;
        case ENS_PRINCIPAL_KEY:
            if (client_key_hash && hash_eq(client_key_hash, l[i].hash))
                return true;
            break;
        case ENS_PRINCIPAL_NONE:
            break;
        }
    }
    return false;
}

int ens_policy_key_hash(EVP_PKEY *pkey, char out[ENS_POLICY_HASH_HEX_LEN], ens_error_t *err)
{
    out[0] = '\0';
    unsigned char *der = NULL;
    int len = pkey ? i2d_PUBKEY(pkey, &der) : -1;
    if (len <= 0)
        return ens_error(err, EINVAL, "cannot encode the public key");
    uint8_t d[ENS_SHA256_LEN];
    ens_sha256(der, (size_t)len, d);
    OPENSSL_free(der);
    ens_hex_encode(d, sizeof(d), out);
    return 0;
}

int ens_policy_key_hash_pem(const char *pem, size_t len, char out[ENS_POLICY_HASH_HEX_LEN], ens_error_t *err)
{
    out[0] = '\0';
    if (len > INT32_MAX)
        return ens_error(err, E2BIG, "PEM input too large");
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    if (!b)
        return ens_error(err, ENOMEM, "out of memory");
    EVP_PKEY *k = NULL;
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    if (x) {
        k = X509_get_pubkey(x);
        X509_free(x);
    } else {
        BIO_free(b);
        b = BIO_new_mem_buf(pem, (int)len);
        k = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    }
    BIO_free(b);
    if (!k)
        return ens_error(err, EINVAL, "not a PEM certificate or public key");
    int rc = ens_policy_key_hash(k, out, err);
    EVP_PKEY_free(k);
    return rc;
}
