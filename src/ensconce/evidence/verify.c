/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce evidence verify FILE [--collateral PATH]... [--at TIME]` */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "crypto/digest.h"
#include "evidence/evidence.h"
#include "tee/tee.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ensconce evidence verify FILE [OPTIONS]\n"
            "\n"
            "Verifies an Intel SGX quote (v3), Intel TDX quote (v4/v5) or AMD SEV-SNP report\n"
            "offline and prints its verified claims as JSON, or the failing step.\n"
            "\n"
            "Options:\n"
            "  -c, --collateral PATH   collateral file or store directory (repeatable): TCB Info,\n"
            "                          QE Identity, bundle JSON, certificates (Intel root, AMD\n"
            "                          ARK/ASK, VCEK/VLEK), CRLs\n"
            "      --at TIME           verification time: YYYY-MM-DDThh:mm:ssZ, YYYY-MM-DD or @EPOCH\n"
            "                          (default: now)\n"
            "      --type TYPE         sgx, tdx or snp (default: detected)\n"
            "      --aux FILE          SNP certificate table (configfs-tsm auxblob)\n"
            "      --allow-trailing    accept non-zero bytes after an Intel quote (not signed)\n"
            "      --parse-only        print the claims without verifying anything\n"
            "      --policy FILE       JSON {\"attestation\": {mode, tolerate, ignore_advisories},\n"
            "                          \"measurements\": {...}}: also apply this policy\n"
            "      --report-data HEX   expected REPORTDATA (64 bytes as 128 hex digits)\n"
            "  -h, --help              this help\n"
            "\n"
            "Exit status: 0 verified (and accepted), 1 rejected, 2 usage error.\n");
}

int ens_evidence_parse_time(const char *s, time_t *out)
{
    int y, mo, d, h = 0, mi = 0, se = 0, n = 0;
    if (s[0] == '@') {
        char *end;
        long long v = strtoll(s + 1, &end, 10);
        if (end == s + 1 || *end)
            return -1;
        *out = (time_t)v;
        return 0;
    }
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &se, &n) == 6 && n == (int)strlen(s)) {
    } else if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 && n == (int)strlen(s)) {
        h = mi = se = 0;
    } else {
        return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = se};
    *out = timegm(&tm);
    return 0;
}

static int add_collateral(struct ens_tee_collateral *c, const char *path, ens_error_t *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return ens_error_errno(err, "collateral %s", path);
    if (S_ISDIR(st.st_mode))
        return ens_tee_collateral_load_dir(c, path, err);
    return ens_tee_collateral_add_file(c, path, err);
}

int ens_cmd_evidence_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"collateral", required_argument, NULL, 'c'}, {"at", required_argument, NULL, 'a'},
        {"type", required_argument, NULL, 't'},       {"aux", required_argument, NULL, 'x'},
        {"allow-trailing", no_argument, NULL, 'T'},   {"parse-only", no_argument, NULL, 'P'},
        {"policy", required_argument, NULL, 'p'},     {"report-data", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    const char *cmd = "evidence verify";
    _cleanup_error_ ens_error_t err = NULL;
    struct ens_tee_collateral *c = ens_tee_collateral_new();
    if (!c) {
        fprintf(stderr, "ensconce %s: out of memory\n", cmd);
        return 1;
    }
    time_t at = time(NULL);
    enum ens_tee_type type = ENS_TEE_UNKNOWN;
    const char *aux_path = NULL, *policy_path = NULL, *rd_hex = NULL;
    bool allow_trailing = false, parse_only = false;
    int ret = 1, o;
    _cleanup_free_ char *ev = NULL, *aux = NULL;
    json_t *claims = NULL, *policy_doc = NULL;
    optind = 1;
    while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            if (add_collateral(c, optarg, &err) < 0) {
                ret = ens_error_report(&err, "ensconce evidence verify: collateral");
                goto out;
            }
            break;
        case 'a':
            if (ens_evidence_parse_time(optarg, &at) < 0) {
                ret = ens_cli_usage_error(cmd, "--at: invalid time '%s'", optarg);
                goto out;
            }
            break;
        case 't':
            if ((type = ens_tee_type_from_name(optarg)) == ENS_TEE_UNKNOWN) {
                ret = ens_cli_usage_error(cmd, "--type must be sgx, tdx or snp");
                goto out;
            }
            break;
        case 'x': aux_path = optarg; break;
        case 'T': allow_trailing = true; break;
        case 'P': parse_only = true; break;
        case 'p': policy_path = optarg; break;
        case 'r': rd_hex = optarg; break;
        case 'h':
            usage(stdout);
            ret = 0;
            goto out;
        default: ret = ens_cli_usage_error(cmd, "invalid option"); goto out;
        }
    }
    if (optind != argc - 1) {
        ret = ens_cli_usage_error(cmd, "expected exactly one evidence FILE");
        goto out;
    }
    uint8_t rd[64];
    if (rd_hex && (strlen(rd_hex) != 128 || ens_hex_decode(rd_hex, rd, 64, NULL) < 0)) {
        ret = ens_cli_usage_error(cmd, "--report-data must be 128 hex digits");
        goto out;
    }
    const char *file = argv[optind];
    size_t len, aux_len = 0;
    if (ens_read_file(file, ENS_TEE_EVIDENCE_MAX, &ev, &len, &err) < 0 ||
        (aux_path && ens_read_file(aux_path, ENS_TEE_EVIDENCE_MAX, &aux, &aux_len, &err) < 0)) {
        ret = ens_error_report(&err, "ensconce evidence verify");
        goto out;
    }
    struct ens_tee_policy pol = {0};
    if (policy_path) {
        json_error_t je;
        policy_doc = json_load_file(policy_path, JSON_REJECT_DUPLICATES, &je);
        if (!policy_doc || !json_is_object(policy_doc)) {
            fprintf(stderr, "ensconce %s: %s: invalid policy JSON (line %d: %s)\n", cmd, policy_path, je.line, je.text);
            goto out;
        }
        if (ens_tee_policy_from_json(json_object_get(policy_doc, "attestation"),
                                     json_object_get(policy_doc, "measurements"), &pol, &err) < 0) {
            ret = ens_error_report(&err, "ensconce evidence verify");
            goto out;
        }
    }
    int r;
    if (parse_only) {
        r = ens_tee_parse((const uint8_t *)ev, len, type, &claims, &err);
    } else {
        struct ens_tee_input in = {.evidence = (const uint8_t *)ev, .len = len, .type = type,
                                   .aux = (const uint8_t *)aux, .aux_len = aux_len,
                                   .allow_trailing_data = allow_trailing};
        r = ens_tee_verify_ex(&in, c, at, &claims, &err);
    }
    if (r < 0) {
        fprintf(stderr, "ensconce %s: %s: rejected: %s\n", cmd, file, ens_error_msg(err));
        ens_tee_policy_clear(&pol);
        goto out;
    }
    if ((policy_path || rd_hex) && !parse_only) {
        if (ens_tee_check_policy(claims, &pol, rd_hex ? rd : NULL, &err) < 0) {
            fprintf(stderr, "ensconce %s: %s: rejected: %s\n", cmd, file, ens_error_msg(err));
            ens_tee_policy_clear(&pol);
            goto out;
        }
        json_object_set_new(claims, "policy", json_string("accepted"));
    }
    ens_tee_policy_clear(&pol);
    json_dumpf(claims, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
    fputc('\n', stdout);
    ret = 0;
out:
    json_decref(claims);
    json_decref(policy_doc);
    ens_tee_collateral_free(c);
    return ret;
}
