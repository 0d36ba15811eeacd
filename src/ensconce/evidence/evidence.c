/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce evidence`: hardware evidence (SGX/TDX quotes, SNP reports). */
#include "cli.h"
#include "evidence/evidence.h"

int ens_cmd_evidence(int argc, char **argv)
{
    static const struct ens_subcommand table[] = {
        {"verify", ens_cmd_evidence_verify, "verify a quote or report offline and print its claims"},
        {"get", ens_cmd_evidence_get, "obtain a TDX quote or SNP report through configfs-tsm"},
        {NULL, NULL, NULL},
    };
    return ens_cli_dispatch("evidence", table, argc, argv);
}
