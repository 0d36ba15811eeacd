/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP(S) server over libevent evhttp + bufferevent_openssl, N loops sharing one listener. */
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/log.h"

struct loop {
    ens_http_cb cb;
    void *arg;
    struct event_base *base;
    struct evhttp *http;
    pthread_t thread;
    bool started;
    SSL_CTX *tls;
};

struct ens_http_server {
    int fd;
    int port;
    unsigned n;
    struct loop *loops;
    char *unix_path;
};

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
/* A server must survive clients that vanish mid-reply: OpenSSL writes with write(2). */
static void init_evthread(void)
{
    evthread_use_pthreads();
    signal(SIGPIPE, SIG_IGN);
}

static int bind_listener(const char *listen_addr, int *port_out, char **unix_path, ens_error_t *err)
{
    if (strncmp(listen_addr, "unix:", 5) == 0) {
        const char *path = listen_addr + 5;
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sun.sun_path) || path[0] == '\0')
            return ens_error(err, EINVAL, "unix socket path '%s' is empty or too long", path);
        strcpy(sun.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            return ens_error_errno(err, "socket");
        unlink(path);
        if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 1024) < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return ens_error_errno(err, "binding %s", path);
        }
        chmod(path, 0666);
        *unix_path = strdup(path);
        *port_out = 0;
        return fd;
    }
    _cleanup_free_ char *host = NULL;
    int port = 0;
    if (ens_net_split_addr(listen_addr, -1, &host, &port, err) < 0)
        return -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE},
                    *res = NULL;
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    int gr = getaddrinfo(host, ps, &hints, &res);
    if (gr != 0)
        return ens_error(err, EINVAL, "listen address '%s': %s", listen_addr, gai_strerror(gr));
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        return ens_error_errno(err, "socket");
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* Linux copies TCP_NODELAY from the listener to accepted sockets. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        int e = errno;
        freeaddrinfo(res);
        close(fd);
        errno = e;
        return ens_error_errno(err, "binding %s", listen_addr);
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_out = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
    SSL_CTX *ctx = arg;
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL)
        return NULL;
    struct bufferevent *bev =
        bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (bev != NULL)
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

/* TCP_NODELAY on every connection before the first reply: Linux may or may not carry it
 * over from the listener, and Nagle + delayed ACKs add 40 ms to split responses. */
static void dispatch(struct evhttp_request *req, void *arg)
{
    struct loop *l = arg;
    struct evhttp_connection *c = evhttp_request_get_connection(req);
    struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    l->cb(req, l->arg);
}

static void *loop_main(void *arg)
{
    struct loop *l = arg;
    event_base_dispatch(l->base);
    return NULL;
}

int ens_http_server_start(const struct ens_http_config *cfg, ens_http_server **out, ens_error_t *err)
{
    pthread_once(&evthread_once, init_evthread);
    ens_http_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    s->n = cfg->threads ? cfg->threads : 1;
    s->loops = calloc(s->n, sizeof(*s->loops));
    s->fd = -1;
    if (s->loops == NULL) {
        free(s);
        return ens_error(err, ENOMEM, "out of memory");
    }
    s->fd = bind_listener(cfg->listen, &s->port, &s->unix_path, err);
    if (s->fd < 0) {
        ens_http_server_stop(s);
        return -1;
    }
    for (unsigned i = 0; i < s->n; i++) {
        struct loop *l = &s->loops[i];
        l->base = event_base_new();
        l->http = l->base ? evhttp_new(l->base) : NULL;
        if (l->http == NULL) {
            ens_http_server_stop(s);
            return ens_error(err, ENOMEM, "creating an event loop");
        }
        evhttp_set_max_body_size(l->http, (ev_ssize_t)(cfg->max_body ? cfg->max_body : 1 << 20));
        evhttp_set_max_headers_size(l->http, (ev_ssize_t)(cfg->max_headers ? cfg->max_headers : 16384));
        evhttp_set_timeout(l->http, cfg->timeout_s > 0 ? cfg->timeout_s : 10);
        evhttp_set_allowed_methods(l->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT
                                                | EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD | EVHTTP_REQ_PATCH
                                                | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT);
        l->cb = cfg->cb;
        l->arg = cfg->arg;
        evhttp_set_gencb(l->http, dispatch, l);
        if (cfg->tls != NULL) {
            SSL_CTX_up_ref(cfg->tls);
            l->tls = cfg->tls;
            evhttp_set_bevcb(l->http, tls_bev, cfg->tls);
        }
        /* Each evhttp closes its listener on free: give each its own descriptor. */
        int fd = dup(s->fd);
        if (fd < 0 || evhttp_accept_socket_with_handle(l->http, fd) == NULL) {
            if (fd >= 0)
                close(fd);
            ens_http_server_stop(s);
            return ens_error(err, EIO, "listening on %s", cfg->listen);
        }
    }
    for (unsigned i = 0; i < s->n; i++) {
        if (pthread_create(&s->loops[i].thread, NULL, loop_main, &s->loops[i]) != 0) {
            ens_http_server_stop(s);
            return ens_error(err, EAGAIN, "starting a server thread");
        }
        s->loops[i].started = true;
    }
    *out = s;
    return 0;
}

