/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The boutique frontend's HTTP server.  One libevent loop accepts and parses
 * requests and writes responses; requests that need the back ends go to a
 * pool of worker threads (blocking gRPC calls there never stall the loop) and
 * come back through a completion queue.  Static files are loaded into memory
 * at start and served from the loop.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>

#include "backend.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "mustache.h"
#include "shop.h"
#include "shoputil.h"

#ifndef FE_DATA_DIR
#define FE_DATA_DIR "."
#endif

#define MAX_BODY (64 * 1024)
#define MAX_HEADERS (16 * 1024)
#define MAX_STATIC_FILE (2u << 20)
#define MAX_STATIC_FILES 512
#define MAX_QUEUE 4096

/* ---- static files ---- */

struct static_file {
    char *url; /* "/static/..." */
    char *data;
    size_t len;
    const char *type;
};

static struct static_file statics[MAX_STATIC_FILES];
static size_t nstatics;

static const char *mime_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".css", "text/css; charset=utf-8"}, {".svg", "image/svg+xml"}, {".png", "image/png"},
        {".jpg", "image/jpeg"}, {".ico", "image/x-icon"}, {".js", "text/javascript; charset=utf-8"},
        {".txt", "text/plain; charset=utf-8"}, {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static int load_statics(const char *dir, const char *url, ens_error_t *err)
{
    _cleanup_closedir_ DIR *d = opendir(dir);
    if (!d)
        return ens_error_errno(err, "static directory %s", dir);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        _cleanup_free_ char *path = ens_path_join(dir, de->d_name);
        _cleanup_free_ char *u = ens_path_join(url, de->d_name);
        if (!path || !u)
            return ens_error(err, ENOMEM, "out of memory");
        struct stat st;
        if (lstat(path, &st) < 0)
            return ens_error_errno(err, "static file %s", path);
        if (S_ISDIR(st.st_mode)) {
            if (load_statics(path, u, err) < 0)
                return -1;
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue; /* symlinks and devices are never served */
        if (nstatics == MAX_STATIC_FILES)
            return ens_error(err, E2BIG, "static directory %s: more than %d files", dir, MAX_STATIC_FILES);
        struct static_file *f = &statics[nstatics];
        if (ens_read_file(path, MAX_STATIC_FILE, &f->data, &f->len, err) < 0)
            return -1;
        f->url = ens_steal(&u);
        f->type = mime_type(de->d_name);
        nstatics++;
    }
    return 0;
}

static const struct static_file *find_static(const char *url)
{
    for (size_t i = 0; i < nstatics; i++)
        if (strcmp(statics[i].url, url) == 0)
            return &statics[i];
    return NULL;
}

static bool has_static(const char *url) { return find_static(url) != NULL; }

/* ---- jobs and the worker pool ---- */

struct job {
    struct evhttp_request *req;
    char method[16];
    char *path, *cookie, *referer, *host, *body;
    bool head;
    struct timespec start;
    fe_response resp;
    STAILQ_ENTRY(job) link;
};
STAILQ_HEAD(job_queue, job);

static struct {
    fe_app app;
    struct event_base *base;
    struct event *done_ev;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job_queue todo, done;
    size_t ntodo;
    size_t inflight; /* queued or running jobs not yet answered (loop thread only) */
    bool stopping, draining;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    struct event *drain_ev;
    struct timespec drain_deadline;
    pthread_t *threads;
    int nthreads;
} srv = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void job_free(struct job *j)
{
    free(j->path);
    free(j->cookie);
    free(j->referer);
    free(j->host);
    free(j->body);
    fe_response_clear(&j->resp);
    free(j);
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 302: return "Found";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return NULL;
    }
}

static void log_request(const char *method, const char *path, int status, const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double ms = (double)(now.tv_sec - start->tv_sec) * 1e3 + (double)(now.tv_nsec - start->tv_nsec) / 1e6;
    char st[16], took[32];
    snprintf(st, sizeof(st), "%d", status);
    snprintf(took, sizeof(took), "%.3f", ms);
    fe_log(status >= 500 ? "error" : "info", "request complete", "http.req.method", method, "http.req.path", path,
           "http.resp.status", st, "http.resp.took_ms", took, (char *)NULL);
}

