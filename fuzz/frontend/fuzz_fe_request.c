/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the frontend's request-input handling: fe_handle() (shop.h) with the
 * real templates and a deterministic in-memory back end, and the parsing
 * helpers of shoputil.h on the same bytes.  Input, one field a line:
 *   flags        digits: 1 shared session, 2 BASE_URL=/shop, 4 back ends down
 *   method       GET POST HEAD ...
 *   path         below BASE_URL, percent-encoded (product ids, /static/...)
 *   cookie       Cookie header ("-": none)
 *   referer      Referer header ("-": none)
 *   host         Host header ("-": none)
 *   body...      the rest: the urlencoded form body (absent: none)
 * Beyond "no crash/leak": a response never carries CR/LF/NUL in a header
 * value, redirects stay inside the shop, and the status is one we serve.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "shop.h"
#include "shoputil.h"

#ifndef FE_TEMPLATE_DIR
#error FE_TEMPLATE_DIR must name the frontend's templates directory
#endif

static bool down;
static fe_cart cart; /* one shopper's cart, emptied before every input */

static int unavailable(ens_error_t *err)
{
    return ens_error(err, ECONNREFUSED, "rpc error: code = Unavailable desc = connection refused");
}

/* Any id of 1-16 ASCII letters/digits is a product; others are NotFound. */
static bool known_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 16)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z')))
            return false;
    return true;
}

static int fill_product(const char *id, fe_product *out)
{
    memset(out, 0, sizeof(*out));
    out->id = strdup(id);
    out->name = strdup("Thing <b>&amp;</b>");
    out->description = strdup("A \"fine\" thing");
    out->picture = strdup(id[0] == 'A' ? "/static/img/products/mug.jpg" : "/static/img/x.jpg");
    snprintf(out->price_usd.currency_code, sizeof(out->price_usd.currency_code), "USD");
    out->price_usd.units = (int64_t)strlen(id) * 7;
    out->price_usd.nanos = 990000000;
    out->categories = calloc(1, sizeof(char *));
    if (out->categories && (out->categories[0] = strdup("kitchen")))
        out->ncategories = 1;
    return 0;
}

static int f_currencies(void *ctx, fe_strv *out, ens_error_t *err)
{
    (void)ctx;
    if (down)
        return unavailable(err);
    static const char *const codes[] = {"EUR", "USD", "JPY", "BGN", "GBP", "TRY", "CAD"};
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        fe_strv_push(out, codes[i]);
    return 0;
}

static int f_list(void *ctx, fe_product **out, size_t *n, ens_error_t *err)
{
    (void)ctx;
    if (down)
        return unavailable(err);
    static const char *const ids[] = {"OLJCESPC7Z", "AUG8KRRGRA", "6E92ZMYYFZ"};
    *out = calloc(3, sizeof(fe_product));
    if (!*out)
        return ens_error(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < 3; i++)
        fill_product(ids[i], &(*out)[i]);
    *n = 3;
    return 0;
}

static int f_get(void *ctx, const char *id, fe_product *out, ens_error_t *err)
{
    (void)ctx;
    if (down)
        return unavailable(err);
    if (!known_id(id))
        return ens_error(err, ENOENT, "rpc error: code = NotFound desc = no product with ID %s", id);
    return fill_product(id, out);
}

static int f_get_cart(void *ctx, const char *user, fe_cart *out, ens_error_t *err)
{
    (void)ctx, (void)user;
    if (down)
        return unavailable(err);
    memset(out, 0, sizeof(*out));
    if (cart.n) {
        out->items = calloc(cart.n, sizeof(fe_cart_item));
        if (!out->items)
            return ens_error(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < cart.n; i++) {
            out->items[i].product_id = strdup(cart.items[i].product_id);
            out->items[i].quantity = cart.items[i].quantity;
        }
        out->n = cart.n;
    }
    return 0;
}

static int f_add(void *ctx, const char *user, const char *pid, int32_t q, ens_error_t *err)
{
    (void)ctx, (void)user;
    if (down)
        return unavailable(err);
    if (q < 1 || q > 10)
        abort(); /* the frontend validates the quantity before calling */
    fe_cart_item *items = realloc(cart.items, (cart.n + 1) * sizeof(fe_cart_item));
    if (!items)
        return ens_error(err, ENOMEM, "out of memory");
    cart.items = items;
    cart.items[cart.n].product_id = strdup(pid);
    cart.items[cart.n].quantity = q;
    cart.n++;
    return 0;
}

static int f_empty(void *ctx, const char *user, ens_error_t *err)
{
    (void)ctx, (void)user;
    if (down)
        return unavailable(err);
    fe_cart_clear(&cart);
    return 0;
}

