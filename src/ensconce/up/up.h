/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ensconce up/down/ps/logs: a Compose file's services as runc containers on
 * this machine (docs/up.md).  Every service shares the host's network
 * namespace (so all traffic stays on loopback); service names resolve to
 * 127.0.0.1 through a generated /etc/hosts.  State lives in a project
 * directory: bundles, logs, volumes, the runc root and up.json.
 */
#ifndef ENSCONCE_CLI_UP_H
#define ENSCONCE_CLI_UP_H

#include <jansson.h>
#include <stdbool.h>

#include "core/error.h"

/* Reads and validates the Compose subset (services, image, environment, ports,
 * depends_on, volumes, healthcheck, command, entrypoint, devices, cap_add,
 * x-ensconce-probe, x-ensconce-session).  *out is a normalised document:
 * {"name": PROJECT, "services": [{...}, ...] in start order (dependencies first)}. */
int up_compose_load(const char *path, const char *project, json_t **out, ens_error_t *err);
/* The same from text in memory (path names it in errors). */
int up_compose_parse(const char *text, size_t len, const char *path, const char *project, json_t **out,
                     ens_error_t *err);

/* Unpacks a service's image into a runc bundle and adapts config.json (environment, command,
 * host network, /etc/hosts, tmpfs, volumes, FUSE, capabilities). */
struct up_bundle_ctx {
    const char *hosts_file;  /* bind-mounted read-only at /etc/hosts */
    const char *volumes_dir; /* named volumes live in VOLUMES_DIR/NAME */
    const char *compose_dir; /* relative bind sources are relative to it */
};
int up_bundle_prepare(const struct up_bundle_ctx *c, json_t *svc, const char *bundle, ens_error_t *err);

/* Project name and state: -p, else the Compose file's "name", else its directory's name. */
struct up_project {
    char *name;
    char *state;
    char *compose_path; /* NULL when no Compose file was found (down/ps/logs use up.json) */
};
int up_project_resolve(const char *compose_arg, const char *project_arg, const char *state_arg, bool need_compose,
                       struct up_project *p, ens_error_t *err);
void up_project_free(struct up_project *p);

/* Health of a running service: 1 healthy, 0 not yet, -1 failed for good (message in err). */
int up_health_check(const char *state, const char *id, json_t *health, ens_error_t *err);

/* The project's state directory: --state-dir, $ENSCONCE_STATE_DIR/PROJECT, or /run/ensconce/PROJECT. */
char *up_state_dir(const char *explicit_dir, const char *project);

/* Local CAS and LAS: started (as background processes, logs in STATE/logs) unless
 * reachable already; the CAS is attested and pinned, the LAS registered with it. */
int up_infra_start(const char *state, ens_error_t *err);
int up_infra_stop(const char *state, ens_error_t *err);

/* runc wrappers (runc --root STATE/runc). */
int up_runc(const char *state, const char *const *args, const char *log_path, ens_error_t *err);
/* "running", "stopped", "created", ... or NULL when the container does not exist (malloc'd). */
char *up_runc_status(const char *state, const char *id);
/* Stops (SIGTERM, then SIGKILL after timeout_s) and deletes a container. */
int up_runc_stop(const char *state, const char *id, int timeout_s, ens_error_t *err);

/* The container id of a service. */
char *up_container_id(const char *project, const char *service);

/* Runs PROGRAM (this executable's sibling binaries or PATH) and waits; output to log_path or inherited. */
int up_spawn_wait(char *const argv[], const char *log_path, ens_error_t *err);
/* Starts PROGRAM in the background (own session) with output to log_path; *pid set. */
int up_spawn_bg(char *const argv[], const char *log_path, pid_t *pid, ens_error_t *err);
/* Path of a sibling program of this executable (build tree or installed layout), or the bare name. */
char *up_sibling(const char *name);

/* Waits until something accepts TCP connections on 127.0.0.1:port. */
bool up_wait_port(int port, int timeout_ms);

#endif
