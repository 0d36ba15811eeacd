/* SPDX-License-Identifier: Apache-2.0 */
/* Closed-loop gRPC load client for the boutique back ends: N callers each
 * issue one call after another for a fixed time; prints requests/s and
 * latency percentiles.
 *   boutique-loadgen --target 127.0.0.1:7000 --rpc convert --callers 8 --seconds 5
 *   boutique-loadgen --target 127.0.0.1:5050 --cart 127.0.0.1:7070 --rpc placeorder ...
 * Each caller thread has its own channel (connection) unless --shared-channel. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hipstershop.pb-c.h"
#include "rpc.h"

enum kind { CONVERT, PLACEORDER };

struct caller {
    int id;
    rpc_channel *ch, *cart;
    double *lat; /* ms */
    size_t n, cap;
    size_t errors;
    int last_error;
    char last_msg[200];
};

static enum kind kind = CONVERT;
static double seconds = 5, warmup = 1;
static atomic_int phase; /* 0 warmup, 1 measuring, 2 stop */

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int one_call(struct caller *c, unsigned long seq, rpc_status *st, double *ms)
{
    ProtobufCMessage *resp = NULL;
    int code;
    if (kind == CONVERT) {
        Hipstershop__Money from = HIPSTERSHOP__MONEY__INIT;
        from.currency_code = "USD";
        from.units = 19 + (int64_t)(seq % 100);
        from.nanos = 990000000;
        static const char *to[] = {"EUR", "JPY", "GBP", "CAD", "TRY"};
        Hipstershop__CurrencyConversionRequest req = HIPSTERSHOP__CURRENCY_CONVERSION_REQUEST__INIT;
        req.from = &from;
        req.to_code = (char *)to[seq % 5];
        double t0 = now_ms();
        code = rpc_call(c->ch, "/hipstershop.CurrencyService/Convert", &req.base, &hipstershop__money__descriptor,
                        &resp, st);
        *ms = now_ms() - t0;
    } else {
        char user[64];
        snprintf(user, sizeof user, "bench-%d", c->id);
        /* fill the cart (not timed), then time PlaceOrder */
        Hipstershop__CartItem item = HIPSTERSHOP__CART_ITEM__INIT;
        item.product_id = (seq & 1) ? "OLJCESPC7Z" : "6E92ZMYYFZ";
        item.quantity = 2;
        Hipstershop__AddItemRequest add = HIPSTERSHOP__ADD_ITEM_REQUEST__INIT;
        add.user_id = user;
        add.item = &item;
        code = rpc_call(c->cart, "/hipstershop.CartService/AddItem", &add.base, &hipstershop__empty__descriptor,
                        &resp, st);
        if (code != RPC_OK)
            return code;
        protobuf_c_message_free_unpacked(resp, NULL);
        resp = NULL;
        Hipstershop__Address addr = HIPSTERSHOP__ADDRESS__INIT;
        addr.street_address = "1600 Amphitheatre Parkway";
        addr.city = "Mountain View";
        addr.state = "CA";
        addr.country = "United States";
        addr.zip_code = 94043;
        Hipstershop__CreditCardInfo card = HIPSTERSHOP__CREDIT_CARD_INFO__INIT;
        card.credit_card_number = "4432-8015-6152-0454";
        card.credit_card_cvv = 672;
        card.credit_card_expiration_year = 2099;
        card.credit_card_expiration_month = 1;
        Hipstershop__PlaceOrderRequest req = HIPSTERSHOP__PLACE_ORDER_REQUEST__INIT;
        req.user_id = user;
        req.user_currency = "EUR";
        req.address = &addr;
        req.email = "bench@example.com";
        req.credit_card = &card;
        double t0 = now_ms();
        code = rpc_call(c->ch, "/hipstershop.CheckoutService/PlaceOrder", &req.base,
                        &hipstershop__place_order_response__descriptor, &resp, st);
        *ms = now_ms() - t0;
    }
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    return code;
}

static void *caller_main(void *arg)
{
    struct caller *c = arg;
    unsigned long seq = (unsigned long)c->id * 7919;
    while (atomic_load(&phase) < 2) {
        rpc_status st;
        double ms = 0;
        int code = one_call(c, seq++, &st, &ms);
        if (atomic_load(&phase) != 1)
            continue;
        if (code != RPC_OK) {
            c->errors++;
            c->last_error = code;
            snprintf(c->last_msg, sizeof c->last_msg, "%.199s", st.message);
            continue;
        }
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 4096;
            double *l = realloc(c->lat, cap * sizeof *l);
            if (!l)
                continue;
            c->lat = l;
            c->cap = cap;
        }
        c->lat[c->n++] = ms;
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: boutique-loadgen --target HOST:PORT [--rpc convert|placeorder] [--cart HOST:PORT]\n"
               "       [--callers N] [--seconds S] [--warmup S] [--shared-channel] [--json]\n");
}

