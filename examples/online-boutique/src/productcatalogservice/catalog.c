/* SPDX-License-Identifier: Apache-2.0 */
#include "catalog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "boutique.h"
#include "core/cleanup.h"
#include "core/fsutil.h"

#define CATALOG_MAX_BYTES (4 * 1024 * 1024)
#define CATALOG_MAX_PRODUCTS 10000

static char *dup_string(json_t *o, const char *key, size_t i, bool required, ens_error_t *err)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        if (required) {
            ens_error(err, EINVAL, "product %zu: missing \"%s\"", i, key);
            return NULL;
        }
        return strdup("");
    }
    if (!json_is_string(v)) {
        ens_error(err, EINVAL, "product %zu: \"%s\" is not a string", i, key);
        return NULL;
    }
    char *s = strdup(json_string_value(v));
    if (!s)
        ens_error(err, ENOMEM, "out of memory");
    return s;
}

static void free_products(Hipstershop__ListProductsResponse *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n_products; i++) {
        Hipstershop__Product *p = l->products[i];
        if (!p)
            continue;
        free(p->id);
        free(p->name);
        free(p->description);
        free(p->picture);
        if (p->price_usd) {
            free(p->price_usd->currency_code);
            free(p->price_usd);
        }
        for (size_t j = 0; j < p->n_categories; j++)
            free(p->categories[j]);
        free(p->categories);
        free(p);
    }
    free(l->products);
    free(l);
}

static int parse_product(json_t *o, size_t i, Hipstershop__Product *p, ens_error_t *err)
{
    if (!json_is_object(o))
        return ens_error(err, EINVAL, "product %zu is not an object", i);
    if (!(p->id = dup_string(o, "id", i, true, err)) || !(p->name = dup_string(o, "name", i, true, err)) ||
        !(p->description = dup_string(o, "description", i, false, err)) ||
        !(p->picture = dup_string(o, "picture", i, false, err)))
        return -1;
    if (!p->id[0])
        return ens_error(err, EINVAL, "product %zu: empty \"id\"", i);
    json_t *price = json_object_get(o, "priceUsd");
    if (!json_is_object(price))
        return ens_error(err, EINVAL, "product %zu (%s): missing or invalid \"priceUsd\"", i, p->id);
    Hipstershop__Money *m = calloc(1, sizeof *m);
    if (!m)
        return ens_error(err, ENOMEM, "out of memory");
    hipstershop__money__init(m);
    m->currency_code = NULL;
    p->price_usd = m;
    json_t *cc = json_object_get(price, "currencyCode"), *u = json_object_get(price, "units"),
           *n = json_object_get(price, "nanos");
    if (!json_is_string(cc) || (u && !json_is_integer(u)) || (n && !json_is_integer(n)))
        return ens_error(err, EINVAL, "product %zu (%s): \"priceUsd\" needs currencyCode (string), units and nanos (integers)", i, p->id);
    if (!(m->currency_code = strdup(json_string_value(cc))))
        return ens_error(err, ENOMEM, "out of memory");
    m->units = u ? json_integer_value(u) : 0;
    json_int_t nv = n ? json_integer_value(n) : 0;
    if (nv > 999999999 || nv < -999999999)
        return ens_error(err, EINVAL, "product %zu (%s): \"nanos\" out of range", i, p->id);
    m->nanos = (int32_t)nv;
    if (!money_valid(m))
        return ens_error(err, EINVAL, "product %zu (%s): invalid price", i, p->id);
    json_t *cats = json_object_get(o, "categories");
    if (cats && !json_is_array(cats))
        return ens_error(err, EINVAL, "product %zu (%s): \"categories\" is not an array", i, p->id);
    size_t nc = cats ? json_array_size(cats) : 0;
    if (nc) {
        p->categories = calloc(nc, sizeof *p->categories);
        if (!p->categories)
            return ens_error(err, ENOMEM, "out of memory");
        for (size_t j = 0; j < nc; j++) {
            json_t *c = json_array_get(cats, j);
            if (!json_is_string(c))
                return ens_error(err, EINVAL, "product %zu (%s): category %zu is not a string", i, p->id, j);
            if (!(p->categories[j] = strdup(json_string_value(c))))
                return ens_error(err, ENOMEM, "out of memory");
            p->n_categories = j + 1;
        }
    }
    return 0;
}

int catalog_load(const char *path, catalog *c, ens_error_t *err)
{
    c->list = NULL;
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    if (ens_read_file(path, CATALOG_MAX_BYTES, &buf, &len, err) < 0)
        return ens_error_wrap(err, "catalog");
    return catalog_parse(buf, len, path, c, err);
}

int catalog_parse(const char *buf, size_t len, const char *path, catalog *c, ens_error_t *err)
{
    c->list = NULL;
    if (len > CATALOG_MAX_BYTES)
        return ens_error(err, EFBIG, "catalog %s: larger than %d bytes", path, CATALOG_MAX_BYTES);
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return ens_error(err, EINVAL, "catalog %s: line %d: %s", path, jerr.line, jerr.text);
    json_t *products = json_object_get(root, "products");
    if (!json_is_array(products)) {
        json_decref(root);
        return ens_error(err, EINVAL, "catalog %s: no \"products\" array", path);
    }
    size_t n = json_array_size(products);
    if (n > CATALOG_MAX_PRODUCTS) {
        json_decref(root);
        return ens_error(err, EINVAL, "catalog %s: too many products (%zu > %d)", path, n, CATALOG_MAX_PRODUCTS);
    }
    Hipstershop__ListProductsResponse *l = calloc(1, sizeof *l);
    if (l)
        hipstershop__list_products_response__init(l);
    if (!l || (n && !(l->products = calloc(n, sizeof *l->products)))) {
        free(l);
        json_decref(root);
        return ens_error(err, ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        Hipstershop__Product *p = calloc(1, sizeof *p);
        if (!p) {
            free_products(l);
            json_decref(root);
            return ens_error(err, ENOMEM, "out of memory");
        }
        hipstershop__product__init(p);
        /* NULL instead of the shared empty string, so cleanup can free() every field */
        p->id = p->name = p->description = p->picture = NULL;
        l->products[i] = p;
        l->n_products = i + 1;
        if (parse_product(json_array_get(products, i), i, p, err) < 0) {
            free_products(l);
            json_decref(root);
            return ens_error_wrap(err, "catalog %s", path);
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(l->products[j]->id, p->id) == 0) {
                free_products(l);
                json_decref(root);
                return ens_error(err, EINVAL, "catalog %s: duplicate product id at entry %zu", path, i);
            }
    }
    json_decref(root);
    c->list = l;
    return 0;
}

void catalog_free(catalog *c)
{
    free_products(c->list);
    c->list = NULL;
}

const Hipstershop__Product *catalog_find(const catalog *c, const char *id)
{
    for (size_t i = 0; i < c->list->n_products; i++)
        if (strcmp(c->list->products[i]->id, id) == 0)
            return c->list->products[i];
    return NULL;
}
