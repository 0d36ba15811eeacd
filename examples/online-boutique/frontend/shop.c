/* SPDX-License-Identifier: Apache-2.0 */
/* Routes, sessions, forms and pages of the shop (spec/boutique.md, "Frontend"). */
#include "shop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "core/cleanup.h"
#include "crypto/digest.h"
#include "shoputil.h"

#define COOKIE_SESSION "shop_session-id"
#define COOKIE_CURRENCY "shop_currency"
#define COOKIE_MAX_AGE 172800
#define SHARED_SESSION_ID "12345678-1234-1234-1234-123456789123"
#define MAX_RECOMMENDATIONS 4

/* The currencies the selector offers, shown in the currency service's order. */
static const char *const whitelisted_currencies[] = {"USD", "EUR", "CAD", "JPY", "GBP", "TRY"};

struct page {
    fe_app *app;
    const fe_request *req;
    fe_response *resp;
    char session[257];
    char request_id[37];
    char currency[4];
    struct evkeyvalq form;
    bool form_parsed;
    json_t *data;
};

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 302: return "Found";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 422: return "Unprocessable Entity";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

const char *fe_platform_normalize(const char *env, const char **display_name)
{
    static const struct {
        const char *key, *name;
    } platforms[] = {
        {"local", "a local machine"}, {"gcp", "Google Cloud"},     {"azure", "Microsoft Azure"},
        {"aws", "Amazon Web Services"}, {"onprem", "on-premises servers"}, {"alibaba", "Alibaba Cloud"},
    };
    for (size_t i = 0; env && i < sizeof(platforms) / sizeof(platforms[0]); i++) {
        if (strcmp(env, platforms[i].key) == 0) {
            if (display_name)
                *display_name = platforms[i].name;
            return platforms[i].key;
        }
    }
    if (display_name)
        *display_name = platforms[0].name;
    return platforms[0].key;
}

bool fe_route_is_local(const char *path)
{
    return strcmp(path, "/_healthz") == 0 || strcmp(path, "/robots.txt") == 0;
}

void fe_response_clear(fe_response *resp)
{
    free(resp->location);
    free(resp->body);
    fe_strv_clear(&resp->set_cookie);
    memset(resp, 0, sizeof(*resp));
}

static void set_text(fe_response *resp, int status, const char *text)
{
    free(resp->body);
    resp->status = status;
    resp->content_type = "text/plain; charset=utf-8";
    resp->body = strdup(text);
    resp->body_len = resp->body ? strlen(resp->body) : 0;
}

static void add_cookie(fe_response *resp, const char *name, const char *value, int max_age)
{
    char buf[512];
    if (max_age > 0)
        /* HttpOnly: no script needs them; SameSite=Lax: another site's form
         * posts arrive without them (a cheap guard against cross-site posts). */
        snprintf(buf, sizeof(buf), "%s=%s; Max-Age=%d; Path=/; HttpOnly; SameSite=Lax", name, value, max_age);
    else /* expire now, in both the new and the old way */
        snprintf(buf, sizeof(buf), "%s=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/", name);
    fe_strv_push(&resp->set_cookie, buf);
}

static void redirect(struct page *p, const char *where)
{
    p->resp->status = 302;
    free(p->resp->location);
    if (where[0] == '/' && where[1] != '/' && where[1] != '\\') {
        size_t n = strlen(p->app->base_url) + strlen(where) + 1;
        p->resp->location = malloc(n);
        if (p->resp->location)
            snprintf(p->resp->location, n, "%s%s", p->app->base_url, where);
    } else {
        p->resp->location = strdup(where);
    }
    p->resp->content_type = "text/plain; charset=utf-8";
    free(p->resp->body);
    p->resp->body = NULL;
    p->resp->body_len = 0;
}

