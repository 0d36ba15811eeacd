/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the services' pure logic: Money arithmetic, currency
 * conversion (the spec's vectors), card validation, the catalog parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "boutique.h"
#include "card.h"
#include "catalog.h"
#include "currency.h"

static Hipstershop__Money M(const char *c, int64_t u, int32_t n)
{
    Hipstershop__Money m = HIPSTERSHOP__MONEY__INIT;
    m.currency_code = (char *)c;
    m.units = u;
    m.nanos = n;
    return m;
}

static void sum_is(int64_t au, int32_t an, int64_t bu, int32_t bn, int64_t u, int32_t n)
{
    Hipstershop__Money a = M("USD", au, an), b = M("USD", bu, bn), out = HIPSTERSHOP__MONEY__INIT;
    ens_error_t err = NULL;
    assert_int_equal(money_sum(&a, &b, &out, &err), 0);
    assert_int_equal(out.units, u);
    assert_int_equal(out.nanos, n);
    assert_true(money_valid(&out));
    assert_string_equal(out.currency_code, "USD");
}

static void test_money(void **state)
{
    (void)state;
    sum_is(1, 500000000, 2, 600000000, 4, 100000000);
    sum_is(0, 250000000, 0, 250000000, 0, 500000000);
    sum_is(3, 0, -1, -900000000, 1, 100000000);
    sum_is(-3, -500000000, 1, 900000000, -1, -600000000);
    sum_is(0, 900000000, -1, 0, 0, -100000000);
    sum_is(-1, -500000000, -1, -600000000, -3, -100000000);
    sum_is(5, 0, -5, 0, 0, 0);
    ens_error_t err = NULL;
    Hipstershop__Money a = M("USD", 1, 0), b = M("EUR", 1, 0), out;
    assert_true(money_sum(&a, &b, &out, &err) < 0);
    assert_non_null(strstr(ens_error_msg(err), "mismatching"));
    ens_error_release(&err);
    Hipstershop__Money bad = M("USD", 1, -5);
    assert_false(money_valid(&bad));
    assert_true(money_sum(&a, &bad, &out, &err) < 0);
    ens_error_release(&err);
    Hipstershop__Money big = M("USD", 0, 1000000000);
    assert_false(money_valid(&big));
    Hipstershop__Money p = M("EUR", 7, 952233525);
    assert_int_equal(money_multiply(&p, 3, &out, &err), 0);
    assert_int_equal(out.units, 23);
    assert_int_equal(out.nanos, 856700575);
    Hipstershop__Money neg = M("EUR", -1, -500000000);
    assert_int_equal(money_multiply(&neg, 3, &out, &err), 0);
    assert_int_equal(out.units, -4);
    assert_int_equal(out.nanos, -500000000);
    Hipstershop__Money huge = M("EUR", INT64_MAX / 2, 0);
    assert_true(money_multiply(&huge, 3, &out, &err) < 0);
    ens_error_release(&err);
}

static void conv_is(int64_t u, int32_t n, const char *to, int64_t eu, int32_t en)
{
    int64_t ou;
    int32_t on;
    currency_convert("USD", u, n, to, &ou, &on);
    assert_int_equal(ou, eu);
    assert_int_equal(on, en);
}

static void test_currency(void **state)
{
    (void)state;
    conv_is(19, 990000000, "EUR", 17, 682441398);
    conv_is(19, 990000000, "JPY", 2235, 60592707);
    conv_is(19, 990000000, "GBP", 15, 201594869);
    conv_is(19, 990000000, "CAD", 26, 749997346);
    conv_is(19, 990000000, "TRY", 108, 299648830);
    conv_is(19, 990000000, "USD", 19, 990000000);
    conv_is(8, 990000000, "EUR", 7, 952233525);
    conv_is(8, 990000000, "JPY", 1005, 162317560);
    conv_is(5, 0, "XXX", 0, 0);
    int64_t u;
    int32_t n;
    currency_convert("ABC", 5, 0, "EUR", &u, &n);
    assert_int_equal(u, 0);
    assert_int_equal(n, 0);
    currency_convert(NULL, 5, 0, NULL, &u, &n);
    assert_int_equal(u, 0);
    assert_string_equal(currency_codes[0], "EUR");
    assert_string_equal(currency_codes[32], "ZAR");
    assert_true(currency_rate("KRW") == 1275.05);
}

static void test_cards(void **state)
{
    (void)state;
    char d[32];
    assert_string_equal(card_validate("4432-8015-6152-0454", d, sizeof d), "visa");
    assert_string_equal(d, "4432801561520454");
    assert_string_equal(card_validate("5555 5555 5555 4444", d, sizeof d), "mastercard");
    assert_string_equal(card_validate("378282246310005", d, sizeof d), "amex");
    assert_string_equal(card_validate("6011111111111117", d, sizeof d), "discover");
    assert_string_equal(card_validate("3530111333300000", d, sizeof d), "jcb");
    assert_null(card_validate("4432801561520455", d, sizeof d)); /* Luhn */
    assert_null(card_validate("", d, sizeof d));
    assert_null(card_validate("4432x01561520454", d, sizeof d));
    assert_null(card_validate("44328015615204544432801561520454", d, sizeof d)); /* too long for the buffer */
    assert_true(card_luhn("79927398713"));
    assert_false(card_luhn("79927398710"));
}

static void test_catalog(void **state)
{
    (void)state;
    const char *ok = "{\"products\":[{\"id\":\"A\",\"name\":\"Alpha\",\"description\":\"d\",\"picture\":\"p\","
                     "\"priceUsd\":{\"currencyCode\":\"USD\",\"units\":1,\"nanos\":5},\"categories\":[\"x\",\"y\"]}]}";
    catalog c;
    ens_error_t err = NULL;
    assert_int_equal(catalog_parse(ok, strlen(ok), "t", &c, &err), 0);
    assert_int_equal(c.list->n_products, 1);
    assert_non_null(catalog_find(&c, "A"));
    assert_null(catalog_find(&c, "B"));
    assert_int_equal(c.list->products[0]->n_categories, 2);
    catalog_free(&c);
    const char *bad[] = {
        "", "[]", "{\"products\":{}}", "{\"products\":[1]}",
        "{\"products\":[{\"id\":\"A\",\"name\":\"x\"}]}",
        "{\"products\":[{\"id\":\"A\",\"name\":\"x\",\"priceUsd\":{\"currencyCode\":\"USD\",\"units\":1,\"nanos\":-1}}]}",
        "{\"products\":[{\"id\":\"A\",\"name\":\"x\",\"priceUsd\":{\"currencyCode\":\"USD\"},\"categories\":[3]}]}",
        "{\"products\":[{\"id\":\"\",\"name\":\"x\",\"priceUsd\":{\"currencyCode\":\"USD\"}}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_true(catalog_parse(bad[i], strlen(bad[i]), "t", &c, &err) < 0);
        assert_non_null(strstr(ens_error_msg(err), "catalog t"));
        ens_error_release(&err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_money),
        cmocka_unit_test(test_currency),
        cmocka_unit_test(test_cards),
        cmocka_unit_test(test_catalog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
