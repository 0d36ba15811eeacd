/* SPDX-License-Identifier: Apache-2.0 */
/* A small blocking HTTP/1.1 client over TCP, Unix sockets and TLS 1.3 (OpenSSL only, links
 * statically).  Responses must carry Content-Length (as evhttp's do) or end with the
 * connection; chunked transfer is refused.  Sizes are bounded. */
#include "net/net.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "crypto/digest.h"
#include "net/net_internal.h"

#define MAX_HEAD 16384

/* Writes on a socket the peer closed raise SIGPIPE; OpenSSL writes with write(2), so the
 * client blocks SIGPIPE in the calling thread around its calls and discards one that
 * became pending meanwhile (the write fails with EPIPE instead).  A library must not
 * change the process's signal dispositions. */
struct sigpipe_guard {
    sigset_t old;
    bool was_pending;
};
static void sigpipe_block(struct sigpipe_guard *g)
{
    sigset_t pipe, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &g->old);
}
static void sigpipe_restore(struct sigpipe_guard *g)
{
    if (!g->was_pending) {
        sigset_t pipe, pending;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE)) {
            struct timespec zero = {0, 0};
            sigtimedwait(&pipe, NULL, &zero);
        }
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

struct ens_http_conn {
    int fd;
    SSL *ssl;
    X509 *peer;
    char *host; /* for the Host header */
    size_t max_response;
    char *buf;  /* bytes read but not consumed */
    size_t len, cap;
    bool closed; /* the server said Connection: close */
};

int ens_net_split_addr(const char *addr, int default_port, char **host, int *port, ens_error_t *err)
{
    const char *colon;
    _cleanup_free_ char *h = NULL;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (end == NULL)
            return ens_error(err, EINVAL, "address '%s': missing ']'", addr);
        h = strndup(addr + 1, (size_t)(end - addr - 1));
        colon = end[1] == ':' ? end + 1 : NULL;
        if (end[1] != '\0' && end[1] != ':')
            return ens_error(err, EINVAL, "address '%s': junk after ']'", addr);
    } else {
        colon = strrchr(addr, ':');
        h = colon ? strndup(addr, (size_t)(colon - addr)) : strdup(addr);
    }
    if (h == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    int p = default_port;
    if (colon != NULL) {
        char *end = NULL;
        long v = strtol(colon + 1, &end, 10);
        if (colon[1] == '\0' || *end != '\0' || v < 0 || v > 65535)
            return ens_error(err, EINVAL, "address '%s': invalid port", addr);
        p = (int)v;
    }
    if (p < 0)
        return ens_error(err, EINVAL, "address '%s': no port", addr);
    if (h[0] == '\0') {
        free(h);
        h = strdup("127.0.0.1");
    }
    *host = ens_steal(&h);
    *port = p;
    return 0;
}

static int set_blocking_with_timeouts(int fd, int timeout_s)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        return -1;
    struct timeval tv = {.tv_sec = timeout_s};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return 0;
}

static int wait_connect(int fd, int timeout_s)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int pr = poll(&p, 1, timeout_s * 1000);
    if (pr == 0)
        return ETIMEDOUT;
    if (pr < 0)
        return errno;
    int e = 0;
    socklen_t sl = sizeof(e);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) < 0)
        return errno;
    return e;
}

static int connect_tcp(const char *host, int port, int timeout_s, ens_error_t *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    int gr = getaddrinfo(host, ps, &hints, &res);
    if (gr != 0)
        return ens_error(err, EHOSTUNREACH, "resolving %s: %s", host, gai_strerror(gr));
    int fd = -1, e = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            e = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        e = errno == EINPROGRESS ? wait_connect(fd, timeout_s) : errno;
        if (e == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        errno = e;
        return ens_error_errno(err, "connecting to %s:%d", host, port);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (set_blocking_with_timeouts(fd, timeout_s) < 0) {
        close(fd);
        return ens_error_errno(err, "socket options");
    }
    return fd;
}

static int connect_unix(const char *path, int timeout_s, ens_error_t *err)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sun.sun_path) || path[0] == '\0')
        return ens_error(err, EINVAL, "unix socket path '%s' is empty or too long", path);
    strcpy(sun.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ens_error_errno(err, "socket");
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return ens_error_errno(err, "connecting to %s", path);
    }
    set_blocking_with_timeouts(fd, timeout_s);
    return fd;
}