/* Values every page shows: session and request ids, platform, banner, currency. */
static json_t *base_data(struct page *p)
{
    json_t *d = json_object();
    json_object_set_new(d, "base_url", json_string(p->app->base_url));
    json_object_set_new(d, "session_id", json_string(p->session));
    json_object_set_new(d, "request_id", json_string(p->request_id));
    json_object_set_new(d, "user_currency", json_string(p->currency));
    json_object_set_new(d, "platform", json_string(p->app->platform));
    json_object_set_new(d, "platform_name", json_string(p->app->platform_name));
    if (p->app->frontend_message && *p->app->frontend_message)
        json_object_set_new(d, "frontend_message", json_string(p->app->frontend_message));
    json_object_set_new(d, "cart_size", json_integer(0));
    return d;
}

static void render(struct page *p, const char *tmpl, int status)
{
    _cleanup_error_ ens_error_t err = NULL;
    char *out = NULL;
    size_t len = 0;
    json_object_set_new(p->data, "status_code", json_integer(status));
    if (mst_render(p->app->templates, tmpl, p->data, &out, &len, &err) < 0) {
        fe_logf("error", "%s", ens_error_msg(err));
        set_text(p->resp, 500, "internal error: the page could not be rendered\n");
        return;
    }
    free(p->resp->body);
    p->resp->status = status;
    p->resp->content_type = "text/html; charset=utf-8";
    p->resp->body = out;
    p->resp->body_len = len;
}

static void error_page(struct page *p, int status, const char *what, const char *detail)
{
    json_decref(p->data);
    p->data = base_data(p);
    char title[64];
    snprintf(title, sizeof(title), "%d %s", status, status_text(status));
    json_object_set_new(p->data, "status_title", json_string(title));
    json_object_set_new(p->data, "page_title", json_string(title));
    json_object_set_new(p->data, "error_what", json_string(what));
    if (detail)
        json_object_set_new(p->data, "error_detail", json_string(detail));
    if (status >= 500)
        fe_logf("error", "request %s: %s: %s", p->request_id, what, detail ? detail : "");
    render(p, "error", status);
}

static void invalid_form(struct page *p, json_t *problems)
{
    json_decref(p->data);
    p->data = base_data(p);
    json_object_set_new(p->data, "status_title", json_string("422 Unprocessable Entity"));
    json_object_set_new(p->data, "page_title", json_string("422 Unprocessable Entity"));
    json_object_set_new(p->data, "error_what", json_string("some fields of the form are not valid"));
    json_t *pr = json_object();
    json_object_set_new(pr, "items", problems);
    json_object_set_new(p->data, "problems", pr);
    render(p, "error", 422);
}

static void backend_error(struct page *p, const char *what, ens_error_t *err)
{
    error_page(p, 500, what, ens_error_msg(*err));
}

static char *with_base(struct page *p, const char *path)
{
    size_t n = strlen(p->app->base_url) + strlen(path) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s", p->app->base_url, path);
    return s;
}

static json_t *money_json(const fe_money *m)
{
    char buf[96];
    fe_money_format(m, buf, sizeof(buf));
    return json_string(buf);
}

/* The catalog names upstream's pictures (".jpg"); ours are drawn as SVG. */
static char *picture_url(struct page *p, const char *pic)
{
    if (!pic)
        pic = "";
    const char *dot = strrchr(pic, '.');
    if (p->app->has_static && dot && !strchr(dot, '/') && !p->app->has_static(pic)) {
        size_t stem = (size_t)(dot - pic);
        char alt[512];
        if (stem + 5 < sizeof(alt)) {
            memcpy(alt, pic, stem);
            memcpy(alt + stem, ".svg", 5);
            if (p->app->has_static(alt))
                return with_base(p, alt);
        }
    }
    return with_base(p, pic);
}

static json_t *product_json(struct page *p, const fe_product *pr, const fe_money *price)
{
    json_t *o = json_object();
    _cleanup_free_ char *pic = picture_url(p, pr->picture);
    json_object_set_new(o, "id", json_string(pr->id ? pr->id : ""));
    json_object_set_new(o, "name", json_string(pr->name ? pr->name : ""));
    json_object_set_new(o, "description", json_string(pr->description ? pr->description : ""));
    json_object_set_new(o, "picture", json_string(pic ? pic : ""));
    if (price)
        json_object_set_new(o, "price", money_json(price));
    json_t *cats = json_array();
    for (size_t i = 0; i < pr->ncategories; i++)
        json_array_append_new(cats, json_string(pr->categories[i]));
    json_object_set_new(o, "categories", cats);
    return o;
}