static void send_response(struct evhttp_request *req, bool head, const fe_response *r)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", r->content_type ? r->content_type : "text/plain; charset=utf-8");
    /* Everything the pages use comes from this server; say so to the browser. */
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; "
                      "frame-ancestors 'none'; form-action 'self'");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Referrer-Policy", "same-origin");
    if (r->location)
        evhttp_add_header(h, "Location", r->location);
    for (size_t i = 0; i < r->set_cookie.n; i++)
        evhttp_add_header(h, "Set-Cookie", r->set_cookie.v[i]);
    struct evbuffer *b = evbuffer_new();
    if (head) {
        char len[32];
        snprintf(len, sizeof(len), "%zu", r->body_len);
        evhttp_add_header(h, "Content-Length", len);
    } else if (b && r->body) {
        evbuffer_add(b, r->body, r->body_len);
    }
    evhttp_send_reply(req, r->status, reason(r->status), b);
    if (b)
        evbuffer_free(b);
}

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&srv.lock);
        while (STAILQ_EMPTY(&srv.todo) && !srv.stopping)
            pthread_cond_wait(&srv.cond, &srv.lock);
        if (srv.stopping && STAILQ_EMPTY(&srv.todo)) {
            pthread_mutex_unlock(&srv.lock);
            return NULL;
        }
        struct job *j = STAILQ_FIRST(&srv.todo);
        STAILQ_REMOVE_HEAD(&srv.todo, link);
        srv.ntodo--;
        pthread_mutex_unlock(&srv.lock);

        fe_request in = {.method = j->method, .path = j->path, .cookie = j->cookie, .referer = j->referer,
                         .host = j->host, .body = j->body};
        fe_handle(&srv.app, &in, &j->resp);

        pthread_mutex_lock(&srv.lock);
        STAILQ_INSERT_TAIL(&srv.done, j, link);
        pthread_mutex_unlock(&srv.lock);
        event_active(srv.done_ev, EV_READ, 0); /* thread-safe: evthread_use_pthreads() */
    }
}

/* On the loop: write out every finished job. */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    struct job_queue q = STAILQ_HEAD_INITIALIZER(q);
    pthread_mutex_lock(&srv.lock);
    STAILQ_CONCAT(&q, &srv.done);
    pthread_mutex_unlock(&srv.lock);
    struct job *j;
    while ((j = STAILQ_FIRST(&q))) {
        STAILQ_REMOVE_HEAD(&q, link);
        send_response(j->req, j->head, &j->resp);
        log_request(j->method, j->path, j->resp.status, &j->start);
        job_free(j);
        srv.inflight--;
    }
}

static const char *method_name(enum evhttp_cmd_type c)
{
    switch (c) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    }
    return "UNKNOWN";
}

