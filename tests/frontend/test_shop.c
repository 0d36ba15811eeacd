/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the frontend's routes, forms and pages (shop.h) against an
 * in-memory fake of the back ends, and of its money/validation helpers.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shop.h"
#include "shoputil.h"

/* ---- the fake back ends ---- */

static const struct {
    const char *id, *name, *cat;
    int64_t units;
    int32_t nanos;
} catalog[] = {
    {"OLJCESPC7Z", "Sunglasses", "accessories", 19, 990000000},
    {"66VCHSJNUP", "Tank Top", "clothing", 18, 990000000},
    {"1YMWWN1N4O", "Watch", "accessories", 109, 990000000},
    {"L9ECAV7KIM", "Loafers", "footwear", 89, 990000000},
    {"2ZYFJ3GM2N", "Hairdryer", "hair", 24, 990000000},
    {"0PUK6V6EV0", "Candle Holder", "decor", 18, 990000000},
    {"LS4PSXUNUM", "Salt & Pepper Shakers", "kitchen", 18, 490000000},
    {"9SIQT8TOJO", "Bamboo Glass Jar", "kitchen", 5, 490000000},
    {"6E92ZMYYFZ", "Mug", "kitchen", 8, 990000000},
};
#define NCAT (sizeof(catalog) / sizeof(catalog[0]))

static struct {
    pthread_mutex_t lock;
    char user[64];
    fe_cart cart;
    bool down;          /* every call fails UNAVAILABLE */
    fe_order_request last_order;
    char last_card[32];
} fake = {.lock = PTHREAD_MUTEX_INITIALIZER};

#define DOWN_CHECK(err)                                                                                      \
    do {                                                                                                     \
        if (fake.down)                                                                                       \
            return ens_error(err, ECONNREFUSED, "rpc error: code = Unavailable desc = connection refused"); \
    } while (0)

static int fill_product(size_t i, fe_product *out)
{
    memset(out, 0, sizeof(*out));
    out->id = strdup(catalog[i].id);
    out->name = strdup(catalog[i].name);
    out->description = strdup("A <fine> thing");
    char pic[128];
    snprintf(pic, sizeof(pic), "/static/img/products/p%zu.jpg", i);
    out->picture = strdup(pic);
    snprintf(out->price_usd.currency_code, sizeof(out->price_usd.currency_code), "USD");
    out->price_usd.units = catalog[i].units;
    out->price_usd.nanos = catalog[i].nanos;
    out->categories = calloc(1, sizeof(char *));
    out->categories[0] = strdup(catalog[i].cat);
    out->ncategories = 1;
    return 0;
}

static int f_currencies(void *ctx, fe_strv *out, ens_error_t *err)
{
    (void)ctx;
    DOWN_CHECK(err);
    const char *codes[] = {"EUR", "USD", "JPY", "BGN", "GBP", "TRY", "CAD", "ZAR"};
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        fe_strv_push(out, codes[i]);
    return 0;
}

static int f_list(void *ctx, fe_product **out, size_t *n, ens_error_t *err)
{
    (void)ctx;
    DOWN_CHECK(err);
    *out = calloc(NCAT, sizeof(fe_product));
    for (size_t i = 0; i < NCAT; i++)
        fill_product(i, &(*out)[i]);
    *n = NCAT;
    return 0;
}

static int f_get(void *ctx, const char *id, fe_product *out, ens_error_t *err)
{
    (void)ctx;
    DOWN_CHECK(err);
    for (size_t i = 0; i < NCAT; i++)
        if (strcmp(catalog[i].id, id) == 0)
            return fill_product(i, out);
    return ens_error(err, ENOENT, "rpc error: code = NotFound desc = no product with ID %s", id);
}

static int f_get_cart(void *ctx, const char *user, fe_cart *out, ens_error_t *err)
{
    (void)ctx;
    DOWN_CHECK(err);
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&fake.lock);
    if (strcmp(user, fake.user) == 0 && fake.cart.n) {
        out->items = calloc(fake.cart.n, sizeof(fe_cart_item));
        for (size_t i = 0; i < fake.cart.n; i++) {
            out->items[i].product_id = strdup(fake.cart.items[i].product_id);
            out->items[i].quantity = fake.cart.items[i].quantity;
        }
        out->n = fake.cart.n;
    }
    pthread_mutex_unlock(&fake.lock);
    return 0;
}

