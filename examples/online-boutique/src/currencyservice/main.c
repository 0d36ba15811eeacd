/* SPDX-License-Identifier: Apache-2.0 */
/* currencyservice: GetSupportedCurrencies and Convert (port 7000). */
#include <string.h>

#include "boutique.h"
#include "currency.h"

static void get_supported(void *ctx, const ProtobufCMessage *req, rpc_reply *reply)
{
    (void)ctx;
    (void)req;
    Hipstershop__GetSupportedCurrenciesResponse resp = HIPSTERSHOP__GET_SUPPORTED_CURRENCIES_RESPONSE__INIT;
    resp.n_currency_codes = CURRENCY_COUNT;
    resp.currency_codes = (char **)currency_codes;
    rpc_reply_message(reply, &resp.base);
}

static void convert(void *ctx, const ProtobufCMessage *req, rpc_reply *reply)
{
    (void)ctx;
    const Hipstershop__CurrencyConversionRequest *r = (const Hipstershop__CurrencyConversionRequest *)req;
    if (!r->from) {
        rpc_reply_error(reply, RPC_INVALID_ARGUMENT, "from is required");
        return;
    }
    Hipstershop__Money out = HIPSTERSHOP__MONEY__INIT;
    currency_convert(r->from->currency_code, r->from->units, r->from->nanos, r->to_code, &out.units, &out.nanos);
    out.currency_code = r->to_code;
    rpc_reply_message(reply, &out.base);
}

int main(void)
{
    blog_init("currencyservice");
    static const struct boutique_method methods[] = {
        {"/hipstershop.CurrencyService/GetSupportedCurrencies", &hipstershop__empty__descriptor, get_supported},
        {"/hipstershop.CurrencyService/Convert", &hipstershop__currency_conversion_request__descriptor, convert},
        {NULL, NULL, NULL},
    };
    return boutique_serve("currencyservice", "hipstershop.CurrencyService", "7000", methods, NULL, 0);
}