static int f_convert(void *ctx, const fe_money *from, const char *to, fe_money *out, ens_error_t *err)
{
    (void)ctx;
    if (down)
        return unavailable(err);
    if (!fe_valid_iso4217(to))
        abort(); /* only validated currency codes reach the back end */
    *out = *from;
    snprintf(out->currency_code, sizeof(out->currency_code), "%s", to);
    return 0;
}

static int f_quote(void *ctx, const fe_cart_item *items, size_t n, fe_money *out, ens_error_t *err)
{
    (void)ctx, (void)items;
    if (down)
        return unavailable(err);
    memset(out, 0, sizeof(*out));
    snprintf(out->currency_code, sizeof(out->currency_code), "USD");
    out->units = n ? 8 : 0;
    out->nanos = n ? 990000000 : 0;
    return 0;
}

static int f_recs(void *ctx, const char *user, const fe_strv *ex, fe_strv *out, ens_error_t *err)
{
    (void)ctx, (void)user, (void)ex;
    if (down)
        return unavailable(err);
    memset(out, 0, sizeof(*out));
    fe_strv_push(out, "OLJCESPC7Z");
    fe_strv_push(out, "66VCHSJNUP");
    return 0;
}

static int f_ads(void *ctx, const fe_strv *keys, fe_ad **out, size_t *n, ens_error_t *err)
{
    (void)ctx, (void)keys;
    if (down)
        return unavailable(err);
    *out = calloc(2, sizeof(fe_ad));
    if (!*out)
        return ens_error(err, ENOMEM, "out of memory");
    (*out)[0].redirect_url = strdup("/product/6E92ZMYYFZ");
    (*out)[0].text = strdup("Mugs <half> price");
    (*out)[1].redirect_url = strdup("//evil.example/");
    (*out)[1].text = strdup("not linked");
    *n = 2;
    return 0;
}

static int f_order(void *ctx, const fe_order_request *r, fe_order_result *out, ens_error_t *err)
{
    (void)ctx;
    if (down)
        return unavailable(err);
    /* What the frontend promises to send after validation. */
    if (!fe_valid_email(r->email) || !fe_luhn(r->cc_number) || r->cc_month < 1 || r->cc_month > 12 ||
        !fe_valid_iso4217(r->user_currency))
        abort();
    if (r->cc_number[0] == '3')
        return ens_error(err, EIO, "rpc error: code = Internal desc = failed to charge card: amex");
    memset(out, 0, sizeof(*out));
    out->order_id = strdup("11111111-2222-4333-8444-555555555555");
    out->tracking_id = strdup("QK-41123-203456789");
    snprintf(out->shipping_cost.currency_code, sizeof(out->shipping_cost.currency_code), "%s", r->user_currency);
    out->shipping_cost.units = 8;
    out->shipping_cost.nanos = 990000000;
    out->items = calloc(1, sizeof(fe_order_item));
    if (out->items) {
        out->items[0].item.product_id = strdup("OLJCESPC7Z");
        out->items[0].item.quantity = 2;
        out->items[0].cost = out->shipping_cost;
        out->items[0].cost.units = 19;
        out->nitems = 1;
    }
    return 0;
}

static const fe_backend_ops fuzz_ops = {
    .supported_currencies = f_currencies, .list_products = f_list, .get_product = f_get,
    .get_cart = f_get_cart, .add_item = f_add, .empty_cart = f_empty, .convert = f_convert,
    .get_quote = f_quote, .list_recommendations = f_recs, .get_ads = f_ads, .place_order = f_order,
};

static bool has_static(const char *url) { return strcmp(url, "/static/img/products/mug.svg") == 0; }

static fe_app app;
static bool verbose;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* The frontend logs back-end failures to stdout: keep the fuzzer's output readable. */
    if (!freopen("/dev/null", "w", stdout))
        abort();
    ens_error_t err = NULL;
    verbose = getenv("FUZZ_FE_VERBOSE") != NULL;
    app.be.ops = &fuzz_ops;
    app.platform = fe_platform_normalize("gcp", &app.platform_name);
    app.frontend_message = "fuzzing <now>";
    app.has_static = has_static;
    app.templates = mst_set_new();
    if (!app.templates || mst_set_load_dir(app.templates, FE_TEMPLATE_DIR, &err) < 0) {
        fprintf(stderr, "fuzz_fe_request: %s\n", err ? ens_error_msg(err) : "out of memory");
        abort();
    }
    return 0;
}

static bool header_safe(const char *s)
{
    for (; s && *s; s++)
        if (*s == '\r' || *s == '\n')
            return false;
    return true;
}

