/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce cas`: attest and pin a CAS, register platforms, verify the audit log. */
#include <stddef.h>

#include "cli.h"
#include "cas/cascmd.h"

int ens_cmd_cas(int argc, char **argv)
{
    static const struct ens_subcommand table[] = {
        {"attest", ens_cmd_cas_attest, "verify a CAS's evidence and pin its certificate"},
        {"platform", ens_cmd_cas_platform, "register (add) or list LAS node keys the CAS trusts"},
        {"audit", ens_cmd_cas_audit, "verify the CAS's hash-chained audit log"},
        {"identity", ens_cmd_cas_identity, "print this client's key hash (for access_policy)"},
        {"collateral", ens_cmd_cas_collateral, "add hardware attestation collateral"},
        {NULL, NULL, NULL},
    };
    return ens_cli_dispatch("cas", table, argc, argv);
}
