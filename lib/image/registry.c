/* SPDX-License-Identifier: Apache-2.0 */
/* OCI distribution API v2 client over libcurl: pull, push (HEAD, cross-repository mount,
 * monolithic upload), anonymous / Basic / Bearer auth driven by 401 + WWW-Authenticate. */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "crypto/digest.h"
#include "image/internal.h"

#define MAX_SMALL_BODY (4u << 20)

struct reg {
    char *host;     /* as the user wrote it */
    char *api_host; /* where the API is (registry-1.docker.io for docker.io) */
    char *repo;
    char *base; /* scheme://api_host */
    bool tls_verify, push;
    char *userpass;
    char *authz; /* current "Authorization: ..." header */
    CURL *curl;
    const char *progress_what; /* set around long transfers (progress on a terminal) */
    int64_t progress_total;
};

struct sink {
    /* memory */
    char *buf;
    size_t len, max;
    /* file */
    int fd;
    ens_sha256_ctx *h;
    int64_t total, limit;
    bool too_big, io_error;
};

struct resp {
    long status;
    char ctype[256];
    char *location, *www_auth, *digest;
};

static void resp_clear(struct resp *r)
{
    free(r->location);
    free(r->www_auth);
    free(r->digest);
    memset(r, 0, sizeof(*r));
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static size_t write_cb(char *p, size_t sz, size_t n, void *ud)
{
    struct sink *s = ud;
    size_t len = sz * n;
    if (s->fd >= 0) {
        s->total += (int64_t)len;
        if (s->limit >= 0 && s->total > s->limit) {
            s->too_big = true;
            return 0;
        }
        ens_sha256_update(s->h, p, len);
        ens_error_t e = NULL;
        if (ens_write_all(s->fd, p, len, &e) < 0) {
            ens_error_release(&e);
            s->io_error = true;
            return 0;
        }
        return len;
    }
    if (s->len + len > s->max) {
        s->too_big = true;
        return 0;
    }
    char *nb = realloc(s->buf, s->len + len + 1);
    if (!nb)
        return 0;
    s->buf = nb;
    memcpy(s->buf + s->len, p, len);
    s->len += len;
    s->buf[s->len] = '\0';
    return len;
}

static char *trim_dup(const char *p, size_t n)
{
    while (n && isspace((unsigned char)*p))
        p++, n--;
    while (n && isspace((unsigned char)p[n - 1]))
        n--;
    return strndup(p, n);
}

static size_t header_cb(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = sz * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* A new response (after a redirect or 100-continue): forget the previous headers. */
        free(r->location);
        free(r->www_auth);
        free(r->digest);
        r->location = r->www_auth = r->digest = NULL;
        r->ctype[0] = '\0';
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon)
        return len;
    size_t kl = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t vl = len - kl - 1;
#define IS(name) (kl == strlen(name) && strncasecmp(p, name, kl) == 0)
    if (IS("content-type")) {
        char *t = trim_dup(v, vl);
        if (t) {
            char *semi = strchr(t, ';');
            if (semi)
                *semi = '\0';
            snprintf(r->ctype, sizeof(r->ctype), "%s", t);
            free(t);
        }
    } else if (IS("location")) {
        free(r->location);
        r->location = trim_dup(v, vl);
    } else if (IS("www-authenticate")) {
        free(r->www_auth);
        r->www_auth = trim_dup(v, vl);
    } else if (IS("docker-content-digest")) {
        free(r->digest);
        r->digest = trim_dup(v, vl);
    }
#undef IS
    return len;
}

struct upload {
    int fd;
    int64_t left; /* bytes still to send (a chunk may be less than the file) */
};

static size_t read_cb(char *buf, size_t sz, size_t n, void *ud)
{
    struct upload *u = ud;
    size_t want = sz * n;
    if ((int64_t)want > u->left)
        want = (size_t)u->left;
    if (want == 0)
        return 0;
    ssize_t r;
    do
        r = read(u->fd, buf, want);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return CURL_READFUNC_ABORT;
    u->left -= r;
    return (size_t)r;
}

struct progress {
    const char *what;
    int64_t total;
};

static int progress_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    struct progress *p = ud;
    (void)dltotal;
    (void)ultotal;
    ens_progress(p->what, (unsigned long long)(dlnow ? dlnow : ulnow), (unsigned long long)p->total);
    return 0;
}

