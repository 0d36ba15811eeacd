/* SPDX-License-Identifier: Apache-2.0 */
/* The boutique gRPC layer over the gRPC C core (see rpc.h). */
#include "rpc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "health.pb-c.h"

/* Calls each worker keeps waiting for per registered method, so a burst
 * does not queue in the core; and for unknown methods (answered UNIMPLEMENTED). */
#define CALLS_PER_METHOD 8
#define GENERIC_CALLS_PER_WORKER 2

static const char *const code_names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
};

const char *rpc_code_name(int code)
{
    if (code < 0 || code >= (int)(sizeof code_names / sizeof code_names[0]))
        return "UNKNOWN";
    return code_names[code];
}

/* ------------------------------------------------------------ byte buffers */

/* Packs a message into a new byte buffer (NULL on allocation failure). */
static grpc_byte_buffer *pack_message(const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return NULL;
    protobuf_c_message_pack(msg, buf);
    grpc_slice s = grpc_slice_new(buf, len, free);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

static grpc_byte_buffer *bytes_buffer(const uint8_t *data, size_t len)
{
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

/* Flattens a received byte buffer into one slice; returns false if it cannot be read. */
static bool read_buffer(grpc_byte_buffer *bb, grpc_slice *out)
{
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb))
        return false;
    *out = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    return true;
}

/* ------------------------------------------------------------------ server */

struct method {
    char *path;
    const ProtobufCMessageDescriptor *desc;
    rpc_handler_fn fn;
    void *ctx;
    void *registered; /* grpc_server_register_method() handle */
};

struct worker {
    rpc_server *s;
    grpc_completion_queue *cq;
    pthread_t thread;
    bool started;
};

struct rpc_server {
    char *service_name;
    struct method *methods;
    size_t n_methods;
    struct method health; /* the built-in Health/Check (fn NULL) */
    grpc_server *server;
    grpc_completion_queue *shutdown_cq;
    struct worker *workers;
    int n_workers;
    int stop_pipe[2];
    atomic_bool stopping;
    bool running;
};

struct rpc_reply {
    int code;
    char *message;
    grpc_byte_buffer *payload;
    bool answered;
};

enum call_state { CALL_REQUESTED, CALL_RECEIVED, CALL_FINISHED };

struct call {
    enum call_state state;
    struct worker *w;
    const struct method *m; /* NULL: a generic (unregistered) call */
    gpr_timespec deadline;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array request_md;
    grpc_byte_buffer *request;
    grpc_byte_buffer *response;
    grpc_slice status_details;
    int cancelled;
};

void rpc_reply_message(rpc_reply *reply, const ProtobufCMessage *msg)
{
    if (reply->answered)
        return;
    reply->answered = true;
    reply->payload = pack_message(msg);
    reply->code = reply->payload ? RPC_OK : RPC_RESOURCE_EXHAUSTED;
    if (!reply->payload)
        reply->message = strdup("out of memory packing the reply");
}

void rpc_reply_error(rpc_reply *reply, int code, const char *fmt, ...)
{
    if (reply->answered)
        return;
    reply->answered = true;
    reply->code = code == RPC_OK ? RPC_UNKNOWN : code;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&reply->message, fmt, ap) < 0)
        reply->message = NULL;
    va_end(ap);
    /* Status details travel in HTTP/2 trailers: keep them well under the
     * peers' header limits even when they quote client input. */
    if (reply->message && strlen(reply->message) > RPC_STATUS_MESSAGE_MAX - 1) {
        memcpy(reply->message + RPC_STATUS_MESSAGE_MAX - 4, "...", 4);
    }
}

/* Debian's Abseil (under gRPC) checks every mutex acquisition for lock-order
 * cycles (absl::OnDeadlockCycle::kAbort in builds without NDEBUG), a cost per
 * call in gRPC's hot path.  The C++ setter is called through its mangled name
 * when that exact symbol exists (weak: absent elsewhere, then nothing changes). */
extern void absl_set_mutex_deadlock_detection(int mode)
    __asm__("_ZN4absl7debian329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE") __attribute__((weak));

static void rpc_init(void)
{
    if (absl_set_mutex_deadlock_detection && !getenv("RPC_ABSL_DEADLOCK_CHECK"))
        absl_set_mutex_deadlock_detection(0); /* kIgnore */
    grpc_init();
}

