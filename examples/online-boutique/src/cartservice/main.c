/* SPDX-License-Identifier: Apache-2.0 */
/* cartservice: AddItem, GetCart, EmptyCart (port 7070).  REDIS_ADDR selects
 * Redis (upstream's layout), otherwise an in-memory store.  A storage failure
 * is FAILED_PRECONDITION "Can't access cart storage. ...". */
#include <stdlib.h>
#include <string.h>

#include "boutique.h"
#include "core/cleanup.h"
#include "store.h"

/* Bounds on what one cart may hold (a client cannot grow it without limit). */
#define MAX_LINES 1000
#define MAX_USER_ID 1024

static bool check_user(const char *user, rpc_reply *reply)
{
    if (!user[0]) {
        rpc_reply_error(reply, RPC_INVALID_ARGUMENT, "user_id is required");
        return false;
    }
    if (strlen(user) > MAX_USER_ID) {
        rpc_reply_error(reply, RPC_INVALID_ARGUMENT, "user_id is longer than %d bytes", MAX_USER_ID);
        return false;
    }
    return true;
}

/* Loads the cart of user (an empty one when absent); NULL after replying an error. */
static Hipstershop__Cart *load_cart(cart_store *s, const char *user, rpc_reply *reply)
{
    _cleanup_error_ ens_error_t err = NULL;
    _cleanup_free_ uint8_t *data = NULL;
    size_t len = 0;
    if (cart_store_get(s, user, &data, &len, &err) < 0) {
        blog_error("cart storage: %s", ens_error_msg(err));
        rpc_reply_error(reply, RPC_FAILED_PRECONDITION, "Can't access cart storage. %s", ens_error_msg(err));
        return NULL;
    }
    Hipstershop__Cart *cart = (Hipstershop__Cart *)protobuf_c_message_unpack(&hipstershop__cart__descriptor, NULL, data ? len : 0,
                                                        data ? data : (const uint8_t *)"");
    if (!cart) {
        rpc_reply_error(reply, RPC_FAILED_PRECONDITION, "Can't access cart storage. stored cart of %s is corrupt",
                        user);
        return NULL;
    }
    return cart;
}

static int store_cart(cart_store *s, const char *user, const Hipstershop__Cart *cart, rpc_reply *reply)
{
    _cleanup_error_ ens_error_t err = NULL;
    size_t len = protobuf_c_message_get_packed_size(&cart->base);
    _cleanup_free_ uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        rpc_reply_error(reply, RPC_RESOURCE_EXHAUSTED, "out of memory");
        return -1;
    }
    protobuf_c_message_pack(&cart->base, buf);
    if (cart_store_put(s, user, buf, len, &err) < 0) {
        blog_error("cart storage: %s", ens_error_msg(err));
        rpc_reply_error(reply, RPC_FAILED_PRECONDITION, "Can't access cart storage. %s", ens_error_msg(err));
        return -1;
    }
    return 0;
}