int ens_http_server_port(const ens_http_server *s) { return s->port; }

void ens_http_server_stop(ens_http_server *s)
{
    if (s == NULL)
        return;
    for (unsigned i = 0; i < s->n; i++)
        if (s->loops[i].started)
            event_base_loopbreak(s->loops[i].base);
    for (unsigned i = 0; i < s->n; i++) {
        struct loop *l = &s->loops[i];
        if (l->started)
            pthread_join(l->thread, NULL);
        if (l->http)
            evhttp_free(l->http);
        if (l->base)
            event_base_free(l->base);
        if (l->tls)
            SSL_CTX_free(l->tls);
    }
    if (s->fd >= 0)
        close(s->fd);
    if (s->unix_path) {
        unlink(s->unix_path);
        free(s->unix_path);
    }
    free(s->loops);
    free(s);
}

char *ens_http_body(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *b = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(b);
    *len = n;
    if (n == 0)
        return NULL;
    char *out = malloc(n + 1);
    if (out == NULL) {
        *len = 0;
        return NULL;
    }
    evbuffer_copyout(b, out, n);
    out[n] = '\0';
    return out;
}

static SSL *req_ssl(struct evhttp_request *req)
{
    struct evhttp_connection *c = evhttp_request_get_connection(req);
    if (c == NULL)
        return NULL;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c);
    return bev ? bufferevent_openssl_get_ssl(bev) : NULL;
}

X509 *ens_http_peer_cert(struct evhttp_request *req)
{
    SSL *ssl = req_ssl(req);
    return ssl ? SSL_get1_peer_certificate(ssl) : NULL;
}

bool ens_http_peer_id(struct evhttp_request *req, uint8_t out[32])
{
    X509 *c = ens_http_peer_cert(req);
    if (c == NULL)
        return false;
    ens_error_t e = NULL;
    int r = ens_tls_cert_id(c, out, &e);
    ens_error_release(&e);
    X509_free(c);
    return r == 0;
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return status < 400 ? "OK" : "Error";
    }
}

void ens_http_reply(struct evhttp_request *req, int status, const char *ctype, const void *body, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (ctype)
        evhttp_add_header(h, "Content-Type", ctype);
    evhttp_add_header(h, "Cache-Control", "no-store");
    struct evbuffer *b = evbuffer_new();
    if (b && len)
        evbuffer_add(b, body, len);
    evhttp_send_reply(req, status, reason(status), b);
    if (b)
        evbuffer_free(b);
}

void ens_http_reply_json(struct evhttp_request *req, int status, json_t *doc)
{
    char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    if (s == NULL) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        ens_http_reply(req, 500, "application/json", oom, sizeof(oom) - 1);
        return;
    }
    size_t n = strlen(s);
    ens_http_reply(req, status, "application/json", s, n);
    free(s);
}

void ens_http_reply_error(struct evhttp_request *req, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* The message may quote client input: jansson needs valid UTF-8. */
    json_t *doc = json_pack("{s:s%, s:i}", "error", msg, strlen(msg), "status", status);
    if (doc == NULL)
        doc = json_pack("{s:s, s:i}", "error", "invalid request (message not printable)", "status", status);
    ens_http_reply_json(req, status, doc);
}
