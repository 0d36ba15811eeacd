/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzzes the gRPC layer end to end in one process: an rpc_server on a
 * loopback port with one echo handler per request type; each input (first
 * byte = method) is sent as raw request bytes through rpc_call_raw.  The
 * server must answer every input with a status, never crash or leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hipstershop.pb-c.h"
#include "rpc.h"

static const struct {
    const char *path;
    const ProtobufCMessageDescriptor *desc;
} methods[] = {
    {"/hipstershop.CartService/AddItem", &hipstershop__add_item_request__descriptor},
    {"/hipstershop.CurrencyService/Convert", &hipstershop__currency_conversion_request__descriptor},
    {"/hipstershop.CheckoutService/PlaceOrder", &hipstershop__place_order_request__descriptor},
    {"/hipstershop.PaymentService/Charge", &hipstershop__charge_request__descriptor},
    {"/hipstershop.AdService/GetAds", &hipstershop__ad_request__descriptor},
    {"/grpc.health.v1.Health/Check", NULL},
    {"/no.Such/Method", NULL},
};
#define N_METHODS (sizeof methods / sizeof methods[0])

static rpc_server *server;
static rpc_channel *channel;

static void echo(void *ctx, const ProtobufCMessage *req, rpc_reply *reply)
{
    (void)ctx;
    /* Echo the parsed request, or refuse it: both paths are exercised. */
    if (protobuf_c_message_get_packed_size(req) % 2)
        rpc_reply_error(reply, RPC_INVALID_ARGUMENT, "odd size %zu", protobuf_c_message_get_packed_size(req));
    else
        rpc_reply_message(reply, req);
}

static void stop(void)
{
    rpc_channel_free(channel);
    rpc_server_free(server);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ens_error_t err = NULL;
    server = rpc_server_new("hipstershop.Fuzz", &err);
    for (size_t i = 0; server && i < N_METHODS; i++)
        if (methods[i].desc && rpc_server_add_method(server, methods[i].path, methods[i].desc, echo, NULL, &err) < 0)
            break;
    int port = 0;
    if (!server || err || rpc_server_start(server, "127.0.0.1:0", 2, &port, &err) < 0) {
        fprintf(stderr, "fuzz_boutique_rpc: %s\n", ens_error_msg(err));
        abort();
    }
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", port);
    channel = rpc_channel_new(target, 5000, &err);
    if (!channel)
        abort();
    atexit(stop);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    rpc_status st;
    int code = rpc_call_raw(channel, methods[data[0] % N_METHODS].path, data + 1, size - 1, &resp, &resp_len, 8000,
                            &st);
    if (code == RPC_DEADLINE_EXCEEDED || code == RPC_UNAVAILABLE)
        abort(); /* the server hung or died */
    free(resp);
    return 0;
}
