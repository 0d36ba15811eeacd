/* SPDX-License-Identifier: Apache-2.0 */
/* Shared option handling of the `ensconce fs` subcommands. */
#ifndef ENSCONCE_CLI_FS_COMMON_H
#define ENSCONCE_CLI_FS_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "shield/shield.h"

/* Reads a volume key file: 64 hex digits (surrounding white space allowed) or 32 raw bytes. */
int fs_read_key(const char *path, uint8_t key[ENS_SHIELD_KEY_LEN], ens_error_t *err);
/* Creates a new random key file (mode 0600, refuses to overwrite). */
int fs_new_key(const char *path, uint8_t key[ENS_SHIELD_KEY_LEN], ens_error_t *err);
/* Tag from --tag HEX or --tag-file FILE (exactly one of them). */
int fs_get_tag(const char *hex, const char *file, uint8_t tag[ENS_SHIELD_TAG_LEN], ens_error_t *err);
/* Writes tag hex + newline atomically to path. */
int fs_write_tag(const char *path, const uint8_t tag[ENS_SHIELD_TAG_LEN], ens_error_t *err);

int ens_cmd_fs_pack(int argc, char **argv);
int ens_cmd_fs_init(int argc, char **argv);
int ens_cmd_fs_verify(int argc, char **argv);
int ens_cmd_fs_unpack(int argc, char **argv);
int ens_cmd_fs_show(int argc, char **argv);
int ens_cmd_fs_mount(int argc, char **argv);
int ens_cmd_fs_keygen(int argc, char **argv);
int ens_cmd_fs_tag(int argc, char **argv);

#endif
