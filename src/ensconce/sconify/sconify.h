/* SPDX-License-Identifier: Apache-2.0 */
/* ensconce sconify: internal interfaces between the CLI, the conversion and the outputs. */
#ifndef ENSCONCE_CLI_SCONIFY_H
#define ENSCONCE_CLI_SCONIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "chart/chart.h"
#include "core/error.h"

/* Where a converted image keeps ensconce's own files (docs/sconify.md). */
#define SCONIFY_RUNTIME_PATH "/.ensconce/bin/ensconce-run"
#define SCONIFY_RUN_JSON "/.ensconce/run.json"
#define SCONIFY_SHIELD_DIR "/.ensconce/shield"
#define SCONIFY_MEMORY_DIR "/.ensconce/mem"
#define SCONIFY_SHIELD_MOUNT "/.ensconce/mem/fs"
#define SCONIFY_VOLUME_DIR "/.ensconce/volumes"

#define SCONIFY_MAX_LIST 64

struct str_list {
    const char *v[SCONIFY_MAX_LIST];
    size_t n;
};

struct sconify_opts {
    const char *from, *to;
    const char *session, *service, *ns;
    bool create_namespace;
    const char *cas, *las;
    struct str_list dirs, auth_dirs, plain, plain_files, host_paths;
    struct str_list volumes; /* NAME:PATH */
    struct str_list env;     /* K=V */
    const char *command;
    const char *binary;
    const char *identity;
    const char *runtime;     /* host path of ensconce-run */
    const char *policy_out;  /* --dry-run: where the policy goes (0600) */
    bool push_image, dry_run, allow_debug, allow_tcb, no_upload, verbose;
    const char *tls_verify;  /* "true"/"false" for registries */
    struct ens_k8s_flags k8s;
};

/* What the conversion produced. */
struct sconify_result {
    char measurement[65];
    char config_id[300];
    char *session_yaml;  /* the policy (holds the shield key: never written to disk without --dry-run) */
    char shield_key_hex[65];
    char shield_tag_hex[65];
};

int sconify_convert(const struct sconify_opts *o, struct sconify_result *r, ens_error_t *err);
void sconify_result_free(struct sconify_result *r);

/* Builds the session YAML (policy) from the image config and the options. */
int sconify_policy(const struct sconify_opts *o, json_t *image_config, char *const *argv, const char *measurement,
                   const char *shield_key_hex, const char *shield_tag_hex, char **yaml, ens_error_t *err);

/* Uploads a session to the CAS (create; with --create-namespace the parent first). */
int sconify_upload(const struct sconify_opts *o, const char *session_yaml, ens_error_t *err);

#endif