static int f_add(void *ctx, const char *user, const char *pid, int32_t q, ens_error_t *err)
{
    (void)ctx;
    DOWN_CHECK(err);
    pthread_mutex_lock(&fake.lock);
    if (strcmp(user, fake.user) != 0) {
        fe_cart_clear(&fake.cart);
        snprintf(fake.user, sizeof(fake.user), "%s", user);
    }
    fake.cart.items = realloc(fake.cart.items, (fake.cart.n + 1) * sizeof(fe_cart_item));
    fake.cart.items[fake.cart.n].product_id = strdup(pid);
    fake.cart.items[fake.cart.n].quantity = q;
    fake.cart.n++;
    pthread_mutex_unlock(&fake.lock);
    return 0;
}

static int f_empty(void *ctx, const char *user, ens_error_t *err)
{
    (void)ctx;
    DOWN_CHECK(err);
    pthread_mutex_lock(&fake.lock);
    if (strcmp(user, fake.user) == 0)
        fe_cart_clear(&fake.cart);
    pthread_mutex_unlock(&fake.lock);
    return 0;
}

/* USD → EUR at 1/1.1305 with the spec's vector for 19.99: 17.682441398. */
static int f_convert(void *ctx, const fe_money *from, const char *to, fe_money *out, ens_error_t *err)
{
    (void)ctx;
    DOWN_CHECK(err);
    double rate = strcmp(to, "EUR") == 0 ? 1 / 1.1305 : strcmp(to, "JPY") == 0 ? 126.40 / 1.1305 : 1.0;
    double v = ((double)from->units + from->nanos / 1e9) * rate;
    snprintf(out->currency_code, sizeof(out->currency_code), "%s", to);
    out->units = (int64_t)v;
    out->nanos = (int32_t)((v - (double)out->units) * 1e9);
    return 0;
}

static int f_quote(void *ctx, const fe_cart_item *items, size_t n, fe_money *out, ens_error_t *err)
{
    (void)ctx, (void)items;
    DOWN_CHECK(err);
    memset(out, 0, sizeof(*out));
    snprintf(out->currency_code, sizeof(out->currency_code), "USD");
    if (n) {
        out->units = 8;
        out->nanos = 990000000;
    }
    return 0;
}

static int f_recs(void *ctx, const char *user, const fe_strv *ex, fe_strv *out, ens_error_t *err)
{
    (void)ctx, (void)user;
    DOWN_CHECK(err);
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < NCAT && out->n < 5; i++) {
        bool skip = false;
        for (size_t j = 0; j < ex->n; j++)
            skip |= strcmp(ex->v[j], catalog[i].id) == 0;
        if (!skip)
            fe_strv_push(out, catalog[i].id);
    }
    return 0;
}

static int f_ads(void *ctx, const fe_strv *keys, fe_ad **out, size_t *n, ens_error_t *err)
{
    (void)ctx, (void)keys;
    DOWN_CHECK(err);
    *out = calloc(1, sizeof(fe_ad));
    (*out)[0].redirect_url = strdup("/product/6E92ZMYYFZ");
    (*out)[0].text = strdup("Mugs <half> price");
    *n = 1;
    return 0;
}

