/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to lib/elf (and lib/measure, fuzz/run): the bounded ELF parser and root-confined path resolution. */
#ifndef ENSCONCE_ELF_INTERNAL_H
#define ENSCONCE_ELF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Limits for untrusted input. */
#define ENS_ELF_MAX_PHNUM 4096
#define ENS_ELF_MAX_STRTAB (16u << 20)
#define ENS_ELF_MAX_DYN 65536
#define ENS_ELF_MAX_NEEDED 1024
#define ENS_ELF_MAX_SYMLINKS 40

struct ens_elf_info {
    int elf_class;     /* ELFCLASS32 / ELFCLASS64 */
    int elf_data;      /* ELFDATA2LSB / ELFDATA2MSB (only the host's order is accepted) */
    uint16_t machine;  /* e_machine */
    uint16_t type;     /* e_type */
    bool dynamic;      /* has PT_DYNAMIC */
    char *interp;      /* PT_INTERP or NULL */
    char **needed;     /* DT_NEEDED names, in order */
    size_t n_needed;
    char *rpath;       /* DT_RPATH or NULL (NULL when DT_RUNPATH exists, as in glibc) */
    char *runpath;     /* DT_RUNPATH or NULL */
    char *soname;      /* DT_SONAME or NULL */
};

/* Reads [off, off+len) into dst; returns 0, or -1 when out of range / failed. */
typedef int (*ens_elf_read_fn)(void *ctx, uint64_t off, size_t len, void *dst);

/* Parses an ELF file of the given size through read_fn.  "what" names it in errors. */
int ens_elf_parse(ens_elf_read_fn read_fn, void *ctx, uint64_t size, const char *what,
                  struct ens_elf_info *info, ens_error_t *err);
int ens_elf_parse_mem(const void *buf, size_t len, const char *what, struct ens_elf_info *info,
                      ens_error_t *err);
int ens_elf_parse_fd(int fd, const char *what, struct ens_elf_info *info, ens_error_t *err);
void ens_elf_info_free(struct ens_elf_info *info);

/* A growable list of strings. */
struct ens_strv { char **v; size_t n, cap; };
int ens_strv_add(struct ens_strv *s, const char *str);
bool ens_strv_has(const struct ens_strv *s, const char *str);
void ens_strv_free(struct ens_strv *s);

/* Resolves path (absolute inside root) the way a process chrooted to root would, following
 * symlinks (at most ENS_ELF_MAX_SYMLINKS) without ever leaving root ("/.." stays "/"; absolute
 * link targets are relative to root).  *resolved gets the real path inside root (no symlinked
 * components).  If links is not NULL, the inside-root path of every symlink met is added to it.
 * Returns -1 with status ENOENT/ENOTDIR/ELOOP/... on failure. */
int ens_root_resolve(const char *root, const char *path, char **resolved, struct ens_strv *links,
                     ens_error_t *err);

/* root + inside path as a host path (malloc'd). */
char *ens_root_path(const char *root, const char *inside);

/* Opens a resolved inside-root path read-only (O_NOFOLLOW), as a regular file. */
int ens_root_open_file(const char *root, const char *resolved, ens_error_t *err);

#endif
