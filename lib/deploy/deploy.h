/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Deployment output of the converter: a Helm chart per service (with the
 * replaced product's values), plain manifests (the chart rendered with its
 * default values, by our renderer for the documented template subset), a
 * Compose service, and the charts of the CAS and LAS themselves.
 */
#ifndef ENSCONCE_DEPLOY_H
#define ENSCONCE_DEPLOY_H

#include <jansson.h>
#include <stddef.h>

#include "core/error.h"

struct ens_probe {
    const char *kind; /* "grpc", "http" or "tcp" */
    int port;
    const char *path; /* http only */
};

struct ens_deploy_volume {
    const char *name; /* DNS-1123 label */
    const char *path; /* mount path in the container */
};

struct ens_deploy_spec {
    const char *name;          /* chart and Kubernetes name (DNS-1123, <= 53 chars) */
    const char *image;         /* the converted image's reference */
    const char *config_id;     /* SESSION/SERVICE */
    const char *cas_addr;      /* default "cas" */
    int las_port;              /* default 18766 */
    const char *workload;      /* deployment (default) | statefulset | daemonset | job */
    const char *device_plugin; /* cvm (default) | scone | azure | intel | disabled */
    const char *shield_mode;   /* memory (default) | fuse */
    const char *service_type;  /* ClusterIP (default) | NodePort | LoadBalancer */
    const int *ports;          /* exposed ports (--k8s-helm-expose) */
    size_t nports;
    const struct ens_probe *probe; /* liveness + readiness, or NULL */
    const struct ens_deploy_volume *volumes; /* --k8s-helm-volume */
    size_t nvolumes;
    const char *const *sets; /* --k8s-helm-set PARAM=VALUE, PARAM a dotted path */
    size_t nsets;
};

/* Checks a spec (names, enumerations, ports); the error names the bad field. */
int ens_deploy_check(const struct ens_deploy_spec *s, ens_error_t *err);

/* The chart's values.yaml content as JSON (after --k8s-helm-set overrides). */
int ens_deploy_values(const struct ens_deploy_spec *s, json_t **values, ens_error_t *err);

/* Writes OUT_DIR/NAME/{Chart.yaml,values.yaml,templates/...}; all or nothing. */
int ens_deploy_write_chart(const struct ens_deploy_spec *s, const char *out_dir, ens_error_t *err);

/* Writes the infrastructure chart "cas" or "las" to OUT_DIR/ensconce-<which>. */
int ens_deploy_write_infra_chart(const char *which, const char *out_dir, ens_error_t *err);

/* Renders a chart directory like `helm template`: every templates/NAME.yaml
 * (not _NAME.tpl, not NOTES.txt) with .Values = values.yaml deep-merged with
 * overrides (may be NULL); documents joined with "---".  *yaml is malloc'd. */
int ens_deploy_render(const char *chart_dir, json_t *overrides, const char *release, const char *ns, char **yaml,
                      ens_error_t *err);

/* A Compose file (YAML) with this one service. */
int ens_deploy_compose(const struct ens_deploy_spec *s, char **yaml, ens_error_t *err);

/* Applies one Helm-style "a.b.c=value" assignment (value parsed as a YAML scalar). */
int ens_deploy_set(json_t *values, const char *assignment, ens_error_t *err);

#endif