static int f_order(void *ctx, const fe_order_request *r, fe_order_result *out, ens_error_t *err)
{
    (void)ctx;
    DOWN_CHECK(err);
    snprintf(fake.last_card, sizeof(fake.last_card), "%s", r->cc_number);
    fake.last_order = *r;
    if (r->cc_number[0] != '4' && r->cc_number[0] != '5')
        return ens_error(err, EIO,
                         "rpc error: code = Internal desc = failed to charge card: Sorry, we cannot process "
                         "amex credit cards. Only VISA or MasterCard is accepted.");
    memset(out, 0, sizeof(*out));
    out->order_id = strdup("11111111-2222-4333-8444-555555555555");
    out->tracking_id = strdup("QK-41123-203456789");
    snprintf(out->shipping_cost.currency_code, sizeof(out->shipping_cost.currency_code), "%s", r->user_currency);
    out->shipping_cost.units = 8;
    out->shipping_cost.nanos = 990000000;
    out->items = calloc(1, sizeof(fe_order_item));
    out->items[0].item.product_id = strdup("OLJCESPC7Z");
    out->items[0].item.quantity = 2;
    out->items[0].cost = out->shipping_cost;
    out->items[0].cost.units = 19;
    out->nitems = 1;
    return 0;
}

static const fe_backend_ops fake_ops = {
    .supported_currencies = f_currencies, .list_products = f_list, .get_product = f_get,
    .get_cart = f_get_cart, .add_item = f_add, .empty_cart = f_empty, .convert = f_convert,
    .get_quote = f_quote, .list_recommendations = f_recs, .get_ads = f_ads, .place_order = f_order,
};

/* ---- helpers ---- */

static fe_app app;

