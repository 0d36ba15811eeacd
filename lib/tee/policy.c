/* SPDX-License-Identifier: Apache-2.0 */
/* security.attestation policy over verified claims. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto/digest.h"
#include "tee/internal.h"

static const struct {
    const char *name;
    unsigned bit;
} tolerate_names[] = {
    {"debug-mode", ENS_TEE_TOLERATE_DEBUG},
    {"outdated-tcb", ENS_TEE_TOLERATE_OUTDATED_TCB},
    {"software-hardening-needed", ENS_TEE_TOLERATE_SW_HARDENING},
    {"insecure-configuration", ENS_TEE_TOLERATE_INSECURE_CONFIG},
    {"hyperthreading", ENS_TEE_TOLERATE_HYPERTHREADING},
};

unsigned ens_tee_tolerate_from_name(const char *name)
{
    for (size_t i = 0; name && i < sizeof(tolerate_names) / sizeof(tolerate_names[0]); i++)
        if (strcmp(name, tolerate_names[i].name) == 0)
            return tolerate_names[i].bit;
    return 0;
}

void ens_tee_policy_clear(struct ens_tee_policy *p)
{
    if (!p)
        return;
    free((void *)p->ignore_advisories);
    memset(p, 0, sizeof(*p));
}

static int policy_from_json(const json_t *att, const json_t *measurements, struct ens_tee_policy *p,
                            ens_error_t *err)
{
    if (measurements && !json_is_object(measurements))
        return ens_error(err, EINVAL, "policy: measurements must be an object");
    p->measurements = measurements;
    if (!att)
        return 0;
    if (!json_is_object(att))
        return ens_error(err, EINVAL, "policy: security.attestation must be a mapping");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)att, key, v)
    {
        if (strcmp(key, "mode") == 0) {
            const char *m = json_string_value(v);
            if (m && strcmp(m, "none") == 0)
                p->mode_none = true;
            else if (!m || strcmp(m, "hardware") != 0)
                return ens_error(err, EINVAL, "policy: security.attestation.mode must be hardware or none");
        } else if (strcmp(key, "tolerate") == 0) {
            size_t i;
            json_t *t;
            if (!json_is_array(v))
                return ens_error(err, EINVAL, "policy: security.attestation.tolerate must be a list");
            json_array_foreach(v, i, t)
            {
                unsigned bit = ens_tee_tolerate_from_name(json_string_value(t));
                if (!bit)
                    return ens_error(err, EINVAL, "policy: tolerate entry %zu is not one of debug-mode, outdated-tcb, "
                                     "software-hardening-needed, insecure-configuration, hyperthreading", i);
                p->tolerate |= bit;
            }
        } else if (strcmp(key, "ignore_advisories") == 0) {
            if (json_is_string(v) && strcmp(json_string_value(v), "*") == 0) {
                p->ignore_all_advisories = true;
                continue;
            }
            if (!json_is_array(v))
                return ens_error(err, EINVAL, "policy: ignore_advisories must be a list or \"*\"");
            size_t n = json_array_size(v), i;
            const char **a = calloc(n ? n : 1, sizeof(*a));
            if (!a)
                return ens_error(err, ENOMEM, "policy: out of memory");
            json_t *t;
            json_array_foreach(v, i, t)
            {
                if (!json_is_string(t)) {
                    free(a);
                    return ens_error(err, EINVAL, "policy: ignore_advisories entry %zu is not a string", i);
                }
                if (strcmp(json_string_value(t), "*") == 0)
                    p->ignore_all_advisories = true;
                a[i] = json_string_value(t);
            }
            free((void *)p->ignore_advisories);
            p->ignore_advisories = a;
            p->n_ignore_advisories = n;
        } else {
            return ens_error(err, EINVAL, "policy: unknown key security.attestation.%s", key);
        }
    }
    return 0;
}

int ens_tee_policy_from_json(const json_t *att, const json_t *measurements, struct ens_tee_policy *p,
                             ens_error_t *err)
{
    memset(p, 0, sizeof(*p));
    if (policy_from_json(att, measurements, p, err) < 0) {
        ens_tee_policy_clear(p); /* nothing half-filled is left to the caller */
        return -1;
    }
    return 0;
}

