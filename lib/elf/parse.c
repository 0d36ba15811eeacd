/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded ELF parsing: only what dependency resolution needs (header, PT_INTERP, PT_DYNAMIC). */
#include <elf.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "elf/elf_internal.h"

#if __BYTE_ORDER == __LITTLE_ENDIAN
#define HOST_ELFDATA ELFDATA2LSB
#else
#define HOST_ELFDATA ELFDATA2MSB
#endif

/* Common representation of the 32- and 64-bit structures. */
struct phdr { uint32_t type; uint64_t offset, vaddr, filesz, memsz; };

struct reader {
    ens_elf_read_fn fn;
    void *ctx;
    uint64_t size;
};

static int rd(const struct reader *r, uint64_t off, size_t len, void *dst)
{
    if (off > r->size || len > r->size - off)
        return -1;
    return r->fn(r->ctx, off, len, dst);
}

void ens_elf_info_free(struct ens_elf_info *info)
{
    if (info == NULL)
        return;
    free(info->interp);
    for (size_t i = 0; i < info->n_needed; i++)
        free(info->needed[i]);
    free(info->needed);
    free(info->rpath);
    free(info->runpath);
    free(info->soname);
    memset(info, 0, sizeof(*info));
}

static int read_phdrs(const struct reader *r, bool is64, uint64_t phoff, uint16_t phentsize,
                      uint16_t phnum, struct phdr *out, const char *what, ens_error_t *err)
{
    size_t want = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    if (phentsize != want)
        return ens_error(err, EINVAL, "%s: bad ELF program header size %u", what, phentsize);
    for (uint16_t i = 0; i < phnum; i++) {
        uint64_t off = phoff + (uint64_t)i * want;
        if (is64) {
            Elf64_Phdr p;
            if (rd(r, off, sizeof(p), &p) < 0)
                return ens_error(err, EINVAL, "%s: ELF program header %u out of the file", what, i);
            out[i] = (struct phdr){p.p_type, p.p_offset, p.p_vaddr, p.p_filesz, p.p_memsz};
        } else {
            Elf32_Phdr p;
            if (rd(r, off, sizeof(p), &p) < 0)
                return ens_error(err, EINVAL, "%s: ELF program header %u out of the file", what, i);
            out[i] = (struct phdr){p.p_type, p.p_offset, p.p_vaddr, p.p_filesz, p.p_memsz};
        }
    }
    return 0;
}

/* File offset of a virtual address, through the PT_LOAD segment that maps it from the file. */
static int vaddr_to_off(const struct phdr *ph, uint16_t n, uint64_t vaddr, uint64_t *off)
{
    for (uint16_t i = 0; i < n; i++) {
        if (ph[i].type != PT_LOAD)
            continue;
        if (vaddr >= ph[i].vaddr && vaddr - ph[i].vaddr < ph[i].filesz) {
            uint64_t o = ph[i].offset + (vaddr - ph[i].vaddr);
            if (o < ph[i].offset) /* overflow */
                return -1;
            *off = o;
            return 0;
        }
    }
    return -1;
}

static char *strtab_get(const char *tab, uint64_t tabsz, uint64_t idx)
{
    if (idx >= tabsz)
        return NULL;
    const char *s = tab + idx;
    const char *end = memchr(s, '\0', tabsz - idx);
    if (end == NULL)
        return NULL;
    return strdup(s);
}

int ens_elf_parse(ens_elf_read_fn read_fn, void *ctx, uint64_t size, const char *what,
                  struct ens_elf_info *info, ens_error_t *err)
{
    struct reader r = {read_fn, ctx, size};
    memset(info, 0, sizeof(*info));
    unsigned char ident[EI_NIDENT];
    if (rd(&r, 0, sizeof(ident), ident) < 0 || memcmp(ident, ELFMAG, SELFMAG) != 0)
        return ens_error(err, ENOEXEC, "%s: not an ELF file", what);
    if (ident[EI_CLASS] != ELFCLASS32 && ident[EI_CLASS] != ELFCLASS64)
        return ens_error(err, ENOEXEC, "%s: unknown ELF class %u", what, ident[EI_CLASS]);
    if (ident[EI_DATA] != HOST_ELFDATA)
        return ens_error(err, ENOEXEC, "%s: ELF byte order differs from this machine's", what);
    if (ident[EI_VERSION] != EV_CURRENT)
        return ens_error(err, ENOEXEC, "%s: unknown ELF version %u", what, ident[EI_VERSION]);
    bool is64 = ident[EI_CLASS] == ELFCLASS64;
    info->elf_class = ident[EI_CLASS];
    info->elf_data = ident[EI_DATA];