static int setup(void **state)
{
    (void)state;
    ens_error_t err = NULL;
    memset(&app, 0, sizeof(app));
    app.be.ops = &fake_ops;
    app.base_url = "";
    app.platform = fe_platform_normalize("gcp", &app.platform_name);
    app.templates = mst_set_new();
    if (mst_set_load_dir(app.templates, getenv("FE_TEMPLATE_DIR"), &err) < 0)
        fail_msg("%s", ens_error_msg(err));
    fake.down = false;
    fe_cart_clear(&fake.cart);
    fake.user[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mst_set_free(app.templates);
    fe_cart_clear(&fake.cart);
    return 0;
}

static void req(const char *method, const char *path, const char *cookie, const char *body, fe_response *r)
{
    fe_request in = {.method = method, .path = path, .cookie = cookie, .body = body, .host = "shop.test"};
    fe_handle(&app, &in, r);
}

static bool has_cookie(const fe_response *r, const char *prefix)
{
    for (size_t i = 0; i < r->set_cookie.n; i++)
        if (strncmp(r->set_cookie.v[i], prefix, strlen(prefix)) == 0)
            return true;
    return false;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

#define SID "shop_session-id=test-session"

/* ---- tests ---- */

static void test_health_robots(void **state)
{
    (void)state;
    fe_response r;
    req("GET", "/_healthz", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok");
    assert_int_equal(r.set_cookie.n, 0);
    fe_response_clear(&r);
    req("POST", "/_healthz", "shop_session-id=x-readiness-probe", NULL, &r);
    assert_int_equal(r.status, 200);
    fe_response_clear(&r);
    req("GET", "/robots.txt", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "User-agent: *"));
    assert_non_null(strstr(r.body, "Disallow: /"));
    fe_response_clear(&r);
    assert_true(fe_route_is_local("/_healthz"));
    assert_false(fe_route_is_local("/"));
}

static void test_home_and_session(void **state)
{
    (void)state;
    fe_response r;
    req("GET", "/", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(has_cookie(&r, "shop_session-id="));
    assert_non_null(strstr(r.set_cookie.v[0], "Max-Age=172800"));
    assert_int_equal(count(r.body, "class=\"card product-card\""), 9);
    assert_non_null(strstr(r.body, "$19.99"));
    assert_non_null(strstr(r.body, "Salt &amp; Pepper Shakers")); /* escaped */
    assert_non_null(strstr(r.body, "Google Cloud"));              /* platform banner */
    assert_non_null(strstr(r.body, "platform-gcp"));
    assert_non_null(strstr(r.body, "request-id:"));
    /* Currency selector: the whitelisted ones only, in the service's order. */
    const char *eur = strstr(r.body, "value=\"EUR\""), *usd = strstr(r.body, "value=\"USD\"");
    const char *gbp = strstr(r.body, "value=\"GBP\""), *cad = strstr(r.body, "value=\"CAD\"");
    assert_true(eur && usd && gbp && cad && eur < usd && gbp < cad);
    assert_null(strstr(r.body, "value=\"BGN\""));
    assert_null(strstr(r.body, "value=\"ZAR\""));
    assert_non_null(strstr(r.body, "value=\"USD\" selected"));
    fe_response_clear(&r);

    /* An existing session is kept (no new cookie); its id shows in the footer. */
    req("GET", "/", SID, NULL, &r);
    assert_int_equal(r.set_cookie.n, 0);
    assert_non_null(strstr(r.body, "test-session"));
    fe_response_clear(&r);

    /* HEAD answers like GET. */
    req("HEAD", "/", SID, NULL, &r);
    assert_int_equal(r.status, 200);
    fe_response_clear(&r);

    /* The single shared session. */
    app.single_shared_session = true;
    req("GET", "/", NULL, NULL, &r);
    assert_int_equal(r.set_cookie.n, 0);
    assert_non_null(strstr(r.body, "12345678-1234-1234-1234-123456789123"));
    fe_response_clear(&r);
    app.single_shared_session = false;

    /* FRONTEND_MESSAGE banner, escaped. */
    app.frontend_message = "Sale <today>";
    req("GET", "/", SID, NULL, &r);
    assert_non_null(strstr(r.body, "Sale &lt;today&gt;"));
    fe_response_clear(&r);
    app.frontend_message = NULL;
}

static void test_currency(void **state)
{
    (void)state;
    fe_response r;
    req("POST", "/setCurrency", SID, "currency_code=EUR", &r);
    assert_int_equal(r.status, 302);
    assert_string_equal(r.location, "/");
    assert_true(has_cookie(&r, "shop_currency=EUR; Max-Age=172800"));
    fe_response_clear(&r);

    req("GET", "/", SID "; shop_currency=EUR", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "€17.68")); /* 19.99 USD */
    assert_null(strstr(r.body, "$19.99"));
    assert_non_null(strstr(r.body, "value=\"EUR\" selected"));
    fe_response_clear(&r);

    /* Not ISO 4217, or missing: 422. */
    req("POST", "/setCurrency", SID, "currency_code=XYZ", &r);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "currency_code"));
    fe_response_clear(&r);
    req("POST", "/setCurrency", SID, "", &r);
    assert_int_equal(r.status, 422);
    fe_response_clear(&r);

    /* Referer: followed inside the shop, not to other sites. */
    fe_request in = {.method = "POST", .path = "/setCurrency", .cookie = SID, .body = "currency_code=JPY",
                     .referer = "http://shop.test/product/OLJCESPC7Z", .host = "shop.test"};
    fe_handle(&app, &in, &r);
    assert_int_equal(r.status, 302);
    assert_string_equal(r.location, "http://shop.test/product/OLJCESPC7Z");
    fe_response_clear(&r);
    in.referer = "http://evil.test/x";
    fe_handle(&app, &in, &r);
    assert_string_equal(r.location, "/");
    fe_response_clear(&r);
    in.referer = "/cart";
    fe_handle(&app, &in, &r);
    assert_string_equal(r.location, "/cart");
    fe_response_clear(&r);
    in.referer = "//evil.test/x";
    fe_handle(&app, &in, &r);
    assert_string_equal(r.location, "/");
    fe_response_clear(&r);
}

static void test_product(void **state)
{
    (void)state;
    fe_response r;
    req("GET", "/product/OLJCESPC7Z", SID, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "name=\"product_id\" value=\"OLJCESPC7Z\""));
    assert_non_null(strstr(r.body, "A &lt;fine&gt; thing"));
    assert_non_null(strstr(r.body, "<option value=\"10\">"));
    assert_null(strstr(r.body, "<option value=\"6\">"));
    assert_non_null(strstr(r.body, "You may also like"));
    assert_null(strstr(r.body, "href=\"/product/OLJCESPC7Z\"")); /* not recommended to itself */
    assert_int_equal(count(r.body, "class=\"card\""), 4);       /* at most four recommendations */
    assert_non_null(strstr(r.body, "Mugs &lt;half&gt; price"));  /* the ad */
    assert_non_null(strstr(r.body, "href=\"/product/6E92ZMYYFZ\""));
    fe_response_clear(&r);

    req("GET", "/product/NOPE", SID, NULL, &r);
    assert_int_equal(r.status, 500);
    assert_non_null(strstr(r.body, "no product with ID NOPE"));
    fe_response_clear(&r);

    req("POST", "/product/OLJCESPC7Z", SID, NULL, &r);
    assert_int_equal(r.status, 405);
    fe_response_clear(&r);
}