static void add_item(void *ctx, const ProtobufCMessage *req, rpc_reply *reply)
{
    cart_store *s = ctx;
    const Hipstershop__AddItemRequest *r = (const Hipstershop__AddItemRequest *)req;
    if (!check_user(r->user_id, reply))
        return;
    if (!r->item || !r->item->product_id[0]) {
        rpc_reply_error(reply, RPC_INVALID_ARGUMENT, "item with a product_id is required");
        return;
    }
    blog_info("AddItemAsync called with userId=%s, productId=%s, quantity=%d", r->user_id, r->item->product_id,
              r->item->quantity);
    cart_store_lock(s);
    Hipstershop__Cart *cart = load_cart(s, r->user_id, reply);
    if (!cart) {
        cart_store_unlock(s);
        return;
    }
    /* Build the new cart with our own item array; the unpacked lines are reused. */
    size_t n = cart->n_items;
    Hipstershop__CartItem **items = calloc(n + 1, sizeof *items);
    Hipstershop__CartItem added = HIPSTERSHOP__CART_ITEM__INIT;
    Hipstershop__Cart out = HIPSTERSHOP__CART__INIT;
    if (!items) {
        rpc_reply_error(reply, RPC_RESOURCE_EXHAUSTED, "out of memory");
        goto done;
    }
    bool found = false;
    int32_t old_q = 0, new_q = 0;
    size_t found_at = 0;
    for (size_t i = 0; i < n; i++) {
        items[i] = cart->items[i];
        if (!found && strcmp(items[i]->product_id, r->item->product_id) == 0) {
            found = true;
            found_at = i;
            old_q = items[i]->quantity;
        }
    }
    if (found) {
        if (__builtin_add_overflow(old_q, r->item->quantity, &new_q)) {
            rpc_reply_error(reply, RPC_INVALID_ARGUMENT, "quantity overflows");
            goto done;
        }
        items[found_at]->quantity = new_q;
    } else {
        if (n >= MAX_LINES) {
            rpc_reply_error(reply, RPC_RESOURCE_EXHAUSTED, "cart has too many lines (max %d)", MAX_LINES);
            goto done;
        }
        added.product_id = r->item->product_id;
        added.quantity = r->item->quantity;
        items[n++] = &added;
    }
    out.user_id = r->user_id;
    out.items = items;
    out.n_items = n;
    if (store_cart(s, r->user_id, &out, reply) == 0) {
        Hipstershop__Empty e = HIPSTERSHOP__EMPTY__INIT;
        rpc_reply_message(reply, &e.base);
    }
done:
    cart_store_unlock(s);
    free(items);
    protobuf_c_message_free_unpacked(&cart->base, NULL);
}

static void get_cart(void *ctx, const ProtobufCMessage *req, rpc_reply *reply)
{
    cart_store *s = ctx;
    const Hipstershop__GetCartRequest *r = (const Hipstershop__GetCartRequest *)req;
    if (!check_user(r->user_id, reply))
        return;
    blog_info("GetCartAsync called with userId=%s", r->user_id);
    Hipstershop__Cart *cart = load_cart(s, r->user_id, reply);
    if (!cart)
        return;
    rpc_reply_message(reply, &cart->base);
    protobuf_c_message_free_unpacked(&cart->base, NULL);
}

static void empty_cart(void *ctx, const ProtobufCMessage *req, rpc_reply *reply)
{
    cart_store *s = ctx;
    const Hipstershop__EmptyCartRequest *r = (const Hipstershop__EmptyCartRequest *)req;
    if (!check_user(r->user_id, reply))
        return;
    blog_info("EmptyCartAsync called with userId=%s", r->user_id);
    /* upstream stores an empty Cart{} (its serialisation is zero bytes) */
    Hipstershop__Cart empty = HIPSTERSHOP__CART__INIT;
    cart_store_lock(s);
    int rc = store_cart(s, r->user_id, &empty, reply);
    cart_store_unlock(s);
    if (rc == 0) {
        Hipstershop__Empty e = HIPSTERSHOP__EMPTY__INIT;
        rpc_reply_message(reply, &e.base);
    }
}

int main(void)
{
    blog_init("cartservice");
    _cleanup_error_ ens_error_t err = NULL;
    const char *redis = getenv("REDIS_ADDR");
    if (redis && !*redis)
        redis = NULL;
    cart_store *s = cart_store_new(redis, &err);
    if (!s) {
        blog_error("%s", ens_error_msg(err));
        return 1;
    }
    if (redis)
        blog_info("cart store: redis at %s", redis);
    else
        blog_info("cart store: in memory (REDIS_ADDR not set)");
    static const struct boutique_method methods[] = {
        {"/hipstershop.CartService/AddItem", &hipstershop__add_item_request__descriptor, add_item},
        {"/hipstershop.CartService/GetCart", &hipstershop__get_cart_request__descriptor, get_cart},
        {"/hipstershop.CartService/EmptyCart", &hipstershop__empty_cart_request__descriptor, empty_cart},
        {NULL, NULL, NULL},
    };
    int rc = boutique_serve("cartservice", "hipstershop.CartService", "7070", methods, s, 8);
    cart_store_free(s);
    return rc;
}
