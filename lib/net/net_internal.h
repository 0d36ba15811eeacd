/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between the files of lib/net (not part of its public header). */
#ifndef ENS_NET_INTERNAL_H
#define ENS_NET_INTERNAL_H

#include <openssl/x509.h>

#include "core/error.h"

/* An error from OpenSSL's error queue ("what: reason"), which it then clears; if_empty when the
 * queue holds nothing. */
int net_ssl_error(ens_error_t *err, const char *what, const char *if_empty);

/* Certificate verification callback accepting any chain: peers are identified by the hash of
 * their key (a pin or an attested key), checked after the handshake. */
int net_accept_any_cert(int ok, X509_STORE_CTX *ctx);

#endif
