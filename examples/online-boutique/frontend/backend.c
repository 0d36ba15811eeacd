/* SPDX-License-Identifier: Apache-2.0 */
/* Release helpers for the back-end value types. */
#include "backend.h"

#include <stdlib.h>
#include <string.h>

void fe_product_clear(fe_product *p)
{
    if (!p)
        return;
    free(p->id);
    free(p->name);
    free(p->description);
    free(p->picture);
    for (size_t i = 0; i < p->ncategories; i++)
        free(p->categories[i]);
    free(p->categories);
    memset(p, 0, sizeof(*p));
}

void fe_products_free(fe_product *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++)
        fe_product_clear(&p[i]);
    free(p);
}

void fe_cart_clear(fe_cart *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->items[i].product_id);
    free(c->items);
    memset(c, 0, sizeof(*c));
}

void fe_strv_clear(fe_strv *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    memset(v, 0, sizeof(*v));
}

int fe_strv_push(fe_strv *v, const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        return -1;
    char **nv = realloc(v->v, (v->n + 1) * sizeof(*nv));
    if (!nv) {
        free(d);
        return -1;
    }
    nv[v->n++] = d;
    v->v = nv;
    return 0;
}

void fe_ads_free(fe_ad *ads, size_t n)
{
    for (size_t i = 0; ads && i < n; i++) {
        free(ads[i].redirect_url);
        free(ads[i].text);
    }
    free(ads);
}

void fe_order_result_clear(fe_order_result *o)
{
    free(o->order_id);
    free(o->tracking_id);
    for (size_t i = 0; i < o->nitems; i++)
        free(o->items[i].item.product_id);
    free(o->items);
    memset(o, 0, sizeof(*o));
}
