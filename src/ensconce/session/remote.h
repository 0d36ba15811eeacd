/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by create.c, update.c and read.c: reading a session file and talking to the CAS. */
#ifndef ENSCONCE_SESSION_REMOTE_H
#define ENSCONCE_SESSION_REMOTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

/* Reads FILE ('-' = stdin), bounded by ENS_POLICY_MAX_SIZE, applying --use-env. */
int ens_session_read_text(const char *file, bool use_env, char **text, size_t *len, ens_error_t *err);
/* POST /session with the YAML; *reply is {"name", "hash", "version", "predecessor"}. */
int ens_session_upload(const char *addr, const char *yaml, size_t len, json_t **reply, ens_error_t *err);
/* GET /v1/sessions/NAME; *reply is {"name", "hash", "session", "version", "creator"}. */
int ens_session_fetch(const char *addr, const char *name, json_t **reply, ens_error_t *err);

#endif
