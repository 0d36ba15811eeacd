/* SPDX-License-Identifier: Apache-2.0 */
/* The CLI's CAS client: identity, pins, pinned mutual-TLS JSON calls (see casclient.h). */
#include "cas/casclient.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "crypto/digest.h"

char *ens_casc_config_dir(void)
{
    const char *d = getenv("ENSCONCE_CONFIG_DIR");
    if (d && *d)
        return strdup(d);
    const char *x = getenv("XDG_CONFIG_HOME");
    if (x && *x)
        return ens_path_join(x, "ensconce");
    const char *h = getenv("HOME");
    char *out = NULL;
    if (asprintf(&out, "%s/.config/ensconce", h && *h ? h : "/root") < 0)
        return NULL;
    return out;
}

int ens_casc_identity(EVP_PKEY **key, X509 **cert, char key_hash[65], ens_error_t *err)
{
    _cleanup_free_ char *dir = ens_casc_config_dir();
    if (dir == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    if (ens_tls_load_or_create(dir, "identity", "ensconce client", NULL, key, cert, err) < 0)
        return ens_error_wrap(err, "client identity");
    uint8_t id[32];
    if (ens_tls_key_id(*key, id, err) < 0)
        return -1;
    ens_hex_encode(id, 32, key_hash);
    return 0;
}

char *ens_casc_addr(const char *explicit_addr)
{
    const char *a = explicit_addr;
    if (a == NULL || *a == '\0')
        a = getenv("ENSCONCE_CAS_ADDR");
    if (a == NULL || *a == '\0')
        a = getenv("SCONE_CAS_ADDR");
    if (a == NULL || *a == '\0')
        a = "127.0.0.1";
    _cleanup_free_ char *host = NULL;
    int port = 0;
    ens_error_t e = NULL;
    if (ens_net_split_addr(a, 8081, &host, &port, &e) < 0) {
        ens_error_release(&e);
        return strdup(a); /* the connect reports the problem */
    }
    char *out = NULL;
    if (asprintf(&out, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port) < 0)
        return NULL;
    return out;
}

static char *pin_key(const char *addr)
{
    char *host = NULL;
    int port = 0;
    ens_error_t e = NULL;
    if (ens_net_split_addr(addr, 0, &host, &port, &e) < 0) {
        ens_error_release(&e);
        return strdup(addr);
    }
    return host;
}

static char *pins_path(void)
{
    _cleanup_free_ char *dir = ens_casc_config_dir();
    return dir ? ens_path_join(dir, "cas-pins.json") : NULL;
}

static json_t *load_pins(const char *path, ens_error_t *err)
{
    if (access(path, F_OK) != 0)
        return json_object();
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    if (ens_read_file(path, 4 << 20, &buf, &len, err) < 0)
        return NULL;
    json_error_t je;
    json_t *doc = json_loadb(buf, len, 0, &je);
    if (!json_is_object(doc)) {
        json_decref(doc);
        ens_error(err, EINVAL, "%s:%d: not a JSON object: %s", path, je.line, je.text);
        return NULL;
    }
    return doc;
}

int ens_casc_save_pin(const char *addr, const uint8_t key_id[32], const char *measurement, const char *cert_pem,
                      ens_error_t *err)
{
    _cleanup_free_ char *dir = ens_casc_config_dir();
    _cleanup_free_ char *path = pins_path();
    _cleanup_free_ char *k = pin_key(addr);
    if (dir == NULL || path == NULL || k == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    if (ens_mkdir_p(dir, 0700, err) < 0)
        return -1;
    json_t *doc = load_pins(path, err);
    if (doc == NULL)
        return -1;
    char hex[65];
    ens_hex_encode(key_id, 32, hex);
    json_object_set_new(doc, k,
                        json_pack("{s:s, s:s, s:s, s:I}", "key_id", hex, "measurement", measurement, "certificate",
                                  cert_pem, "attested_at", (json_int_t)time(NULL)));
    _cleanup_free_ char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(doc);
    if (text == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    return ens_write_file_atomic(path, text, strlen(text), 0600, err);
}

int ens_casc_load_pin(const char *addr, uint8_t key_id[32], ens_error_t *err)
{
    _cleanup_free_ char *path = pins_path();
    _cleanup_free_ char *k = pin_key(addr);
    if (path == NULL || k == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    json_t *doc = load_pins(path, err);
    if (doc == NULL)
        return -1;
    const char *hex = json_string_value(json_object_get(json_object_get(doc, k), "key_id"));
    int r = 0;
    if (hex == NULL)
        r = ens_error(err, EPERM,
                      "CAS %s has not been attested: run 'ensconce cas attest %s --measurement M' first", addr, addr);
    else if (ens_hex_decode(hex, key_id, 32, err) < 0)
        r = ens_error_wrap(err, "%s: pin of %s", path, k);
    json_decref(doc);
    return r;
}

int ens_casc_connect(const char *addr, ens_http_conn **out, ens_error_t *err)
{
    uint8_t pin[32];
    if (ens_casc_load_pin(addr, pin, err) < 0)
        return -1;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    char kh[65];
    if (ens_casc_identity(&key, &cert, kh, err) < 0)
        return -1;
    struct ens_http_client_opts o = {.addr = addr, .client_key = key, .client_cert = cert, .pin = pin,
                                     .timeout_s = 30};
    int r = ens_http_connect(&o, out, err);
    EVP_PKEY_free(key);
    X509_free(cert);
    return r < 0 ? ens_error_wrap(err, "CAS") : 0;
}

int ens_casc_call(ens_http_conn *c, const char *method, const char *path, const char *ctype, const char *body,
                  size_t len, json_t **reply, ens_error_t *err)
{
    struct ens_http_response r;
    if (ens_http_request(c, method, path, ctype, body, len, &r, err) < 0)
        return -1;
    json_error_t je;
    json_t *doc = r.len ? json_loadb(r.body, r.len, 0, &je) : NULL;
    if (r.status < 200 || r.status > 299) {
        const char *msg = doc ? json_string_value(json_object_get(doc, "error")) : NULL;
        int st = r.status == 409 ? EEXIST
                 : (r.status == 401 || r.status == 403) ? EPERM
                 : r.status == 404 ? ENOENT
                                   : EPROTO;
        ens_error(err, st, "CAS: %d %s", r.status, msg ? msg : "(no message)");
        json_decref(doc);
        ens_http_response_clear(&r);
        return -1;
    }
    ens_http_response_clear(&r);
    if (doc == NULL)
        return ens_error(err, EPROTO, "CAS: %s %s: the reply is not JSON", method, path);
    *reply = doc;
    return 0;
}
