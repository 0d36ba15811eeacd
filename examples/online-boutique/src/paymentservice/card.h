/* SPDX-License-Identifier: Apache-2.0 */
/* Credit card checks of the paymentservice (spec/boutique.md "payment"). */
#ifndef BOUTIQUE_CARD_H
#define BOUTIQUE_CARD_H

#include <stdbool.h>
#include <stddef.h>

/* Normalises (drops spaces and dashes) into out (outlen ≥ 20 recommended).
 * Returns the card type name ("visa", "amex", ...) when the number is
 * valid (type found, Luhn passes, allowed length), else NULL. */
const char *card_validate(const char *number, char *out, size_t outlen);
bool card_luhn(const char *digits);

#endif