static rpc_server *signal_server; /* the server rpc_server_run() stops on SIGTERM/SIGINT */

static void on_signal(int sig)
{
    (void)sig;
    if (signal_server)
        rpc_server_stop(signal_server);
}

rpc_server *rpc_server_new(const char *service_name, ens_error_t *err)
{
    rpc_server *s = calloc(1, sizeof *s);
    if (!s || !(s->service_name = strdup(service_name ? service_name : ""))) {
        free(s);
        ens_error(err, ENOMEM, "rpc server: out of memory");
        return NULL;
    }
    if (pipe2(s->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        ens_error_errno(err, "rpc server: pipe");
        free(s->service_name);
        free(s);
        return NULL;
    }
    rpc_init();
    return s;
}

int rpc_server_add_method(rpc_server *s, const char *method, const ProtobufCMessageDescriptor *req_desc,
                          rpc_handler_fn fn, void *ctx, ens_error_t *err)
{
    if (s->running)
        return ens_error(err, EBUSY, "rpc server: cannot add %s while running", method);
    if (!method || method[0] != '/' || !req_desc || !fn)
        return ens_error(err, EINVAL, "rpc server: invalid method registration '%s'", method ? method : "(null)");
    if (strcmp(method, "/grpc.health.v1.Health/Check") == 0)
        return ens_error(err, EEXIST, "rpc server: %s is built in", method);
    for (size_t i = 0; i < s->n_methods; i++)
        if (strcmp(s->methods[i].path, method) == 0)
            return ens_error(err, EEXIST, "rpc server: %s registered twice", method);
    struct method *m = realloc(s->methods, (s->n_methods + 1) * sizeof *m);
    if (!m)
        return ens_error(err, ENOMEM, "rpc server: out of memory");
    s->methods = m;
    m = &s->methods[s->n_methods];
    if (!(m->path = strdup(method)))
        return ens_error(err, ENOMEM, "rpc server: out of memory");
    m->desc = req_desc;
    m->fn = fn;
    m->ctx = ctx;
    s->n_methods++;
    return 0;
}

/* Posts one more "give me a call" on the worker's queue: for method m
 * (registered: the request payload comes with the notification, saving a
 * batch per call) or, with m NULL, for any other method. */
static void request_call(struct worker *w, const struct method *m)
{
    struct call *c = calloc(1, sizeof *c);
    if (!c)
        return; /* fewer waiting calls; the others keep serving */
    c->state = CALL_REQUESTED;
    c->w = w;
    c->m = m;
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->request_md);
    grpc_call_error e;
    if (m)
        e = grpc_server_request_registered_call(w->s->server, m->registered, &c->call, &c->deadline, &c->request_md,
                                                &c->request, w->cq, w->cq, c);
    else
        e = grpc_server_request_call(w->s->server, &c->call, &c->details, &c->request_md, w->cq, w->cq, c);
    if (e != GRPC_CALL_OK) {
        grpc_call_details_destroy(&c->details);
        grpc_metadata_array_destroy(&c->request_md);
        free(c);
    }
}

static void free_call(struct call *c)
{
    if (c->call)
        grpc_call_unref(c->call);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->request_md);
    if (c->request)
        grpc_byte_buffer_destroy(c->request);
    if (c->response)
        grpc_byte_buffer_destroy(c->response);
    grpc_slice_unref(c->status_details);
    free(c);
}

/* The built-in grpc.health.v1.Health/Check. */
static void health_check(rpc_server *s, const ProtobufCMessage *req, rpc_reply *reply)
{
    const Grpc__Health__V1__HealthCheckRequest *r = (const Grpc__Health__V1__HealthCheckRequest *)req;
    const char *name = r->service ? r->service : "";
    if (name[0] && strcmp(name, s->service_name) != 0) {
        rpc_reply_error(reply, RPC_NOT_FOUND, "unknown service");
        return;
    }
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = atomic_load(&s->stopping) ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
                                            : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    rpc_reply_message(reply, &resp.base);
}

