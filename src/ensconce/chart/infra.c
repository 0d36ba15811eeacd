/* SPDX-License-Identifier: Apache-2.0 */
/* ensconce chart infra cas|las [--k8s-helm-output-dir DIR] */
#include <getopt.h>
#include <stdio.h>

#include "chart/chart.h"
#include "core/cleanup.h"

int ens_cmd_chart_infra(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, 0, 'h'},
        {"k8s-helm-output-dir", required_argument, 0, 'o'},
        {"k8s-helm-output", required_argument, 0, 'o'},
        {0, 0, 0, 0},
    };
    const char *out = ".";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            printf("Usage: ensconce chart infra cas|las [--k8s-helm-output-dir=DIR]\n\n"
                   "Writes the chart of the CAS (Deployment, Service, PersistentVolumeClaim) or of the LAS\n"
                   "(DaemonSet with hostPort 18766) to DIR/ensconce-cas or DIR/ensconce-las.\n");
            return 0;
        case 'o': out = optarg; break;
        default: return ens_cli_usage_error("chart infra", "unknown option");
        }
    }
    if (optind + 1 != argc)
        return ens_cli_usage_error("chart infra", "expected cas or las");
    _cleanup_error_ ens_error_t err = NULL;
    if (ens_deploy_write_infra_chart(argv[optind], out, &err) < 0)
        return ens_error_report(&err, "ensconce chart infra");
    printf("%s/ensconce-%s\n", out, argv[optind]);
    return 0;
}
