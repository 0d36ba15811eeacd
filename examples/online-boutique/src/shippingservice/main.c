/* SPDX-License-Identifier: Apache-2.0 */
/* shippingservice: GetQuote and ShipOrder (port 50051). */
#include <stdio.h>
#include <string.h>

#include "boutique.h"

static long long total_quantity(Hipstershop__CartItem **items, size_t n)
{
    long long q = 0;
    for (size_t i = 0; i < n; i++)
        if (items[i])
            q += items[i]->quantity;
    return q;
}

static void get_quote(void *ctx, const ProtobufCMessage *req, rpc_reply *reply)
{
    (void)ctx;
    const Hipstershop__GetQuoteRequest *r = (const Hipstershop__GetQuoteRequest *)req;
    Hipstershop__Money cost = HIPSTERSHOP__MONEY__INIT;
    cost.currency_code = "USD";
    /* The quote ignores the address: a flat 8.99 for any non-empty order. */
    if (total_quantity(r->items, r->n_items) != 0) {
        cost.units = 8;
        cost.nanos = 990000000;
    }
    Hipstershop__GetQuoteResponse resp = HIPSTERSHOP__GET_QUOTE_RESPONSE__INIT;
    resp.cost_usd = &cost;
    blog_info("[GetQuote] completed request");
    rpc_reply_message(reply, &resp.base);
}

static void random_digits(char *out, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = (char)('0' + boutique_rand_below(10));
    out[n] = '\0';
}

static void ship_order(void *ctx, const ProtobufCMessage *req, rpc_reply *reply)
{
    (void)ctx;
    const Hipstershop__ShipOrderRequest *r = (const Hipstershop__ShipOrderRequest *)req;
    if (!r->address) {
        rpc_reply_error(reply, RPC_INVALID_ARGUMENT, "address is required");
        return;
    }
    /* upstream's salt: "<street_address>, <city>, <state>" */
    size_t salt_len = strlen(r->address->street_address) + 2 + strlen(r->address->city) + 2 + strlen(r->address->state);
    char d3[4], d7[8];
    random_digits(d3, 3);
    random_digits(d7, 7);
    char id[96];
    snprintf(id, sizeof id, "%c%c-%zu%s-%zu%s", 'A' + (int)boutique_rand_below(25), 'A' + (int)boutique_rand_below(25),
             salt_len, d3, salt_len / 2, d7);
    Hipstershop__ShipOrderResponse resp = HIPSTERSHOP__SHIP_ORDER_RESPONSE__INIT;
    resp.tracking_id = id;
    blog_info("[ShipOrder] completed request, tracking id %s", id);
    rpc_reply_message(reply, &resp.base);
}

int main(void)
{
    blog_init("shippingservice");
    static const struct boutique_method methods[] = {
        {"/hipstershop.ShippingService/GetQuote", &hipstershop__get_quote_request__descriptor, get_quote},
        {"/hipstershop.ShippingService/ShipOrder", &hipstershop__ship_order_request__descriptor, ship_order},
        {NULL, NULL, NULL},
    };
    return boutique_serve("shippingservice", "hipstershop.ShippingService", "50051", methods, NULL, 0);
}