/* One HTTP exchange.  body/upload_fd: request body; sink: response body. */
static int http(struct reg *r, const char *method, const char *url, struct curl_slist *hdrs, const char *body,
                size_t body_len, int upload_fd, int64_t upload_size, struct sink *sink, struct resp *resp,
                const char *authz, ens_error_t *err)
{
    CURL *c = r->curl;
    curl_easy_reset(c);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *h = NULL;
    for (struct curl_slist *p = hdrs; p; p = p->next)
        h = curl_slist_append(h, p->data);
    if (authz)
        h = curl_slist_append(h, authz);
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ensconce/0.1");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 120L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, r->tls_verify ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, r->tls_verify ? 2L : 0L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
    /* Blob downloads may be redirected to storage; libcurl drops our Authorization on a host change. */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, strcmp(method, "GET") == 0 ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    struct upload up = { upload_fd, upload_size };
    struct progress pr = { r->progress_what, r->progress_total };
    if (pr.what) {
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, &pr);
    }
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (upload_fd >= 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)upload_size);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(h);
    if (sink && sink->too_big)
        return ens_error(err, EFBIG, "%s %s: response larger than allowed", method, r->host);
    if (sink && sink->io_error)
        return ens_error(err, EIO, "%s %s: writing the response failed", method, r->host);
    if (rc != CURLE_OK)
        return ens_error(err, EIO, "%s %s: %s", method, r->host, *errbuf ? errbuf : curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    return 0;
}

static char *b64(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    return out;
}

void www_auth_clear(struct www_auth *a)
{
    free(a->realm);
    free(a->service);
    free(a->scope);
    memset(a, 0, sizeof(*a));
}

int www_auth_parse(const char *hdr, struct www_auth *a)
{
    memset(a, 0, sizeof(*a));
    const char *p = hdr;
    while (isspace((unsigned char)*p))
        p++;
    size_t n = 0;
    while (p[n] && !isspace((unsigned char)p[n]))
        n++;
    if (n == 0 || n >= sizeof(a->scheme))
        return -1;
    for (size_t i = 0; i < n; i++)
        a->scheme[i] = (char)tolower((unsigned char)p[i]);
    p += n;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        const char *k = p;
        while (*p && *p != '=' && *p != ',')
            p++;
        if (*p != '=')
            break;
        size_t kl = (size_t)(p - k);
        p++;
        char val[2048];
        size_t vl = 0;
        if (*p == '"') {
            p++;
            while (*p && *p != '"' && vl < sizeof(val) - 1) {
                if (*p == '\\' && p[1])
                    p++;
                val[vl++] = *p++;
            }
            if (*p == '"')
                p++;
        } else {
            while (*p && *p != ',' && vl < sizeof(val) - 1)
                val[vl++] = *p++;
        }
        val[vl] = '\0';
        char **slot = kl == 5 && strncasecmp(k, "realm", 5) == 0     ? &a->realm
                      : kl == 7 && strncasecmp(k, "service", 7) == 0 ? &a->service
                      : kl == 5 && strncasecmp(k, "scope", 5) == 0   ? &a->scope
                                                                     : NULL;
        if (slot) {
            free(*slot);
            *slot = strdup(val);
        }
    }
    return 0;
}

