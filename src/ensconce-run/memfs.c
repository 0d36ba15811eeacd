/* SPDX-License-Identifier: Apache-2.0 */
/* Memory-only storage for injection files and unpacked shields: never a disk. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "runtime.h"

bool ens_run_is_memory_fs(const char *path)
{
    struct statfs sf;
    if (statfs(path, &sf) < 0)
        return false;
    return sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC;
}

int ens_run_memory_dir(const char *dir, ens_error_t *err)
{
    if (ens_mkdir_p(dir, 0711, err) < 0)
        return ens_error_wrap(err, "memory directory");
    if (ens_run_is_memory_fs(dir))
        return 0;
    /* Privileged containers may mount their own; otherwise the deployment provides one
     * (Kubernetes emptyDir {medium: Memory}, a runc/compose tmpfs mount). */
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0711,size=50%") == 0 && ens_run_is_memory_fs(dir))
        return 0;
    return ens_error(err, EPERM, "%s is not memory-backed and no tmpfs can be mounted there "
                                 "(give the container a tmpfs / emptyDir {medium: Memory} at %s)", dir, dir);
}

/* Writes data to path (in a memory file system) via a temporary file and rename. */
static int write_mem_file(const char *path, const unsigned char *data, size_t len, ens_error_t *err)
{
    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s.ens-XXXXXX", path) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return ens_error_errno(err, "creating %s", path);
    if (fchmod(fd, 0644) < 0 || ens_write_all(fd, data, len, err) < 0 || close(fd) < 0) {
        ens_error_errno(err, "writing %s", path);
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) < 0) {
        ens_error_errno(err, "renaming to %s", path);
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int inject_one(const char *memdir, const struct ens_run_file *f, ens_error_t *err)
{
    _cleanup_free_ char *pcopy = strdup(f->path);
    if (pcopy == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    const char *parent = dirname(pcopy);
    if (ens_mkdir_p(parent, 0755, err) < 0)
        return ens_error_wrap(err, "injection file %s", f->path);
    if (ens_run_is_memory_fs(parent))
        return write_mem_file(f->path, f->data, f->len, err);

    /* Elsewhere: the content lives under the memory directory, and the original path shows it. */
    _cleanup_free_ char *mem = NULL;
    if (asprintf(&mem, "%s/inject%s", memdir, f->path) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    _cleanup_free_ char *mcopy = strdup(mem);
    if (mcopy == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    if (ens_mkdir_p(dirname(mcopy), 0755, err) < 0 || write_mem_file(mem, f->data, f->len, err) < 0)
        return ens_error_wrap(err, "injection file %s", f->path);
    /* A bind mount over the path (privileged containers): the image's file stays untouched. */
    struct stat st;
    bool created = false;
    if (lstat(f->path, &st) < 0) {
        int fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd >= 0) {
            close(fd);
            created = true;
        }
    }
    if ((created || (lstat(f->path, &st) == 0 && S_ISREG(st.st_mode))) &&
        mount(mem, f->path, NULL, MS_BIND, NULL) == 0)
        return 0;
    if (created)
        unlink(f->path);
    /* Otherwise a symbolic link replaces the path (only the link is on disk, never the content). */
    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s.ens-link", f->path) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    unlink(tmp);
    if (symlink(mem, tmp) < 0)
        return ens_error_errno(err, "injection file %s: cannot place it (read-only file system?)", f->path);
    if (rename(tmp, f->path) < 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return ens_error_errno(err, "injection file %s: cannot place it", f->path);
    }
    return 0;
}

int ens_run_inject(const char *memdir, const struct ens_run_file *files, size_t n, ens_error_t *err)
{
    for (size_t i = 0; i < n; i++)
        if (inject_one(memdir, &files[i], err) < 0)
            return -1;
    return 0;
}
