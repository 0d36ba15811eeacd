/* SPDX-License-Identifier: Apache-2.0 */
/* backend.h over the boutique's gRPC layer (examples/online-boutique/src/rpc/rpc.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "hipstershop.pb-c.h"
#include "rpc.h"
#include <time.h>

/* Deadlines: checkout fans out to six services, the others are single calls. */
#define CALL_TIMEOUT_MS 10000
#define CHECKOUT_TIMEOUT_MS 20000

/*
 * One slot per service.  After a back end has been away, gRPC's reconnect
 * backoff (up to 120 s) would keep the frontend failing long after the
 * service is back; so a call that ends UNAVAILABLE swaps in a fresh channel
 * (at most every 500 ms), which connects at once on the next call.  Calls
 * hold a reference to the channel they use; the old one is freed by the
 * last call that used it.
 */
struct chan_ref {
    rpc_channel *ch;
    int refs;
};

struct chan_slot {
    pthread_mutex_t lock;
    struct chan_ref *cur;
    char *target;
    struct timespec last_reset;
};

struct rpc_backend {
    struct chan_slot catalog, currency, cart, recommendation, checkout, shipping, ad;
};

#define RESET_INTERVAL_NS 500000000LL

static struct chan_ref *slot_acquire(struct chan_slot *s)
{
    pthread_mutex_lock(&s->lock);
    struct chan_ref *r = s->cur;
    if (r)
        r->refs++;
    pthread_mutex_unlock(&s->lock);
    return r;
}

static void ref_put_locked(struct chan_ref *r)
{
    if (--r->refs == 0) {
        rpc_channel_free(r->ch);
        free(r);
    }
}

static void slot_release(struct chan_slot *s, struct chan_ref *r)
{
    pthread_mutex_lock(&s->lock);
    ref_put_locked(r);
    pthread_mutex_unlock(&s->lock);
}

/* Replaces the slot's channel by a new one, unless that was done < 500 ms ago
 * or another call already replaced the channel this call used. */
static void slot_reset(struct chan_slot *s, struct chan_ref *used)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&s->lock);
    long long since = (long long)(now.tv_sec - s->last_reset.tv_sec) * 1000000000LL +
                      (now.tv_nsec - s->last_reset.tv_nsec);
    if (s->cur == used && since >= RESET_INTERVAL_NS) {
        ens_error_t err = NULL;
        struct chan_ref *fresh = calloc(1, sizeof(*fresh));
        if (fresh && (fresh->ch = rpc_channel_new(s->target, CALL_TIMEOUT_MS, &err))) {
            fresh->refs = 1;
            struct chan_ref *old = s->cur;
            s->cur = fresh;
            s->last_reset = now;
            ref_put_locked(old);
        } else {
            free(fresh);
        }
        ens_error_release(&err);
    }
    pthread_mutex_unlock(&s->lock);
}

static void slot_clear(struct chan_slot *s)
{
    if (s->cur)
        ref_put_locked(s->cur);
    s->cur = NULL;
    free(s->target);
    s->target = NULL;
    pthread_mutex_destroy(&s->lock);
}

static int slot_init(struct chan_slot *s, const char *target, ens_error_t *err)
{
    pthread_mutex_init(&s->lock, NULL);
    s->target = strdup(target);
    s->cur = calloc(1, sizeof(*s->cur));
    if (!s->target || !s->cur)
        return ens_error(err, ENOMEM, "out of memory");
    s->cur->refs = 1;
    s->cur->ch = rpc_channel_new(target, CALL_TIMEOUT_MS, err);
    if (!s->cur->ch) {
        free(s->cur);
        s->cur = NULL;
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &s->last_reset);
    return 0;
}

/* Status names as gRPC's Go library prints them ("NotFound", ...), so error
 * pages read like upstream's. */
