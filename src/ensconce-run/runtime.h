/* SPDX-License-Identifier: Apache-2.0 */
/* ensconce-run internals: configuration, memory-only files, name resolution, PID 1 supervision. */
#ifndef ENSCONCE_RUN_RUNTIME_H
#define ENSCONCE_RUN_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "core/error.h"

#define ENS_RUN_DEFAULT_CONFIG "/.ensconce/run.json"
#define ENS_RUN_DEFAULT_MEMDIR "/.ensconce/mem"
#define ENS_RUN_MAX_CONFIG (1u << 20)

enum ens_run_shield_mode { ENS_SHIELD_MODE_AUTO, ENS_SHIELD_MODE_FUSE, ENS_SHIELD_MODE_MEMORY };

struct ens_run_volume_dir {
    char *name; /* policy volume name */
    char *dir;  /* encrypted backing directory inside the container */
};

/* The runtime's configuration: /.ensconce/run.json (docs/runtime.md) plus environment overrides. */
struct ens_run_config {
    char *config_id;            /* "SESSION/SERVICE" */
    char *cas_addr;             /* HOST:PORT */
    char *las_addr;             /* HOST:PORT or unix:/path */
    uint8_t cas_pin[32];
    bool have_pin;
    int timeout_s;              /* total time allowed to reach the CAS (bounded retries) */
    char *memory_dir;           /* memory-backed directory for injection files and unpacked shields */
    /* measured settings */
    char *measured_json;        /* the "measured" object as given (canonicalised by lib/measure) */
    char *exe;                  /* service executable */
    char *path;                 /* PATH for looking it up (NULL: default) */
    char *shield_dir;           /* the image's shield (NULL: none) */
    char *shield_mountpoint;
    enum ens_run_shield_mode shield_mode;
    struct ens_run_volume_dir *volumes;
    size_t nvolumes;
    bool have_user;
    uid_t uid;
    gid_t gid;
};

/* Reads path (missing file: all defaults) and applies ENSCONCE_* / SCONE_* variables from env. */
int ens_run_config_load(const char *path, char *const *env, struct ens_run_config *c, ens_error_t *err);
void ens_run_config_free(struct ens_run_config *c);
const char *ens_run_volume_dir(const struct ens_run_config *c, const char *name);

/* The configuration the CAS released (lib/policy's ens_policy_service_config format). */
struct ens_run_file { char *path; unsigned char *data; size_t len; };
struct ens_run_volume { char *name; char *path; uint8_t key[32]; uint8_t tag[32]; bool have_tag; char tag_hex[65]; };
struct ens_run_service {
    char **argv;      /* NULL-terminated */
    char **envp;      /* NULL-terminated, "K=V" */
    char *pwd;
    struct ens_run_file *files;
    size_t nfiles;
    bool have_fspf;
    uint8_t fspf_key[32];
    uint8_t fspf_tag[32];
    struct ens_run_volume *volumes;
    size_t nvolumes;
    bool have_user;
    uid_t uid;
    gid_t gid;
};
int ens_run_service_parse(const json_t *cfg, struct ens_run_service *s, ens_error_t *err);
void ens_run_service_free(struct ens_run_service *s);

/* Memory-only storage. */
bool ens_run_is_memory_fs(const char *path);
/* Makes dir exist and be memory-backed (mounting a tmpfs when allowed); fails closed otherwise. */
int ens_run_memory_dir(const char *dir, ens_error_t *err);
/* Writes each injection file without its content ever reaching a disk (docs/runtime.md). */
int ens_run_inject(const char *memdir, const struct ens_run_file *files, size_t n, ens_error_t *err);

/* Resolves "HOST:PORT" to "NUMERIC:PORT" from /etc/hosts, else with libevent's evdns (/etc/resolv.conf), since
 * static glibc cannot use NSS.  unix: addresses and numeric hosts are returned unchanged. */
int ens_run_resolve_addr(const char *addr, int default_port, int timeout_s, char **out, ens_error_t *err);

/* PID 1: runs argv with envp (after chdir/setuid in the child), forwards signals, reaps every child,
 * and returns the service's exit status (128+N when killed by signal N). */
struct ens_run_exec {
    const char *exe;  /* resolved executable */
    char *const *argv;
    char *const *envp;
    const char *pwd;
    bool set_user;
    uid_t uid;
    gid_t gid;
};
int ens_run_supervise(const struct ens_run_exec *x, int *status, ens_error_t *err);
/* Blocks the forwarded signals (before starting threads), so that only the supervisor takes them. */
void ens_run_block_signals(void);

#endif
