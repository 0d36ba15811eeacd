/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the frontend needs from the boutique back ends, independent of the
 * transport.  backend_rpc.c implements it over the gRPC layer (src/rpc/rpc.h);
 * the unit tests plug in an in-memory fake.  Every call may block; the HTTP
 * layer only calls it from worker threads, so implementations must be
 * thread-safe.  Errors carry a message of the form
 * "rpc error: code = <Code> desc = <message>" naming the failed call.
 */
#ifndef ENSCONCE_FRONTEND_BACKEND_H
#define ENSCONCE_FRONTEND_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct {
    char currency_code[8];
    int64_t units;
    int32_t nanos;
} fe_money;

typedef struct {
    char *id, *name, *description, *picture;
    fe_money price_usd;
    char **categories;
    size_t ncategories;
} fe_product;

typedef struct {
    char *product_id;
    int32_t quantity;
} fe_cart_item;

typedef struct {
    fe_cart_item *items;
    size_t n;
} fe_cart;

typedef struct {
    char **v;
    size_t n;
} fe_strv;

typedef struct {
    char *redirect_url, *text;
} fe_ad;

typedef struct {
    const char *street_address, *city, *state, *country;
    int32_t zip_code;
} fe_address;

typedef struct {
    const char *user_id, *user_currency, *email;
    fe_address address;
    const char *cc_number;
    int32_t cc_cvv, cc_year, cc_month;
} fe_order_request;

typedef struct {
    fe_cart_item item;
    fe_money cost;
} fe_order_item;

typedef struct {
    char *order_id, *tracking_id;
    fe_money shipping_cost;
    fe_order_item *items;
    size_t nitems;
} fe_order_result;

typedef struct fe_backend_ops {
    int (*supported_currencies)(void *ctx, fe_strv *out, ens_error_t *err);
    /* *out is an array of *n products. */
    int (*list_products)(void *ctx, fe_product **out, size_t *n, ens_error_t *err);
    int (*get_product)(void *ctx, const char *id, fe_product *out, ens_error_t *err);
    int (*get_cart)(void *ctx, const char *user_id, fe_cart *out, ens_error_t *err);
    int (*add_item)(void *ctx, const char *user_id, const char *product_id, int32_t quantity, ens_error_t *err);
    int (*empty_cart)(void *ctx, const char *user_id, ens_error_t *err);
    int (*convert)(void *ctx, const fe_money *from, const char *to_code, fe_money *out, ens_error_t *err);
    /* Quote in USD for the items (the address is empty, as upstream does). */
    int (*get_quote)(void *ctx, const fe_cart_item *items, size_t n, fe_money *out, ens_error_t *err);
    int (*list_recommendations)(void *ctx, const char *user_id, const fe_strv *product_ids, fe_strv *out,
                                ens_error_t *err);
    int (*get_ads)(void *ctx, const fe_strv *context_keys, fe_ad **out, size_t *n, ens_error_t *err);
    int (*place_order)(void *ctx, const fe_order_request *req, fe_order_result *out, ens_error_t *err);
} fe_backend_ops;

typedef struct {
    const fe_backend_ops *ops;
    void *ctx;
} fe_backend;

/* Release helpers for the out-values above (safe on zeroed structs). */
void fe_product_clear(fe_product *p);
void fe_products_free(fe_product *p, size_t n);
void fe_cart_clear(fe_cart *c);
void fe_strv_clear(fe_strv *v);
int fe_strv_push(fe_strv *v, const char *s);
void fe_ads_free(fe_ad *ads, size_t n);
void fe_order_result_clear(fe_order_result *o);

/* The gRPC implementation (backend_rpc.c): addresses from the *_SERVICE_ADDR
 * environment variables, all required; fails naming the first missing one. */
int fe_backend_rpc_new(fe_backend *out, ens_error_t *err);
void fe_backend_rpc_free(fe_backend *be);

#endif
