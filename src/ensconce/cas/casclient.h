/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CLI's side of the CAS: the client configuration directory (identity key and
 * certificate, pinned CAS keys) and JSON calls over mutual TLS that check the pin.
 *
 * Directory: $ENSCONCE_CONFIG_DIR, else $XDG_CONFIG_HOME/ensconce, else ~/.config/ensconce.
 *   identity.key / identity.crt   this client's key (0600) and self-signed certificate,
 *                                 created on first use; its key hash identifies the client
 *   cas-pins.json                 {"HOST": {"key_id": HEX, "measurement": HEX,
 *                                  "certificate": PEM, "attested_at": EPOCH}} written by
 *                                 `ensconce cas attest`; every later call checks it.
 * Other command groups (sconify) may use these to upload sessions.
 */
#ifndef ENSCONCE_CLI_CASCLIENT_H
#define ENSCONCE_CLI_CASCLIENT_H

#include <jansson.h>
#include <stdint.h>

#include "core/error.h"
#include "net/net.h"

/* The configuration directory (malloc'd). */
char *ens_casc_config_dir(void);
/* Loads (or creates) the client identity. */
int ens_casc_identity(EVP_PKEY **key, X509 **cert, char key_hash[65], ens_error_t *err);
/* The CAS address to use: explicit, else $ENSCONCE_CAS_ADDR, else $SCONE_CAS_ADDR, else
 * 127.0.0.1; ":8081" is appended when there is no port (malloc'd). */
char *ens_casc_addr(const char *explicit_addr);
/* Stores / looks up the pin for the host of addr. */
int ens_casc_save_pin(const char *addr, const uint8_t key_id[32], const char *measurement, const char *cert_pem,
                      ens_error_t *err);
int ens_casc_load_pin(const char *addr, uint8_t key_id[32], ens_error_t *err);
/* Connects to the CAS with the client identity, checking the pin. */
int ens_casc_connect(const char *addr, ens_http_conn **out, ens_error_t *err);
/* A request whose reply is JSON; non-2xx statuses become errors with the CAS's message
 * (ens_error_status: EEXIST for 409, EPERM for 401/403, ENOENT for 404). */
int ens_casc_call(ens_http_conn *c, const char *method, const char *path, const char *ctype, const char *body,
                  size_t len, json_t **reply, ens_error_t *err);

#endif
