/* SPDX-License-Identifier: Apache-2.0 */
#include "core/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"

int ens_read_fd(int fd, size_t max, char **buf, size_t *len, ens_error_t *err)
{
    size_t cap = 4096, used = 0;
    _cleanup_free_ char *data = malloc(cap + 1);
    if (data == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    for (;;) {
        if (used == cap) {
            if (cap > max)
                break;
            size_t ncap = cap * 2;
            char *n = realloc(data, ncap + 1);
            if (n == NULL)
                return ens_error(err, ENOMEM, "out of memory");
            data = n;
            cap = ncap;
        }
        ssize_t r = read(fd, data + used, cap - used);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return ens_error_errno(err, "read");
        }
        if (r == 0)
            break;
        used += (size_t)r;
        if (used > max)
            return ens_error(err, EFBIG, "input larger than the limit of %zu bytes", max);
    }
    if (used > max)
        return ens_error(err, EFBIG, "input larger than the limit of %zu bytes", max);
    data[used] = '\0';
    *buf = ens_steal(&data);
    if (len)
        *len = used;
    return 0;
}

int ens_read_file(const char *path, size_t max, char **buf, size_t *len, ens_error_t *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ens_error_errno(err, "open %s", path);
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size > max)
        return ens_error(err, EFBIG, "%s: %lld bytes exceeds the limit of %zu bytes", path,
                         (long long)st.st_size, max);
    if (ens_read_fd(fd, max, buf, len, err) < 0)
        return ens_error_wrap(err, "%s", path);
    return 0;
}

int ens_write_all(int fd, const void *buf, size_t len, ens_error_t *err)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return ens_error_errno(err, "write");
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int ens_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, ens_error_t *err)
{
    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return ens_error_errno(err, "create temporary file for %s", path);
    if (fchmod(fd, mode) < 0 || ens_write_all(fd, data, len, err) < 0 || fsync(fd) < 0) {
        if (err && *err == NULL)
            ens_error_errno(err, "write %s", tmp);
        close(fd);
        unlink(tmp);
        return ens_error_wrap(err, "%s", path);
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return ens_error_errno(err, "rename to %s", path);
    }
    _cleanup_free_ char *dircopy = strdup(path);
    if (dircopy) {
        _cleanup_close_ int dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
            fsync(dfd);
    }
    return 0;
}

int ens_mkdir_p(const char *path, mode_t mode, ens_error_t *err)
{
    _cleanup_free_ char *p = strdup(path);
    if (p == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return ens_error_errno(err, "mkdir %s", p);
        *s = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        return ens_error_errno(err, "mkdir %s", p);
    return 0;
}

static int rm_entry(const char *fpath, const struct stat *sb, int typeflag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (typeflag == FTW_DP)
        return rmdir(fpath) < 0 && errno != ENOENT ? -1 : 0;
    if (typeflag == FTW_D || typeflag == FTW_DNR)
        chmod(fpath, 0700); /* allow descending into read-only trees */
    return unlink(fpath) < 0 && errno != ENOENT ? -1 : 0;
}

int ens_rm_rf(const char *path, ens_error_t *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : ens_error_errno(err, "stat %s", path);
    if (!S_ISDIR(st.st_mode))
        return unlink(path) < 0 ? ens_error_errno(err, "unlink %s", path) : 0;
    if (nftw(path, rm_entry, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
        return ens_error_errno(err, "remove %s", path);
    return 0;
}

char *ens_path_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    char *out = NULL;
    if (asprintf(&out, "%.*s/%s", (int)la, a, b) < 0)
        return NULL;
    return out;
}