static char *dup_header(struct evhttp_request *req, const char *name)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), name);
    return v ? strdup(v) : NULL;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    const char *method = method_name(evhttp_request_get_command(req));
    bool head = evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *full = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!full || !*full)
        full = "/";

    /* Every route lives under BASE_URL. */
    const char *base = srv.app.base_url;
    size_t bl = strlen(base);
    const char *path = full;
    if (bl) {
        if (strncmp(full, base, bl) != 0 || (full[bl] != '/' && full[bl] != '\0'))
            path = NULL;
        else
            path = full[bl] ? full + bl : "/";
    }

    fe_response r = {0};
    if (path && strncmp(path, "/static/", 8) == 0) {
        const struct static_file *f = find_static(path);
        if (f && (head || evhttp_request_get_command(req) == EVHTTP_REQ_GET)) {
            struct evkeyvalq *h = evhttp_request_get_output_headers(req);
            evhttp_add_header(h, "Content-Type", f->type);
            evhttp_add_header(h, "Cache-Control", "public, max-age=3600");
            evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
            struct evbuffer *b = evbuffer_new();
            if (head) {
                char len[32];
                snprintf(len, sizeof(len), "%zu", f->len);
                evhttp_add_header(h, "Content-Length", len);
            } else if (b) {
                evbuffer_add_reference(b, f->data, f->len, NULL, NULL);
            }
            evhttp_send_reply(req, 200, "OK", b);
            if (b)
                evbuffer_free(b);
            log_request(method, full, 200, &start);
            return;
        }
        r.status = f ? 405 : 404;
        r.body = strdup(f ? "method not allowed\n" : "not found\n");
        r.body_len = r.body ? strlen(r.body) : 0;
        send_response(req, head, &r);
        log_request(method, full, r.status, &start);
        fe_response_clear(&r);
        return;
    }
    if (!path || fe_route_is_local(path)) {
        fe_request in = {.method = method, .path = path ? path : "/__outside_base_url__"};
        if (path) {
            fe_handle(&srv.app, &in, &r);
        } else {
            r.status = 404;
            r.body = strdup("not found\n");
            r.body_len = r.body ? strlen(r.body) : 0;
        }
        send_response(req, head, &r);
        log_request(method, full, r.status, &start);
        fe_response_clear(&r);
        return;
    }

    struct job *j = calloc(1, sizeof(*j));
    if (!j) {
        evhttp_send_error(req, 503, "Service Unavailable");
        return;
    }
    j->req = req;
    j->head = head;
    j->start = start;
    snprintf(j->method, sizeof(j->method), "%s", method);
    j->path = strdup(path);
    j->cookie = dup_header(req, "Cookie");
    j->referer = dup_header(req, "Referer");
    j->host = dup_header(req, "Host");
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t blen = in ? evbuffer_get_length(in) : 0;
    j->body = malloc(blen + 1);
    if (!j->path || !j->body) {
        job_free(j);
        evhttp_send_error(req, 503, "Service Unavailable");
        return;
    }
    if (blen)
        evbuffer_copyout(in, j->body, blen);
    j->body[blen] = '\0';

    pthread_mutex_lock(&srv.lock);
    bool full_queue = srv.ntodo >= MAX_QUEUE;
    if (!full_queue) {
        STAILQ_INSERT_TAIL(&srv.todo, j, link);
        srv.ntodo++;
        pthread_cond_signal(&srv.cond);
    }
    pthread_mutex_unlock(&srv.lock);
    if (!full_queue)
        srv.inflight++;
    if (full_queue) {
        log_request(method, full, 503, &start);
        job_free(j);
        evhttp_send_error(req, 503, "Service Unavailable");
    }
}

/* Graceful stop: no new connections; requests already taken are answered
 * (for at most 10 s), then the loop ends after their replies had 200 ms to go out. */
static void on_drain(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    bool late = now.tv_sec > srv.drain_deadline.tv_sec ||
                (now.tv_sec == srv.drain_deadline.tv_sec && now.tv_nsec >= srv.drain_deadline.tv_nsec);
    if (srv.inflight == 0 || late) {
        if (srv.inflight)
            fe_logf("warning", "stopping with %zu requests unanswered", srv.inflight);
        struct timeval flush = {0, 200000};
        event_base_loopexit(srv.base, &flush);
        return;
    }
    struct timeval tick = {0, 50000};
    evtimer_add(srv.drain_ev, &tick);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what, (void)arg;
    if (srv.draining) {
        event_base_loopexit(srv.base, NULL); /* a second signal: stop now */
        return;
    }
    srv.draining = true;
    fe_logf("info", "signal %d: shutting down after %zu running requests", (int)sig, srv.inflight);
    if (srv.bound) {
        evhttp_del_accept_socket(srv.http, srv.bound);
        srv.bound = NULL;
    }
    clock_gettime(CLOCK_MONOTONIC, &srv.drain_deadline);
    srv.drain_deadline.tv_sec += 10;
    on_drain(-1, 0, NULL);
}

static int env_bool(const char *name)
{
    const char *v = getenv(name);
    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0);
}

