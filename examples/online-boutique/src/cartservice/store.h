/* SPDX-License-Identifier: Apache-2.0 */
/* Cart storage: Redis (upstream's layout) or an in-memory table with the same
 * semantics.  Carts are kept as serialised hipstershop.Cart messages. */
#ifndef BOUTIQUE_CART_STORE_H
#define BOUTIQUE_CART_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct cart_store cart_store;

/* redis_addr "host:port" selects Redis (connected lazily, reconnected after
 * failures); NULL selects the in-memory store. */
cart_store *cart_store_new(const char *redis_addr, ens_error_t *err);
void cart_store_free(cart_store *s);
/* Loads the serialised cart of user_id: *data NULL (len 0) when there is none.
 * Returns <0 on a storage failure. */
int cart_store_get(cart_store *s, const char *user_id, uint8_t **data, size_t *len, ens_error_t *err);
/* Stores the serialised cart (replacing any previous one). */
int cart_store_put(cart_store *s, const char *user_id, const uint8_t *data, size_t len, ens_error_t *err);
/* Serialises read-modify-write sequences of one process (AddItem). */
void cart_store_lock(cart_store *s);
void cart_store_unlock(cart_store *s);

#endif
