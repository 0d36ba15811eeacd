/* SPDX-License-Identifier: Apache-2.0 */
/* checkoutservice: PlaceOrder (port 5050), orchestrating cart, catalog,
 * currency, shipping, payment and email like upstream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boutique.h"
#include "core/cleanup.h"

#define CALL_TIMEOUT_MS 3000
#define MAX_ORDER_LINES 1000

enum { CART, CATALOG, CURRENCY, SHIPPING, PAYMENT, EMAIL, N_DEPS };
static const char *const dep_env[N_DEPS] = {
    "CART_SERVICE_ADDR",     "PRODUCT_CATALOG_SERVICE_ADDR", "CURRENCY_SERVICE_ADDR",
    "SHIPPING_SERVICE_ADDR", "PAYMENT_SERVICE_ADDR",         "EMAIL_SERVICE_ADDR",
};
static rpc_channel *deps[N_DEPS];

/* Everything one PlaceOrder allocates, freed in one place. */
struct order {
    Hipstershop__Cart *cart;
    ProtobufCMessage **products;   /* per cart line (GetProduct replies) */
    ProtobufCMessage **prices;     /* per cart line (Convert replies) */
    Hipstershop__OrderItem *order_items;
    Hipstershop__OrderItem **order_item_ptrs;
    ProtobufCMessage *quote;
    ProtobufCMessage *shipping;    /* converted quote */
    ProtobufCMessage *charge;
    ProtobufCMessage *ship;
    size_t n;
};

static void order_free(struct order *o)
{
    for (size_t i = 0; i < o->n; i++) {
        if (o->products && o->products[i])
            protobuf_c_message_free_unpacked(o->products[i], NULL);
        if (o->prices && o->prices[i])
            protobuf_c_message_free_unpacked(o->prices[i], NULL);
    }
    free(o->products);
    free(o->prices);
    free(o->order_items);
    free(o->order_item_ptrs);
    ProtobufCMessage *ms[] = {o->cart ? &o->cart->base : NULL, o->quote, o->shipping, o->charge, o->ship};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        if (ms[i])
            protobuf_c_message_free_unpacked(ms[i], NULL);
}

static int convert(const Hipstershop__Money *from, const char *to, ProtobufCMessage **out, rpc_status *st)
{
    Hipstershop__CurrencyConversionRequest req = HIPSTERSHOP__CURRENCY_CONVERSION_REQUEST__INIT;
    req.from = (Hipstershop__Money *)from;
    req.to_code = (char *)to;
    return rpc_call(deps[CURRENCY], "/hipstershop.CurrencyService/Convert", &req.base, &hipstershop__money__descriptor,
                    out, st);
}