static const char *code_name(int code)
{
    static const char *const names[] = {
        "OK",          "Canceled",          "Unknown",  "InvalidArgument", "DeadlineExceeded", "NotFound",
        "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
        "OutOfRange",  "Unimplemented",     "Internal", "Unavailable",     "DataLoss",         "Unauthenticated",
    };
    return code >= 0 && code < (int)(sizeof(names) / sizeof(names[0])) ? names[code] : "Unknown";
}

static int call(struct chan_slot *slot, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp, int timeout_ms, ens_error_t *err)
{
    rpc_status st;
    struct chan_ref *ref = slot_acquire(slot);
    if (!ref)
        return ens_error(err, EIO, "rpc error: code = Unavailable desc = no channel to %s", slot->target);
    int code = rpc_call_timeout(ref->ch, method, req, desc, resp, timeout_ms, &st);
    if (code == RPC_UNAVAILABLE)
        slot_reset(slot, ref);
    slot_release(slot, ref);
    if (code == RPC_OK)
        return 0;
    /* Status numbers map to errno-ish values only for logging; the message is what users see. */
    return ens_error(err, code == RPC_UNAVAILABLE ? ECONNREFUSED : EIO, "rpc error: code = %s desc = %s",
                     code_name(code), st.message);
}

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

static void money_from_pb(const Hipstershop__Money *m, fe_money *out)
{
    memset(out, 0, sizeof(*out));
    if (!m)
        return;
    snprintf(out->currency_code, sizeof(out->currency_code), "%s", m->currency_code ? m->currency_code : "");
    out->units = m->units;
    out->nanos = m->nanos;
}

static int product_from_pb(const Hipstershop__Product *p, fe_product *out, ens_error_t *err)
{
    memset(out, 0, sizeof(*out));
    out->id = dup_or_empty(p->id);
    out->name = dup_or_empty(p->name);
    out->description = dup_or_empty(p->description);
    out->picture = dup_or_empty(p->picture);
    money_from_pb(p->price_usd, &out->price_usd);
    if (p->n_categories) {
        out->categories = calloc(p->n_categories, sizeof(char *));
        if (out->categories) {
            out->ncategories = p->n_categories;
            for (size_t i = 0; i < p->n_categories; i++)
                out->categories[i] = dup_or_empty(p->categories[i]);
        }
    }
    if (!out->id || !out->name || !out->description || !out->picture || (p->n_categories && !out->categories)) {
        fe_product_clear(out);
        return ens_error(err, ENOMEM, "out of memory");
    }
    return 0;
}

static int be_supported_currencies(void *ctx, fe_strv *out, ens_error_t *err)
{
    struct rpc_backend *b = ctx;
    Hipstershop__Empty req = HIPSTERSHOP__EMPTY__INIT;
    Hipstershop__GetSupportedCurrenciesResponse *resp = NULL;
    if (call(&b->currency, "/hipstershop.CurrencyService/GetSupportedCurrencies", &req.base,
             &hipstershop__get_supported_currencies_response__descriptor, (ProtobufCMessage **)&resp,
             CALL_TIMEOUT_MS, err) < 0)
        return -1;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < resp->n_currency_codes; i++)
        fe_strv_push(out, resp->currency_codes[i]);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

