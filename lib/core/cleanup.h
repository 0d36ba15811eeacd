/* SPDX-License-Identifier: Apache-2.0 */
/* Scope-bound cleanup (GCC/Clang __attribute__((cleanup))), so every return path frees. */
#ifndef ENSCONCE_CORE_CLEANUP_H
#define ENSCONCE_CORE_CLEANUP_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/error.h"

static inline void ens_freep(void *p) { free(*(void **)p); }
static inline void ens_closep(int *fd) { if (*fd >= 0) close(*fd); }
static inline void ens_fclosep(FILE **f) { if (*f) fclose(*f); }
static inline void ens_closedirp(DIR **d) { if (*d) closedir(*d); }
static inline void ens_errorp(ens_error_t *e) { ens_error_release(e); }

#define _cleanup_free_ __attribute__((cleanup(ens_freep)))
#define _cleanup_close_ __attribute__((cleanup(ens_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(ens_fclosep)))
#define _cleanup_closedir_ __attribute__((cleanup(ens_closedirp)))
#define _cleanup_error_ __attribute__((cleanup(ens_errorp)))

/* Hands ownership out of a cleanup-managed variable. */
#define ens_steal(pp) ({ __typeof__(*(pp)) _v = *(pp); *(pp) = NULL; _v; })
#define ens_steal_fd(fdp) ({ int _fd = *(fdp); *(fdp) = -1; _fd; })

#endif