int main(int argc, char **argv)
{
    const char *target = NULL, *cart = NULL;
    int callers = 1, shared = 0, json = 0;
    static const struct option opts[] = {
        {"target", required_argument, NULL, 't'}, {"rpc", required_argument, NULL, 'r'},
        {"cart", required_argument, NULL, 'c'},   {"callers", required_argument, NULL, 'n'},
        {"seconds", required_argument, NULL, 's'}, {"warmup", required_argument, NULL, 'w'},
        {"shared-channel", no_argument, NULL, 'S'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 't': target = optarg; break;
        case 'c': cart = optarg; break;
        case 'r':
            if (strcmp(optarg, "convert") == 0) kind = CONVERT;
            else if (strcmp(optarg, "placeorder") == 0) kind = PLACEORDER;
            else { usage(stderr); return 2; }
            break;
        case 'n': callers = atoi(optarg); break;
        case 's': seconds = atof(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case 'S': shared = 1; break;
        case 'j': json = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!target || callers < 1 || callers > 1024 || seconds <= 0 || (kind == PLACEORDER && !cart)) {
        usage(stderr);
        return 2;
    }
    ens_error_t err = NULL;
    struct caller *cs = calloc((size_t)callers, sizeof *cs);
    pthread_t *th = calloc((size_t)callers, sizeof *th);
    rpc_channel *shared_ch = NULL, *shared_cart = NULL;
    if (!cs || !th)
        return 1;
    for (int i = 0; i < callers; i++) {
        cs[i].id = i;
        if (shared || i == 0) {
            if (!shared_ch) {
                shared_ch = rpc_channel_new(target, 10000, &err);
                shared_cart = cart ? rpc_channel_new(cart, 10000, &err) : NULL;
                if (!shared_ch || (cart && !shared_cart))
                    return ens_error_report(&err, "boutique-loadgen");
            }
            cs[i].ch = shared_ch;
            cs[i].cart = shared_cart;
        } else {
            cs[i].ch = rpc_channel_new(target, 10000, &err);
            cs[i].cart = cart ? rpc_channel_new(cart, 10000, &err) : NULL;
            if (!cs[i].ch || (cart && !cs[i].cart))
                return ens_error_report(&err, "boutique-loadgen");
        }
    }
    for (int i = 0; i < callers; i++)
        pthread_create(&th[i], NULL, caller_main, &cs[i]);
    struct timespec w = {(time_t)warmup, (long)((warmup - (double)(time_t)warmup) * 1e9)};
    nanosleep(&w, NULL);
    double t0 = now_ms();
    atomic_store(&phase, 1);
    struct timespec d = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&d, NULL);
    atomic_store(&phase, 2);
    double elapsed = (now_ms() - t0) / 1e3;
    for (int i = 0; i < callers; i++)
        pthread_join(th[i], NULL);
    size_t total = 0, errors = 0;
    for (int i = 0; i < callers; i++) {
        total += cs[i].n;
        errors += cs[i].errors;
    }
    double *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < callers; i++) {
        memcpy(all + k, cs[i].lat, cs[i].n * sizeof *all);
        k += cs[i].n;
    }
    qsort(all, total, sizeof *all, cmp_double);
    double p50 = total ? all[total / 2] : 0, p99 = total ? all[(size_t)((double)(total - 1) * 0.99)] : 0;
    double rps = (double)total / elapsed;
    if (json)
        printf("{\"rpc\":\"%s\",\"callers\":%d,\"requests\":%zu,\"errors\":%zu,\"rps\":%.1f,\"p50_ms\":%.3f,"
               "\"p99_ms\":%.3f}\n",
               kind == CONVERT ? "convert" : "placeorder", callers, total, errors, rps, p50, p99);
    else
        printf("%-10s callers=%-3d %9.1f req/s  p50 %7.3f ms  p99 %7.3f ms  (%zu ok, %zu errors)\n",
               kind == CONVERT ? "Convert" : "PlaceOrder", callers, rps, p50, p99, total, errors);
    for (int i = 0; i < callers && errors; i++)
        if (cs[i].errors) {
            fprintf(stderr, "boutique-loadgen: last error: %s: %s\n", rpc_code_name(cs[i].last_error),
                    cs[i].last_msg);
            break;
        }
    for (int i = 0; i < callers; i++) {
        if (cs[i].ch != shared_ch)
            rpc_channel_free(cs[i].ch);
        if (cs[i].cart != shared_cart)
            rpc_channel_free(cs[i].cart);
        free(cs[i].lat);
    }
    rpc_channel_free(shared_ch);
    rpc_channel_free(shared_cart);
    free(all);
    free(cs);
    free(th);
    return errors && !total ? 1 : 0;
}
