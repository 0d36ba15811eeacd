/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce evidence get --report-data HEX -o FILE`: configfs-tsm (Linux >= 6.7). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "crypto/digest.h"
#include "evidence/evidence.h"
#include "tee/tee.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ensconce evidence get --report-data HEX --out FILE [OPTIONS]\n"
            "\n"
            "Obtains a TDX quote or SNP report from inside a confidential VM through the\n"
            "Linux configfs-tsm report interface (Linux >= 6.7).\n"
            "\n"
            "Options:\n"
            "  -r, --report-data HEX  REPORTDATA, 64 bytes as 128 hex digits\n"
            "  -o, --out FILE         write the quote / report here\n"
            "      --aux-out FILE     write the SNP certificate table (auxblob) here\n"
            "      --tsm-root DIR     default /sys/kernel/config/tsm/report\n"
            "      --privlevel N      SNP VMPL to request\n"
            "  -h, --help             this help\n");
}

int ens_cmd_evidence_get(int argc, char **argv)
{
    static const struct option opts[] = {
        {"report-data", required_argument, NULL, 'r'}, {"out", required_argument, NULL, 'o'},
        {"aux-out", required_argument, NULL, 'A'},     {"tsm-root", required_argument, NULL, 'R'},
        {"privlevel", required_argument, NULL, 'L'},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "evidence get", *rd_hex = NULL, *outp = NULL, *auxp = NULL;
    struct ens_tee_tsm_opts to = {.privlevel = -1};
    _cleanup_error_ ens_error_t err = NULL;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "r:o:h", opts, NULL)) != -1) {
        switch (o) {
        case 'r': rd_hex = optarg; break;
        case 'o': outp = optarg; break;
        case 'A': auxp = optarg; break;
        case 'R': to.root = optarg; break;
        case 'L': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > 3)
                return ens_cli_usage_error(cmd, "--privlevel must be 0..3");
            to.privlevel = (int)v;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: return ens_cli_usage_error(cmd, "invalid option");
        }
    }
    uint8_t rd[64];
    if (optind != argc || !rd_hex || !outp)
        return ens_cli_usage_error(cmd, "--report-data and --out are required");
    if (strlen(rd_hex) != 128 || ens_hex_decode(rd_hex, rd, 64, NULL) < 0)
        return ens_cli_usage_error(cmd, "--report-data must be 128 hex digits");
    struct ens_tee_tsm_report rep;
    if (ens_tee_tsm_get(&to, rd, &rep, &err) < 0)
        return ens_error_report(&err, "ensconce evidence get");
    int ret = 0;
    if (ens_write_file_atomic(outp, rep.outblob, rep.outblob_len, 0644, &err) < 0 ||
        (auxp && rep.auxblob && ens_write_file_atomic(auxp, rep.auxblob, rep.auxblob_len, 0644, &err) < 0))
        ret = ens_error_report(&err, "ensconce evidence get");
    else
        fprintf(stderr, "%s evidence (%zu bytes) from %s written to %s\n", ens_tee_type_name(rep.type),
                rep.outblob_len, rep.provider, outp);
    ens_tee_tsm_report_clear(&rep);
    return ret;
}
