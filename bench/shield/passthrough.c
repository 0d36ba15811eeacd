/* SPDX-License-Identifier: Apache-2.0 */
/* A tiny plain FUSE passthrough (libfuse3 high-level API), the benchmark's "no crypto" baseline:
 *   passthrough BASE_DIR MOUNTPOINT [fuse options]   (runs in the foreground) */
#define FUSE_USE_VERSION 35
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

static const char *rel(const char *p) { return p[1] ? p + 1 : "."; }

static int pt_getattr(const char *p, struct stat *st, struct fuse_file_info *fi)
{
    int r = fi ? fstat((int)fi->fh, st) : fstatat(AT_FDCWD, rel(p), st, AT_SYMLINK_NOFOLLOW);
    return r < 0 ? -errno : 0;
}

static int pt_readdir(const char *p, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags fl)
{
    (void)off, (void)fi, (void)fl;
    DIR *d = opendir(rel(p));
    if (!d)
        return -errno;
    struct dirent *de;
    while ((de = readdir(d)))
        if (fill(buf, de->d_name, NULL, 0, 0))
            break;
    closedir(d);
    return 0;
}

static int pt_open(const char *p, struct fuse_file_info *fi)
{
    int fd = open(rel(p), fi->flags & ~O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    fi->fh = (uint64_t)fd;
    return 0;
}

static int pt_create(const char *p, mode_t m, struct fuse_file_info *fi)
{
    int fd = open(rel(p), fi->flags | O_CREAT, m);
    if (fd < 0)
        return -errno;
    fi->fh = (uint64_t)fd;
    return 0;
}

static int pt_read(const char *p, char *b, size_t n, off_t o, struct fuse_file_info *fi)
{
    (void)p;
    ssize_t r = pread((int)fi->fh, b, n, o);
    return r < 0 ? -errno : (int)r;
}

static int pt_write(const char *p, const char *b, size_t n, off_t o, struct fuse_file_info *fi)
{
    (void)p;
    ssize_t r = pwrite((int)fi->fh, b, n, o);
    return r < 0 ? -errno : (int)r;
}

static int pt_release(const char *p, struct fuse_file_info *fi)
{
    (void)p;
    close((int)fi->fh);
    return 0;
}

static int pt_fsync(const char *p, int ds, struct fuse_file_info *fi)
{
    (void)p;
    return (ds ? fdatasync((int)fi->fh) : fsync((int)fi->fh)) < 0 ? -errno : 0;
}

static int pt_mkdir(const char *p, mode_t m) { return mkdir(rel(p), m) < 0 ? -errno : 0; }
static int pt_unlink(const char *p) { return unlink(rel(p)) < 0 ? -errno : 0; }
static int pt_rmdir(const char *p) { return rmdir(rel(p)) < 0 ? -errno : 0; }
static int pt_symlink(const char *t, const char *p) { return symlink(t, rel(p)) < 0 ? -errno : 0; }
static int pt_link(const char *a, const char *b) { return link(rel(a), rel(b)) < 0 ? -errno : 0; }
static int pt_rename(const char *a, const char *b, unsigned int fl)
{
    return fl ? -EINVAL : rename(rel(a), rel(b)) < 0 ? -errno : 0;
}
static int pt_chmod(const char *p, mode_t m, struct fuse_file_info *fi)
{
    (void)fi;
    return chmod(rel(p), m) < 0 ? -errno : 0;
}
static int pt_chown(const char *p, uid_t u, gid_t g, struct fuse_file_info *fi)
{
    (void)fi;
    return lchown(rel(p), u, g) < 0 ? -errno : 0;
}
static int pt_truncate(const char *p, off_t s, struct fuse_file_info *fi)
{
    return (fi ? ftruncate((int)fi->fh, s) : truncate(rel(p), s)) < 0 ? -errno : 0;
}
static int pt_utimens(const char *p, const struct timespec ts[2], struct fuse_file_info *fi)
{
    (void)fi;
    return utimensat(AT_FDCWD, rel(p), ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}
static int pt_readlink(const char *p, char *b, size_t n)
{
    ssize_t r = readlink(rel(p), b, n - 1);
    if (r < 0)
        return -errno;
    b[r] = '\0';
    return 0;
}
static int pt_statfs(const char *p, struct statvfs *s) { return statvfs(rel(p), s) < 0 ? -errno : 0; }

static void *pt_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    (void)conn;
    cfg->use_ino = 1;
    cfg->kernel_cache = 1; /* same caching as the shield's read path */
    return NULL;
}

static const struct fuse_operations ops = {
    .init = pt_init, .getattr = pt_getattr, .readdir = pt_readdir, .open = pt_open, .create = pt_create,
    .read = pt_read, .write = pt_write, .release = pt_release, .fsync = pt_fsync, .mkdir = pt_mkdir,
    .unlink = pt_unlink, .rmdir = pt_rmdir, .symlink = pt_symlink, .link = pt_link, .rename = pt_rename,
    .chmod = pt_chmod, .chown = pt_chown, .truncate = pt_truncate, .utimens = pt_utimens,
    .readlink = pt_readlink, .statfs = pt_statfs,
};

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: passthrough BASE_DIR MOUNTPOINT [fuse options]\n");
        return 2;
    }
    char *mnt = realpath(argv[2], NULL); /* before chdir: the mount point may be relative */
    if (!mnt) {
        perror(argv[2]);
        return 1;
    }
    argv[2] = mnt;
    if (chdir(argv[1]) < 0) {
        perror(argv[1]);
        return 1;
    }
    argv[1] = argv[0];
    char *fargs[64] = {argv[0], argv[2], (char *)"-f", (char *)"-o", (char *)"default_permissions"};
    int n = 5;
    for (int i = 3; i < argc && n < 63; i++)
        fargs[n++] = argv[i];
    return fuse_main(n, fargs, &ops, NULL);
}
