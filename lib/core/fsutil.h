/* SPDX-License-Identifier: Apache-2.0 */
/* Small file-system helpers shared by every part: bounded reads, atomic writes, trees. */
#ifndef ENSCONCE_CORE_FSUTIL_H
#define ENSCONCE_CORE_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "core/error.h"

/* Reads a whole file, refusing files larger than max bytes.  *buf is NUL-terminated. */
int ens_read_file(const char *path, size_t max, char **buf, size_t *len, ens_error_t *err);

/* Reads from an open fd until EOF, refusing more than max bytes. */
int ens_read_fd(int fd, size_t max, char **buf, size_t *len, ens_error_t *err);

/* Writes data to path atomically (temporary file in the same directory, fsync,
 * rename, fsync of the directory) with the given mode: never a partial file. */
int ens_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, ens_error_t *err);

/* Writes all of buf to fd, retrying on EINTR and short writes. */
int ens_write_all(int fd, const void *buf, size_t len, ens_error_t *err);

/* mkdir -p with the given mode for created directories. */
int ens_mkdir_p(const char *path, mode_t mode, ens_error_t *err);

/* rm -rf without following symlinks; a missing path is not an error. */
int ens_rm_rf(const char *path, ens_error_t *err);

/* Joins two path parts with exactly one '/'; returns a malloc'd string or NULL. */
char *ens_path_join(const char *a, const char *b);

#endif