/* Answers a 401 challenge: sets r->authz. */
static int authenticate(struct reg *r, const char *challenge, ens_error_t *err)
{
    struct www_auth a;
    if (!challenge || www_auth_parse(challenge, &a) < 0)
        return ens_error(err, EACCES, "%s: unauthorized, without a usable WWW-Authenticate challenge", r->host);
    int ret = -1;
    _cleanup_free_ char *scope = NULL, *url = NULL, *basic = NULL;
    free(r->authz);
    r->authz = NULL;
    if (strcmp(a.scheme, "basic") == 0) {
        if (!r->userpass) {
            ens_error(err, EACCES, "%s: registry asks for credentials and none are configured for it (auth file "
                      "or ~/.docker/config.json)", r->host);
            goto out;
        }
        _cleanup_free_ char *enc = b64(r->userpass);
        if (!enc || asprintf(&r->authz, "Authorization: Basic %s", enc) < 0) {
            r->authz = NULL;
            ens_error(err, ENOMEM, "out of memory");
            goto out;
        }
        ret = 0;
        goto out;
    }
    if (strcmp(a.scheme, "bearer") != 0 || !a.realm ||
        (strncmp(a.realm, "https://", 8) != 0 && strncmp(a.realm, "http://", 7) != 0)) {
        ens_error(err, EACCES, "%s: unsupported authentication challenge", r->host);
        goto out;
    }
    if (r->tls_verify && strncmp(a.realm, "https://", 8) != 0) {
        /* Credentials would travel in clear text. */
        ens_error(err, EACCES, "%s: token service is not HTTPS (use --tls-verify=false to allow)", r->host);
        goto out;
    }
    if (a.scope)
        scope = strdup(a.scope);
    else if (asprintf(&scope, "repository:%s:%s", r->repo, r->push ? "pull,push" : "pull") < 0)
        scope = NULL;
    char *es = scope ? curl_easy_escape(r->curl, scope, 0) : NULL;
    char *esv = a.service ? curl_easy_escape(r->curl, a.service, 0) : NULL;
    int n = asprintf(&url, "%s%sscope=%s%s%s", a.realm, strchr(a.realm, '?') ? "&" : "?", es ? es : "",
                     esv ? "&service=" : "", esv ? esv : "");
    curl_free(es);
    curl_free(esv);
    if (n < 0) {
        url = NULL;
        ens_error(err, ENOMEM, "out of memory");
        goto out;
    }
    if (r->userpass) {
        _cleanup_free_ char *enc = b64(r->userpass);
        if (!enc || asprintf(&basic, "Authorization: Basic %s", enc) < 0)
            basic = NULL;
    }
    struct sink s = { .fd = -1, .max = 1u << 20 };
    struct resp rs = { 0 };
    if (http(r, "GET", url, NULL, NULL, 0, -1, 0, &s, &rs, basic, err) < 0)
        goto tok_out;
    if (rs.status != 200) {
        ens_error(err, EACCES, "%s: token service answered HTTP %ld%s", r->host, rs.status,
                  rs.status == 401 ? " (wrong or missing credentials)" : "");
        goto tok_out;
    }
    json_t *j = json_loadb(s.buf ? s.buf : "", s.len, 0, NULL);
    const char *tok = json_string_value(json_object_get(j, "token"));
    if (!tok)
        tok = json_string_value(json_object_get(j, "access_token"));
    if (!tok || !*tok || strpbrk(tok, "\r\n")) {
        ens_error(err, EACCES, "%s: token service gave no usable token", r->host);
    } else if (asprintf(&r->authz, "Authorization: Bearer %s", tok) < 0) {
        r->authz = NULL;
        ens_error(err, ENOMEM, "out of memory");
    } else {
        ret = 0;
    }
    json_decref(j);
tok_out:
    if (s.buf)
        ens_wipe(s.buf, s.len);
    free(s.buf);
    resp_clear(&rs);
out:
    www_auth_clear(&a);
    return ret;
}

/* http() with one retry after answering a 401 challenge. */
static int request(struct reg *r, const char *method, const char *url, struct curl_slist *hdrs, const char *body,
                   size_t body_len, int upload_fd, int64_t upload_size, struct sink *sink, struct resp *resp,
                   ens_error_t *err)
{
    off_t start = upload_fd >= 0 ? lseek(upload_fd, 0, SEEK_CUR) : 0;
    for (int attempt = 0;; attempt++) {
        resp_clear(resp);
        if (sink) {
            if (sink->fd >= 0) {
                if (ftruncate(sink->fd, 0) < 0 || lseek(sink->fd, 0, SEEK_SET) < 0)
                    return ens_error_errno(err, "reset download");
                ens_sha256_free(sink->h);
                sink->h = ens_sha256_new();
                sink->total = 0;
            } else {
                free(sink->buf);
                sink->buf = NULL;
                sink->len = 0;
            }
        }
        if (upload_fd >= 0 && lseek(upload_fd, start, SEEK_SET) < 0)
            return ens_error_errno(err, "rewind upload");
        if (http(r, method, url, hdrs, body, body_len, upload_fd, upload_size, sink, resp, r->authz, err) < 0)
            return -1;
        if (resp->status != 401 || attempt > 0)
            return 0;
        if (authenticate(r, resp->www_auth, err) < 0)
            return -1;
    }
}