/* Currency list for the selector and the cart badge: shown on the shop pages. */
static int add_header_data(struct page *p, const fe_cart *cart, ens_error_t *err)
{
    fe_strv cur = {0};
    if (p->app->be.ops->supported_currencies(p->app->be.ctx, &cur, err) < 0)
        return ens_error_wrap(err, "could not retrieve currencies");
    json_t *list = json_array();
    for (size_t i = 0; i < cur.n; i++) {
        bool ok = false;
        for (size_t j = 0; j < sizeof(whitelisted_currencies) / sizeof(whitelisted_currencies[0]); j++)
            ok |= strcmp(cur.v[i], whitelisted_currencies[j]) == 0;
        if (!ok)
            continue;
        json_t *c = json_object();
        json_object_set_new(c, "code", json_string(cur.v[i]));
        json_object_set_new(c, "symbol", json_string(fe_currency_symbol(cur.v[i])));
        json_object_set_new(c, "selected", json_boolean(strcmp(cur.v[i], p->currency) == 0));
        json_array_append_new(list, c);
    }
    fe_strv_clear(&cur);
    json_object_set_new(p->data, "currencies", list);
    json_object_set_new(p->data, "show_currency", json_true());
    long long size = 0;
    for (size_t i = 0; i < cart->n; i++)
        size += cart->items[i].quantity;
    json_object_set_new(p->data, "cart_size", json_integer(size));
    return 0;
}

static int convert(struct page *p, const fe_money *from, fe_money *out, ens_error_t *err)
{
    if (strcmp(from->currency_code, p->currency) == 0) {
        *out = *from; /* no round trip for the same currency */
        return 0;
    }
    if (p->app->be.ops->convert(p->app->be.ctx, from, p->currency, out, err) < 0)
        return ens_error_wrap(err, "failed to convert currency");
    return 0;
}

/* Up to four recommended products (picture, name, link). */
static int add_recommendations(struct page *p, const fe_strv *exclude, ens_error_t *err)
{
    fe_strv ids = {0};
    if (p->app->be.ops->list_recommendations(p->app->be.ctx, p->session, exclude, &ids, err) < 0)
        return ens_error_wrap(err, "failed to get product recommendations");
    json_t *list = json_array();
    json_t *rec = json_object();
    json_object_set_new(rec, "items", list);
    json_object_set_new(p->data, "recommendations", rec);
    for (size_t i = 0; i < ids.n && i < MAX_RECOMMENDATIONS; i++) {
        fe_product pr = {0};
        if (p->app->be.ops->get_product(p->app->be.ctx, ids.v[i], &pr, err) < 0) {
            fe_strv_clear(&ids);
            return ens_error_wrap(err, "failed to get recommended product %s", ids.v[i]);
        }
        json_array_append_new(list, product_json(p, &pr, NULL));
        fe_product_clear(&pr);
    }
    fe_strv_clear(&ids);
    if (json_array_size(list) == 0)
        json_object_del(p->data, "recommendations");
    return 0;
}

/* One ad for the given categories; failures only lose the ad. */
static void add_ad(struct page *p, const fe_strv *keys)
{
    _cleanup_error_ ens_error_t err = NULL;
    fe_ad *ads = NULL;
    size_t n = 0;
    if (p->app->be.ops->get_ads(p->app->be.ctx, keys, &ads, &n, &err) < 0) {
        fe_logf("warning", "request %s: failed to retrieve ads: %s", p->request_id, ens_error_msg(err));
        return;
    }
    if (n > 0) {
        uint32_t r = 0;
        _cleanup_error_ ens_error_t rerr = NULL;
        (void)ens_random(&r, sizeof(r), &rerr);
        fe_ad *ad = &ads[r % n];
        json_t *o = json_object();
        json_object_set_new(o, "text", json_string(ad->text ? ad->text : ""));
        /* Ads point into the shop ("/product/<id>"); anything else is not linked. */
        if (ad->redirect_url && ad->redirect_url[0] == '/' && ad->redirect_url[1] != '/') {
            _cleanup_free_ char *url = with_base(p, ad->redirect_url);
            json_object_set_new(o, "redirect_url", json_string(url ? url : ""));
        }
        json_object_set_new(p->data, "ad", o);
    }
    fe_ads_free(ads, n);
}