static void test_cart_flow(void **state)
{
    (void)state;
    fe_response r;
    req("GET", "/cart", SID, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "Your shopping cart is empty"));
    fe_response_clear(&r);

    req("POST", "/cart", SID, "product_id=OLJCESPC7Z&quantity=2", &r);
    assert_int_equal(r.status, 302);
    assert_string_equal(r.location, "/cart");
    fe_response_clear(&r);
    req("POST", "/cart", SID, "product_id=9SIQT8TOJO&quantity=10", &r);
    assert_int_equal(r.status, 302);
    fe_response_clear(&r);

    req("GET", "/cart", SID, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "SKU #OLJCESPC7Z"));
    assert_non_null(strstr(r.body, "$39.98"));  /* 2 × 19.99 */
    assert_non_null(strstr(r.body, "$54.90"));  /* 10 × 5.49 */
    assert_non_null(strstr(r.body, "$8.99"));   /* shipping */
    assert_non_null(strstr(r.body, "$103.87")); /* 39.98 + 54.90 + 8.99 */
    assert_non_null(strstr(r.body, "<span class=\"badge\">12</span>"));
    assert_non_null(strstr(r.body, "name=\"credit_card_number\""));
    fe_response_clear(&r);

    /* Form validation: 422 for a bad quantity or a missing product id. */
    const char *bad[] = {"product_id=OLJCESPC7Z&quantity=0", "product_id=OLJCESPC7Z&quantity=11",
                         "product_id=OLJCESPC7Z&quantity=abc", "product_id=OLJCESPC7Z", "quantity=1",
                         "product_id=&quantity=1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        req("POST", "/cart", SID, bad[i], &r);
        if (r.status != 422)
            fail_msg("%s gave %d", bad[i], r.status);
        fe_response_clear(&r);
    }
    req("POST", "/cart", SID, "product_id=NOPE&quantity=1", &r);
    assert_int_equal(r.status, 500);
    fe_response_clear(&r);

    req("POST", "/cart/empty", SID, NULL, &r);
    assert_int_equal(r.status, 302);
    assert_string_equal(r.location, "/");
    fe_response_clear(&r);
    req("GET", "/cart", SID, NULL, &r);
    assert_non_null(strstr(r.body, "Your shopping cart is empty"));
    fe_response_clear(&r);
    req("GET", "/cart/empty", SID, NULL, &r);
    assert_int_equal(r.status, 405);
    fe_response_clear(&r);
}

#define GOOD_FORM                                                                                            \
    "email=someone%40example.com&street_address=1600+Amphitheatre+Parkway&zip_code=94043&city=Mountain+View" \
    "&state=CA&country=United+States&credit_card_expiration_month=1&credit_card_expiration_year=2030"     \
    "&credit_card_cvv=672"