static char *http_detail(struct sink *s)
{
    /* Registry error bodies are JSON {"errors":[{"code","message"}]}; show the first one. */
    json_t *j = s && s->buf ? json_loadb(s->buf, s->len, 0, NULL) : NULL;
    json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
    char *out = NULL;
    if (e0 && asprintf(&out, ": %s %s", json_string_value(json_object_get(e0, "code")) ?: "",
                       json_string_value(json_object_get(e0, "message")) ?: "") < 0)
        out = NULL;
    json_decref(j);
    return out ? out : strdup("");
}

int auth_lookup(const char *authfile, const char *host, char **userpass, ens_error_t *err)
{
    *userpass = NULL;
    _cleanup_free_ char *path = NULL;
    if (authfile && *authfile)
        path = strdup(authfile);
    else if (getenv("REGISTRY_AUTH_FILE") && *getenv("REGISTRY_AUTH_FILE"))
        path = strdup(getenv("REGISTRY_AUTH_FILE"));
    else {
        const char *xdg = getenv("XDG_RUNTIME_DIR");
        if (xdg && *xdg && asprintf(&path, "%s/containers/auth.json", xdg) >= 0 && access(path, R_OK) == 0) {
            /* podman/skopeo's default */
        } else {
            free(path);
            path = NULL;
            const char *dc = getenv("DOCKER_CONFIG");
            const char *home = getenv("HOME");
            if (dc && *dc) {
                if (asprintf(&path, "%s/config.json", dc) < 0)
                    path = NULL;
            } else if (home && asprintf(&path, "%s/.docker/config.json", home) < 0) {
                path = NULL;
            }
        }
    }
    if (!path || access(path, F_OK) < 0)
        return 0;
    _cleanup_free_ char *buf = NULL;
    size_t len;
    if (ens_read_file(path, 1u << 20, &buf, &len, err) < 0)
        return -1;
    json_t *j = json_loadb(buf, len, 0, NULL);
    ens_wipe(buf, len);
    if (!j)
        return ens_error(err, EBADMSG, "%s: invalid JSON", path);
    const char *want = strcmp(host, "docker.io") == 0 ? "index.docker.io" : host;
    const char *key;
    json_t *v;
    int ret = 0;
    json_object_foreach(json_object_get(j, "auths"), key, v) {
        const char *k = key;
        if (strncmp(k, "https://", 8) == 0)
            k += 8;
        else if (strncmp(k, "http://", 7) == 0)
            k += 7;
        size_t kl = strcspn(k, "/");
        bool match = (strlen(want) == kl && strncmp(k, want, kl) == 0) ||
                     (strcmp(host, "docker.io") == 0 &&
                      ((kl == 9 && strncmp(k, "docker.io", 9) == 0) ||
                       (kl == 19 && strncmp(k, "registry-1.docker.io", 19) == 0)));
        if (!match)
            continue;
        const char *auth = json_string_value(json_object_get(v, "auth"));
        if (auth && *auth) {
            size_t al = strlen(auth);
            unsigned char *dec = malloc(al + 1);
            int dl = dec ? EVP_DecodeBlock(dec, (const unsigned char *)auth, (int)al) : -1;
            if (dl < 0) {
                free(dec);
                ret = ens_error(err, EBADMSG, "%s: invalid base64 in the entry for %s", path, host);
                break;
            }
            while (al > 0 && auth[al - 1] == '=') /* EVP_DecodeBlock counts padding as zero bytes */
                al--, dl--;
            dec[dl] = '\0';
            if (!strchr((char *)dec, ':')) {
                ens_wipe(dec, (size_t)dl);
                free(dec);
                ret = ens_error(err, EBADMSG, "%s: the entry for %s is not user:password", path, host);
                break;
            }
            *userpass = (char *)dec;
        } else {
            const char *u = json_string_value(json_object_get(v, "username"));
            const char *p = json_string_value(json_object_get(v, "password"));
            if (u && p && asprintf(userpass, "%s:%s", u, p) < 0)
                *userpass = NULL;
        }
        break;
    }
    json_decref(j);
    return ret;
}

