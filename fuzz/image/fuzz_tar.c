/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: the layer reader (gzip/zstd/plain tar) and its application to a directory, with the
 * path checks, whiteouts and symlink walk.  Every input is applied to a fresh empty root. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"
#include <archive.h>
#include <archive_entry.h>

#include "image/internal.h"

static char base[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ens_error_t err = NULL;
    if (!base[0]) {
        snprintf(base, sizeof(base), "/tmp/ens-fuzz-tar-XXXXXX");
        if (!mkdtemp(base))
            abort();
    }
    char root[128];
    snprintf(root, sizeof(root), "%s/root", base);
    ens_rm_rf(root, &err);
    ens_error_release(&err);
    if (mkdir(root, 0755) < 0)
        abort();
    int fd = memfd_create("layer", MFD_CLOEXEC);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) < 0)
        abort();
    int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct layer_reader *lr;
    struct layer_names *names = calloc(1, sizeof(*names));
    if (layer_reader_open(fd, "fuzz", NULL, (int64_t)size, &lr, &err) == 0) {
        if (layer_apply_reader(rootfd, root, lr, "fuzz", NULL, names, &err) == 0)
            layer_reader_finish(lr, NULL, NULL, &err);
        layer_reader_free(lr);
    }
    layer_names_free(names);
    ens_error_release(&err);
    /* Again as a blob already verified: nothing hashed, unread data skipped with a seek. */
    struct blob b = {.size = (int64_t)size, .verified = true, .diff_id_ok = true};
    if (lseek(fd, 0, SEEK_SET) == 0 && layer_reader_open_blob(fd, &b, &lr, &err) == 0) {
        struct archive_entry *e;
        while (archive_read_next_header(layer_reader_archive(lr), &e) == ARCHIVE_OK)
            ;
        layer_reader_finish_blob(lr, &b, &err);
        layer_reader_free(lr);
    }
    ens_error_release(&err);
    close(rootfd);
    close(fd);
    /* Nothing may have been written outside the root. */
    struct stat st;
    char esc[128];
    snprintf(esc, sizeof(esc), "%s/escaped", base);
    if (lstat(esc, &st) == 0)
        abort();
    return 0;
}
