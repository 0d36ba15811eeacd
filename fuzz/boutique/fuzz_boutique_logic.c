/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzzes the boutique services' input handling without the network: the
 * first byte picks a target, the rest is its input.
 *   0 catalog JSON   1 card number   2 Convert + Money arithmetic (protobuf)
 *   3 every request message type: unpack, repack, unpack again */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boutique.h"
#include "card.h"
#include "catalog.h"
#include "currency.h"
#include "health.pb-c.h"

static const ProtobufCMessageDescriptor *const descs[] = {
    &hipstershop__add_item_request__descriptor,
    &hipstershop__get_cart_request__descriptor,
    &hipstershop__empty_cart_request__descriptor,
    &hipstershop__list_recommendations_request__descriptor,
    &hipstershop__get_product_request__descriptor,
    &hipstershop__search_products_request__descriptor,
    &hipstershop__get_quote_request__descriptor,
    &hipstershop__ship_order_request__descriptor,
    &hipstershop__currency_conversion_request__descriptor,
    &hipstershop__charge_request__descriptor,
    &hipstershop__send_order_confirmation_request__descriptor,
    &hipstershop__place_order_request__descriptor,
    &hipstershop__ad_request__descriptor,
    &hipstershop__cart__descriptor,
    &grpc__health__v1__health_check_request__descriptor,
};

static void fuzz_money(const uint8_t *data, size_t size)
{
    Hipstershop__CurrencyConversionRequest *r = (Hipstershop__CurrencyConversionRequest *)protobuf_c_message_unpack(
        &hipstershop__currency_conversion_request__descriptor, NULL, size, data);
    if (!r)
        return;
    if (r->from) {
        int64_t u;
        int32_t n;
        currency_convert(r->from->currency_code, r->from->units, r->from->nanos, r->to_code, &u, &n);
        if (n > 999999999 || n < -999999999)
            abort(); /* Convert must always produce in-range nanos */
        Hipstershop__Money out = HIPSTERSHOP__MONEY__INIT, a = *r->from, b = *r->from;
        ens_error_t err = NULL;
        if (money_sum(&a, &b, &out, &err) == 0 && !money_valid(&out))
            abort(); /* a valid sum of valid values */
        ens_error_release(&err);
        if (money_multiply(&a, (uint32_t)(r->from->units & 0xff), &out, &err) == 0 && !money_valid(&out))
            abort();
        ens_error_release(&err);
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void fuzz_messages(const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    const ProtobufCMessageDescriptor *d = descs[data[0] % (sizeof descs / sizeof descs[0])];
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, size - 1, data + 1);
    if (!m)
        return;
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf) {
        protobuf_c_message_pack(m, buf);
        /* protobuf-c keeps unknown fields (even field number 0) and may
         * re-emit them in a form it then rejects: only memory safety is
         * checked here, not that the repacked bytes parse. */
        ProtobufCMessage *m2 = protobuf_c_message_unpack(d, NULL, len, buf);
        if (m2)
            protobuf_c_message_free_unpacked(m2, NULL);
        free(buf);
    }
    protobuf_c_message_free_unpacked(m, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0: {
        catalog c;
        ens_error_t err = NULL;
        if (catalog_parse((const char *)in, n, "fuzz", &c, &err) == 0) {
            for (size_t i = 0; i < c.list->n_products; i++)
                if (!catalog_find(&c, c.list->products[i]->id))
                    abort();
            catalog_free(&c);
        }
        ens_error_release(&err);
        break;
    }
    case 1: {
        char *s = malloc(n + 1);
        if (!s)
            return 0;
        memcpy(s, in, n);
        s[n] = '\0';
        char digits[64];
        const char *type = card_validate(s, digits, sizeof digits);
        if (type && !card_luhn(digits))
            abort();
        free(s);
        break;
    }
    case 2:
        fuzz_money(in, n);
        break;
    case 3:
        fuzz_messages(in, n);
        break;
    }
    return 0;
}
