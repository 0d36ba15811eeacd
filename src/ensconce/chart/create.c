/* SPDX-License-Identifier: Apache-2.0 */
/* ensconce chart create NAME --image IMAGE --config-id SESSION/SERVICE [k8s flags] */
#include <getopt.h>
#include <stdio.h>

#include "chart/chart.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "Usage: ensconce chart create NAME --image IMAGE --config-id SESSION/SERVICE [OPTIONS]\n\n"
                 "Writes DIR/NAME/ (Chart.yaml, values.yaml, templates/) for a converted image.\n\n"
                 "  --image=IMAGE          the converted image\n"
                 "  --config-id=ID         SESSION/SERVICE of its policy\n"
                 "  --cas=ADDR             CAS address seen from the pod (default cas)\n"
                 "  --compose=FILE         also write a Compose file with this service\n"
                 ENS_K8S_HELP);
}

int ens_cmd_chart_create(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, 0, 'h'},           {"image", required_argument, 0, 'i'},
        {"config-id", required_argument, 0, 'c'}, {"cas", required_argument, 0, 'C'},
        {"compose", required_argument, 0, 'o'},  ENS_K8S_LONG_OPTIONS,
        {0, 0, 0, 0},
    };
    struct ens_k8s_flags f = {.output_dir = "."};
    const char *compose = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = ens_k8s_flag(&f, c, optarg, "chart create");
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        switch (c) {
        case 'h': usage(stdout); return 0;
        case 'i': f.spec.image = optarg; break;
        case 'c': f.spec.config_id = optarg; break;
        case 'C': f.spec.cas_addr = optarg; break;
        case 'o': compose = optarg; break;
        default: return ens_cli_usage_error("chart create", "unknown option");
        }
    }
    if (optind + 1 != argc)
        return ens_cli_usage_error("chart create", "expected exactly one chart NAME");
    f.spec.name = argv[optind];
    _cleanup_error_ ens_error_t err = NULL;
    if (ens_deploy_write_chart(&f.spec, f.output_dir, &err) < 0)
        return ens_error_report(&err, "ensconce chart create");
    if (compose) {
        _cleanup_free_ char *y = NULL;
        if (ens_deploy_compose(&f.spec, &y, &err) < 0 || ens_write_file_atomic(compose, y, strlen(y), 0644, &err) < 0)
            return ens_error_report(&err, "ensconce chart create");
    }
    printf("%s/%s\n", f.output_dir, f.spec.name);
    return 0;
}