static void home(struct page *p)
{
    _cleanup_error_ ens_error_t err = NULL;
    const fe_backend *be = &p->app->be;
    fe_cart cart = {0};
    fe_product *products = NULL;
    size_t n = 0;
    if (be->ops->get_cart(be->ctx, p->session, &cart, &err) < 0) {
        ens_error_wrap(&err, "could not retrieve cart");
        goto fail;
    }
    if (add_header_data(p, &cart, &err) < 0)
        goto fail;
    if (be->ops->list_products(be->ctx, &products, &n, &err) < 0) {
        ens_error_wrap(&err, "could not retrieve products");
        goto fail;
    }
    json_t *list = json_array();
    json_object_set_new(p->data, "products", list);
    for (size_t i = 0; i < n; i++) {
        fe_money price;
        if (convert(p, &products[i].price_usd, &price, &err) < 0)
            goto fail;
        json_array_append_new(list, product_json(p, &products[i], &price));
    }
    add_ad(p, &(fe_strv){0});
    json_object_set_new(p->data, "page_home", json_true());
    render(p, "home", 200);
    fe_products_free(products, n);
    fe_cart_clear(&cart);
    return;
fail:
    fe_products_free(products, n);
    fe_cart_clear(&cart);
    backend_error(p, "could not load the home page", &err);
}

static void product(struct page *p, const char *raw_id)
{
    _cleanup_error_ ens_error_t err = NULL;
    const fe_backend *be = &p->app->be;
    _cleanup_free_ char *id = evhttp_uridecode(raw_id, 0, NULL);
    fe_product pr = {0};
    fe_cart cart = {0};
    if (!id || !*id) {
        error_page(p, 404, "no product given", NULL);
        return;
    }
    if (be->ops->get_product(be->ctx, id, &pr, &err) < 0) {
        ens_error_wrap(&err, "could not retrieve product");
        goto fail;
    }
    if (be->ops->get_cart(be->ctx, p->session, &cart, &err) < 0) {
        ens_error_wrap(&err, "could not retrieve cart");
        goto fail;
    }
    if (add_header_data(p, &cart, &err) < 0)
        goto fail;
    fe_money price;
    if (convert(p, &pr.price_usd, &price, &err) < 0)
        goto fail;
    json_object_set_new(p->data, "product", product_json(p, &pr, &price));
    json_object_set_new(p->data, "page_title", json_string(pr.name ? pr.name : ""));
    fe_strv self = {.v = &id, .n = 1};
    if (add_recommendations(p, &self, &err) < 0)
        goto fail;
    fe_strv cats = {.v = pr.categories, .n = pr.ncategories};
    add_ad(p, &cats);
    json_t *qty = json_array();
    static const int quantities[] = {1, 2, 3, 4, 5, 10};
    for (size_t i = 0; i < sizeof(quantities) / sizeof(quantities[0]); i++)
        json_array_append_new(qty, json_integer(quantities[i]));
    json_object_set_new(p->data, "quantities", qty);
    render(p, "product", 200);
    fe_product_clear(&pr);
    fe_cart_clear(&cart);
    return;
fail:
    fe_product_clear(&pr);
    fe_cart_clear(&cart);
    backend_error(p, "could not show the product", &err);
}