static void test_checkout(void **state)
{
    (void)state;
    fe_response r;
    req("POST", "/cart/checkout", SID, GOOD_FORM "&credit_card_number=4432+8015+6152+0454", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "Confirmation #"));
    assert_non_null(strstr(r.body, "11111111-2222-4333-8444-555555555555"));
    assert_non_null(strstr(r.body, "QK-41123-203456789"));
    assert_non_null(strstr(r.body, "Total Paid"));
    assert_non_null(strstr(r.body, "$48.97")); /* 8.99 + 2 × 19.99 */
    assert_string_equal(fake.last_card, "4432801561520454"); /* sent without the spaces */
    assert_int_equal(fake.last_order.address.zip_code, 94043);
    assert_int_equal(fake.last_order.cc_month, 1);
    assert_int_equal(fake.last_order.cc_year, 2030);
    assert_int_equal(fake.last_order.cc_cvv, 672);
    fe_response_clear(&r);

    /* The payment service's refusal is shown on the error page. */
    req("POST", "/cart/checkout", SID, GOOD_FORM "&credit_card_number=378282246310005", &r);
    assert_int_equal(r.status, 500);
    assert_non_null(strstr(r.body, "Sorry, we cannot process amex credit cards"));
    fe_response_clear(&r);

    /* Each invalid field is named on its own line. */
    const struct {
        const char *body, *field;
    } bad[] = {
        {GOOD_FORM "&credit_card_number=4432-8015-6152-0454", "credit_card_number"},
        {GOOD_FORM "&credit_card_number=4432801561520455", "credit_card_number"},
        {GOOD_FORM "&credit_card_number=4432++8015615204", "credit_card_number"},
        {GOOD_FORM "&credit_card_number=44328015615", "credit_card_number"},
        {"email=nope&street_address=a&zip_code=1&city=a&state=a&country=a&credit_card_number=4432801561520454"
         "&credit_card_expiration_month=1&credit_card_expiration_year=2030&credit_card_cvv=1",
         "&#39;email&#39;"},
        {"email=a%40b.c&street_address=a&zip_code=0&city=a&state=a&country=a&credit_card_number=4432801561520454"
         "&credit_card_expiration_month=13&credit_card_expiration_year=2030&credit_card_cvv=1",
         "&#39;credit_card_expiration_month&#39;"},
        {"email=a%40b.c&street_address=a&zip_code=0&city=a&state=a&country=a&credit_card_number=4432801561520454"
         "&credit_card_expiration_month=1&credit_card_expiration_year=2030&credit_card_cvv=1",
         "&#39;zip_code&#39;"},
        {"", "&#39;street_address&#39;"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        req("POST", "/cart/checkout", SID, bad[i].body, &r);
        if (r.status != 422 || !strstr(r.body, bad[i].field))
            fail_msg("case %zu: status %d, body lacks %s", i, r.status, bad[i].field);
        fe_response_clear(&r);
    }
    /* An empty form names every field. */
    req("POST", "/cart/checkout", SID, "", &r);
    const char *fields[] = {"email", "street_address", "zip_code", "city", "state", "country",
                            "credit_card_number", "credit_card_expiration_month", "credit_card_expiration_year",
                            "credit_card_cvv"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        char want[80];
        snprintf(want, sizeof(want), "Field &#39;%s&#39; is invalid", fields[i]);
        if (!strstr(r.body, want))
            fail_msg("empty checkout form does not name %s", fields[i]);
    }
    assert_int_equal(count(r.body, "<li>"), 10);
    fe_response_clear(&r);
    /* Lengths. */
    char body[2048];
    char street[600];
    memset(street, 'a', 513);
    street[513] = '\0';
    snprintf(body, sizeof(body),
             "email=a%%40b.c&street_address=%s&zip_code=1&city=a&state=a&country=a&credit_card_number="
             "4432801561520454&credit_card_expiration_month=1&credit_card_expiration_year=2030&credit_card_cvv=1",
             street);
    req("POST", "/cart/checkout", SID, body, &r);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "street_address"));
    fe_response_clear(&r);
}

