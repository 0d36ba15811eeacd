/* SPDX-License-Identifier: Apache-2.0 */
/* adservice: GetAds (port 9555).  All ads of each exact context key's
 * category; none matched (or no keys) gives 2 random ads (with replacement). */
#include <stdlib.h>
#include <string.h>

#include "ads.h"
#include "boutique.h"
#include "core/cleanup.h"

#define RANDOM_ADS 2
/* Bounds the reply when a client repeats keys many times. */
#define MAX_ADS 1000

static Hipstershop__Ad ads[AD_COUNT]; /* read-only once serving */

static void get_ads(void *ctx, const ProtobufCMessage *req, rpc_reply *reply)
{
    (void)ctx;
    const Hipstershop__AdRequest *r = (const Hipstershop__AdRequest *)req;
    size_t cap = MAX_ADS;
    _cleanup_free_ Hipstershop__Ad **out = calloc(cap, sizeof *out);
    if (!out) {
        rpc_reply_error(reply, RPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    size_t n = 0;
    for (size_t k = 0; k < r->n_context_keys; k++)
        for (size_t i = 0; i < AD_COUNT && n < cap; i++)
            if (strcmp(r->context_keys[k], ad_entries[i].category) == 0)
                out[n++] = &ads[i];
    if (n == 0)
        for (int i = 0; i < RANDOM_ADS; i++)
            out[n++] = &ads[boutique_rand_below(AD_COUNT)];
    Hipstershop__AdResponse resp = HIPSTERSHOP__AD_RESPONSE__INIT;
    resp.ads = out;
    resp.n_ads = n;
    blog_info("received ad request (context_keys=%zu), %zu ads", r->n_context_keys, n);
    rpc_reply_message(reply, &resp.base);
}

int main(void)
{
    blog_init("adservice");
    for (size_t i = 0; i < AD_COUNT; i++) {
        hipstershop__ad__init(&ads[i]);
        ads[i].redirect_url = (char *)ad_entries[i].redirect_url;
        ads[i].text = (char *)ad_entries[i].text;
    }
    static const struct boutique_method methods[] = {
        {"/hipstershop.AdService/GetAds", &hipstershop__ad_request__descriptor, get_ads},
        {NULL, NULL, NULL},
    };
    return boutique_serve("adservice", "hipstershop.AdService", "9555", methods, NULL, 0);
}