static void view_cart(struct page *p)
{
    _cleanup_error_ ens_error_t err = NULL;
    const fe_backend *be = &p->app->be;
    fe_cart cart = {0};
    fe_strv ids = {0};
    if (be->ops->get_cart(be->ctx, p->session, &cart, &err) < 0) {
        ens_error_wrap(&err, "could not retrieve cart");
        goto fail;
    }
    if (add_header_data(p, &cart, &err) < 0)
        goto fail;
    for (size_t i = 0; i < cart.n; i++)
        fe_strv_push(&ids, cart.items[i].product_id);
    if (add_recommendations(p, &ids, &err) < 0)
        goto fail;
    fe_money quote, shipping;
    if (be->ops->get_quote(be->ctx, cart.items, cart.n, &quote, &err) < 0) {
        ens_error_wrap(&err, "failed to get shipping quote");
        goto fail;
    }
    if (convert(p, &quote, &shipping, &err) < 0)
        goto fail;
    fe_money total = {.units = 0, .nanos = 0};
    snprintf(total.currency_code, sizeof(total.currency_code), "%s", p->currency);
    json_t *items = json_array();
    json_object_set_new(p->data, "items", items);
    for (size_t i = 0; i < cart.n; i++) {
        fe_product pr = {0};
        if (be->ops->get_product(be->ctx, cart.items[i].product_id, &pr, &err) < 0) {
            ens_error_wrap(&err, "could not retrieve product #%s", cart.items[i].product_id);
            goto fail;
        }
        fe_money unit, line;
        int r = convert(p, &pr.price_usd, &unit, &err);
        if (r == 0)
            r = fe_money_multiply(&unit, (uint32_t)(cart.items[i].quantity > 0 ? cart.items[i].quantity : 0),
                                  &line, &err);
        if (r == 0)
            r = fe_money_sum(&total, &line, &total, &err);
        if (r < 0) {
            fe_product_clear(&pr);
            goto fail;
        }
        json_t *o = product_json(p, &pr, &unit);
        json_object_set_new(o, "quantity", json_integer(cart.items[i].quantity));
        json_object_set_new(o, "line_price", money_json(&line));
        json_array_append_new(items, o);
        fe_product_clear(&pr);
    }
    if (fe_money_sum(&total, &shipping, &total, &err) < 0)
        goto fail;
    json_object_set_new(p->data, "shipping_cost", money_json(&shipping));
    json_object_set_new(p->data, "total_cost", money_json(&total));
    json_object_set_new(p->data, "has_items", json_boolean(cart.n > 0));
    /* The checkout form: pre-filled demo values, expiry years from this year on. */
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    json_t *years = json_array();
    for (int y = 0; y < 5; y++) {
        json_t *o = json_object();
        json_object_set_new(o, "year", json_integer(tm.tm_year + 1900 + y));
        json_object_set_new(o, "selected", json_boolean(y == 1));
        json_array_append_new(years, o);
    }
    json_object_set_new(p->data, "expiration_years", years);
    json_t *months = json_array();
    for (int m = 1; m <= 12; m++) {
        json_t *o = json_object();
        json_object_set_new(o, "month", json_integer(m));
        json_object_set_new(o, "selected", json_boolean(m == 1));
        json_array_append_new(months, o);
    }
    json_object_set_new(p->data, "expiration_months", months);
    json_object_set_new(p->data, "page_title", json_string("Cart"));
    render(p, "cart", 200);
    fe_cart_clear(&cart);
    fe_strv_clear(&ids);
    return;
fail:
    fe_cart_clear(&cart);
    fe_strv_clear(&ids);
    backend_error(p, "could not show the cart", &err);
}

static const char *form_get(struct page *p, const char *key)
{
    if (!p->form_parsed) {
        TAILQ_INIT(&p->form);
        p->form_parsed = true;
        if (p->req->body && evhttp_parse_query_str(p->req->body, &p->form) < 0) {
            evhttp_clear_headers(&p->form);
            TAILQ_INIT(&p->form);
        }
    }
    return evhttp_find_header(&p->form, key);
}

