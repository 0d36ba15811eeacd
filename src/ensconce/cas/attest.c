/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce cas attest ADDR --measurement M`: verify the CAS's own evidence (bound to its TLS
 * key and our nonce) and pin its key for every later call. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"
#include "cas/cascmd.h"
#include "cas/casclient.h"
#include "cli.h"
#include "core/cleanup.h"
#include "crypto/digest.h"

static void help(FILE *f)
{
    fprintf(f, "Usage: ensconce cas attest ADDR --measurement M\n\n"
               "Fetches the CAS's evidence for a fresh nonce, checks that it is bound to the TLS key the CAS\n"
               "presents and that its measurement is M (see `ensconce-cas measurement`), then pins that\n"
               "key in the client configuration (cas-pins.json); later commands refuse any other key.\n"
               "ADDR is HOST[:PORT] (port 8081 by default; 18765 works too).\n\n"
               "Options:\n"
               "  -m, --measurement M   expected CAS measurement (hex)\n"
               "  -h, --help            this help\n"
               "Compatible spelling: ensconce cas attest ADDR M\n");
}

int ens_cmd_cas_attest(int argc, char **argv)
{
    const char *measurement = NULL;
    static const struct option opts[] = {{"measurement", required_argument, NULL, 'm'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': measurement = optarg; break;
        case 'h': help(stdout); return 0;
        default: return ens_cli_usage_error("cas attest", "invalid option");
        }
    }
    if (optind >= argc)
        return ens_cli_usage_error("cas attest", "missing ADDR");
    const char *addr_arg = argv[optind++];
    if (measurement == NULL && optind < argc)
        measurement = argv[optind++]; /* `scone cas attest ADDR MRENCLAVE` */
    if (optind != argc)
        return ens_cli_usage_error("cas attest", "unexpected argument '%s'", argv[optind]);
    if (measurement == NULL)
        return ens_cli_usage_error("cas attest", "missing --measurement");
    _cleanup_free_ char *m = strdup(measurement);
    for (char *p = m; p && *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p - 'A' + 'a');
    if (m == NULL || !ens_attest_hex_valid(m, 0))
        return ens_cli_usage_error("cas attest", "--measurement: expected hex digits");
    _cleanup_free_ char *addr = ens_casc_addr(addr_arg);
    _cleanup_error_ ens_error_t err = NULL;
    uint8_t pin[32];
    _cleanup_free_ char *pem = NULL;
    if (ens_attest_cas_identity(addr, m, pin, &pem, &err) < 0 || ens_casc_save_pin(addr, pin, m, pem, &err) < 0)
        return ens_error_report(&err, "ensconce cas attest");
    char hex[65];
    ens_hex_encode(pin, 32, hex);
    printf("CAS %s attested: measurement %s, key %s (pinned)\n", addr, m, hex);
    return 0;
}
