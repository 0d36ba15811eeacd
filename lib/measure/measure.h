/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The service measurement (docs/measurement.md): one 32-byte digest over the
 * runtime itself, the service executable (and, for a "#!" script, its
 * interpreter), the ELF interpreter and shared libraries resolved inside the
 * root exactly as the dynamic loader would, and the settings that change
 * behaviour.  The same code runs offline over an image's root file system (the
 * converter) and at start inside the container (the runtime, root "/"), so
 * both compute the same value for the same files.
 */
#ifndef ENSCONCE_MEASURE_MEASURE_H
#define ENSCONCE_MEASURE_MEASURE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define ENS_MEASUREMENT_LEN 32
#define ENS_MEASURE_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct ens_measure_spec {
    const char *root;          /* the image's root file system; "/" at run time */
    const char *runtime;       /* HOST path of the ensconce-run binary to measure ("/proc/self/exe"
                                  at run time); NULL: not part of the measurement */
    const char *exe;           /* service executable: absolute inside root, or a bare name looked up in path */
    const char *path;          /* PATH used for bare names and "#!/usr/bin/env NAME" (NULL: the default) */
    const char *settings_json; /* JSON object of the measured settings (canonicalised); NULL = {} */
};

enum ens_interp_kind {
    ENS_INTERP_NONE = 0, /* a native program */
    ENS_INTERP_PYTHON,
    ENS_INTERP_NODE,
    ENS_INTERP_JAVA,
    ENS_INTERP_SHELL,
    ENS_INTERP_OTHER,    /* a "#!" script with another interpreter */
};

struct ens_measure_item {
    char *path;                       /* inside root; "ensconce-run" for the runtime, "settings" */
    char kind;                        /* 'R' runtime, 'X' executable, 'I' script interpreter,
                                         'L' ELF interpreter/library file, 'K' symlink, 'S' settings */
    uint8_t digest[32];               /* SHA-256 of the contents (of the target string for 'K') */
};

struct ens_measurement {
    uint8_t digest[ENS_MEASUREMENT_LEN];
    char hex[2 * ENS_MEASUREMENT_LEN + 1];
    char *exe;                        /* the resolved executable inside root: what the runtime execs */
    char *interpreter;                /* for a script: its resolved interpreter inside root, else NULL */
    enum ens_interp_kind kind;        /* what the program is (by the interpreter's or program's name) */
    struct ens_measure_item *items;   /* everything measured, in measurement order */
    size_t nitems;
};

int ens_measure(const struct ens_measure_spec *spec, struct ens_measurement *out, ens_error_t *err);
void ens_measurement_free(struct ens_measurement *m);
const char *ens_interp_kind_name(enum ens_interp_kind k);

/* Finds a bare command name in a ':'-separated PATH inside root (an executable regular file);
 * absolute names are only checked.  *found is the name's path inside root (not resolved). */
int ens_measure_which(const char *root, const char *name, const char *path, char **found, ens_error_t *err);

#endif