static int ssl_fail(ens_error_t *err, const char *what) { return net_ssl_error(err, what, "connection closed"); }

/* One client context for all connections: SSL_CTX_new is costly in OpenSSL 3 (it fetches
 * every algorithm); the client certificate is set per connection. */
static SSL_CTX *shared_ctx;
static pthread_once_t shared_once = PTHREAD_ONCE_INIT;
static void make_shared_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        return;
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, net_accept_any_cert); /* the pin is checked after the handshake */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    shared_ctx = ctx;
}

void ens_http_close(ens_http_conn *c)
{
    if (c == NULL)
        return;
    if (c->ssl) {
        struct sigpipe_guard g;
        sigpipe_block(&g);
        SSL_shutdown(c->ssl);
        sigpipe_restore(&g);
        SSL_free(c->ssl);
    }
    X509_free(c->peer);
    if (c->fd >= 0)
        close(c->fd);
    free(c->host);
    free(c->buf);
    free(c);
}

X509 *ens_http_conn_peer_cert(ens_http_conn *c) { return c->peer; }

int ens_http_connect(const struct ens_http_client_opts *o, ens_http_conn **out, ens_error_t *err)
{
    const char *addr = o->addr;
    bool plain = o->plain;
    if (strncmp(addr, "https://", 8) == 0) {
        addr += 8;
        plain = false;
    } else if (strncmp(addr, "http://", 7) == 0) {
        addr += 7;
        plain = true;
    }
    int timeout = o->timeout_s > 0 ? o->timeout_s : 10;
    ens_http_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    c->fd = -1;
    c->max_response = o->max_response ? o->max_response : (16u << 20);
    if (strncmp(addr, "unix:", 5) == 0) {
        c->host = strdup("localhost");
        c->fd = connect_unix(addr + 5, timeout, err);
    } else {
        int port = 0;
        if (ens_net_split_addr(addr, -1, &c->host, &port, err) < 0) {
            ens_http_close(c);
            return -1;
        }
        c->fd = connect_tcp(c->host, port, timeout, err);
    }
    if (c->fd < 0) {
        ens_http_close(c);
        return -1;
    }
    if (!plain) {
        pthread_once(&shared_once, make_shared_ctx);
        if (shared_ctx == NULL) {
            ens_http_close(c);
            return ssl_fail(err, "SSL_CTX_new");
        }
        c->ssl = SSL_new(shared_ctx);
        if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
            ens_http_close(c);
            return ssl_fail(err, "SSL_new");
        }
        if (o->client_key && o->client_cert
            && (SSL_use_certificate(c->ssl, o->client_cert) != 1 || SSL_use_PrivateKey(c->ssl, o->client_key) != 1)) {
            ens_http_close(c);
            return ssl_fail(err, "client certificate");
        }
        if (c->host[0] && !isdigit((unsigned char)c->host[0]) && strchr(c->host, ':') == NULL)
            SSL_set_tlsext_host_name(c->ssl, c->host);
        struct sigpipe_guard g;
        sigpipe_block(&g);
        int hr = SSL_connect(c->ssl);
        sigpipe_restore(&g);
        if (hr != 1) {
            int r = ssl_fail(err, "TLS handshake");
            ens_error_wrap(err, "%s", addr);
            ens_http_close(c);
            return r;
        }
        c->peer = SSL_get1_peer_certificate(c->ssl);
        if (c->peer == NULL) {
            ens_http_close(c);
            return ens_error(err, EPROTO, "%s: server sent no certificate", addr);
        }
        if (o->pin != NULL) {
            uint8_t id[32];
            if (ens_tls_cert_id(c->peer, id, err) < 0) {
                ens_http_close(c);
                return -1;
            }
            if (!ens_ct_equal(id, o->pin, 32)) {
                char hex[65];
                ens_hex_encode(id, 32, hex);
                ens_http_close(c);
                return ens_error(err, EPERM,
                                 "%s presents key %s, which is not the pinned (attested) one: refusing", addr,
                                 hex);
            }
        }
    }
    *out = c;
    return 0;
}

