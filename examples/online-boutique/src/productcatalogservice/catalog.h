/* SPDX-License-Identifier: Apache-2.0 */
/* The product catalog file (upstream's products.json layout):
 *   {"products": [{"id", "name", "description", "picture",
 *                  "priceUsd": {"currencyCode", "units", "nanos"},
 *                  "categories": [..]}, ...]} */
#ifndef BOUTIQUE_CATALOG_H
#define BOUTIQUE_CATALOG_H

#include "core/error.h"
#include "hipstershop.pb-c.h"

typedef struct catalog {
    Hipstershop__ListProductsResponse *list; /* products in file order */
} catalog;

/* Parses and validates the file (bounded size); every problem names the entry and field. */
int catalog_load(const char *path, catalog *c, ens_error_t *err);
/* The same from a buffer; `path` only names it in messages. */
int catalog_parse(const char *buf, size_t len, const char *path, catalog *c, ens_error_t *err);
void catalog_free(catalog *c);
const Hipstershop__Product *catalog_find(const catalog *c, const char *id);

#endif