void reg_free(struct reg *r)
{
    if (!r)
        return;
    if (r->curl)
        curl_easy_cleanup(r->curl);
    free(r->host);
    free(r->api_host);
    free(r->repo);
    free(r->base);
    if (r->userpass)
        ens_wipe(r->userpass, strlen(r->userpass));
    free(r->userpass);
    if (r->authz)
        ens_wipe(r->authz, strlen(r->authz));
    free(r->authz);
    free(r);
}

int reg_new(const char *host, const char *repo, const struct ens_image_opts *o, bool push, struct reg **out,
            ens_error_t *err)
{
    pthread_once(&curl_once, curl_init_once);
    struct reg *r = calloc(1, sizeof(*r));
    if (!r)
        return ens_error(err, ENOMEM, "out of memory");
    r->host = strdup(host);
    r->api_host = strdup(strcmp(host, "docker.io") == 0 ? "registry-1.docker.io" : host);
    r->repo = strdup(repo);
    r->tls_verify = o->tls_verify;
    r->push = push;
    r->curl = curl_easy_init();
    if (!r->host || !r->api_host || !r->repo || !r->curl) {
        reg_free(r);
        return ens_error(err, ENOMEM, "out of memory");
    }
    if (auth_lookup(o->authfile, host, &r->userpass, err) < 0) {
        reg_free(r);
        return -1;
    }
    /* Probe /v2/: HTTPS first; plain HTTP only when TLS verification is off (like skopeo). */
    const char *schemes[] = { "https", "http" };
    ens_error_t first = NULL;
    for (int i = 0; i < (r->tls_verify ? 1 : 2); i++) {
        free(r->base);
        if (asprintf(&r->base, "%s://%s", schemes[i], r->api_host) < 0) {
            r->base = NULL;
            break;
        }
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "%s/v2/", r->base) < 0)
            break;
        struct sink s = { .fd = -1, .max = 1u << 20 };
        struct resp rs = { 0 };
        ens_error_t e = NULL;
        int rc = http(r, "GET", url, NULL, NULL, 0, -1, 0, &s, &rs, NULL, &e);
        free(s.buf);
        resp_clear(&rs);
        if (rc == 0) {
            ens_error_release(&first);
            *out = r;
            return 0;
        }
        if (!first)
            first = e;
        else
            ens_error_release(&e);
    }
    ens_error(err, first ? ens_error_status(first) : EIO, "registry %s: %s", host,
              first ? ens_error_msg(first) : "unreachable");
    ens_error_release(&first);
    reg_free(r);
    return -1;
}

static const char *const ACCEPT =
    "Accept: " MT_OCI_MANIFEST ", " MT_OCI_INDEX ", " MT_DOCKER_MANIFEST ", " MT_DOCKER_LIST;

