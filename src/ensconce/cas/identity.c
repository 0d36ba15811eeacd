/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce cas identity`: this client's key hash, the value access_policy entries name. */
#include <stdio.h>

#include "cas/cascmd.h"
#include "cas/casclient.h"
#include "cli.h"
#include "core/cleanup.h"

int ens_cmd_cas_identity(int argc, char **argv)
{
    if (ens_cli_wants_help(argc, argv)) {
        printf("Usage: ensconce cas identity\n\nPrints the SHA-256 of this client's public key (creating the\n"
               "identity in the configuration directory on first use): the hash to put in access_policy\n"
               "or to give to `ensconce-cas --admin`.\n");
        return 0;
    }
    if (argc != 1)
        return ens_cli_usage_error("cas identity", "unexpected argument '%s'", argv[1]);
    _cleanup_error_ ens_error_t err = NULL;
    EVP_PKEY *k = NULL;
    X509 *c = NULL;
    char hash[65];
    if (ens_casc_identity(&k, &c, hash, &err) < 0)
        return ens_error_report(&err, "ensconce cas identity");
    printf("%s\n", hash);
    EVP_PKEY_free(k);
    X509_free(c);
    return 0;
}
