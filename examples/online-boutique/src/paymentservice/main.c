/* SPDX-License-Identifier: Apache-2.0 */
/* paymentservice: Charge (port 50051).  Validates the card like upstream and
 * returns a random transaction id; no money moves. */
#include <string.h>
#include <time.h>

#include "boutique.h"
#include "card.h"
#include "core/cleanup.h"

static void charge(void *ctx, const ProtobufCMessage *req, rpc_reply *reply)
{
    (void)ctx;
    const Hipstershop__ChargeRequest *r = (const Hipstershop__ChargeRequest *)req;
    if (!r->credit_card) {
        rpc_reply_error(reply, RPC_INVALID_ARGUMENT, "Credit card info is invalid");
        return;
    }
    const Hipstershop__CreditCardInfo *cc = r->credit_card;
    char digits[64];
    const char *type = card_validate(cc->credit_card_number, digits, sizeof digits);
    if (!type) {
        rpc_reply_error(reply, RPC_INVALID_ARGUMENT, "Credit card info is invalid");
        return;
    }
    if (strcmp(type, "visa") != 0 && strcmp(type, "mastercard") != 0) {
        rpc_reply_error(reply, RPC_INVALID_ARGUMENT,
                        "Sorry, we cannot process %s credit cards. Only VISA or MasterCard is accepted.", type);
        return;
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    long long cur = (long long)(tm.tm_year + 1900) * 12 + (tm.tm_mon + 1);
    long long exp = (long long)cc->credit_card_expiration_year * 12 + cc->credit_card_expiration_month;
    size_t n = strlen(digits);
    if (cur > exp) {
        rpc_reply_error(reply, RPC_INVALID_ARGUMENT, "Your credit card (ending %s) expired on %d/%d", digits + n - 4,
                        cc->credit_card_expiration_month, cc->credit_card_expiration_year);
        return;
    }
    _cleanup_error_ ens_error_t err = NULL;
    char id[37];
    if (boutique_uuid(id, &err) < 0) {
        rpc_reply_error(reply, RPC_INTERNAL, "cannot create a transaction id");
        return;
    }
    /* Only the type and last four digits are logged, never the number. */
    blog_info("Transaction processed: %s ending %s Amount: %s%lld.%09d", type, digits + n - 4,
              r->amount && r->amount->currency_code ? r->amount->currency_code : "",
              r->amount ? (long long)r->amount->units : 0LL, r->amount ? r->amount->nanos : 0);
    Hipstershop__ChargeResponse resp = HIPSTERSHOP__CHARGE_RESPONSE__INIT;
    resp.transaction_id = id;
    rpc_reply_message(reply, &resp.base);
}

int main(void)
{
    blog_init("paymentservice");
    static const struct boutique_method methods[] = {
        {"/hipstershop.PaymentService/Charge", &hipstershop__charge_request__descriptor, charge},
        {NULL, NULL, NULL},
    };
    return boutique_serve("paymentservice", "hipstershop.PaymentService", "50051", methods, NULL, 0);
}