static void test_logout_and_misc(void **state)
{
    (void)state;
    fe_response r;
    req("GET", "/logout", SID "; shop_currency=EUR", NULL, &r);
    assert_int_equal(r.status, 302);
    assert_string_equal(r.location, "/");
    assert_int_equal(r.set_cookie.n, 2);
    assert_true(has_cookie(&r, "shop_session-id=; Max-Age=0"));
    assert_true(has_cookie(&r, "shop_currency=; Max-Age=0"));
    fe_response_clear(&r);

    req("GET", "/nope", SID, NULL, &r);
    assert_int_equal(r.status, 404);
    fe_response_clear(&r);
    req("GET", "/cart/checkout", SID, NULL, &r);
    assert_int_equal(r.status, 405);
    fe_response_clear(&r);
    req("DELETE", "/", SID, NULL, &r);
    assert_int_equal(r.status, 405);
    fe_response_clear(&r);

    /* A failing back end: the error page with the status, and no crash. */
    fake.down = true;
    const char *paths[] = {"/", "/cart", "/product/OLJCESPC7Z"};
    for (size_t i = 0; i < 3; i++) {
        req("GET", paths[i], SID, NULL, &r);
        assert_int_equal(r.status, 500);
        assert_non_null(strstr(r.body, "Uh-oh"));
        assert_non_null(strstr(r.body, "code = Unavailable"));
        fe_response_clear(&r);
    }
    req("POST", "/cart/checkout", SID, GOOD_FORM "&credit_card_number=4432801561520454", &r);
    assert_int_equal(r.status, 500);
    fe_response_clear(&r);
    fake.down = false;

    /* BASE_URL prefixes redirects and links. */
    app.base_url = "/shop";
    req("POST", "/cart", SID, "product_id=OLJCESPC7Z&quantity=1", &r);
    assert_string_equal(r.location, "/shop/cart");
    fe_response_clear(&r);
    req("GET", "/", SID, NULL, &r);
    assert_non_null(strstr(r.body, "href=\"/shop/product/OLJCESPC7Z\""));
    assert_non_null(strstr(r.body, "href=\"/shop/static/css/shop.css\""));
    fe_response_clear(&r);
    app.base_url = "";
}

/* ---- helpers of shoputil.h ---- */

static fe_money M(const char *c, int64_t u, int32_t n)
{
    fe_money m = {.units = u, .nanos = n};
    snprintf(m.currency_code, sizeof(m.currency_code), "%s", c);
    return m;
}

static void test_money(void **state)
{
    (void)state;
    ens_error_t err = NULL;
    fe_money out;
    fe_money a = M("USD", 1, 500000000), b = M("USD", 2, 600000000);
    assert_int_equal(fe_money_sum(&a, &b, &out, &err), 0);
    assert_int_equal(out.units, 4);
    assert_int_equal(out.nanos, 100000000);
    a = M("USD", 5, 100000000), b = M("USD", -2, -300000000);
    assert_int_equal(fe_money_sum(&a, &b, &out, &err), 0);
    assert_int_equal(out.units, 2);
    assert_int_equal(out.nanos, 800000000);
    a = M("USD", -1, -500000000), b = M("USD", 1, 200000000);
    assert_int_equal(fe_money_sum(&a, &b, &out, &err), 0);
    assert_int_equal(out.units, 0);
    assert_int_equal(out.nanos, -300000000);
    b = M("EUR", 1, 0);
    assert_true(fe_money_sum(&a, &b, &out, &err) < 0);
    assert_non_null(strstr(ens_error_msg(err), "mismatching"));
    ens_error_release(&err);
    b = M("USD", 1, -5);
    assert_true(fe_money_sum(&a, &b, &out, &err) < 0);
    ens_error_release(&err);
    b = M("USD", 0, 1000000000);
    assert_false(fe_money_valid(&b));

    a = M("USD", 19, 990000000);
    assert_int_equal(fe_money_multiply(&a, 3, &out, &err), 0);
    assert_int_equal(out.units, 59);
    assert_int_equal(out.nanos, 970000000);
    assert_int_equal(fe_money_multiply(&a, 0, &out, &err), 0);
    assert_int_equal(out.units, 0);
    assert_int_equal(out.nanos, 0);

    char buf[64];
    a = M("USD", 19, 990000000);
    fe_money_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, "$19.99");
    a = M("EUR", 17, 682441398);
    fe_money_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, "€17.68");
    a = M("JPY", 2235, 60592707);
    fe_money_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, "¥2235.06");
    a = M("GBP", 15, 201594869);
    fe_money_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, "£15.20");
    a = M("TRY", 108, 299648830);
    fe_money_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, "₺108.29");
    a = M("CAD", 26, 5000000);
    fe_money_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, "$26.00");
    a = M("ZAR", 3, 0);
    fe_money_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, "$3.00");
}