/* Runs the handler for a received request and fills the reply. */
static void dispatch(struct call *c, rpc_reply *reply)
{
    rpc_server *s = c->w->s;
    const struct method *m = c->m;
    bool health = m == &s->health;
    if (!m) {
        rpc_reply_error(reply, RPC_UNIMPLEMENTED, "unknown method");
        return;
    }
    if (!c->request) {
        rpc_reply_error(reply, RPC_INVALID_ARGUMENT, "missing request message");
        return;
    }
    grpc_slice data;
    if (!read_buffer(c->request, &data)) {
        rpc_reply_error(reply, RPC_INVALID_ARGUMENT, "unreadable request message");
        return;
    }
    const ProtobufCMessageDescriptor *desc = m->desc;
    ProtobufCMessage *req = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(data), GRPC_SLICE_START_PTR(data));
    grpc_slice_unref(data);
    if (!req) {
        rpc_reply_error(reply, RPC_INVALID_ARGUMENT, "malformed %s", desc->name);
        return;
    }
    if (health)
        health_check(s, req, reply);
    else
        m->fn(m->ctx, req, reply);
    protobuf_c_message_free_unpacked(req, NULL);
    if (!reply->answered)
        rpc_reply_error(reply, RPC_INTERNAL, "handler gave no reply");
}

static void on_call_event(struct call *c, bool ok)
{
    /* (recursion: a registered call goes from REQUESTED straight to RECEIVED) */
    switch (c->state) {
    case CALL_REQUESTED: {
        if (!ok) { /* the server is shutting down */
            free_call(c);
            return;
        }
        if (!atomic_load(&c->w->s->stopping))
            request_call(c->w, c->m);
        if (c->m) { /* registered: the payload is here, answer now */
            c->state = CALL_RECEIVED;
            on_call_event(c, true);
            return;
        }
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_RECV_MESSAGE;
        op.data.recv_message.recv_message = &c->request;
        c->state = CALL_RECEIVED;
        if (grpc_call_start_batch(c->call, &op, 1, c, NULL) != GRPC_CALL_OK)
            free_call(c);
        return;
    }
    case CALL_RECEIVED: {
        rpc_reply reply = {0};
        if (!ok)
            rpc_reply_error(&reply, RPC_CANCELLED, "call failed while reading the request");
        else if (!c->m) /* generic call: only reached for methods nobody registered */
            rpc_reply_error(&reply, RPC_UNIMPLEMENTED, "unknown method");
        else
            dispatch(c, &reply);
        grpc_op ops[4];
        memset(ops, 0, sizeof ops);
        size_t n = 0;
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        if (reply.code == RPC_OK && reply.payload) {
            c->response = reply.payload;
            ops[n].op = GRPC_OP_SEND_MESSAGE;
            ops[n++].data.send_message.send_message = c->response;
        } else if (reply.payload) {
            grpc_byte_buffer_destroy(reply.payload);
        }
        c->status_details = grpc_slice_from_copied_string(reply.code == RPC_OK ? "" : reply.message ? reply.message : "");
        free(reply.message);
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = (grpc_status_code)reply.code;
        ops[n++].data.send_status_from_server.status_details = &c->status_details;
        ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
        c->state = CALL_FINISHED;
        if (grpc_call_start_batch(c->call, ops, n, c, NULL) != GRPC_CALL_OK)
            free_call(c);
        return;
    }
    case CALL_FINISHED:
        free_call(c);
        return;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    rpc_server *s = w->s;
    for (int i = 0; i < CALLS_PER_METHOD; i++) {
        for (size_t k = 0; k < s->n_methods; k++)
            request_call(w, &s->methods[k]);
        request_call(w, &s->health);
    }
    for (int i = 0; i < GENERIC_CALLS_PER_WORKER; i++)
        request_call(w, NULL);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE && ev.tag)
            on_call_event(ev.tag, ev.success != 0);
    }
    return NULL;
}