static int be_list_products(void *ctx, fe_product **out, size_t *n, ens_error_t *err)
{
    struct rpc_backend *b = ctx;
    Hipstershop__Empty req = HIPSTERSHOP__EMPTY__INIT;
    Hipstershop__ListProductsResponse *resp = NULL;
    if (call(&b->catalog, "/hipstershop.ProductCatalogService/ListProducts", &req.base,
             &hipstershop__list_products_response__descriptor, (ProtobufCMessage **)&resp, CALL_TIMEOUT_MS,
             err) < 0)
        return -1;
    fe_product *list = calloc(resp->n_products ? resp->n_products : 1, sizeof(*list));
    if (!list) {
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return ens_error(err, ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < resp->n_products; i++) {
        if (product_from_pb(resp->products[i], &list[i], err) < 0) {
            fe_products_free(list, i);
            protobuf_c_message_free_unpacked(&resp->base, NULL);
            return -1;
        }
    }
    *out = list;
    *n = resp->n_products;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

static int be_get_product(void *ctx, const char *id, fe_product *out, ens_error_t *err)
{
    struct rpc_backend *b = ctx;
    Hipstershop__GetProductRequest req = HIPSTERSHOP__GET_PRODUCT_REQUEST__INIT;
    req.id = (char *)id;
    Hipstershop__Product *resp = NULL;
    if (call(&b->catalog, "/hipstershop.ProductCatalogService/GetProduct", &req.base,
             &hipstershop__product__descriptor, (ProtobufCMessage **)&resp, CALL_TIMEOUT_MS, err) < 0)
        return -1;
    int r = product_from_pb(resp, out, err);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return r;
}

static int be_get_cart(void *ctx, const char *user_id, fe_cart *out, ens_error_t *err)
{
    struct rpc_backend *b = ctx;
    Hipstershop__GetCartRequest req = HIPSTERSHOP__GET_CART_REQUEST__INIT;
    req.user_id = (char *)user_id;
    Hipstershop__Cart *resp = NULL;
    if (call(&b->cart, "/hipstershop.CartService/GetCart", &req.base, &hipstershop__cart__descriptor,
             (ProtobufCMessage **)&resp, CALL_TIMEOUT_MS, err) < 0)
        return -1;
    memset(out, 0, sizeof(*out));
    if (resp->n_items) {
        out->items = calloc(resp->n_items, sizeof(*out->items));
        if (!out->items) {
            protobuf_c_message_free_unpacked(&resp->base, NULL);
            return ens_error(err, ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < resp->n_items; i++) {
            out->items[i].product_id = dup_or_empty(resp->items[i]->product_id);
            out->items[i].quantity = resp->items[i]->quantity;
            out->n++;
        }
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

static int be_add_item(void *ctx, const char *user_id, const char *product_id, int32_t quantity, ens_error_t *err)
{
    struct rpc_backend *b = ctx;
    Hipstershop__CartItem item = HIPSTERSHOP__CART_ITEM__INIT;
    item.product_id = (char *)product_id;
    item.quantity = quantity;
    Hipstershop__AddItemRequest req = HIPSTERSHOP__ADD_ITEM_REQUEST__INIT;
    req.user_id = (char *)user_id;
    req.item = &item;
    Hipstershop__Empty *resp = NULL;
    if (call(&b->cart, "/hipstershop.CartService/AddItem", &req.base, &hipstershop__empty__descriptor,
             (ProtobufCMessage **)&resp, CALL_TIMEOUT_MS, err) < 0)
        return -1;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

static int be_empty_cart(void *ctx, const char *user_id, ens_error_t *err)
{
    struct rpc_backend *b = ctx;
    Hipstershop__EmptyCartRequest req = HIPSTERSHOP__EMPTY_CART_REQUEST__INIT;
    req.user_id = (char *)user_id;
    Hipstershop__Empty *resp = NULL;
    if (call(&b->cart, "/hipstershop.CartService/EmptyCart", &req.base, &hipstershop__empty__descriptor,
             (ProtobufCMessage **)&resp, CALL_TIMEOUT_MS, err) < 0)
        return -1;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

static int be_convert(void *ctx, const fe_money *from, const char *to_code, fe_money *out, ens_error_t *err)
{
    struct rpc_backend *b = ctx;
    Hipstershop__Money m = HIPSTERSHOP__MONEY__INIT;
    m.currency_code = (char *)from->currency_code;
    m.units = from->units;
    m.nanos = from->nanos;
    Hipstershop__CurrencyConversionRequest req = HIPSTERSHOP__CURRENCY_CONVERSION_REQUEST__INIT;
    req.from = &m;
    req.to_code = (char *)to_code;
    Hipstershop__Money *resp = NULL;
    if (call(&b->currency, "/hipstershop.CurrencyService/Convert", &req.base, &hipstershop__money__descriptor,
             (ProtobufCMessage **)&resp, CALL_TIMEOUT_MS, err) < 0)
        return -1;
    money_from_pb(resp, out);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

static int be_get_quote(void *ctx, const fe_cart_item *items, size_t n, fe_money *out, ens_error_t *err)
{
    struct rpc_backend *b = ctx;
    Hipstershop__CartItem *pb = calloc(n ? n : 1, sizeof(*pb));
    Hipstershop__CartItem **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
    if (!pb || !ptrs) {
        free(pb);
        free(ptrs);
        return ens_error(err, ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        hipstershop__cart_item__init(&pb[i]);
        pb[i].product_id = items[i].product_id;
        pb[i].quantity = items[i].quantity;
        ptrs[i] = &pb[i];
    }
    Hipstershop__Address addr = HIPSTERSHOP__ADDRESS__INIT;
    Hipstershop__GetQuoteRequest req = HIPSTERSHOP__GET_QUOTE_REQUEST__INIT;
    req.address = &addr;
    req.n_items = n;
    req.items = ptrs;
    Hipstershop__GetQuoteResponse *resp = NULL;
    int r = call(&b->shipping, "/hipstershop.ShippingService/GetQuote", &req.base,
                 &hipstershop__get_quote_response__descriptor, (ProtobufCMessage **)&resp, CALL_TIMEOUT_MS, err);
    free(pb);
    free(ptrs);
    if (r < 0)
        return -1;
    money_from_pb(resp->cost_usd, out);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

static int be_list_recommendations(void *ctx, const char *user_id, const fe_strv *product_ids, fe_strv *out,
                                   ens_error_t *err)
{
    struct rpc_backend *b = ctx;
    Hipstershop__ListRecommendationsRequest req = HIPSTERSHOP__LIST_RECOMMENDATIONS_REQUEST__INIT;
    req.user_id = (char *)user_id;
    req.n_product_ids = product_ids->n;
    req.product_ids = product_ids->v;
    Hipstershop__ListRecommendationsResponse *resp = NULL;
    if (call(&b->recommendation, "/hipstershop.RecommendationService/ListRecommendations", &req.base,
             &hipstershop__list_recommendations_response__descriptor, (ProtobufCMessage **)&resp,
             CALL_TIMEOUT_MS, err) < 0)
        return -1;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < resp->n_product_ids; i++)
        fe_strv_push(out, resp->product_ids[i]);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

static int be_get_ads(void *ctx, const fe_strv *keys, fe_ad **out, size_t *n, ens_error_t *err)
{
    struct rpc_backend *b = ctx;
    Hipstershop__AdRequest req = HIPSTERSHOP__AD_REQUEST__INIT;
    req.n_context_keys = keys->n;
    req.context_keys = keys->v;
    Hipstershop__AdResponse *resp = NULL;
    if (call(&b->ad, "/hipstershop.AdService/GetAds", &req.base, &hipstershop__ad_response__descriptor,
             (ProtobufCMessage **)&resp, CALL_TIMEOUT_MS, err) < 0)
        return -1;
    fe_ad *ads = calloc(resp->n_ads ? resp->n_ads : 1, sizeof(*ads));
    if (!ads) {
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return ens_error(err, ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < resp->n_ads; i++) {
        ads[i].redirect_url = dup_or_empty(resp->ads[i]->redirect_url);
        ads[i].text = dup_or_empty(resp->ads[i]->text);
    }
    *out = ads;
    *n = resp->n_ads;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

static int be_place_order(void *ctx, const fe_order_request *r, fe_order_result *out, ens_error_t *err)
{
    struct rpc_backend *b = ctx;
    Hipstershop__Address addr = HIPSTERSHOP__ADDRESS__INIT;
    addr.street_address = (char *)r->address.street_address;
    addr.city = (char *)r->address.city;
    addr.state = (char *)r->address.state;
    addr.country = (char *)r->address.country;
    addr.zip_code = r->address.zip_code;
    Hipstershop__CreditCardInfo cc = HIPSTERSHOP__CREDIT_CARD_INFO__INIT;
    cc.credit_card_number = (char *)r->cc_number;
    cc.credit_card_cvv = r->cc_cvv;
    cc.credit_card_expiration_year = r->cc_year;
    cc.credit_card_expiration_month = r->cc_month;
    Hipstershop__PlaceOrderRequest req = HIPSTERSHOP__PLACE_ORDER_REQUEST__INIT;
    req.user_id = (char *)r->user_id;
    req.user_currency = (char *)r->user_currency;
    req.address = &addr;
    req.email = (char *)r->email;
    req.credit_card = &cc;
    Hipstershop__PlaceOrderResponse *resp = NULL;
    if (call(&b->checkout, "/hipstershop.CheckoutService/PlaceOrder", &req.base,
             &hipstershop__place_order_response__descriptor, (ProtobufCMessage **)&resp, CHECKOUT_TIMEOUT_MS,
             err) < 0)
        return -1;
    memset(out, 0, sizeof(*out));
    const Hipstershop__OrderResult *o = resp->order;
    if (o) {
        out->order_id = dup_or_empty(o->order_id);
        out->tracking_id = dup_or_empty(o->shipping_tracking_id);
        money_from_pb(o->shipping_cost, &out->shipping_cost);
        if (o->n_items) {
            out->items = calloc(o->n_items, sizeof(*out->items));
            for (size_t i = 0; out->items && i < o->n_items; i++) {
                const Hipstershop__OrderItem *it = o->items[i];
                out->items[i].item.product_id = dup_or_empty(it->item ? it->item->product_id : "");
                out->items[i].item.quantity = it->item ? it->item->quantity : 0;
                money_from_pb(it->cost, &out->items[i].cost);
                out->nitems++;
            }
        }
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    if (!o)
        return ens_error(err, EIO, "rpc error: code = Internal desc = the checkout service returned no order");
    return 0;
}

static const fe_backend_ops rpc_ops = {
    .supported_currencies = be_supported_currencies,
    .list_products = be_list_products,
    .get_product = be_get_product,
    .get_cart = be_get_cart,
    .add_item = be_add_item,
    .empty_cart = be_empty_cart,
    .convert = be_convert,
    .get_quote = be_get_quote,
    .list_recommendations = be_list_recommendations,
    .get_ads = be_get_ads,
    .place_order = be_place_order,
};

void fe_backend_rpc_free(fe_backend *be)
{
    struct rpc_backend *b = be->ctx;
    if (!b)
        return;
    struct chan_slot *slots[] = {&b->catalog,  &b->currency, &b->cart, &b->recommendation,
                                 &b->checkout, &b->shipping, &b->ad};
    for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++)
        if (slots[i]->target)
            slot_clear(slots[i]);
    free(b);
    be->ctx = NULL;
}

int fe_backend_rpc_new(fe_backend *out, ens_error_t *err)
{
    static const char *const vars[] = {
        "PRODUCT_CATALOG_SERVICE_ADDR", "CURRENCY_SERVICE_ADDR", "CART_SERVICE_ADDR",
        "RECOMMENDATION_SERVICE_ADDR",  "CHECKOUT_SERVICE_ADDR", "SHIPPING_SERVICE_ADDR",
        "AD_SERVICE_ADDR",
    };
    struct rpc_backend *b = calloc(1, sizeof(*b));
    if (!b)
        return ens_error(err, ENOMEM, "out of memory");
    struct chan_slot *slots[] = {&b->catalog,  &b->currency, &b->cart, &b->recommendation,
                                 &b->checkout, &b->shipping, &b->ad};
    out->ops = &rpc_ops;
    out->ctx = b;
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *addr = getenv(vars[i]);
        if (!addr || !*addr) {
            fe_backend_rpc_free(out);
            return ens_error(err, EINVAL, "environment variable %s not set", vars[i]);
        }
        if (slot_init(slots[i], addr, err) < 0) {
            fe_backend_rpc_free(out);
            return ens_error_wrap(err, "%s=%s", vars[i], addr);
        }
    }
    return 0;
}