static bool value_matches(const json_t *claim, const json_t *want)
{
    if (json_is_integer(claim) && json_is_integer(want))
        return json_integer_value(claim) == json_integer_value(want);
    if (json_is_string(claim) && json_is_string(want)) {
        /* Accept "0x"-prefixed and upper-case hex in policies. */
        const char *w = json_string_value(want);
        if (strncasecmp(w, "0x", 2) == 0)
            w += 2;
        const char *cv = json_string_value(claim);
        size_t n = strlen(cv);
        return strlen(w) == n && strncasecmp(cv, w, n) == 0;
    }
    if (json_is_integer(claim) && json_is_string(want)) {
        /* e.g. SNP policy given as "0x30000" */
        char *end;
        const char *w = json_string_value(want);
        errno = 0;
        unsigned long long x = strtoull(w, &end, 0);
        return errno == 0 && *w && !*end && (json_int_t)x == json_integer_value(claim);
    }
    return false;
}

static int check_measurements(const json_t *claims, const json_t *req, ens_error_t *err)
{
    const json_t *m = json_object_get(claims, "measurements");
    const char *key;
    json_t *want;
    json_object_foreach((json_t *)req, key, want)
    {
        size_t kl = strlen(key);
        if (kl > 4 && strcmp(key + kl - 4, "_min") == 0) {
            char name[64];
            if (kl - 4 >= sizeof(name))
                return ens_error(err, EINVAL, "policy: measurement name %s is too long", key);
            memcpy(name, key, kl - 4);
            name[kl - 4] = 0;
            json_t *cv = json_object_get(m, name);
            if (!json_is_integer(cv) || !json_is_integer(want))
                return ens_error(err, EACCES, "policy: %s needs an integer claim %s", key, name);
            if (json_integer_value(cv) < json_integer_value(want))
                return ens_error(err, EACCES, "policy: %s %lld is below the required %lld", name,
                                 (long long)json_integer_value(cv), (long long)json_integer_value(want));
            continue;
        }
        json_t *cv = json_object_get(m, key);
        if (!cv)
            return ens_error(err, EACCES, "policy: the evidence has no measurement %s (TEE %s)", key,
                             json_string_value(json_object_get(claims, "tee")) ? json_string_value(json_object_get(claims, "tee")) : "?");
        bool ok = false;
        if (json_is_array(want)) {
            size_t i;
            json_t *w;
            json_array_foreach(want, i, w) ok |= value_matches(cv, w);
        } else {
            ok = value_matches(cv, want);
        }
        if (!ok)
            return ens_error(err, EACCES, "policy: measurement %s does not match the policy", key);
    }
    return 0;
}