static void add_to_cart(struct page *p)
{
    _cleanup_error_ ens_error_t err = NULL;
    const fe_backend *be = &p->app->be;
    const char *pid = form_get(p, "product_id");
    const char *qs = form_get(p, "quantity");
    int32_t qty = 0;
    json_t *problems = json_array();
    if (!pid || !*pid)
        json_array_append_new(problems, json_string("Field 'product_id' is invalid: required"));
    if (!qs || !fe_parse_int32(qs, &qty) || qty < 1 || qty > 10)
        json_array_append_new(problems, json_string("Field 'quantity' is invalid: must be between 1 and 10"));
    if (json_array_size(problems) > 0) {
        invalid_form(p, problems);
        return;
    }
    json_decref(problems);
    fe_product pr = {0};
    if (be->ops->get_product(be->ctx, pid, &pr, &err) < 0) {
        ens_error_wrap(&err, "could not retrieve product");
        backend_error(p, "could not add the product to the cart", &err);
        return;
    }
    fe_product_clear(&pr);
    if (be->ops->add_item(be->ctx, p->session, pid, qty, &err) < 0) {
        ens_error_wrap(&err, "failed to add to cart");
        backend_error(p, "could not add the product to the cart", &err);
        return;
    }
    redirect(p, "/cart");
}

static void empty_cart(struct page *p)
{
    _cleanup_error_ ens_error_t err = NULL;
    if (p->app->be.ops->empty_cart(p->app->be.ctx, p->session, &err) < 0) {
        ens_error_wrap(&err, "failed to empty cart");
        backend_error(p, "could not empty the cart", &err);
        return;
    }
    redirect(p, "/");
}

/* Only a Referer pointing back into this shop (relative, or same Host) is
 * followed, so /setCurrency cannot be used as an open redirect. */
