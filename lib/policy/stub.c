/* SPDX-License-Identifier: Apache-2.0 */
/* Temporary stub so the API compiles; replaced by the real implementation. */
#include <errno.h>

#include "policy/policy.h"

#define NI(err) ens_error(err, ENOSYS, "policy: not implemented yet")

int ens_policy_parse(const char *y, size_t l, const char *s, ens_policy_t **o, ens_error_t *err) { (void)y; (void)l; (void)s; *o = NULL; return NI(err); }
int ens_policy_parse_file(const char *p, bool u, ens_policy_t **o, ens_error_t *err) { (void)p; (void)u; *o = NULL; return NI(err); }
void ens_policy_free(ens_policy_t *p) { (void)p; }
int ens_policy_expand_env(const char *t, size_t l, char **o, size_t *ol, ens_error_t *err) { (void)t; (void)l; (void)o; (void)ol; return NI(err); }
int ens_policy_check_create(const ens_policy_t *p, ens_error_t *err) { (void)p; return NI(err); }
bool ens_policy_name_valid(const char *n) { (void)n; return false; }
const char *ens_policy_name(const ens_policy_t *p) { (void)p; return NULL; }
const char *ens_policy_parent_namespace(const ens_policy_t *p) { (void)p; return NULL; }
const char *ens_policy_predecessor(const ens_policy_t *p) { (void)p; return NULL; }
size_t ens_policy_service_count(const ens_policy_t *p) { (void)p; return 0; }
const ens_policy_service_t *ens_policy_service_at(const ens_policy_t *p, size_t i) { (void)p; (void)i; return NULL; }
const ens_policy_service_t *ens_policy_service_find(const ens_policy_t *p, const char *n) { (void)p; (void)n; return NULL; }
size_t ens_policy_image_count(const ens_policy_t *p) { (void)p; return 0; }
const ens_policy_image_t *ens_policy_image_at(const ens_policy_t *p, size_t i) { (void)p; (void)i; return NULL; }
const ens_policy_image_t *ens_policy_image_find(const ens_policy_t *p, const char *n) { (void)p; (void)n; return NULL; }
size_t ens_policy_volume_count(const ens_policy_t *p) { (void)p; return 0; }
const ens_policy_volume_t *ens_policy_volume_at(const ens_policy_t *p, size_t i) { (void)p; (void)i; return NULL; }
const ens_policy_volume_t *ens_policy_volume_find(const ens_policy_t *p, const char *n) { (void)p; (void)n; return NULL; }
size_t ens_policy_secret_count(const ens_policy_t *p) { (void)p; return 0; }
const ens_policy_secret_t *ens_policy_secret_at(const ens_policy_t *p, size_t i) { (void)p; (void)i; return NULL; }
const ens_policy_secret_t *ens_policy_secret_find(const ens_policy_t *p, const char *n) { (void)p; (void)n; return NULL; }
const ens_policy_principal_t *ens_policy_access_list(const ens_policy_t *p, ens_policy_op_t op, size_t *c) { (void)p; (void)op; *c = 0; return NULL; }
const ens_policy_attestation_t *ens_policy_attestation(const ens_policy_t *p) { (void)p; return NULL; }
const char *ens_secret_kind_name(ens_secret_kind_t k) { (void)k; return "?"; }
const char *ens_key_type_name(ens_key_type_t t) { (void)t; return "?"; }
int ens_policy_canonical_json(const ens_policy_t *p, json_t **o, ens_error_t *err) { (void)p; *o = NULL; return NI(err); }
int ens_policy_hash(const ens_policy_t *p, char o[ENS_POLICY_HASH_HEX_LEN], ens_error_t *err) { (void)p; o[0] = 0; return NI(err); }
bool ens_policy_access_allowed(const ens_policy_t *p, ens_policy_op_t op, const char *c, const char *cr) { (void)p; (void)op; (void)c; (void)cr; return false; }
int ens_policy_key_hash(EVP_PKEY *k, char o[ENS_POLICY_HASH_HEX_LEN], ens_error_t *err) { (void)k; o[0] = 0; return NI(err); }
int ens_policy_key_hash_pem(const char *pem, size_t l, char o[ENS_POLICY_HASH_HEX_LEN], ens_error_t *err) { (void)pem; (void)l; o[0] = 0; return NI(err); }
int ens_secrets_materialize(const ens_policy_t *p, const char *prev, ens_secret_import_fn r, void *c, ens_secret_store_t **o, ens_error_t *err) { (void)p; (void)prev; (void)r; (void)c; *o = NULL; return NI(err); }
int ens_secret_store_serialize(const ens_secret_store_t *s, char **j, ens_error_t *err) { (void)s; *j = NULL; return NI(err); }
int ens_secret_store_load(const char *j, size_t l, ens_secret_store_t **o, ens_error_t *err) { (void)j; (void)l; *o = NULL; return NI(err); }
void ens_secret_store_free(ens_secret_store_t *s) { (void)s; }
int ens_secret_store_export(const ens_policy_t *p, const ens_secret_store_t *s, const char *n, const char *i, char **r, ens_error_t *err) { (void)p; (void)s; (void)n; (void)i; *r = NULL; return NI(err); }
int ens_secret_store_public_values(const ens_policy_t *p, const ens_secret_store_t *s, json_t **o, ens_error_t *err) { (void)p; (void)s; *o = NULL; return NI(err); }
int ens_secret_store_format(const ens_secret_store_t *s, const char *n, const char *f, char **o, size_t *ol, ens_error_t *err) { (void)s; (void)n; (void)f; (void)o; (void)ol; return NI(err); }
const char *ens_secret_store_volume_key(const ens_secret_store_t *s, const char *v) { (void)s; (void)v; return NULL; }
const char *ens_secret_store_volume_tag(const ens_secret_store_t *s, const char *v) { (void)s; (void)v; return NULL; }
int ens_secret_store_set_volume_tag(ens_secret_store_t *s, const char *v, const char *t, ens_error_t *err) { (void)s; (void)v; (void)t; return NI(err); }
int ens_policy_issue_certificate(const ens_secret_store_t *s, const char *ca, EVP_PKEY *k, const char *cn, char *const *d, size_t n, unsigned days, char **pem, ens_error_t *err) { (void)s; (void)ca; (void)k; (void)cn; (void)d; (void)n; (void)days; *pem = NULL; return NI(err); }
int ens_policy_substitute(const ens_secret_store_t *s, const char *in, size_t l, char **o, size_t *ol, ens_error_t *err) { (void)s; (void)in; (void)l; (void)o; (void)ol; return NI(err); }
int ens_policy_service_config(const ens_policy_t *p, const char *sv, const ens_secret_store_t *s, json_t **o, ens_error_t *err) { (void)p; (void)sv; (void)s; *o = NULL; return NI(err); }