int rpc_server_start(rpc_server *s, const char *addr, int workers, int *port, ens_error_t *err)
{
    if (s->running)
        return ens_error(err, EBUSY, "rpc server: already running");
    if (workers <= 0) {
        /* 2 per CPU, at least 4: measured best for short handlers (one
         * poller per CPU left idle while the other runs handlers) */
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        workers = n < 2 ? 4 : (int)(2 * n);
    }
    grpc_arg args[2];
    memset(args, 0, sizeof args);
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = RPC_MAX_MESSAGE;
    /* Without this a second server on the same port would silently share it. */
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
    args[1].value.integer = 0;
    grpc_channel_args cargs = {.num_args = 2, .args = args};

    s->server = grpc_server_create(&cargs, NULL);
    for (size_t k = 0; k < s->n_methods; k++)
        s->methods[k].registered = grpc_server_register_method(s->server, s->methods[k].path, NULL,
                                                               GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    s->health.path = (char *)"/grpc.health.v1.Health/Check";
    s->health.desc = &grpc__health__v1__health_check_request__descriptor;
    s->health.registered = grpc_server_register_method(s->server, s->health.path, NULL,
                                                       GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    s->shutdown_cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_server_register_completion_queue(s->server, s->shutdown_cq, NULL);
    s->workers = calloc((size_t)workers, sizeof *s->workers);
    if (!s->workers) {
        grpc_server_destroy(s->server);
        s->server = NULL;
        return ens_error(err, ENOMEM, "rpc server: out of memory");
    }
    s->n_workers = workers;
    for (int i = 0; i < workers; i++) {
        s->workers[i].s = s;
        s->workers[i].cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(s->server, s->workers[i].cq, NULL);
    }
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int bound = grpc_server_add_http2_port(s->server, addr, creds);
    grpc_server_credentials_release(creds);
    if (bound == 0) {
        /* Never started: destroy directly, then the queues. */
        grpc_server_destroy(s->server);
        s->server = NULL;
        for (int i = 0; i < workers; i++) {
            grpc_completion_queue_shutdown(s->workers[i].cq);
            grpc_completion_queue_destroy(s->workers[i].cq);
        }
        grpc_completion_queue_shutdown(s->shutdown_cq);
        grpc_completion_queue_destroy(s->shutdown_cq);
        s->shutdown_cq = NULL;
        free(s->workers);
        s->workers = NULL;
        s->n_workers = 0;
        return ens_error(err, EADDRINUSE, "rpc server: cannot listen on %s (address in use or invalid)", addr);
    }
    if (port)
        *port = bound;
    grpc_server_start(s->server);
    s->running = true;
    for (int i = 0; i < workers; i++) {
        if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) == 0)
            s->workers[i].started = true;
    }
    return 0;
}

void rpc_server_stop(rpc_server *s)
{
    char c = 1;
    ssize_t r = write(s->stop_pipe[1], &c, 1);
    (void)r;
}

void rpc_server_wait(rpc_server *s)
{
    if (!s->running)
        return;
    char c;
    for (;;) {
        ssize_t r = read(s->stop_pipe[0], &c, 1);
        if (r == 1)
            break;
        if (r < 0 && errno == EAGAIN) {
            fd_set fds;
            FD_ZERO(&fds);
            FD_SET(s->stop_pipe[0], &fds);
            select(s->stop_pipe[0] + 1, &fds, NULL, NULL, NULL);
        } else if (r < 0 && errno != EINTR) {
            break;
        }
    }
    atomic_store(&s->stopping, true);
    /* Graceful: no new calls; running ones get up to 5 s, then are cancelled. */
    grpc_server_shutdown_and_notify(s->server, s->shutdown_cq, s);
    grpc_event ev = grpc_completion_queue_pluck(s->shutdown_cq, s,
                                                gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                                             gpr_time_from_seconds(5, GPR_TIMESPAN)),
                                                NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) {
        grpc_server_cancel_all_calls(s->server);
        grpc_completion_queue_pluck(s->shutdown_cq, s, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    }
    grpc_server_destroy(s->server);
    s->server = NULL;
    for (int i = 0; i < s->n_workers; i++)
        grpc_completion_queue_shutdown(s->workers[i].cq);
    for (int i = 0; i < s->n_workers; i++) {
        if (s->workers[i].started)
            pthread_join(s->workers[i].thread, NULL);
        else /* drain a queue that had no thread */
            while (grpc_completion_queue_next(s->workers[i].cq, gpr_inf_past(GPR_CLOCK_REALTIME), NULL).type !=
                   GRPC_QUEUE_SHUTDOWN)
                ;
        grpc_completion_queue_destroy(s->workers[i].cq);
    }
    grpc_completion_queue_shutdown(s->shutdown_cq);
    grpc_completion_queue_destroy(s->shutdown_cq);
    s->shutdown_cq = NULL;
    free(s->workers);
    s->workers = NULL;
    s->n_workers = 0;
    s->running = false;
}

