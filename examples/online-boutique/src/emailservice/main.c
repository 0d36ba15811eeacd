/* SPDX-License-Identifier: Apache-2.0 */
/* emailservice: SendOrderConfirmation (port 8080).  Like upstream's dummy
 * mode it sends nothing: it logs the request (and the order id). */
#include <string.h>

#include "boutique.h"

static void send_confirmation(void *ctx, const ProtobufCMessage *req, rpc_reply *reply)
{
    (void)ctx;
    const Hipstershop__SendOrderConfirmationRequest *r = (const Hipstershop__SendOrderConfirmationRequest *)req;
    if (!r->email[0]) {
        rpc_reply_error(reply, RPC_INVALID_ARGUMENT, "email is required");
        return;
    }
    blog_info("A request to send order confirmation email to %s has been received (order %s, %zu items).", r->email,
              r->order ? r->order->order_id : "", r->order ? r->order->n_items : (size_t)0);
    Hipstershop__Empty resp = HIPSTERSHOP__EMPTY__INIT;
    rpc_reply_message(reply, &resp.base);
}

int main(void)
{
    blog_init("emailservice");
    static const struct boutique_method methods[] = {
        {"/hipstershop.EmailService/SendOrderConfirmation", &hipstershop__send_order_confirmation_request__descriptor,
         send_confirmation},
        {NULL, NULL, NULL},
    };
    return boutique_serve("emailservice", "hipstershop.EmailService", "8080", methods, NULL, 0);
}
