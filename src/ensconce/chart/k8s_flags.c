/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chart/chart.h"

static int parse_port(const char *s, int *port)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || (*end != '\0' && *end != '/') || v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

int ens_k8s_flag(struct ens_k8s_flags *f, int opt, const char *arg, const char *cmd)
{
    struct ens_deploy_spec *s = &f->spec;
    switch (opt) {
    case 0x1000:
        s->workload = arg;
        return 1;
    case 0x1001:
        if (s->nports == 32 || parse_port(arg, &f->ports[s->nports]) < 0)
            return ens_cli_usage_error(cmd, "--k8s-helm-expose: '%s' is not a port (1-65535)", arg), -1;
        s->ports = f->ports;
        s->nports++;
        return 1;
    case 0x1002:
        f->output_dir = arg;
        return 1;
    case 0x1003:
        if (s->nsets == 64 || strchr(arg, '=') == NULL)
            return ens_cli_usage_error(cmd, "--k8s-helm-set: expected PARAM=VALUE, got '%s'", arg), -1;
        f->sets[s->nsets++] = arg;
        s->sets = f->sets;
        return 1;
    case 0x1004: {
        const char *colon = strchr(arg, ':');
        if (s->nvolumes == 32 || colon == NULL || colon == arg || colon[1] != '/')
            return ens_cli_usage_error(cmd, "--k8s-helm-volume: expected NAME:/PATH, got '%s'", arg), -1;
        f->volumes[s->nvolumes].name = strndup(arg, (size_t)(colon - arg));
        f->volumes[s->nvolumes].path = colon + 1;
        s->volumes = f->volumes;
        s->nvolumes++;
        return 1;
    }
    case 0x1005: {
        const char *colon = strchr(arg, ':');
        if (colon == NULL)
            return ens_cli_usage_error(cmd, "--k8s-helm-probe: expected grpc:PORT, tcp:PORT or http:PORT[/PATH]"), -1;
        f->probe.kind = strndup(arg, (size_t)(colon - arg));
        if (parse_port(colon + 1, &f->probe.port) < 0)
            return ens_cli_usage_error(cmd, "--k8s-helm-probe: bad port in '%s'", arg), -1;
        const char *slash = strchr(colon + 1, '/');
        f->probe.path = slash;
        if (slash && strcmp(f->probe.kind, "http") != 0)
            return ens_cli_usage_error(cmd, "--k8s-helm-probe: a path is only for http probes"), -1;
        s->probe = &f->probe;
        return 1;
    }
    case 0x1006:
        s->device_plugin = arg;
        return 1;
    case 0x1007:
        s->service_type = arg;
        return 1;
    case 0x1008:
        s->shield_mode = arg;
        return 1;
    }
    return 0;
}
