/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ENSCONCE_CLI_CHART_H
#define ENSCONCE_CLI_CHART_H

#include "cli.h"
#include "deploy/deploy.h"

int ens_cmd_chart_create(int argc, char **argv);
int ens_cmd_chart_render(int argc, char **argv);
int ens_cmd_chart_infra(int argc, char **argv);

/* Kubernetes flags shared with `ensconce sconify` (--k8s-helm-*). */
struct ens_k8s_flags {
    struct ens_deploy_spec spec;
    int ports[32];
    struct ens_probe probe;
    struct ens_deploy_volume volumes[32];
    const char *sets[64];
    const char *output_dir;
};

/* getopt_long entries for the shared flags; option values start at 0x1000. */
#define ENS_K8S_LONG_OPTIONS                                                                     \
    {"k8s-helm-workload-type", required_argument, 0, 0x1000},                                    \
        {"k8s-helm-expose", required_argument, 0, 0x1001},                                       \
        {"k8s-helm-output-dir", required_argument, 0, 0x1002},                                   \
        {"k8s-helm-output", required_argument, 0, 0x1002},                                       \
        {"k8s-helm-set", required_argument, 0, 0x1003},                                          \
        {"k8s-helm-volume", required_argument, 0, 0x1004},                                       \
        {"k8s-helm-probe", required_argument, 0, 0x1005},                                        \
        {"k8s-device-plugin", required_argument, 0, 0x1006},                                     \
        {"k8s-service-type", required_argument, 0, 0x1007},                                      \
        {"shield-mode", required_argument, 0, 0x1008}

#define ENS_K8S_HELP                                                                                       \
    "Kubernetes output:\n"                                                                                 \
    "  --k8s-helm-workload-type=TYPE  deployment (default), statefulset, daemonset or job\n"               \
    "  --k8s-helm-expose=PORT         expose PORT in the Service (repeatable)\n"                           \
    "  --k8s-helm-output-dir=DIR      where the chart goes (alias --k8s-helm-output)\n"                    \
    "  --k8s-helm-set=PARAM=VALUE     override a chart value (dotted path, repeatable)\n"                  \
    "  --k8s-helm-volume=NAME:PATH    mount a volume at PATH (repeatable)\n"                               \
    "  --k8s-helm-probe=SPEC          liveness+readiness probe: grpc:PORT, tcp:PORT or http:PORT[/PATH]\n" \
    "  --k8s-device-plugin=P          cvm (default), scone, azure, intel or disabled (useSGXDevPlugin)\n"  \
    "  --k8s-service-type=T           ClusterIP (default), NodePort or LoadBalancer\n"                     \
    "  --shield-mode=M                memory (default, no privileges) or fuse\n"

/* Handles one shared flag; returns 1 if handled, 0 if not ours, -1 on a bad value (message printed). */
int ens_k8s_flag(struct ens_k8s_flags *f, int opt, const char *arg, const char *cmd);

#endif