static bool referer_ok(const fe_request *req)
{
    const char *r = req->referer;
    if (!r || !*r)
        return false;
    for (const char *c = r; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return false;
    if (r[0] == '/')
        return r[1] != '/' && r[1] != '\\';
    const char *rest = NULL;
    if (strncmp(r, "http://", 7) == 0)
        rest = r + 7;
    else if (strncmp(r, "https://", 8) == 0)
        rest = r + 8;
    /* An empty Host would let "http:///evil.example/" through, which browsers read as evil.example. */
    if (!rest || !req->host || !*req->host)
        return false;
    size_t hl = strlen(req->host);
    return strncmp(rest, req->host, hl) == 0 && (rest[hl] == '/' || rest[hl] == '\0');
}

static void set_currency(struct page *p)
{
    const char *code = form_get(p, "currency_code");
    if (!code || !fe_valid_iso4217(code)) {
        json_t *problems = json_array();
        json_array_append_new(problems, json_string("Field 'currency_code' is invalid: iso4217"));
        invalid_form(p, problems);
        return;
    }
    add_cookie(p->resp, COOKIE_CURRENCY, code, COOKIE_MAX_AGE);
    if (referer_ok(p->req)) {
        p->resp->status = 302;
        p->resp->location = strdup(p->req->referer);
        p->resp->content_type = "text/plain; charset=utf-8";
    } else {
        redirect(p, "/");
    }
}

struct checkout_form {
    const char *email, *street, *city, *state, *country, *card;
    int32_t zip, month, year, cvv;
};

static void check_text(json_t *problems, const char *field, const char *v, size_t max)
{
    char buf[160];
    if (!v || !*v) {
        snprintf(buf, sizeof(buf), "Field '%s' is invalid: required", field);
        json_array_append_new(problems, json_string(buf));
    } else if (strlen(v) > max) {
        snprintf(buf, sizeof(buf), "Field '%s' is invalid: longer than %zu characters", field, max);
        json_array_append_new(problems, json_string(buf));
    }
}

static void check_int(json_t *problems, const char *field, const char *v, int32_t *out, int32_t lo, int32_t hi)
{
    char buf[160];
    *out = 0;
    if (!v || !fe_parse_int32(v, out) || *out == 0) {
        snprintf(buf, sizeof(buf), "Field '%s' is invalid: required (a non-zero number)", field);
        json_array_append_new(problems, json_string(buf));
    } else if (*out < lo || *out > hi) {
        snprintf(buf, sizeof(buf), "Field '%s' is invalid: must be between %d and %d", field, lo, hi);
        json_array_append_new(problems, json_string(buf));
    }
}

static void checkout(struct page *p)
{
    _cleanup_error_ ens_error_t err = NULL;
    const fe_backend *be = &p->app->be;
    struct checkout_form f = {
        .email = form_get(p, "email"),
        .street = form_get(p, "street_address"),
        .city = form_get(p, "city"),
        .state = form_get(p, "state"),
        .country = form_get(p, "country"),
        .card = form_get(p, "credit_card_number"),
    };
    json_t *problems = json_array();
    if (!f.email || !*f.email)
        json_array_append_new(problems, json_string("Field 'email' is invalid: required"));
    else if (!fe_valid_email(f.email))
        json_array_append_new(problems, json_string("Field 'email' is invalid: not an email address"));
    check_text(problems, "street_address", f.street, 512);
    check_int(problems, "zip_code", form_get(p, "zip_code"), &f.zip, INT32_MIN, INT32_MAX);
    check_text(problems, "city", f.city, 128);
    check_text(problems, "state", f.state, 128);
    check_text(problems, "country", f.country, 128);
    if (!f.card || !*f.card)
        json_array_append_new(problems, json_string("Field 'credit_card_number' is invalid: required"));
    else if (!fe_valid_card_number(f.card))
        json_array_append_new(problems,
                              json_string("Field 'credit_card_number' is invalid: not a valid card number"));
    check_int(problems, "credit_card_expiration_month", form_get(p, "credit_card_expiration_month"), &f.month, 1,
              12);
    check_int(problems, "credit_card_expiration_year", form_get(p, "credit_card_expiration_year"), &f.year,
              INT32_MIN, INT32_MAX);
    check_int(problems, "credit_card_cvv", form_get(p, "credit_card_cvv"), &f.cvv, INT32_MIN, INT32_MAX);
    if (json_array_size(problems) > 0) {
        invalid_form(p, problems);
        return;
    }
    json_decref(problems);

    /* The card number goes to the payment service without the group spaces. */
    char digits[20];
    size_t nd = 0;
    for (const char *c = f.card; *c && nd < sizeof(digits) - 1; c++)
        if (*c != ' ')
            digits[nd++] = *c;
    digits[nd] = '\0';
    fe_order_request oreq = {
        .user_id = p->session,
        .user_currency = p->currency,
        .email = f.email,
        .address = {.street_address = f.street, .city = f.city, .state = f.state, .country = f.country,
                    .zip_code = f.zip},
        .cc_number = digits,
        .cc_cvv = f.cvv,
        .cc_year = f.year,
        .cc_month = f.month,
    };
    fe_order_result order = {0};
    fe_cart cart = {0};
    if (be->ops->place_order(be->ctx, &oreq, &order, &err) < 0) {
        ens_error_wrap(&err, "failed to complete the order");
        goto fail;
    }
    /* After the order the cart is empty: the badge shows 0 without asking. */
    if (add_header_data(p, &cart, &err) < 0)
        goto fail;
    if (add_recommendations(p, &(fe_strv){0}, &err) < 0)
        goto fail;
    fe_money total = order.shipping_cost;
    if (!total.currency_code[0])
        snprintf(total.currency_code, sizeof(total.currency_code), "%s", p->currency);
    json_t *items = json_array();
    for (size_t i = 0; i < order.nitems; i++) {
        fe_money line;
        if (fe_money_multiply(&order.items[i].cost, (uint32_t)(order.items[i].item.quantity > 0
                                                                    ? order.items[i].item.quantity
                                                                    : 0),
                              &line, &err) < 0 ||
            fe_money_sum(&total, &line, &total, &err) < 0) {
            json_decref(items);
            ens_error_wrap(&err, "order total");
            goto fail;
        }
        json_t *o = json_object();
        json_object_set_new(o, "product_id", json_string(order.items[i].item.product_id ? order.items[i].item.product_id : ""));
        json_object_set_new(o, "quantity", json_integer(order.items[i].item.quantity));
        json_object_set_new(o, "line_price", money_json(&line));
        json_array_append_new(items, o);
    }
    json_t *o = json_object();
    json_object_set_new(o, "order_id", json_string(order.order_id ? order.order_id : ""));
    json_object_set_new(o, "tracking_id", json_string(order.tracking_id ? order.tracking_id : ""));
    json_object_set_new(o, "shipping_cost", money_json(&order.shipping_cost));
    json_object_set_new(o, "total_paid", money_json(&total));
    json_object_set_new(o, "items", items);
    json_object_set_new(p->data, "order", o);
    json_object_set_new(p->data, "page_title", json_string("Order complete"));
    render(p, "order", 200);
    fe_order_result_clear(&order);
    return;
fail:
    fe_order_result_clear(&order);
    backend_error(p, "could not place the order", &err);
}

struct expire_ctx {
    fe_response *resp;
};

static void expire_cookie(const char *name, void *arg)
{
    add_cookie(((struct expire_ctx *)arg)->resp, name, NULL, 0);
}

static void logout(struct page *p)
{
    /* Forget the freshly minted session too: logout ends with no cookies. */
    fe_strv_clear(&p->resp->set_cookie);
    struct expire_ctx ec = {p->resp};
    fe_cookie_names(p->req->cookie, expire_cookie, &ec);
    redirect(p, "/");
}

static bool session_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 256)
        return false;
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == ';' || *c == ',' || *c == '"' || *c == '\\')
            return false;
    return true;
}