static void check_response(const fe_request *req, const fe_response *r)
{
    static const int statuses[] = {200, 302, 404, 405, 422, 500};
    bool ok = false;
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
        ok |= r->status == statuses[i];
    if (!ok || !r->content_type || (r->body_len && !r->body))
        abort();
    if (r->status == 302) {
        const char *l = r->location;
        if (!l || !header_safe(l))
            abort();
        /* A redirect goes to a path of this shop or to a Referer of the same host. */
        if (l[0] == '/' && (l[1] == '/' || l[1] == '\\'))
            abort();
        if (l[0] != '/') {
            const char *rest = strncmp(l, "http://", 7) == 0 ? l + 7 : strncmp(l, "https://", 8) == 0 ? l + 8 : NULL;
            /* An absolute URL only to the request's own, non-empty Host ("http:///x" is x to a browser). */
            size_t hl = req->host ? strlen(req->host) : 0;
            if (!rest || hl == 0 || strncmp(rest, req->host, hl) != 0 || (rest[hl] != '/' && rest[hl] != '\0'))
                abort();
        }
    }
    for (size_t i = 0; i < r->set_cookie.n; i++)
        if (!header_safe(r->set_cookie.v[i]))
            abort();
}

/* The shoputil parsers on every form value and cookie of the input. */
static void cookie_name_cb(const char *name, void *arg)
{
    (void)arg;
    if (!*name || !header_safe(name) || strchr(name, ';') || strchr(name, '='))
        abort();
}

static void fuzz_helpers(const char *cookie, const char *body)
{
    if (cookie) {
        static const char *const names[] = {"shop_session-id", "shop_currency", "", "a"};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            char *v = fe_cookie_get(cookie, names[i]);
            if (v && strchr(v, ';'))
                abort(); /* a value never spans two cookies */
            free(v);
        }
        fe_cookie_names(cookie, cookie_name_cb, NULL);
    }
    if (!body)
        return;
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    if (evhttp_parse_query_str(body, &q) == 0) {
        struct evkeyval *kv;
        TAILQ_FOREACH(kv, &q, next) {
            const char *v = kv->value;
            int32_t n;
            (void)fe_valid_email(v);
            (void)fe_luhn(v);
            (void)fe_parse_int32(v, &n);
            if (fe_valid_iso4217(v) && (strlen(v) != 3 || !fe_currency_symbol(v)))
                abort();
            if (fe_valid_card_number(v)) {
                char digits[32];
                size_t nd = 0;
                for (const char *c = v; *c; c++)
                    if (*c != ' ' && nd < sizeof(digits) - 1)
                        digits[nd++] = *c;
                digits[nd] = '\0';
                if (nd < 12 || nd > 19 || !fe_luhn(digits))
                    abort();
            }
        }
    }
    evhttp_clear_headers(&q);
}

/* A missing line or "-" is an absent header; an empty line an empty one. */
static const char *header(const char *f) { return f && strcmp(f, "-") != 0 ? f : NULL; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    if (strlen(buf) != size) { /* headers and bodies reach the handler as C strings */
        free(buf);
        return 0;
    }
    /* flags, method, path, cookie, referer, host: one a line; the rest is the body. */
    char *field[7] = {0};
    char *p = buf;
    for (int i = 0; i < 7 && p; i++) {
        field[i] = p;
        if (i == 6)
            break; /* the body keeps its newlines */
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        p = nl ? nl + 1 : NULL;
    }
    int flags = atoi(field[0]);
    app.single_shared_session = flags & 1;
    app.base_url = (flags & 2) ? "/shop" : "";
    down = flags & 4;
    fe_cart_clear(&cart);

    fe_request req = {
        .method = field[1] ? field[1] : "GET",
        .path = field[2] ? field[2] : "/",
        .cookie = header(field[3]),
        .referer = header(field[4]),
        .host = header(field[5]),
        .body = field[6],
    };
    fuzz_helpers(req.cookie, req.body);
    (void)fe_route_is_local(req.path);
    fe_response resp;
    fe_handle(&app, &req, &resp);
    check_response(&req, &resp);
    if (verbose) /* FUZZ_FE_VERBOSE=1: what each input got (to see the seeds reach the pages) */
        fprintf(stderr, "%s %s -> %d %s (%zu bytes)\n", req.method, req.path, resp.status,
                resp.location ? resp.location : "", resp.body_len);
    /* A POST to the cart may have filled it: the cart page must then render too. */
    if (cart.n) {
        fe_response_clear(&resp);
        fe_request view = req;
        view.method = "GET";
        view.path = "/cart";
        view.body = NULL;
        fe_handle(&app, &view, &resp);
        check_response(&view, &resp);
    }
    fe_response_clear(&resp);
    free(buf);
    return 0;
}