static void test_validation(void **state)
{
    (void)state;
    assert_true(fe_valid_email("someone@example.com"));
    assert_true(fe_valid_email("first.last+tag@mail.example.co.uk"));
    assert_false(fe_valid_email("someone"));
    assert_false(fe_valid_email("someone@"));
    assert_false(fe_valid_email("@example.com"));
    assert_false(fe_valid_email("a@@example.com"));
    assert_false(fe_valid_email("a@example"));
    assert_false(fe_valid_email("a..b@example.com"));
    assert_false(fe_valid_email("a@-example.com"));
    assert_false(fe_valid_email("a b@example.com"));
    assert_false(fe_valid_email("a@example.com."));

    assert_true(fe_valid_card_number("4432801561520454"));
    assert_true(fe_valid_card_number("4432 8015 6152 0454"));
    assert_true(fe_valid_card_number("378282246310005")); /* amex: valid syntax, refused later */
    assert_false(fe_valid_card_number("4432-8015-6152-0454"));
    assert_false(fe_valid_card_number("4432  8015 6152 0454"));
    assert_false(fe_valid_card_number(" 4432801561520454"));
    assert_false(fe_valid_card_number("4432801561520454 "));
    assert_false(fe_valid_card_number("4432801561520455"));
    assert_false(fe_valid_card_number("79927398713"));     /* Luhn-valid, 11 digits */
    assert_false(fe_valid_card_number("44328015615204540000"));
    assert_false(fe_valid_card_number(""));
    assert_true(fe_luhn("79927398713"));

    assert_true(fe_valid_iso4217("EUR"));
    assert_true(fe_valid_iso4217("ZWL"));
    assert_true(fe_valid_iso4217("AED"));
    assert_false(fe_valid_iso4217("XYZ"));
    assert_false(fe_valid_iso4217("eur"));
    assert_false(fe_valid_iso4217("EURO"));
    assert_false(fe_valid_iso4217(""));

    int32_t v;
    assert_true(fe_parse_int32("94043", &v) && v == 94043);
    assert_true(fe_parse_int32("-5", &v) && v == -5);
    assert_false(fe_parse_int32("12a", &v));
    assert_false(fe_parse_int32(" 1", &v));
    assert_false(fe_parse_int32("", &v));
    assert_false(fe_parse_int32("2147483648", &v));
}

static void name_cb(const char *name, void *arg) { strcat(arg, name), strcat(arg, ","); }

static void test_cookies_ids(void **state)
{
    (void)state;
    char *v = fe_cookie_get("a=1; shop_session-id=abc ; shop_currency=\"EUR\"", "shop_session-id");
    assert_string_equal(v, "abc");
    free(v);
    v = fe_cookie_get("a=1; shop_session-id=abc ; shop_currency=\"EUR\"", "shop_currency");
    assert_string_equal(v, "EUR");
    free(v);
    assert_null(fe_cookie_get("xshop_currency=1", "shop_currency"));
    assert_null(fe_cookie_get(NULL, "a"));
    char names[128] = "";
    fe_cookie_names("a=1;b=2; bad name=3; c=", name_cb, names);
    assert_string_equal(names, "a,b,c,");

    char id[37], id2[37];
    ens_error_t err = NULL;
    assert_int_equal(fe_uuid4(id, &err), 0);
    assert_int_equal(fe_uuid4(id2, &err), 0);
    assert_int_equal(strlen(id), 36);
    assert_int_equal(id[14], '4');
    assert_true(strchr("89ab", id[19]) != NULL);
    assert_string_not_equal(id, id2);

    const char *name = NULL;
    assert_string_equal(fe_platform_normalize("aws", &name), "aws");
    assert_string_equal(fe_platform_normalize("mars", &name), "local");
    assert_string_equal(fe_platform_normalize(NULL, &name), "local");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_health_robots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_home_and_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_currency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_product, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cart_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logout_and_misc, setup, teardown),
        cmocka_unit_test(test_money),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_cookies_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