void rpc_server_stop_on_signals(rpc_server *s)
{
    signal_server = s;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int rpc_server_run(rpc_server *s, const char *addr, int workers, ens_error_t *err)
{
    if (rpc_server_start(s, addr, workers, NULL, err) < 0)
        return -1;
    rpc_server_stop_on_signals(s);
    rpc_server_wait(s);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal_server = NULL;
    return 0;
}

void rpc_server_free(rpc_server *s)
{
    if (!s)
        return;
    if (s->running) {
        rpc_server_stop(s);
        rpc_server_wait(s);
    }
    if (signal_server == s)
        signal_server = NULL;
    for (size_t i = 0; i < s->n_methods; i++)
        free(s->methods[i].path);
    free(s->methods);
    free(s->service_name);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    free(s);
    grpc_shutdown();
}

/* ------------------------------------------------------------------ client */

struct rpc_channel {
    grpc_channel *ch;
    char *target;
    int timeout_ms;
};

rpc_channel *rpc_channel_new(const char *target, int timeout_ms, ens_error_t *err)
{
    if (!target || !*target) {
        ens_error(err, EINVAL, "rpc channel: empty target address");
        return NULL;
    }
    if (timeout_ms <= 0) {
        ens_error(err, EINVAL, "rpc channel: timeout for %s must be positive", target);
        return NULL;
    }
    rpc_channel *c = calloc(1, sizeof *c);
    if (!c || !(c->target = strdup(target))) {
        free(c);
        ens_error(err, ENOMEM, "rpc channel: out of memory");
        return NULL;
    }
    rpc_init();
    grpc_arg args[2];
    memset(args, 0, sizeof args);
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = RPC_MAX_MESSAGE;
    /* Each rpc_channel gets its own connection (no sharing of subchannels
     * between channels), so load from several channels spreads over sockets. */
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
    args[1].value.integer = 1;
    grpc_channel_args cargs = {.num_args = 2, .args = args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    c->ch = grpc_channel_create(target, creds, &cargs);
    grpc_channel_credentials_release(creds);
    if (!c->ch) {
        free(c->target);
        free(c);
        grpc_shutdown();
        ens_error(err, EINVAL, "rpc channel: cannot create a channel to %s", target);
        return NULL;
    }
    c->timeout_ms = timeout_ms;
    return c;
}

void rpc_channel_free(rpc_channel *ch)
{
    if (!ch)
        return;
    grpc_channel_destroy(ch->ch);
    free(ch->target);
    free(ch);
    grpc_shutdown();
}

const char *rpc_channel_target(const rpc_channel *ch) { return ch->target; }

static void set_status(rpc_status *st, int code, const char *msg, size_t len)
{
    if (!st)
        return;
    st->code = code;
    if (len >= sizeof st->message)
        len = sizeof st->message - 1;
    memcpy(st->message, msg, len);
    st->message[len] = '\0';
}

/* Each calling thread reuses one pluck queue (calls on a thread are
 * sequential, and pluck waits for exactly our tag); destroyed at thread exit. */
static pthread_key_t cq_key;
static pthread_once_t cq_once = PTHREAD_ONCE_INIT;

/* The queue holds a gRPC library reference (grpc_init in thread_cq), so it
 * is never destroyed after the library was shut down by the last channel. */
static void cq_destroy(void *p)
{
    grpc_completion_queue *cq = p;
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    grpc_shutdown();
}

static void cq_key_init(void) { pthread_key_create(&cq_key, cq_destroy); }

static grpc_completion_queue *thread_cq(void)
{
    pthread_once(&cq_once, cq_key_init);
    grpc_completion_queue *cq = pthread_getspecific(cq_key);
    if (!cq) {
        grpc_init();
        cq = grpc_completion_queue_create_for_pluck(NULL);
        pthread_setspecific(cq_key, cq);
    }
    return cq;
}

/* One unary exchange; on RPC_OK *resp_bb holds the reply buffer. */
static int unary(rpc_channel *ch, const char *method, grpc_byte_buffer *req, grpc_byte_buffer **resp_bb,
                 int timeout_ms, rpc_status *st)
{
    *resp_bb = NULL;
    if (timeout_ms <= 0)
        timeout_ms = ch->timeout_ms;
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    grpc_completion_queue *cq = thread_cq();
    grpc_slice path = grpc_slice_from_static_string(method);
    grpc_call *call = grpc_channel_create_call(ch->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, path, NULL, deadline, NULL);
    if (!call) {
        const char *m = "cannot create call";
        set_status(st, RPC_INTERNAL, m, strlen(m));
        return RPC_INTERNAL;
    }
    grpc_metadata_array initial_md, trailing_md;
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_byte_buffer *recv = NULL;
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    int code;
    if (grpc_call_start_batch(call, ops, 6, call, NULL) != GRPC_CALL_OK) {
        code = RPC_INTERNAL;
        set_status(st, code, "cannot start call", 17);
    } else {
        grpc_completion_queue_pluck(cq, call, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        code = (int)status;
        set_status(st, code, (const char *)GRPC_SLICE_START_PTR(details), GRPC_SLICE_LENGTH(details));
        if (code == RPC_OK && !recv) {
            code = RPC_INTERNAL;
            set_status(st, code, "no response message", 19);
        }
    }
    if (code == RPC_OK)
        *resp_bb = recv;
    else if (recv)
        grpc_byte_buffer_destroy(recv);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    grpc_call_unref(call);
    return code;
}

int rpc_call_timeout(rpc_channel *ch, const char *method, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, int timeout_ms,
                     rpc_status *st)
{
    *resp = NULL;
    grpc_byte_buffer *bb = pack_message(req);
    if (!bb) {
        set_status(st, RPC_RESOURCE_EXHAUSTED, "out of memory", 13);
        return RPC_RESOURCE_EXHAUSTED;
    }
    grpc_byte_buffer *out = NULL;
    int code = unary(ch, method, bb, &out, timeout_ms, st);
    grpc_byte_buffer_destroy(bb);
    if (code != RPC_OK)
        return code;
    grpc_slice data;
    if (!read_buffer(out, &data)) {
        grpc_byte_buffer_destroy(out);
        set_status(st, RPC_INTERNAL, "unreadable response", 19);
        return RPC_INTERNAL;
    }
    grpc_byte_buffer_destroy(out);
    *resp = protobuf_c_message_unpack(resp_desc, NULL, GRPC_SLICE_LENGTH(data), GRPC_SLICE_START_PTR(data));
    grpc_slice_unref(data);
    if (!*resp) {
        char m[200];
        int n = snprintf(m, sizeof m, "malformed %s in response", resp_desc->name);
        set_status(st, RPC_INTERNAL, m, (size_t)n < sizeof m ? (size_t)n : sizeof m - 1);
        return RPC_INTERNAL;
    }
    return RPC_OK;
}

int rpc_call(rpc_channel *ch, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, rpc_status *st)
{
    return rpc_call_timeout(ch, method, req, resp_desc, resp, 0, st);
}

int rpc_call_raw(rpc_channel *ch, const char *method, const uint8_t *req, size_t req_len, uint8_t **resp_bytes,
                 size_t *resp_len, int timeout_ms, rpc_status *st)
{
    *resp_bytes = NULL;
    *resp_len = 0;
    grpc_byte_buffer *bb = bytes_buffer(req, req_len);
    grpc_byte_buffer *out = NULL;
    int code = unary(ch, method, bb, &out, timeout_ms, st);
    grpc_byte_buffer_destroy(bb);
    if (code != RPC_OK)
        return code;
    grpc_slice data;
    bool ok = read_buffer(out, &data);
    grpc_byte_buffer_destroy(out);
    if (!ok) {
        set_status(st, RPC_INTERNAL, "unreadable response", 19);
        return RPC_INTERNAL;
    }
    size_t len = GRPC_SLICE_LENGTH(data);
    *resp_bytes = malloc(len ? len : 1);
    if (!*resp_bytes) {
        grpc_slice_unref(data);
        set_status(st, RPC_RESOURCE_EXHAUSTED, "out of memory", 13);
        return RPC_RESOURCE_EXHAUSTED;
    }
    memcpy(*resp_bytes, GRPC_SLICE_START_PTR(data), len);
    *resp_len = len;
    grpc_slice_unref(data);
    return RPC_OK;
}

int rpc_health_check(rpc_channel *ch, const char *service, int *serving, rpc_status *st)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)(service ? service : "");
    ProtobufCMessage *resp = NULL;
    *serving = 0;
    int code = rpc_call(ch, "/grpc.health.v1.Health/Check", &req.base,
                        &grpc__health__v1__health_check_response__descriptor, &resp, st);
    if (code == RPC_OK) {
        *serving = (int)((Grpc__Health__V1__HealthCheckResponse *)resp)->status;
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    return code;
}
