/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ELF dependency resolution inside a root file system, the way the dynamic
 * loader (glibc's ld.so or musl's ldso) would do it at run time, without
 * running anything from the root.  The files read are untrusted: every offset
 * and size is bounded and validated.
 */
#ifndef ENSCONCE_ELF_ELF_H
#define ENSCONCE_ELF_ELF_H

#include <stddef.h>

#include "core/error.h"

/* Paths (absolute, as seen inside root) of the ELF interpreter and all shared libraries exe needs,
 * transitively, resolved as the dynamic loader would inside root ("/" for the host). Symlinked
 * library names are listed together with the files they resolve to.
 *
 * Precisely: for every dependency, each symlink met while resolving its name (the path of the
 * link itself, whose parent directories are real directories, e.g. "/lib64" and
 * "/usr/lib64/ld-linux-x86-64.so.2") and the final regular file.  Copying every listed path with
 * lstat semantics (links as links) into an empty root reproduces a layout that loads.  The list is
 * sorted and has no duplicates; exe itself is not in it.  A statically linked exe gives count 0.
 * A dependency that cannot be found, or an ELF file that is malformed or of another class or
 * machine than exe, is an error naming the file. */
struct ens_elf_deps { char **paths; size_t count; };
int ens_elf_resolve(const char *root, const char *exe, struct ens_elf_deps *out, ens_error_t *err);
void ens_elf_deps_free(struct ens_elf_deps *d);

#endif
