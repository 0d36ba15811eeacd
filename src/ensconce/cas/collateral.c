/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce cas collateral add FILE` / `list`: the CAS's offline collateral store (issue 9). */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "crypto/digest.h"
#include "tee/tee.h"

#define DEFAULT_STORE "/var/lib/ensconce-cas/collateral"

static const char *default_store(void)
{
    const char *s = getenv("ENSCONCE_COLLATERAL_STORE");
    return s && *s ? s : DEFAULT_STORE;
}

static void usage_add(FILE *out)
{
    fprintf(out,
            "Usage: ensconce cas collateral add FILE... [--store DIR]\n"
            "\n"
            "Checks that each FILE is attestation collateral (Intel PCS TCB Info or QE Identity\n"
            "response, a collateral bundle JSON, PCK/TCB issuer chains, the Intel SGX Root CA,\n"
            "AMD ARK/ASK/ASVK, VCEK/VLEK certificates, CRLs in PEM, DER or hex) and copies it\n"
            "into the CAS's collateral store, named by kind and content digest.\n"
            "\n"
            "Options:\n"
            "  -s, --store DIR   the store (default $ENSCONCE_COLLATERAL_STORE or " DEFAULT_STORE ")\n"
            "  -h, --help        this help\n");
}

static int cmd_add(int argc, char **argv)
{
    static const struct option opts[] = {
        {"store", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *cmd = "cas collateral add", *store = default_store();
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        switch (o) {
        case 's': store = optarg; break;
        case 'h': usage_add(stdout); return 0;
        default: return ens_cli_usage_error(cmd, "invalid option");
        }
    }
    if (optind >= argc)
        return ens_cli_usage_error(cmd, "expected at least one FILE");
    _cleanup_error_ ens_error_t err = NULL;
    if (ens_mkdir_p(store, 0755, &err) < 0)
        return ens_error_report(&err, "ensconce cas collateral add");
    for (int i = optind; i < argc; i++) {
        _cleanup_free_ char *buf = NULL;
        size_t len;
        const char *kind = NULL;
        if (ens_read_file(argv[i], ENS_TEE_COLLATERAL_MAX, &buf, &len, &err) < 0)
            return ens_error_report(&err, "ensconce cas collateral add");
        /* Validate by loading it: nothing unrecognised enters the store. */
        struct ens_tee_collateral *c = ens_tee_collateral_new();
        int r = c ? ens_tee_collateral_add(c, (const uint8_t *)buf, len, argv[i], &kind, &err) : -1;
        ens_tee_collateral_free(c);
        if (r < 0) {
            if (!err)
                ens_error(&err, ENOMEM, "out of memory");
            return ens_error_report(&err, "ensconce cas collateral add");
        }
        uint8_t md[ENS_SHA256_LEN];
        char hex[ENS_SHA256_HEX_LEN + 1], name[128];
        ens_sha256(buf, len, md);
        ens_hex_encode(md, sizeof(md), hex);
        snprintf(name, sizeof(name), "%s-%.16s", kind, hex);
        _cleanup_free_ char *dst = ens_path_join(store, name);
        if (!dst || ens_write_file_atomic(dst, buf, len, 0644, &err) < 0) {
            if (!err)
                ens_error(&err, ENOMEM, "out of memory");
            return ens_error_report(&err, "ensconce cas collateral add");
        }
        printf("added %s %s as %s\n", kind, argv[i], dst);
    }
    return 0;
}

static int cmd_list(int argc, char **argv)
{
    static const struct option opts[] = {
        {"store", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *store = default_store();
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        switch (o) {
        case 's': store = optarg; break;
        case 'h': printf("Usage: ensconce cas collateral list [--store DIR]\n\nLists the collateral store and checks that it loads.\n"); return 0;
        default: return ens_cli_usage_error("cas collateral list", "invalid option");
        }
    }
    if (optind != argc)
        return ens_cli_usage_error("cas collateral list", "unexpected argument");
    _cleanup_error_ ens_error_t err = NULL;
    struct ens_tee_collateral *c = ens_tee_collateral_new();
    int r = c ? ens_tee_collateral_load_dir(c, store, &err) : ens_error(&err, ENOMEM, "out of memory");
    ens_tee_collateral_free(c);
    if (r < 0)
        return ens_error_report(&err, "ensconce cas collateral list");
    _cleanup_closedir_ DIR *d = opendir(store);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.')
            printf("%s\n", de->d_name);
    return 0;
}

int ens_cmd_cas_collateral(int argc, char **argv)
{
    static const struct ens_subcommand table[] = {
        {"add", cmd_add, "check and add collateral files to the store"},
        {"list", cmd_list, "list the store (and check that it loads)"},
        {NULL, NULL, NULL},
    };
    return ens_cli_dispatch("cas collateral", table, argc, argv);
}
