/* SPDX-License-Identifier: Apache-2.0 */
/* productcatalogservice: ListProducts, GetProduct, SearchProducts (port 3550).
 * The catalog is read once at start (CATALOG_FILE, default products.json next
 * to the executable); EXTRA_LATENCY ("5.5s", Go duration syntax) is slept at
 * the start of every RPC. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "boutique.h"
#include "catalog.h"
#include "core/cleanup.h"

static catalog cat;
static struct timespec extra_latency;

static void maybe_sleep(void)
{
    if (extra_latency.tv_sec || extra_latency.tv_nsec) {
        struct timespec t = extra_latency;
        while (nanosleep(&t, &t) < 0 && errno == EINTR)
            ;
    }
}

/* Go's time.ParseDuration subset: [-+]?(<decimal><unit>)+ with units ns us µs ms s m h, or "0". */
static int parse_duration(const char *s, struct timespec *out, ens_error_t *err)
{
    const char *orig = s;
    long double total = 0;
    if (*s == '+')
        s++;
    if (*s == '-')
        return ens_error(err, EINVAL, "EXTRA_LATENCY '%s' is negative", orig);
    if (strcmp(s, "0") == 0) {
        out->tv_sec = out->tv_nsec = 0;
        return 0;
    }
    if (!*s)
        return ens_error(err, EINVAL, "EXTRA_LATENCY is empty");
    while (*s) {
        char *end;
        if (!((*s >= '0' && *s <= '9') || *s == '.'))
            return ens_error(err, EINVAL, "EXTRA_LATENCY '%s' is not a duration like 5.5s", orig);
        errno = 0;
        long double v = strtold(s, &end);
        if (end == s || errno)
            return ens_error(err, EINVAL, "EXTRA_LATENCY '%s' is not a duration like 5.5s", orig);
        s = end;
        long double mult;
        if (strncmp(s, "ns", 2) == 0) mult = 1, s += 2;
        else if (strncmp(s, "us", 2) == 0) mult = 1e3, s += 2;
        else if (strncmp(s, "\xc2\xb5s", 3) == 0) mult = 1e3, s += 3;
        else if (strncmp(s, "ms", 2) == 0) mult = 1e6, s += 2;
        else if (*s == 's') mult = 1e9, s += 1;
        else if (*s == 'm') mult = 60e9, s += 1;
        else if (*s == 'h') mult = 3600e9, s += 1;
        else
            return ens_error(err, EINVAL, "EXTRA_LATENCY '%s': missing or unknown unit", orig);
        total += v * mult;
    }
    if (total > 3600e9L)
        return ens_error(err, EINVAL, "EXTRA_LATENCY '%s' is longer than an hour", orig);
    long long ns = (long long)total;
    out->tv_sec = ns / 1000000000LL;
    out->tv_nsec = ns % 1000000000LL;
    return 0;
}

static void list_products(void *ctx, const ProtobufCMessage *req, rpc_reply *reply)
{
    (void)ctx;
    (void)req;
    maybe_sleep();
    rpc_reply_message(reply, &cat.list->base);
}

static void get_product(void *ctx, const ProtobufCMessage *req, rpc_reply *reply)
{
    (void)ctx;
    maybe_sleep();
    const Hipstershop__GetProductRequest *r = (const Hipstershop__GetProductRequest *)req;
    const Hipstershop__Product *p = catalog_find(&cat, r->id);
    if (!p) {
        rpc_reply_error(reply, RPC_NOT_FOUND, "no product with ID %s", r->id);
        return;
    }
    rpc_reply_message(reply, &p->base);
}

static void search_products(void *ctx, const ProtobufCMessage *req, rpc_reply *reply)
{
    (void)ctx;
    maybe_sleep();
    const Hipstershop__SearchProductsRequest *r = (const Hipstershop__SearchProductsRequest *)req;
    size_t n = cat.list->n_products;
    _cleanup_free_ Hipstershop__Product **found = calloc(n ? n : 1, sizeof *found);
    if (!found) {
        rpc_reply_error(reply, RPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    Hipstershop__SearchProductsResponse resp = HIPSTERSHOP__SEARCH_PRODUCTS_RESPONSE__INIT;
    for (size_t i = 0; i < n; i++) {
        Hipstershop__Product *p = cat.list->products[i];
        /* strcasestr is ASCII case-insensitive, like upstream's strings.ToLower on ASCII text */
        if (!r->query[0] || strcasestr(p->name, r->query) || strcasestr(p->description, r->query))
            found[resp.n_results++] = p;
    }
    resp.results = found;
    rpc_reply_message(reply, &resp.base);
}

static char *default_catalog_path(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return strdup("products.json");
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    char *out;
    if (asprintf(&out, "%s/products.json", exe) < 0)
        return NULL;
    return out;
}

int main(void)
{
    blog_init("productcatalogservice");
    _cleanup_error_ ens_error_t err = NULL;
    const char *lat = getenv("EXTRA_LATENCY");
    if (lat && *lat) {
        if (parse_duration(lat, &extra_latency, &err) < 0) {
            blog_error("%s", ens_error_msg(err));
            return 1;
        }
        blog_info("extra latency enabled (duration: %s)", lat);
    }
    _cleanup_free_ char *path = NULL;
    const char *env = getenv("CATALOG_FILE");
    path = env && *env ? strdup(env) : default_catalog_path();
    if (!path || catalog_load(path, &cat, &err) < 0) {
        blog_error("failed to load the catalog: %s", err ? ens_error_msg(err) : "out of memory");
        return 1;
    }
    blog_info("successfully parsed product catalog json (%zu products)", cat.list->n_products);
    static const struct boutique_method methods[] = {
        {"/hipstershop.ProductCatalogService/ListProducts", &hipstershop__empty__descriptor, list_products},
        {"/hipstershop.ProductCatalogService/GetProduct", &hipstershop__get_product_request__descriptor, get_product},
        {"/hipstershop.ProductCatalogService/SearchProducts", &hipstershop__search_products_request__descriptor,
         search_products},
        {NULL, NULL, NULL},
    };
    int rc = boutique_serve("productcatalogservice", "hipstershop.ProductCatalogService", "3550", methods, NULL, 16); /* handlers may sleep */
    catalog_free(&cat);
    return rc;
}