int reg_get_manifest(struct reg *r, const char *ref, char **buf, size_t *len, char **mt, ens_error_t *err)
{
    _cleanup_free_ char *url = NULL;
    if (asprintf(&url, "%s/v2/%s/manifests/%s", r->base, r->repo, ref) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    struct curl_slist *h = curl_slist_append(NULL, ACCEPT);
    struct sink s = { .fd = -1, .max = MAX_MANIFEST_SIZE };
    struct resp rs = { 0 };
    int ret = request(r, "GET", url, h, NULL, 0, -1, 0, &s, &rs, err);
    curl_slist_free_all(h);
    if (ret == 0 && rs.status != 200) {
        _cleanup_free_ char *d = http_detail(&s);
        ret = ens_error(err, rs.status == 404 ? ENOENT : EIO, "%s/%s:%s: manifest: HTTP %ld%s", r->host, r->repo,
                        ref, rs.status, d ? d : "");
    }
    if (ret == 0) {
        char d[72];
        ens_digest_string(s.buf ? s.buf : "", s.len, d);
        if (strncmp(ref, "sha256:", 7) == 0 && strcmp(ref, d) != 0)
            ret = ens_error(err, EBADMSG, "%s/%s: manifest digest mismatch: asked %s, got %s", r->host, r->repo, ref,
                            d);
        else if (rs.digest && ens_digest_valid(rs.digest) && strcmp(rs.digest, d) != 0)
            ret = ens_error(err, EBADMSG, "%s/%s: manifest content %s differs from Docker-Content-Digest %s",
                            r->host, r->repo, d, rs.digest);
    }
    if (ret == 0) {
        *buf = s.buf ? s.buf : strdup("");
        s.buf = NULL;
        *len = s.len;
        *mt = strdup(rs.ctype);
    }
    free(s.buf);
    resp_clear(&rs);
    return ret;
}

int reg_get_blob(struct reg *r, const struct blob *b, const char *path, ens_error_t *err)
{
    _cleanup_free_ char *url = NULL;
    if (asprintf(&url, "%s/v2/%s/blobs/%s", r->base, r->repo, b->digest) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    _cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0)
        return ens_error_errno(err, "open %s", path);
    struct sink s = { .fd = fd, .limit = b->size, .h = ens_sha256_new() };
    struct resp rs = { 0 };
    ens_step("pulling %.19s (%lld bytes)", b->digest, (long long)b->size);
    r->progress_what = "pull";
    r->progress_total = b->size;
    int ret = request(r, "GET", url, NULL, NULL, 0, -1, 0, &s, &rs, err);
    r->progress_what = NULL;
    ens_progress_done("pull");
    if (ret == 0 && rs.status != 200)
        ret = ens_error(err, EIO, "%s/%s: blob %s: HTTP %ld", r->host, r->repo, b->digest, rs.status);
    if (ret == 0) {
        uint8_t d[ENS_SHA256_LEN];
        char hex[72];
        ens_sha256_final(s.h, d);
        memcpy(hex, "sha256:", 7);
        ens_hex_encode(d, sizeof(d), hex + 7);
        if (s.total != b->size)
            ret = ens_error(err, EBADMSG, "%s/%s: blob %s: got %lld bytes, descriptor says %lld", r->host, r->repo,
                            b->digest, (long long)s.total, (long long)b->size);
        else if (!ens_ct_equal(hex, b->digest, 71))
            ret = ens_error(err, EBADMSG, "%s/%s: blob %s: digest mismatch (content is %s)", r->host, r->repo,
                            b->digest, hex);
    }
    ens_sha256_free(s.h);
    resp_clear(&rs);
    return ret;
}

static char *abs_location(struct reg *r, const char *loc)
{
    char *u;
    if (loc[0] == '/') {
        if (asprintf(&u, "%s%s", r->base, loc) < 0)
            return NULL;
        return u;
    }
    return strdup(loc);
}

static int blob_exists(struct reg *r, const char *digest, bool *exists, ens_error_t *err)
{
    _cleanup_free_ char *url = NULL;
    if (asprintf(&url, "%s/v2/%s/blobs/%s", r->base, r->repo, digest) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    struct resp rs = { 0 };
    int ret = request(r, "HEAD", url, NULL, NULL, 0, -1, 0, NULL, &rs, err);
    *exists = ret == 0 && rs.status == 200;
    if (ret == 0 && rs.status != 200 && rs.status != 404)
        ret = ens_error(err, EIO, "%s/%s: HEAD blob %s: HTTP %ld", r->host, r->repo, digest, rs.status);
    resp_clear(&rs);
    return ret;
}

/* Returns 1 when the registry already has the blob (or mounted it), 0 with *loc to upload to. */
static int start_upload(struct reg *r, const struct blob *b, const char *from_host, const char *from_repo, char **loc,
                        ens_error_t *err)
{
    bool exists = false;
    if (blob_exists(r, b->digest, &exists, err) < 0)
        return -1;
    if (exists)
        return 1;
    _cleanup_free_ char *url = NULL;
    bool mount = from_host && from_repo && strcmp(from_host, r->host) == 0 && strcmp(from_repo, r->repo) != 0;
    char *ef = mount ? curl_easy_escape(r->curl, from_repo, 0) : NULL;
    int n = mount ? asprintf(&url, "%s/v2/%s/blobs/uploads/?mount=%s&from=%s", r->base, r->repo, b->digest, ef)
                  : asprintf(&url, "%s/v2/%s/blobs/uploads/", r->base, r->repo);
    curl_free(ef);
    if (n < 0)
        return ens_error(err, ENOMEM, "out of memory");
    struct sink s = { .fd = -1, .max = MAX_SMALL_BODY };
    struct resp rs = { 0 };
    int ret = request(r, "POST", url, NULL, NULL, 0, -1, 0, &s, &rs, err);
    if (ret == 0 && rs.status == 201 && mount) {
        ens_log(ENS_LOG_INFO, "mounted %s from %s", b->digest, from_repo);
        ret = 1;
    } else if (ret == 0 && (rs.status != 202 || !rs.location)) {
        _cleanup_free_ char *d = http_detail(&s);
        ret = ens_error(err, EIO, "%s/%s: starting upload of %s: HTTP %ld%s", r->host, r->repo, b->digest, rs.status,
                        d ? d : "");
    } else if (ret == 0) {
        *loc = abs_location(r, rs.location);
        if (!*loc)
            ret = ens_error(err, ENOMEM, "out of memory");
    }
    free(s.buf);
    resp_clear(&rs);
    return ret;
}

static int64_t chunk_size(void)
{
    /* Blobs up to this size go in one PUT; bigger ones in PATCH chunks of this size. */
    const char *e = getenv("ENSCONCE_REGISTRY_CHUNK_SIZE");
    long long v = e && *e ? strtoll(e, NULL, 10) : 0;
    return v > 0 ? v : (64ll << 20);
}

/* Uploads b: monolithic (one PUT with the whole blob and its digest) or, for big blobs, chunked
 * (PATCH with Content-Range, following each new Location, then an empty PUT with the digest). */
static int upload(struct reg *r, const struct blob *b, const char *loc0, ens_error_t *err)
{
    _cleanup_close_ int fd = open(b->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ens_error_errno(err, "open %s", b->path);
    _cleanup_free_ char *loc = strdup(loc0), *url = NULL;
    if (!loc)
        return ens_error(err, ENOMEM, "out of memory");
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/octet-stream");
    struct sink s = { .fd = -1, .max = MAX_SMALL_BODY };
    struct resp rs = { 0 };
    int ret = 0;
    int64_t chunk = chunk_size(), off = 0;
    bool chunked = b->size > chunk;
    ens_step("pushing %.19s (%lld bytes%s)", b->digest, (long long)b->size, chunked ? ", chunked" : "");
    r->progress_what = "push";
    r->progress_total = b->size;
    while (chunked && off < b->size && ret == 0) {
        int64_t n = b->size - off < chunk ? b->size - off : chunk;
        char range[96];
        snprintf(range, sizeof(range), "Content-Range: %lld-%lld", (long long)off, (long long)(off + n - 1));
        struct curl_slist *hc = curl_slist_append(curl_slist_append(NULL, "Content-Type: application/octet-stream"),
                                                  range);
        if (lseek(fd, off, SEEK_SET) < 0)
            ret = ens_error_errno(err, "seek %s", b->path);
        else
            ret = request(r, "PATCH", loc, hc, NULL, 0, fd, n, &s, &rs, err);
        curl_slist_free_all(hc);
        if (ret == 0 && (rs.status != 202 || !rs.location)) {
            _cleanup_free_ char *d = http_detail(&s);
            ret = ens_error(err, EIO, "%s/%s: chunk at %lld of %s: HTTP %ld%s", r->host, r->repo, (long long)off,
                            b->digest, rs.status, d ? d : "");
        }
        if (ret == 0) {
            free(loc);
            loc = abs_location(r, rs.location);
            if (!loc)
                ret = ens_error(err, ENOMEM, "out of memory");
        }
        off += n;
    }
    if (ret == 0 && asprintf(&url, "%s%sdigest=%s", loc, strchr(loc, '?') ? "&" : "?", b->digest) < 0)
        ret = ens_error(err, ENOMEM, "out of memory");
    if (ret == 0 && lseek(fd, 0, SEEK_SET) < 0)
        ret = ens_error_errno(err, "seek %s", b->path);
    if (ret == 0)
        ret = chunked ? request(r, "PUT", url, h, "", 0, -1, 0, &s, &rs, err)
                      : request(r, "PUT", url, h, NULL, 0, fd, b->size, &s, &rs, err);
    r->progress_what = NULL;
    ens_progress_done("push");
    curl_slist_free_all(h);
    if (ret == 0 && rs.status != 201) {
        _cleanup_free_ char *d = http_detail(&s);
        ret = ens_error(err, EIO, "%s/%s: upload of %s: HTTP %ld%s", r->host, r->repo, b->digest, rs.status,
                        d ? d : "");
    }
    free(s.buf);
    resp_clear(&rs);
    return ret;
}

int reg_put_manifest(struct reg *r, const char *ref, const char *buf, size_t len, const char *mt, char out[72],
                     ens_error_t *err)
{
    _cleanup_free_ char *url = NULL, *ct = NULL;
    if (asprintf(&url, "%s/v2/%s/manifests/%s", r->base, r->repo, ref) < 0 || asprintf(&ct, "Content-Type: %s", mt) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    struct curl_slist *h = curl_slist_append(NULL, ct);
    struct sink s = { .fd = -1, .max = MAX_SMALL_BODY };
    struct resp rs = { 0 };
    int ret = request(r, "PUT", url, h, buf, len, -1, 0, &s, &rs, err);
    curl_slist_free_all(h);
    if (ret == 0 && rs.status != 201 && rs.status != 200) {
        _cleanup_free_ char *d = http_detail(&s);
        ret = ens_error(err, EIO, "%s/%s: manifest PUT: HTTP %ld%s", r->host, r->repo, rs.status, d ? d : "");
    }
    ens_digest_string(buf, len, out);
    if (ret == 0 && rs.digest && strcmp(rs.digest, out) != 0)
        ens_log(ENS_LOG_WARN, "registry reports manifest digest %s, ours is %s", rs.digest, out);
    free(s.buf);
    resp_clear(&rs);
    return ret;
}

int registry_open(ens_image *img, const struct image_ref *ref, ens_error_t *err)
{
    if (reg_new(ref->host, ref->repo, &img->opts, false, &img->reg, err) < 0)
        return -1;
    img->src_host = strdup(ref->host);
    img->src_repo = strdup(ref->repo);
    char *buf = NULL, *mt = NULL;
    size_t len;
    const char *want = ref->digest ? ref->digest : ref->tag;
    if (reg_get_manifest(img->reg, want, &buf, &len, &mt, err) < 0)
        return -1;
    if (media_type_is_index(mt)) {
        struct blob d;
        int r = index_pick(buf, len, img->opts.platform, &d, err);
        free(buf);
        free(mt);
        buf = mt = NULL;
        if (r < 0)
            return -1;
        r = reg_get_manifest(img->reg, d.digest, &buf, &len, &mt, err);
        blob_clear(&d);
        if (r < 0)
            return -1;
    }
    int r = image_load_manifest(img, buf, len, mt, err);
    if (r < 0 && img->manifest_raw != buf)
        free(buf);
    free(mt);
    return r;
}

int registry_write(ens_image *img, const struct image_ref *ref, ens_error_t *err)
{
    struct reg *r = NULL;
    _cleanup_free_ char *m = NULL, *mt = NULL;
    size_t len;
    if (image_render(img, false, &m, &len, &mt, err) < 0)
        return -1;
    if (reg_new(ref->host, ref->repo, &img->opts, true, &r, err) < 0)
        return -1;
    int ret = -1;
    for (size_t i = 0; i <= img->n_layers; i++) {
        struct blob *b = i < img->n_layers ? &img->layers[i] : &img->config;
        _cleanup_free_ char *loc = NULL;
        int s = start_upload(r, b, img->src_host, img->src_repo, &loc, err);
        if (s < 0)
            goto out;
        if (s == 1)
            continue;
        /* The registry checks the digest too, but we refuse to send a blob that is not what it claims. */
        if (image_blob_fetch(img, b, err) < 0 || blob_verify(b, err) < 0 || upload(r, b, loc, err) < 0)
            goto out;
    }
    char digest[72];
    const char *tag = ref->tag ? ref->tag : ref->digest;
    if (reg_put_manifest(r, tag, m, len, mt, digest, err) < 0)
        goto out;
    if (ref->digest && strcmp(ref->digest, digest) != 0) {
        ens_error(err, EINVAL, "pushed by digest %s, but the manifest is %s", ref->digest, digest);
        goto out;
    }
    ret = 0;
out:
    reg_free(r);
    return ret;
}