static void place_order(void *ctx, const ProtobufCMessage *reqm, rpc_reply *reply)
{
    (void)ctx;
    const Hipstershop__PlaceOrderRequest *req = (const Hipstershop__PlaceOrderRequest *)reqm;
    if (!req->user_id[0] || !req->user_currency[0] || !req->address || !req->credit_card) {
        rpc_reply_error(reply, RPC_INVALID_ARGUMENT, "user_id, user_currency, address and credit_card are required");
        return;
    }
    blog_info("[PlaceOrder] user_id=%s user_currency=%s", req->user_id, req->user_currency);
    _cleanup_error_ ens_error_t err = NULL;
    char order_id[37];
    if (boutique_uuid(order_id, &err) < 0) {
        rpc_reply_error(reply, RPC_INTERNAL, "failed to generate order uuid");
        return;
    }
    struct order o = {0};
    rpc_status st;

    /* 1. cart */
    Hipstershop__GetCartRequest gc = HIPSTERSHOP__GET_CART_REQUEST__INIT;
    gc.user_id = req->user_id;
    if (rpc_call(deps[CART], "/hipstershop.CartService/GetCart", &gc.base, &hipstershop__cart__descriptor,
                 (ProtobufCMessage **)&o.cart, &st) != RPC_OK) {
        rpc_reply_error(reply, RPC_INTERNAL, "cart failure: failed to get user cart during checkout: rpc error: code = %s desc = %s",
                        rpc_code_name(st.code), st.message);
        goto out;
    }
    if (o.cart->n_items > MAX_ORDER_LINES) {
        rpc_reply_error(reply, RPC_INTERNAL, "cart of %s has too many lines", req->user_id);
        goto out;
    }
    /* 2. per item: product + price in the user's currency */
    size_t n = o.cart->n_items;
    o.products = calloc(n + 1, sizeof *o.products);
    o.prices = calloc(n + 1, sizeof *o.prices);
    o.order_items = calloc(n + 1, sizeof *o.order_items);
    o.order_item_ptrs = calloc(n + 1, sizeof *o.order_item_ptrs);
    if (!o.products || !o.prices || !o.order_items || !o.order_item_ptrs) {
        rpc_reply_error(reply, RPC_INTERNAL, "out of memory");
        goto out;
    }
    o.n = n;
    for (size_t i = 0; i < n; i++) {
        Hipstershop__CartItem *it = o.cart->items[i];
        Hipstershop__GetProductRequest gp = HIPSTERSHOP__GET_PRODUCT_REQUEST__INIT;
        gp.id = it->product_id;
        if (rpc_call(deps[CATALOG], "/hipstershop.ProductCatalogService/GetProduct", &gp.base,
                     &hipstershop__product__descriptor, &o.products[i], &st) != RPC_OK) {
            rpc_reply_error(reply, RPC_INTERNAL, "failed to prepare order: failed to get product #\"%s\": %s",
                            it->product_id, st.message);
            goto out;
        }
        Hipstershop__Product *p = (Hipstershop__Product *)o.products[i];
        if (!p->price_usd || convert(p->price_usd, req->user_currency, &o.prices[i], &st) != RPC_OK) {
            rpc_reply_error(reply, RPC_INTERNAL, "failed to prepare order: failed to convert price of \"%s\" to %s: %s",
                            it->product_id, req->user_currency, p->price_usd ? st.message : "no price");
            goto out;
        }
        hipstershop__order_item__init(&o.order_items[i]);
        o.order_items[i].item = it;
        o.order_items[i].cost = (Hipstershop__Money *)o.prices[i];
        o.order_item_ptrs[i] = &o.order_items[i];
    }
    /* 3. shipping quote, converted */
    Hipstershop__GetQuoteRequest gq = HIPSTERSHOP__GET_QUOTE_REQUEST__INIT;
    gq.address = req->address;
    gq.items = o.cart->items;
    gq.n_items = n;
    if (rpc_call(deps[SHIPPING], "/hipstershop.ShippingService/GetQuote", &gq.base,
                 &hipstershop__get_quote_response__descriptor, &o.quote, &st) != RPC_OK) {
        rpc_reply_error(reply, RPC_INTERNAL, "failed to get shipping quote: %s", st.message);
        goto out;
    }
    Hipstershop__GetQuoteResponse *quote = (Hipstershop__GetQuoteResponse *)o.quote;
    if (!quote->cost_usd || convert(quote->cost_usd, req->user_currency, &o.shipping, &st) != RPC_OK) {
        rpc_reply_error(reply, RPC_INTERNAL, "failed to convert shipping cost to currency: %s",
                        quote->cost_usd ? st.message : "no cost");
        goto out;
    }
    Hipstershop__Money *shipping = (Hipstershop__Money *)o.shipping;
    /* 4. total = shipping + Σ unit × quantity */
    Hipstershop__Money total = HIPSTERSHOP__MONEY__INIT;
    total.currency_code = req->user_currency;
    if (money_sum(&total, shipping, &total, &err) < 0) {
        rpc_reply_error(reply, RPC_INTERNAL, "failed to compute the total: %s", ens_error_msg(err));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        Hipstershop__Money line = HIPSTERSHOP__MONEY__INIT;
        int32_t q = o.cart->items[i]->quantity;
        if (q < 0 || money_multiply(o.order_items[i].cost, (uint32_t)q, &line, &err) < 0 ||
            money_sum(&total, &line, &total, &err) < 0) {
            rpc_reply_error(reply, RPC_INTERNAL, "failed to compute the total: %s",
                            err ? ens_error_msg(err) : "negative quantity");
            goto out;
        }
    }
    total.currency_code = req->user_currency;
    /* 5. charge */
    Hipstershop__ChargeRequest ch = HIPSTERSHOP__CHARGE_REQUEST__INIT;
    ch.amount = &total;
    ch.credit_card = req->credit_card;
    if (rpc_call(deps[PAYMENT], "/hipstershop.PaymentService/Charge", &ch.base,
                 &hipstershop__charge_response__descriptor, &o.charge, &st) != RPC_OK) {
        rpc_reply_error(reply, RPC_INTERNAL, "failed to charge card: could not charge the card: rpc error: code = %s desc = %s",
                        rpc_code_name(st.code), st.message);
        goto out;
    }
    blog_info("payment went through (transaction_id: %s)", ((Hipstershop__ChargeResponse *)o.charge)->transaction_id);
    /* 6. ship */
    Hipstershop__ShipOrderRequest so = HIPSTERSHOP__SHIP_ORDER_REQUEST__INIT;
    so.address = req->address;
    so.items = o.cart->items;
    so.n_items = n;
    if (rpc_call(deps[SHIPPING], "/hipstershop.ShippingService/ShipOrder", &so.base,
                 &hipstershop__ship_order_response__descriptor, &o.ship, &st) != RPC_OK) {
        rpc_reply_error(reply, RPC_UNAVAILABLE, "shipping error: shipment failed: rpc error: code = %s desc = %s",
                        rpc_code_name(st.code), st.message);
        goto out;
    }
    /* 7. empty the cart (failure only logged) */
    Hipstershop__EmptyCartRequest ec = HIPSTERSHOP__EMPTY_CART_REQUEST__INIT;
    ec.user_id = req->user_id;
    ProtobufCMessage *ignored = NULL;
    if (rpc_call(deps[CART], "/hipstershop.CartService/EmptyCart", &ec.base, &hipstershop__empty__descriptor, &ignored,
                 &st) != RPC_OK)
        blog_warn("failed to empty user cart %s: %s", req->user_id, st.message);
    else
        protobuf_c_message_free_unpacked(ignored, NULL);
    /* 8. the result, and the confirmation email (failure only logged) */
    Hipstershop__OrderResult result = HIPSTERSHOP__ORDER_RESULT__INIT;
    result.order_id = order_id;
    result.shipping_tracking_id = ((Hipstershop__ShipOrderResponse *)o.ship)->tracking_id;
    result.shipping_cost = shipping;
    result.shipping_address = req->address;
    result.items = o.order_item_ptrs;
    result.n_items = n;
    Hipstershop__SendOrderConfirmationRequest em = HIPSTERSHOP__SEND_ORDER_CONFIRMATION_REQUEST__INIT;
    em.email = req->email;
    em.order = &result;
    ignored = NULL;
    if (rpc_call(deps[EMAIL], "/hipstershop.EmailService/SendOrderConfirmation", &em.base,
                 &hipstershop__empty__descriptor, &ignored, &st) != RPC_OK)
        blog_warn("failed to send order confirmation to %s: %s", req->email, st.message);
    else {
        protobuf_c_message_free_unpacked(ignored, NULL);
        blog_info("order confirmation email sent to %s", req->email);
    }
    Hipstershop__PlaceOrderResponse resp = HIPSTERSHOP__PLACE_ORDER_RESPONSE__INIT;
    resp.order = &result;
    rpc_reply_message(reply, &resp.base);
out:
    order_free(&o);
}

int main(void)
{
    blog_init("checkoutservice");
    _cleanup_error_ ens_error_t err = NULL;
    int rc = 1;
    for (int i = 0; i < N_DEPS; i++) {
        const char *v = getenv(dep_env[i]);
        if (!v || !*v) {
            blog_error("environment variable %s is not set (required)", dep_env[i]);
            fprintf(stderr, "checkoutservice: environment variable %s is not set\n", dep_env[i]);
            goto out;
        }
        if (!(deps[i] = rpc_channel_new(v, CALL_TIMEOUT_MS, &err))) {
            blog_error("%s: %s", dep_env[i], ens_error_msg(err));
            goto out;
        }
    }
    static const struct boutique_method methods[] = {
        {"/hipstershop.CheckoutService/PlaceOrder", &hipstershop__place_order_request__descriptor, place_order},
        {NULL, NULL, NULL},
    };
    /* handlers block on other services: enough workers for 32 concurrent orders */
    rc = boutique_serve("checkoutservice", "hipstershop.CheckoutService", "5050", methods, NULL, 32);
out:
    for (int i = 0; i < N_DEPS; i++)
        rpc_channel_free(deps[i]);
    return rc;
}
