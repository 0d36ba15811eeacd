/* SPDX-License-Identifier: Apache-2.0 */
/* recommendationservice: ListRecommendations (port 8080).  Lists the catalog
 * (PRODUCT_CATALOG_SERVICE_ADDR), drops the request's ids and returns up to 5
 * of the rest, sampled without replacement in random order. */
#include <stdlib.h>
#include <string.h>

#include "boutique.h"
#include "core/cleanup.h"

#define MAX_RESPONSES 5

static void list_recommendations(void *ctx, const ProtobufCMessage *req, rpc_reply *reply)
{
    rpc_channel *catalog = ctx;
    const Hipstershop__ListRecommendationsRequest *r = (const Hipstershop__ListRecommendationsRequest *)req;
    Hipstershop__Empty empty = HIPSTERSHOP__EMPTY__INIT;
    ProtobufCMessage *out = NULL;
    rpc_status st;
    if (rpc_call(catalog, "/hipstershop.ProductCatalogService/ListProducts", &empty.base,
                 &hipstershop__list_products_response__descriptor, &out, &st) != RPC_OK) {
        blog_error("ListProducts failed: %s: %s", rpc_code_name(st.code), st.message);
        rpc_reply_error(reply, RPC_UNAVAILABLE, "failed to list products: %s", st.message);
        return;
    }
    Hipstershop__ListProductsResponse *list = (Hipstershop__ListProductsResponse *)out;
    size_t n = list->n_products;
    _cleanup_free_ char **ids = calloc(n ? n : 1, sizeof *ids);
    if (!ids) {
        protobuf_c_message_free_unpacked(out, NULL);
        rpc_reply_error(reply, RPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        bool excluded = false;
        for (size_t j = 0; j < r->n_product_ids && !excluded; j++)
            excluded = strcmp(list->products[i]->id, r->product_ids[j]) == 0;
        /* a set, as upstream: a repeated id in the catalog counts once */
        for (size_t j = 0; j < m && !excluded; j++)
            excluded = strcmp(ids[j], list->products[i]->id) == 0;
        if (!excluded)
            ids[m++] = list->products[i]->id;
    }
    size_t k = m < MAX_RESPONSES ? m : MAX_RESPONSES;
    /* partial Fisher-Yates: the first k are a uniform sample in random order */
    for (size_t i = 0; i < k; i++) {
        size_t j = i + boutique_rand_below((uint32_t)(m - i));
        char *t = ids[i];
        ids[i] = ids[j];
        ids[j] = t;
    }
    Hipstershop__ListRecommendationsResponse resp = HIPSTERSHOP__LIST_RECOMMENDATIONS_RESPONSE__INIT;
    resp.product_ids = ids;
    resp.n_product_ids = k;
    blog_info("[Recv ListRecommendations] product_ids=%zu", k);
    rpc_reply_message(reply, &resp.base);
    protobuf_c_message_free_unpacked(out, NULL);
}

int main(void)
{
    blog_init("recommendationservice");
    _cleanup_error_ ens_error_t err = NULL;
    const char *addr = getenv("PRODUCT_CATALOG_SERVICE_ADDR");
    if (!addr || !*addr) {
        blog_error("environment variable PRODUCT_CATALOG_SERVICE_ADDR is not set");
        return 1;
    }
    rpc_channel *catalog = rpc_channel_new(addr, 3000, &err);
    if (!catalog) {
        blog_error("%s", ens_error_msg(err));
        return 1;
    }
    static const struct boutique_method methods[] = {
        {"/hipstershop.RecommendationService/ListRecommendations",
         &hipstershop__list_recommendations_request__descriptor, list_recommendations},
        {NULL, NULL, NULL},
    };
    int rc = boutique_serve("recommendationservice", "hipstershop.RecommendationService", "8080", methods, catalog, 8);
    rpc_channel_free(catalog);
    return rc;
}