static int send_all_(ens_http_conn *c, const void *data, size_t len, ens_error_t *err);
static int send_all(ens_http_conn *c, const void *data, size_t len, ens_error_t *err)
{
    struct sigpipe_guard g;
    sigpipe_block(&g);
    int r = send_all_(c, data, len, err);
    sigpipe_restore(&g);
    return r;
}

static int send_all_(ens_http_conn *c, const void *data, size_t len, ens_error_t *err)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n;
        if (c->ssl) {
            size_t w = 0;
            if (SSL_write_ex(c->ssl, p, len, &w) != 1)
                return ssl_fail(err, "sending");
            n = (ssize_t)w;
        } else {
            n = send(c->fd, p, len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return ens_error_errno(err, "sending");
            }
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads more bytes into the buffer; 0 at EOF. */
static ssize_t fill(ens_http_conn *c, size_t limit, ens_error_t *err)
{
    if (c->len >= limit)
        return ens_error(err, EMSGSIZE, "response larger than %zu bytes", limit);
    if (c->cap - c->len < 4096) {
        size_t ncap = c->cap ? c->cap * 2 : 8192;
        char *n = realloc(c->buf, ncap + 1);
        if (n == NULL)
            return ens_error(err, ENOMEM, "out of memory");
        c->buf = n;
        c->cap = ncap;
    }
    size_t want = c->cap - c->len;
    for (;;) {
        if (c->ssl) {
            size_t got = 0;
            if (SSL_read_ex(c->ssl, c->buf + c->len, want, &got) == 1) {
                c->len += got;
                return (ssize_t)got;
            }
            int e = SSL_get_error(c->ssl, 0);
            if (e == SSL_ERROR_ZERO_RETURN)
                return 0;
            if (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                ERR_clear_error();
                return ens_error(err, ETIMEDOUT, "timed out waiting for the server");
            }
            if (e == SSL_ERROR_SYSCALL && errno == 0) {
                ERR_clear_error();
                return 0;
            }
            return ssl_fail(err, "receiving");
        }
        ssize_t n = recv(c->fd, c->buf + c->len, want, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return ens_error(err, ETIMEDOUT, "timed out waiting for the server");
        if (n < 0)
            return ens_error_errno(err, "receiving");
        c->len += (size_t)n;
        return n;
    }
}

void ens_http_response_clear(struct ens_http_response *r)
{
    free(r->body);
    free(r->content_type);
    memset(r, 0, sizeof(*r));
}

static char *header_value(char *line, const char *name)
{
    size_t n = strlen(name);
    if (strncasecmp(line, name, n) != 0 || line[n] != ':')
        return NULL;
    char *v = line + n + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    char *end = v + strlen(v);
    while (end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        *--end = '\0';
    return v;
}

static int request_(ens_http_conn *c, const char *method, const char *path, const char *ctype, const void *body,
                    size_t len, struct ens_http_response *resp, ens_error_t *err);

int ens_http_request(ens_http_conn *c, const char *method, const char *path, const char *ctype,
                     const void *body, size_t len, struct ens_http_response *resp, ens_error_t *err)
{
    int r = request_(c, method, path, ctype, body, len, resp, err);
    if (r < 0) {
        ens_http_response_clear(resp);
        c->closed = true; /* the stream position is unknown after a failure */
    }
    return r;
}

static int request_(ens_http_conn *c, const char *method, const char *path, const char *ctype, const void *body,
                    size_t len, struct ens_http_response *resp, ens_error_t *err)
{
    memset(resp, 0, sizeof(*resp));
    if (c->closed)
        return ens_error(err, EPIPE, "the server closed the connection");
    if (strpbrk(path, "\r\n ") != NULL || (ctype && strpbrk(ctype, "\r\n")))
        return ens_error(err, EINVAL, "invalid request path or content type");
    _cleanup_free_ char *head = NULL;
    int hl = asprintf(&head,
                      "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %zu\r\n%s%s%sConnection: keep-alive\r\n\r\n",
                      method, path, c->host, len, ctype ? "Content-Type: " : "", ctype ? ctype : "",
                      ctype ? "\r\n" : "");
    if (hl < 0)
        return ens_error(err, ENOMEM, "out of memory");
    /* One write (one TLS record, one segment when small): no Nagle/delayed-ACK stalls. */
    _cleanup_free_ char *msg = malloc((size_t)hl + len);
    if (msg == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    memcpy(msg, head, (size_t)hl);
    if (len)
        memcpy(msg + hl, body, len);
    if (send_all(c, msg, (size_t)hl + len, err) < 0)
        return ens_error_wrap(err, "%s %s", method, path);
    /* Header block. */
    char *eoh = NULL;
    for (;;) {
        if (c->len) {
            c->buf[c->len] = '\0';
            eoh = memmem(c->buf, c->len, "\r\n\r\n", 4);
            if (eoh)
                break;
        }
        ssize_t n = fill(c, MAX_HEAD, err);
        if (n < 0)
            return ens_error_wrap(err, "%s %s", method, path);
        if (n == 0)
            return ens_error(err, EPROTO, "%s %s: connection closed before a response", method, path);
    }
    size_t head_len = (size_t)(eoh - c->buf) + 4;
    *eoh = '\0';
    char *save = NULL;
    char *line = strtok_r(c->buf, "\r\n", &save);
    int status = 0;
    if (line == NULL || sscanf(line, "HTTP/1.%*1[01] %3d", &status) != 1 || status < 100 || status > 599)
        return ens_error(err, EPROTO, "%s %s: malformed status line", method, path);
    long long clen = -1;
    bool conn_close = false;
    while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
        char *v;
        if ((v = header_value(line, "Content-Length")) != NULL) {
            char *end = NULL;
            clen = strtoll(v, &end, 10);
            if (*v == '\0' || *end != '\0' || clen < 0)
                return ens_error(err, EPROTO, "%s %s: invalid Content-Length", method, path);
        } else if ((v = header_value(line, "Transfer-Encoding")) != NULL) {
            if (strcasecmp(v, "identity") != 0)
                return ens_error(err, EPROTO, "%s %s: transfer encoding '%s' not supported", method, path, v);
        } else if ((v = header_value(line, "Connection")) != NULL) {
            conn_close = strcasecmp(v, "close") == 0;
        } else if ((v = header_value(line, "Content-Type")) != NULL) {
            free(resp->content_type);
            resp->content_type = strdup(v);
        }
    }
    if (clen >= 0 && (size_t)clen > c->max_response)
        return ens_error(err, EMSGSIZE, "%s %s: response of %lld bytes is larger than %zu", method, path, clen,
                         c->max_response);
    /* Drop the header bytes. */
    memmove(c->buf, c->buf + head_len, c->len - head_len);
    c->len -= head_len;
    if (strcmp(method, "HEAD") == 0 || status == 204 || status == 304)
        clen = 0;
    if (clen < 0) {
        /* Body until EOF. */
        for (;;) {
            ssize_t n = fill(c, c->max_response, err);
            if (n < 0)
                return ens_error_wrap(err, "%s %s", method, path);
            if (n == 0)
                break;
        }
        clen = (long long)c->len;
        conn_close = true;
    }
    while (c->len < (size_t)clen) {
        ssize_t n = fill(c, (size_t)clen + 1, err);
        if (n < 0)
            return ens_error_wrap(err, "%s %s", method, path);
        if (n == 0)
            return ens_error(err, EPROTO, "%s %s: truncated response", method, path);
    }
    resp->body = malloc((size_t)clen + 1);
    if (resp->body == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    memcpy(resp->body, c->buf, (size_t)clen);
    resp->body[clen] = '\0';
    resp->len = (size_t)clen;
    resp->status = status;
    memmove(c->buf, c->buf + clen, c->len - (size_t)clen);
    c->len -= (size_t)clen;
    c->closed = conn_close;
    return 0;
}