static bool is(const fe_request *req, const char *m) { return strcmp(req->method, m) == 0; }

void fe_handle(fe_app *app, const fe_request *req, fe_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    const char *path = req->path;
    if (strcmp(path, "/_healthz") == 0) {
        set_text(resp, 200, "ok");
        return;
    }
    if (strcmp(path, "/robots.txt") == 0) {
        set_text(resp, 200, "User-agent: *\nDisallow: /\n");
        return;
    }

    struct page p = {.app = app, .req = req, .resp = resp};
    _cleanup_error_ ens_error_t err = NULL;
    if (fe_uuid4(p.request_id, &err) < 0) {
        set_text(resp, 500, "internal error: no randomness\n");
        return;
    }
    /* Session: the cookie, else a new id (which is also the cart's user id). */
    _cleanup_free_ char *sid = fe_cookie_get(req->cookie, COOKIE_SESSION);
    if (app->single_shared_session) {
        snprintf(p.session, sizeof(p.session), "%s", SHARED_SESSION_ID);
    } else if (sid && session_ok(sid)) {
        snprintf(p.session, sizeof(p.session), "%s", sid);
    } else {
        char id[37];
        if (fe_uuid4(id, &err) < 0) {
            set_text(resp, 500, "internal error: no randomness\n");
            return;
        }
        snprintf(p.session, sizeof(p.session), "%s", id);
        add_cookie(resp, COOKIE_SESSION, id, COOKIE_MAX_AGE);
    }
    _cleanup_free_ char *cur = fe_cookie_get(req->cookie, COOKIE_CURRENCY);
    snprintf(p.currency, sizeof(p.currency), "%s", cur && fe_valid_iso4217(cur) ? cur : "USD");
    p.data = base_data(&p);

    bool get = is(req, "GET") || is(req, "HEAD"), post = is(req, "POST");
    bool known = true, allowed = true;
    if (strcmp(path, "/") == 0) {
        if ((allowed = get))
            home(&p);
    } else if (strncmp(path, "/product/", 9) == 0 && path[9] && !strchr(path + 9, '/')) {
        if ((allowed = get))
            product(&p, path + 9);
    } else if (strcmp(path, "/cart") == 0) {
        if (get)
            view_cart(&p);
        else if (post)
            add_to_cart(&p);
        else
            allowed = false;
    } else if (strcmp(path, "/cart/empty") == 0) {
        if ((allowed = post))
            empty_cart(&p);
    } else if (strcmp(path, "/setCurrency") == 0) {
        if ((allowed = post))
            set_currency(&p);
    } else if (strcmp(path, "/cart/checkout") == 0) {
        if ((allowed = post))
            checkout(&p);
    } else if (strcmp(path, "/logout") == 0) {
        if ((allowed = get || post))
            logout(&p);
    } else {
        known = false;
    }
    if (!known)
        error_page(&p, 404, "there is no such page", NULL);
    else if (!allowed)
        error_page(&p, 405, "this page does not accept that method", NULL);
    if (p.form_parsed)
        evhttp_clear_headers(&p.form);
    json_decref(p.data);
}
