/* SPDX-License-Identifier: Apache-2.0 */
/* ensconce fs keygen: a new random volume key file. */
#include <stdio.h>

#include "cli.h"
#include "core/cleanup.h"
#include "crypto/digest.h"
#include "fs_common.h"

int ens_cmd_fs_keygen(int argc, char **argv)
{
    if (ens_cli_wants_help(argc, argv)) {
        printf("Usage: ensconce fs keygen KEY_FILE\n\nWrites 32 random bytes as 64 hex digits to the new file\n"
               "KEY_FILE (mode 0600; an existing file is never overwritten).\n");
        return 0;
    }
    if (argc != 2)
        return ens_cli_usage_error("fs keygen", "expected KEY_FILE");
    _cleanup_error_ ens_error_t err = NULL;
    uint8_t key[ENS_SHIELD_KEY_LEN];
    int rc = fs_new_key(argv[1], key, &err);
    ens_wipe(key, sizeof(key));
    return rc < 0 ? ens_error_report(&err, "ensconce fs keygen") : 0;
}