int ens_tee_check_policy(const json_t *claims, const struct ens_tee_policy *p, const uint8_t expected_rd[64],
                         ens_error_t *err)
{
    static const struct ens_tee_policy empty;
    if (!p)
        p = &empty;
    if (!claims || !json_is_true(json_object_get(claims, "verified")))
        return ens_error(err, EACCES, "policy: the evidence was not verified");
    const char *tee = json_string_value(json_object_get(claims, "tee"));
    if (!tee)
        return ens_error(err, EACCES, "policy: the claims name no TEE");
    /* REPORTDATA binds the runtime key and the CAS nonce: compare first. */
    if (expected_rd) {
        uint8_t rd[64];
        const char *hex = json_string_value(json_object_get(claims, "report_data"));
        if (!hex || ens_hex_decode(hex, rd, 64, NULL) < 0)
            return ens_error(err, EACCES, "policy: the claims have no report data");
        if (!ens_ct_equal(rd, expected_rd, 64))
            return ens_error(err, EACCES, "policy: REPORTDATA does not bind the expected key and nonce");
    }
    if (json_is_true(json_object_get(claims, "debug")) && !(p->tolerate & ENS_TEE_TOLERATE_DEBUG))
        return ens_error(err, EACCES, "policy: the %s TEE runs in debug mode and debug-mode is not tolerated", tee);
    if (strcmp(tee, "snp") == 0 && json_is_true(json_object_get(claims, "smt_enabled")) &&
        !(p->tolerate & ENS_TEE_TOLERATE_HYPERTHREADING))
        return ens_error(err, EACCES, "policy: SMT (hyperthreading) is enabled on the SNP host and not tolerated");
    if (strcmp(tee, "tdx") == 0) {
        /* A TDX 1.5 service TD binding is only acceptable when the policy names it. */
        const char *st = json_string_value(json_object_get(json_object_get(claims, "measurements"), "mrservicetd"));
        bool named = p->measurements && json_object_get(p->measurements, "mrservicetd");
        if (st && !named && strspn(st, "0") != strlen(st))
            return ens_error(err, EACCES, "policy: MRSERVICETD is not zero and the policy does not name it");
    }
    const char *status = json_string_value(json_object_get(claims, "tcb_status"));
    if (status) {
        unsigned need = 0;
        if (strcmp(status, "UpToDate") == 0)
            need = 0;
        else if (strcmp(status, "SWHardeningNeeded") == 0)
            need = ENS_TEE_TOLERATE_SW_HARDENING;
        else if (strcmp(status, "ConfigurationNeeded") == 0)
            need = ENS_TEE_TOLERATE_INSECURE_CONFIG;
        else if (strcmp(status, "ConfigurationAndSWHardeningNeeded") == 0)
            need = ENS_TEE_TOLERATE_INSECURE_CONFIG | ENS_TEE_TOLERATE_SW_HARDENING;
        else if (strcmp(status, "OutOfDate") == 0)
            need = ENS_TEE_TOLERATE_OUTDATED_TCB;
        else if (strcmp(status, "OutOfDateConfigurationNeeded") == 0)
            need = ENS_TEE_TOLERATE_OUTDATED_TCB | ENS_TEE_TOLERATE_INSECURE_CONFIG;
        else
            return ens_error(err, EACCES, "policy: TCB status %s is never accepted", status);
        if ((p->tolerate & need) != need)
            return ens_error(err, EACCES, "policy: TCB status %s is not tolerated", status);
    }
    if (!p->ignore_all_advisories) {
        size_t i;
        json_t *a;
        json_array_foreach(json_object_get(claims, "advisory_ids"), i, a)
        {
            const char *id = json_string_value(a);
            bool ignored = false;
            for (size_t k = 0; id && k < p->n_ignore_advisories && !ignored; k++)
                ignored = strcasecmp(id, p->ignore_advisories[k]) == 0;
            if (!ignored)
                return ens_error(err, EACCES, "policy: advisory %s applies and is not ignored", id ? id : "?");
        }
    }
    if (p->measurements && check_measurements(claims, p->measurements, err) < 0)
        return -1;
    return 0;
}

int ens_tee_check_measurement_list(const json_t *claims, const char *const *hex, size_t n, ens_error_t *err)
{
    const char *m = ens_tee_claims_measurement(claims);
    const char *tee = json_string_value(json_object_get(claims, "tee"));
    if (!m)
        return ens_error(err, EACCES, "policy: the claims carry no primary measurement");
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const char *w = hex[i];
        if (!w)
            continue;
        if (strncasecmp(w, "0x", 2) == 0)
            w += 2;
        if (strlen(w) == strlen(m) && strcasecmp(w, m) == 0)
            return 0;
    }
    return ens_error(err, EACCES, "policy: %s %s is not among the %zu measurements the policy names",
                     tee && strcmp(tee, "sgx") == 0 ? "MRENCLAVE" : tee && strcmp(tee, "tdx") == 0 ? "MRTD" : "MEASUREMENT",
                     m, n);
}
