/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce chart`: Helm charts without Helm (create, render, infra). */
#include "chart/chart.h"

int ens_cmd_chart(int argc, char **argv)
{
    static const struct ens_subcommand table[] = {
        {"create", ens_cmd_chart_create, "write a service chart (the Kubernetes part of sconify)"},
        {"render", ens_cmd_chart_render, "render a chart to plain manifests, like 'helm template'"},
        {"infra", ens_cmd_chart_infra, "write the chart of the CAS or the LAS"},
        {NULL, NULL, NULL},
    };
    return ens_cli_dispatch("chart", table, argc, argv);
}
