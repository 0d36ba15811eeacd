/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The boutique's small gRPC layer: the one place that knows the gRPC C core
 * API (grpc/grpc.h, completion queues).  Messages are protobuf-c messages
 * (generated from proto/hipstershop.proto and proto/health.proto); this
 * header does not include any gRPC header, so users only need protobuf-c.
 *
 * Server
 *   rpc_server *s = rpc_server_new("hipstershop.CurrencyService", &err);
 *   rpc_server_add_method(s, "/hipstershop.CurrencyService/Convert",
 *                         &hipstershop__currency_conversion_request__descriptor,
 *                         convert_handler, ctx, &err);
 *   rpc_server_run(s, "0.0.0.0:7000", 0, &err);   // blocks until SIGTERM/SIGINT
 *   rpc_server_free(s);
 *
 *   - Unary methods only.  The layer reads the request (bounded by
 *     RPC_MAX_MESSAGE bytes: larger gives RESOURCE_EXHAUSTED), unpacks it with
 *     the registered descriptor (garbage gives INVALID_ARGUMENT "malformed
 *     <type>"), calls the handler on a worker thread, packs the reply.
 *     Unknown methods give UNIMPLEMENTED.
 *   - Every server answers grpc.health.v1.Health/Check: SERVING for service ""
 *     and for the name given to rpc_server_new(), NOT_FOUND for other names
 *     (as upstream's health servers do); Watch is UNIMPLEMENTED.
 *   - Worker threads: `workers` (0 = 2 per CPU, at least 4) threads, each
 *     with its own completion queue and several calls waiting, so handlers may
 *     block (e.g. checkout calling other services).
 *   - Graceful stop: rpc_server_run installs handlers for SIGTERM and SIGINT;
 *     on either it stops accepting calls, lets the running calls finish (at
 *     most 5 s) and returns 0.  rpc_server_stop() does the same from code.
 *
 * Client
 *   rpc_channel *ch = rpc_channel_new("127.0.0.1:7000", 2000, &err);
 *   rpc_status st;
 *   Hipstershop__Money *out = NULL;
 *   if (rpc_call(ch, "/hipstershop.CurrencyService/Convert", &req.base,
 *                &hipstershop__money__descriptor, (ProtobufCMessage **)&out, &st) != RPC_OK)
 *       ... st.code, st.message ...
 *   protobuf_c_message_free_unpacked(&out->base, NULL);
 *   rpc_channel_free(ch);
 *
 *   - A channel is created once and reused across calls and threads (it is
 *     thread-safe); the connection is made lazily and re-made after failures.
 *   - Each call has a deadline: the channel's default (timeout_ms given to
 *     rpc_channel_new) or the one given to rpc_call_timeout().
 *     An expired deadline gives RPC_DEADLINE_EXCEEDED; an unreachable
 *     server RPC_UNAVAILABLE.
 *
 * Errors: constructors return NULL / functions return <0 and fill `err`
 * (lib/core/error.h); RPC outcomes are status codes (enum rpc_code).
 */
#ifndef BOUTIQUE_RPC_H
#define BOUTIQUE_RPC_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "core/error.h"

/* gRPC status codes (same numbers as grpc_status_code and the gRPC spec). */
enum rpc_code {
    RPC_OK = 0,
    RPC_CANCELLED = 1,
    RPC_UNKNOWN = 2,
    RPC_INVALID_ARGUMENT = 3,
    RPC_DEADLINE_EXCEEDED = 4,
    RPC_NOT_FOUND = 5,
    RPC_ALREADY_EXISTS = 6,
    RPC_PERMISSION_DENIED = 7,
    RPC_RESOURCE_EXHAUSTED = 8,
    RPC_FAILED_PRECONDITION = 9,
    RPC_ABORTED = 10,
    RPC_OUT_OF_RANGE = 11,
    RPC_UNIMPLEMENTED = 12,
    RPC_INTERNAL = 13,
    RPC_UNAVAILABLE = 14,
    RPC_DATA_LOSS = 15,
    RPC_UNAUTHENTICATED = 16,
};

/* Upper bound on a request or response message (bytes). */
#define RPC_MAX_MESSAGE (4 * 1024 * 1024)
/* Status messages are truncated to this many bytes (including the NUL). */
#define RPC_STATUS_MESSAGE_MAX 512

/* The name of a status code: "OK", "INVALID_ARGUMENT", ... ("UNKNOWN" for others). */
const char *rpc_code_name(int code);

/* ------------------------------------------------------------------ server */

typedef struct rpc_server rpc_server;
typedef struct rpc_reply rpc_reply;

/* A unary handler.  `req` is the unpacked request (owned by the layer, valid
 * during the call).  The handler answers with exactly one of
 * rpc_reply_message() or rpc_reply_error(); answering neither gives
 * INTERNAL "handler gave no reply".  Runs on a worker thread: handlers run
 * concurrently and must be thread-safe. */
typedef void (*rpc_handler_fn)(void *ctx, const ProtobufCMessage *req, rpc_reply *reply);

/* Sets the reply message: packed immediately, the caller keeps ownership of `msg`. */
void rpc_reply_message(rpc_reply *reply, const ProtobufCMessage *msg);
/* Sets an error status (code != RPC_OK) with a printf-style message
 * (truncated to RPC_STATUS_MESSAGE_MAX - 1 bytes). */
void rpc_reply_error(rpc_reply *reply, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* `service_name` is the fully qualified service ("hipstershop.CartService"),
 * reported SERVING by the health service.  Initialises gRPC. */
rpc_server *rpc_server_new(const char *service_name, ens_error_t *err);
/* `method` is the wire path "/pkg.Service/Method"; strings are copied. */
int rpc_server_add_method(rpc_server *s, const char *method, const ProtobufCMessageDescriptor *req_desc,
                          rpc_handler_fn fn, void *ctx, ens_error_t *err);
/* Binds `addr` ("0.0.0.0:7000", "[::]:7000", "127.0.0.1:0"), starts the
 * workers and serves until stopped (SIGTERM, SIGINT or rpc_server_stop()).
 * `workers` 0 picks a default.  Returns 0 after a graceful stop, <0 if it
 * could not start (address in use, ...). */
int rpc_server_run(rpc_server *s, const char *addr, int workers, ens_error_t *err);
/* Like rpc_server_run but returns once serving; the bound port (useful with
 * port 0) is returned through `port`.  Stop with rpc_server_stop(). */
int rpc_server_start(rpc_server *s, const char *addr, int workers, int *port, ens_error_t *err);
/* Blocks until a started server has been asked to stop, then shuts it down
 * gracefully.  rpc_server_run() = rpc_server_start() + rpc_server_wait(). */
void rpc_server_wait(rpc_server *s);
/* Makes SIGTERM and SIGINT stop this server gracefully (one server per
 * process; rpc_server_run() calls it). */
void rpc_server_stop_on_signals(rpc_server *s);
/* Asks the server to stop (async-signal-safe: only writes to a pipe). */
void rpc_server_stop(rpc_server *s);
void rpc_server_free(rpc_server *s);

/* ------------------------------------------------------------------ client */

typedef struct rpc_channel rpc_channel;

typedef struct rpc_status {
    int code;                                /* enum rpc_code */
    char message[RPC_STATUS_MESSAGE_MAX];    /* the server's (or the core's) status message */
} rpc_status;

/* `target` is "host:port" (no TLS, as upstream between services);
 * `timeout_ms` the default deadline of each call (> 0). */
rpc_channel *rpc_channel_new(const char *target, int timeout_ms, ens_error_t *err);
void rpc_channel_free(rpc_channel *ch);
const char *rpc_channel_target(const rpc_channel *ch);

/* Unary call.  On RPC_OK, *resp is the unpacked response (free it with
 * protobuf_c_message_free_unpacked(*resp, NULL)); otherwise *resp is NULL.
 * Returns the status code, also stored with its message in *st (st may be NULL).
 * A response that does not parse as `resp_desc` gives RPC_INTERNAL. */
int rpc_call(rpc_channel *ch, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, rpc_status *st);
/* Same with an explicit deadline for this call. */
int rpc_call_timeout(rpc_channel *ch, const char *method, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, int timeout_ms,
                     rpc_status *st);
/* Sends raw bytes as the request (tests, fuzzing); *resp_bytes (malloc'd) gets the raw reply. */
int rpc_call_raw(rpc_channel *ch, const char *method, const uint8_t *req, size_t req_len, uint8_t **resp_bytes,
                 size_t *resp_len, int timeout_ms, rpc_status *st);

/* grpc.health.v1.Health/Check on the channel; returns the status code and
 * stores the serving status (0 UNKNOWN, 1 SERVING, 2 NOT_SERVING) in *serving. */
int rpc_health_check(rpc_channel *ch, const char *service, int *serving, rpc_status *st);

#endif
