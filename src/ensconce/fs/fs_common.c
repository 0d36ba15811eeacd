/* SPDX-License-Identifier: Apache-2.0 */
#include "fs_common.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "crypto/digest.h"

int fs_read_key(const char *path, uint8_t key[ENS_SHIELD_KEY_LEN], ens_error_t *err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len;
    if (ens_read_file(path, 4096, &buf, &len, err) < 0)
        return -1;
    int rc = 0;
    if (len == ENS_SHIELD_KEY_LEN) { /* raw bytes (a hex key has 64 digits) */
        memcpy(key, buf, ENS_SHIELD_KEY_LEN);
    } else {
        char *s = buf;
        while (*s && isspace((unsigned char)*s))
            s++;
        size_t l = strlen(s);
        while (l && isspace((unsigned char)s[l - 1]))
            s[--l] = '\0';
        _cleanup_error_ ens_error_t e = NULL;
        if (l != 2 * ENS_SHIELD_KEY_LEN || ens_hex_decode(s, key, ENS_SHIELD_KEY_LEN, &e) < 0)
            rc = ens_error(err, EINVAL, "key file %s: expected 64 hex digits or 32 raw bytes", path);
    }
    ens_wipe(buf, len);
    return rc;
}

int fs_new_key(const char *path, uint8_t key[ENS_SHIELD_KEY_LEN], ens_error_t *err)
{
    if (ens_random(key, ENS_SHIELD_KEY_LEN, err) < 0)
        return -1;
    char hex[2 * ENS_SHIELD_KEY_LEN + 2];
    ens_hex_encode(key, ENS_SHIELD_KEY_LEN, hex);
    strcat(hex, "\n");
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return ens_error_errno(err, "create key file %s", path);
    int rc = ens_write_all(fd, hex, strlen(hex), err) < 0 || fsync(fd) < 0 ? -1 : 0;
    ens_wipe(hex, sizeof(hex));
    if (rc < 0) {
        unlink(path);
        return ens_error_wrap(err, "key file %s", path);
    }
    return 0;
}

int fs_get_tag(const char *hex, const char *file, uint8_t tag[ENS_SHIELD_TAG_LEN], ens_error_t *err)
{
    _cleanup_free_ char *buf = NULL;
    if ((hex == NULL) == (file == NULL))
        return ens_error(err, EINVAL, "give the expected tag with exactly one of --tag or --tag-file");
    if (file) {
        size_t len;
        if (ens_read_file(file, 4096, &buf, &len, err) < 0)
            return -1;
        buf[strcspn(buf, " \t\r\n")] = '\0';
        hex = buf;
    }
    _cleanup_error_ ens_error_t e = NULL;
    if (strlen(hex) != 2 * ENS_SHIELD_TAG_LEN || ens_hex_decode(hex, tag, ENS_SHIELD_TAG_LEN, &e) < 0)
        return ens_error(err, EINVAL, "tag%s%s: expected 64 hex digits", file ? " file " : "", file ? file : "");
    return 0;
}

int fs_write_tag(const char *path, const uint8_t tag[ENS_SHIELD_TAG_LEN], ens_error_t *err)
{
    char hex[2 * ENS_SHIELD_TAG_LEN + 2];
    ens_hex_encode(tag, ENS_SHIELD_TAG_LEN, hex);
    strcat(hex, "\n");
    return ens_write_file_atomic(path, hex, strlen(hex), 0644, err);
}