/* BASE_URL "" or "/x" (a trailing slash is dropped); anything else is refused. */
static int base_url(char **out, ens_error_t *err)
{
    const char *v = getenv("BASE_URL");
    if (!v)
        v = "";
    size_t n = strlen(v);
    while (n && v[n - 1] == '/')
        n--;
    if (n && v[0] != '/')
        return ens_error(err, EINVAL, "BASE_URL must start with '/' (got %s)", v);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || v[i] == 0x7f || v[i] == '?' || v[i] == '#' || v[i] == '"')
            return ens_error(err, EINVAL, "BASE_URL contains a character not allowed in a path");
    *out = strndup(v, n);
    return *out ? 0 : ens_error(err, ENOMEM, "out of memory");
}

static int run(ens_error_t *err)
{
    /* Configuration, as upstream reads it. */
    const char *port_s = getenv("PORT");
    int32_t port = 8080;
    if (port_s && *port_s && (!fe_parse_int32(port_s, &port) || port < 1 || port > 65535))
        return ens_error(err, EINVAL, "PORT must be a number between 1 and 65535 (got %s)", port_s);
    const char *listen_addr = getenv("LISTEN_ADDR");
    if (!listen_addr || !*listen_addr)
        listen_addr = "0.0.0.0";
    _cleanup_free_ char *base = NULL;
    if (base_url(&base, err) < 0)
        return -1;
    /* templates/ and static/: FRONTEND_DATA_DIR, else next to the binary (an
     * image that copies them there), else the source tree it was built from. */
    const char *data = getenv("FRONTEND_DATA_DIR");
    char exe_dir[PATH_MAX];
    if (!data || !*data) {
        data = FE_DATA_DIR;
        ssize_t n = readlink("/proc/self/exe", exe_dir, sizeof(exe_dir) - 1);
        if (n > 0) {
            exe_dir[n] = '\0';
            char *slash = strrchr(exe_dir, '/');
            if (slash) {
                *slash = '\0';
                _cleanup_free_ char *probe = ens_path_join(exe_dir, "templates/home.mustache");
                if (probe && access(probe, R_OK) == 0)
                    data = exe_dir;
            }
        }
    }
    int workers = 32;
    const char *w = getenv("FRONTEND_WORKERS");
    if (w && *w) {
        int32_t v;
        if (!fe_parse_int32(w, &v) || v < 1 || v > 1024)
            return ens_error(err, EINVAL, "FRONTEND_WORKERS must be between 1 and 1024 (got %s)", w);
        workers = v;
    }

    srv.app.base_url = base;
    srv.app.platform = fe_platform_normalize(getenv("ENV_PLATFORM"), &srv.app.platform_name);
    srv.app.frontend_message = getenv("FRONTEND_MESSAGE");
    srv.app.single_shared_session = env_bool("ENABLE_SINGLE_SHARED_SESSION");
    srv.app.has_static = has_static;

    _cleanup_free_ char *tdir = ens_path_join(data, "templates");
    _cleanup_free_ char *sdir = ens_path_join(data, "static");
    if (!tdir || !sdir)
        return ens_error(err, ENOMEM, "out of memory");
    srv.app.templates = mst_set_new();
    if (!srv.app.templates || mst_set_load_dir(srv.app.templates, tdir, err) < 0)
        return -1;
    static const char *const needed[] = {"home", "product", "cart", "order", "error"};
    for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
        char *probe = NULL;
        ens_error_t perr = NULL;
        /* Render once with empty data: catches a missing template or partial at start. */
        json_t *empty = json_object();
        int r = mst_render(srv.app.templates, needed[i], empty, &probe, NULL, &perr);
        json_decref(empty);
        free(probe);
        if (r < 0) {
            ens_error(err, ENOENT, "%s: %s", tdir, ens_error_msg(perr));
            ens_error_release(&perr);
            return -1;
        }
    }
    if (load_statics(sdir, "/static", err) < 0)
        return -1;
    if (fe_backend_rpc_new(&srv.app.be, err) < 0)
        return -1;

    if (evthread_use_pthreads() < 0)
        return ens_error(err, EIO, "libevent: no pthread support");
    srv.base = event_base_new();
    if (!srv.base)
        return ens_error(err, EIO, "libevent: event_base_new failed");
    STAILQ_INIT(&srv.todo);
    STAILQ_INIT(&srv.done);
    srv.done_ev = event_new(srv.base, -1, 0, on_done, NULL);
    struct evhttp *http = evhttp_new(srv.base);
    if (!srv.done_ev || !http)
        return ens_error(err, EIO, "libevent: out of memory");
    evhttp_set_max_body_size(http, MAX_BODY);
    evhttp_set_max_headers_size(http, MAX_HEADERS);
    evhttp_set_timeout(http, 60);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                         EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(http, on_request, NULL);
    srv.http = http;
    srv.bound = evhttp_bind_socket_with_handle(http, listen_addr, (uint16_t)port);
    if (!srv.bound)
        return ens_error_errno(err, "cannot listen on %s:%d", listen_addr, port);
    int one = 1;
    /* Accepted sockets inherit TCP_NODELAY from the listener on Linux. */
    setsockopt(evhttp_bound_socket_get_fd(srv.bound), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    srv.drain_ev = evtimer_new(srv.base, on_drain, NULL);
    if (!srv.drain_ev)
        return ens_error(err, EIO, "libevent: out of memory");

    srv.threads = calloc((size_t)workers, sizeof(pthread_t));
    if (!srv.threads)
        return ens_error(err, ENOMEM, "out of memory");
    for (int i = 0; i < workers; i++) {
        if (pthread_create(&srv.threads[i], NULL, worker, NULL) != 0)
            return ens_error(err, EAGAIN, "cannot start worker thread %d", i);
        srv.nthreads++;
    }
    struct event *sigterm = evsignal_new(srv.base, SIGTERM, on_signal, NULL);
    struct event *sigint = evsignal_new(srv.base, SIGINT, on_signal, NULL);
    evsignal_add(sigterm, NULL);
    evsignal_add(sigint, NULL);

    char msg[160];
    snprintf(msg, sizeof(msg), "starting server on %s:%d", listen_addr, port);
    fe_log("info", msg, "base_url", base, "platform", srv.app.platform, (char *)NULL);
    event_base_dispatch(srv.base);

    pthread_mutex_lock(&srv.lock);
    srv.stopping = true;
    pthread_cond_broadcast(&srv.cond);
    pthread_mutex_unlock(&srv.lock);
    for (int i = 0; i < srv.nthreads; i++)
        pthread_join(srv.threads[i], NULL);
    on_done(-1, 0, NULL); /* answer what the workers finished */
    evhttp_free(http);
    event_free(sigterm);
    event_free(sigint);
    event_free(srv.done_ev);
    event_free(srv.drain_ev);
    event_base_free(srv.base);
    free(srv.threads);
    fe_backend_rpc_free(&srv.app.be);
    mst_set_free(srv.app.templates);
    for (size_t i = 0; i < nstatics; i++) {
        free(statics[i].url);
        free(statics[i].data);
    }
    srv.app.base_url = NULL;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: %s\n"
               "The Online Boutique frontend (HTTP).  Configured by the environment:\n"
               "  PORT (8080), LISTEN_ADDR (all addresses), BASE_URL, ENV_PLATFORM, FRONTEND_MESSAGE,\n"
               "  ENABLE_SINGLE_SHARED_SESSION, FRONTEND_DATA_DIR (templates/ and static/),\n"
               "  FRONTEND_WORKERS (32), and the required PRODUCT_CATALOG_, CURRENCY_, CART_,\n"
               "  RECOMMENDATION_, CHECKOUT_, SHIPPING_, AD_SERVICE_ADDR (host:port).\n",
               argv[0]);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "%s: no arguments expected (see --help)\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    _cleanup_error_ ens_error_t err = NULL;
    if (run(&err) < 0) {
        fe_logf("error", "frontend: %s", ens_error_msg(err));
        return 1;
    }
    return 0;
}