    uint64_t phoff;
    uint16_t phentsize, phnum;
    if (is64) {
        Elf64_Ehdr eh;
        if (rd(&r, 0, sizeof(eh), &eh) < 0)
            return ens_error(err, ENOEXEC, "%s: truncated ELF header", what);
        info->type = eh.e_type;
        info->machine = eh.e_machine;
        phoff = eh.e_phoff;
        phentsize = eh.e_phentsize;
        phnum = eh.e_phnum;
    } else {
        Elf32_Ehdr eh;
        if (rd(&r, 0, sizeof(eh), &eh) < 0)
            return ens_error(err, ENOEXEC, "%s: truncated ELF header", what);
        info->type = eh.e_type;
        info->machine = eh.e_machine;
        phoff = eh.e_phoff;
        phentsize = eh.e_phentsize;
        phnum = eh.e_phnum;
    }
    if (info->type != ET_EXEC && info->type != ET_DYN)
        return ens_error(err, ENOEXEC, "%s: ELF type %u is neither an executable nor a shared object",
                         what, info->type);
    if (phnum == 0)
        return 0;
    if (phnum == PN_XNUM || phnum > ENS_ELF_MAX_PHNUM)
        return ens_error(err, ENOEXEC, "%s: too many ELF program headers (%u)", what, phnum);
    _cleanup_free_ struct phdr *ph = calloc(phnum, sizeof(*ph));
    if (ph == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    if (read_phdrs(&r, is64, phoff, phentsize, phnum, ph, what, err) < 0)
        return -1;

    const struct phdr *dyn = NULL;
    for (uint16_t i = 0; i < phnum; i++) {
        if (ph[i].type == PT_INTERP) {
            if (info->interp != NULL)
                return ens_error(err, ENOEXEC, "%s: more than one PT_INTERP", what);
            if (ph[i].filesz < 2 || ph[i].filesz > 4096)
                return ens_error(err, ENOEXEC, "%s: bad PT_INTERP size", what);
            char *s = calloc(1, ph[i].filesz + 1);
            if (s == NULL)
                return ens_error(err, ENOMEM, "out of memory");
            if (rd(&r, ph[i].offset, ph[i].filesz, s) < 0) {
                free(s);
                return ens_error(err, ENOEXEC, "%s: PT_INTERP out of the file", what);
            }
            /* The interpreter name is NUL-terminated inside the segment. */
            if (strlen(s) == 0 || strlen(s) >= ph[i].filesz) {
                free(s);
                return ens_error(err, ENOEXEC, "%s: malformed PT_INTERP", what);
            }
            info->interp = s;
        } else if (ph[i].type == PT_DYNAMIC) {
            if (dyn != NULL)
                return ens_error(err, ENOEXEC, "%s: more than one PT_DYNAMIC", what);
            dyn = &ph[i];
        }
    }
    if (dyn == NULL)
        return 0;
    info->dynamic = true;

    size_t dsz = is64 ? sizeof(Elf64_Dyn) : sizeof(Elf32_Dyn);
    if (dyn->offset > size || dyn->filesz > size - dyn->offset)
        return ens_error(err, ENOEXEC, "%s: PT_DYNAMIC out of the file", what);
    uint64_t ndyn = dyn->filesz / dsz;
    if (ndyn > ENS_ELF_MAX_DYN)
        return ens_error(err, ENOEXEC, "%s: PT_DYNAMIC too large", what);

    /* First pass: collect the string table and the offsets of the names. */
    uint64_t strtab = 0, strsz = 0, rpath = 0, runpath = 0, soname = 0;
    bool has_strtab = false, has_strsz = false, has_rpath = false, has_runpath = false, has_soname = false;
    _cleanup_free_ uint64_t *needed = calloc(ENS_ELF_MAX_NEEDED, sizeof(uint64_t));
    size_t n_needed = 0;
    if (needed == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    for (uint64_t i = 0; i < ndyn; i++) {
        int64_t tag;
        uint64_t val;
        if (is64) {
            Elf64_Dyn d;
            if (rd(&r, dyn->offset + i * dsz, sizeof(d), &d) < 0)
                return ens_error(err, ENOEXEC, "%s: PT_DYNAMIC out of the file", what);
            tag = d.d_tag;
            val = d.d_un.d_val;
        } else {
            Elf32_Dyn d;
            if (rd(&r, dyn->offset + i * dsz, sizeof(d), &d) < 0)
                return ens_error(err, ENOEXEC, "%s: PT_DYNAMIC out of the file", what);
            tag = d.d_tag;
            val = d.d_un.d_val;
        }
        if (tag == DT_NULL)
            break;
        switch (tag) {
        case DT_NEEDED:
            if (n_needed == ENS_ELF_MAX_NEEDED)
                return ens_error(err, ENOEXEC, "%s: too many DT_NEEDED entries", what);
            needed[n_needed++] = val;
            break;
        case DT_STRTAB: strtab = val; has_strtab = true; break;
        case DT_STRSZ: strsz = val; has_strsz = true; break;
        case DT_RPATH: rpath = val; has_rpath = true; break;
        case DT_RUNPATH: runpath = val; has_runpath = true; break;
        case DT_SONAME: soname = val; has_soname = true; break;
        default: break;
        }
    }
    if (n_needed == 0 && !has_rpath && !has_runpath && !has_soname)
        return 0;
    if (!has_strtab || !has_strsz)
        return ens_error(err, ENOEXEC, "%s: dynamic section without a string table", what);
    if (strsz == 0 || strsz > ENS_ELF_MAX_STRTAB)
        return ens_error(err, ENOEXEC, "%s: bad DT_STRSZ", what);
    uint64_t stroff;
    if (vaddr_to_off(ph, phnum, strtab, &stroff) < 0 || stroff > size || strsz > size - stroff)
        return ens_error(err, ENOEXEC, "%s: DT_STRTAB is not mapped from the file", what);
    _cleanup_free_ char *tab = malloc(strsz);
    if (tab == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    if (rd(&r, stroff, strsz, tab) < 0)
        return ens_error(err, ENOEXEC, "%s: string table out of the file", what);

    info->needed = calloc(n_needed ? n_needed : 1, sizeof(char *));
    if (info->needed == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < n_needed; i++) {
        char *s = strtab_get(tab, strsz, needed[i]);
        if (s == NULL || s[0] == '\0') {
            free(s);
            return ens_error(err, ENOEXEC, "%s: bad DT_NEEDED string", what);
        }
        info->needed[info->n_needed++] = s;
    }
    if (has_runpath && (info->runpath = strtab_get(tab, strsz, runpath)) == NULL)
        return ens_error(err, ENOEXEC, "%s: bad DT_RUNPATH string", what);
    /* glibc ignores DT_RPATH when DT_RUNPATH is present. */
    if (has_rpath && !has_runpath && (info->rpath = strtab_get(tab, strsz, rpath)) == NULL)
        return ens_error(err, ENOEXEC, "%s: bad DT_RPATH string", what);
    if (has_soname && (info->soname = strtab_get(tab, strsz, soname)) == NULL)
        return ens_error(err, ENOEXEC, "%s: bad DT_SONAME string", what);
    return 0;
}

struct membuf { const uint8_t *p; size_t len; };

static int mem_read(void *ctx, uint64_t off, size_t len, void *dst)
{
    const struct membuf *m = ctx;
    if (off > m->len || len > m->len - off)
        return -1;
    memcpy(dst, m->p + off, len);
    return 0;
}

int ens_elf_parse_mem(const void *buf, size_t len, const char *what, struct ens_elf_info *info,
                      ens_error_t *err)
{
    struct membuf m = {buf, len};
    int rc = ens_elf_parse(mem_read, &m, len, what, info, err);
    if (rc < 0)
        ens_elf_info_free(info);
    return rc;
}

static int fd_read(void *ctx, uint64_t off, size_t len, void *dst)
{
    int fd = *(int *)ctx;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)dst + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

int ens_elf_parse_fd(int fd, const char *what, struct ens_elf_info *info, ens_error_t *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return ens_error_errno(err, "%s", what);
    if (!S_ISREG(st.st_mode))
        return ens_error(err, EINVAL, "%s: not a regular file", what);
    int rc = ens_elf_parse(fd_read, &fd, (uint64_t)st.st_size, what, info, err);
    if (rc < 0)
        ens_elf_info_free(info);
    return rc;
}
