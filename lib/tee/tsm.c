/* SPDX-License-Identifier: Apache-2.0 */
/* configfs-tsm report interface (Linux >= 6.7, Documentation/ABI/testing/configfs-tsm-report). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "crypto/digest.h"
#include "tee/internal.h"

#define TSM_DEFAULT_ROOT "/sys/kernel/config/tsm/report"

static int read_attr(const char *dir, const char *attr, size_t max, char **buf, size_t *len, ens_error_t *err)
{
    _cleanup_free_ char *p = ens_path_join(dir, attr);
    if (!p)
        return ens_error(err, ENOMEM, "configfs-tsm: out of memory");
    _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ens_error_errno(err, "configfs-tsm: open %s", p);
    return ens_read_fd(fd, max, buf, len, err);
}

/* configfs attributes take one write(2): no temporary file, no rename. */
static int write_attr(const struct ens_tee_tsm_opts *o, const char *dir, const char *attr, const void *data, size_t len,
                      ens_error_t *err)
{
    _cleanup_free_ char *p = ens_path_join(dir, attr);
    if (!p)
        return ens_error(err, ENOMEM, "configfs-tsm: out of memory");
    int flags = O_WRONLY | O_CLOEXEC | (o->reuse_existing ? O_TRUNC : 0);
    _cleanup_close_ int fd = open(p, flags);
    if (fd < 0)
        return ens_error_errno(err, "configfs-tsm: open %s", p);
    ssize_t n = write(fd, data, len);
    if (n < 0)
        return ens_error_errno(err, "configfs-tsm: write %s", p);
    if ((size_t)n != len)
        return ens_error(err, EIO, "configfs-tsm: short write to %s", p);
    if (close(ens_steal_fd(&fd)) < 0)
        return ens_error_errno(err, "configfs-tsm: close %s", p);
    if (o->after_write)
        o->after_write(dir, attr, o->after_write_arg);
    return 0;
}

static int read_generation(const char *dir, unsigned long *g, ens_error_t *err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len;
    if (read_attr(dir, "generation", 64, &buf, &len, err) < 0)
        return -1;
    char *end;
    errno = 0;
    unsigned long v = strtoul(buf, &end, 10);
    if (errno || end == buf || (*end && strcmp(end, "\n") != 0))
        return ens_error(err, EINVAL, "configfs-tsm: %s/generation is not a number", dir);
    *g = v;
    return 0;
}

void ens_tee_tsm_report_clear(struct ens_tee_tsm_report *r)
{
    if (!r)
        return;
    free(r->outblob);
    free(r->auxblob);
    memset(r, 0, sizeof(*r));
}

int ens_tee_tsm_get(const struct ens_tee_tsm_opts *opts, const uint8_t report_data[64], struct ens_tee_tsm_report *out,
                    ens_error_t *err)
{
    static const struct ens_tee_tsm_opts defaults = {.privlevel = -1};
    const struct ens_tee_tsm_opts *o = opts ? opts : &defaults;
    memset(out, 0, sizeof(*out));
    const char *root = o->root ? o->root : TSM_DEFAULT_ROOT;
    char name[64];
    if (o->name) {
        if (!*o->name || strchr(o->name, '/') || strcmp(o->name, ".") == 0 || strcmp(o->name, "..") == 0 ||
            strlen(o->name) >= sizeof(name))
            return ens_error(err, EINVAL, "configfs-tsm: invalid entry name");
        snprintf(name, sizeof(name), "%s", o->name);
    } else {
        uint8_t rnd[8];
        char hex[17];
        if (ens_random(rnd, sizeof(rnd), err) < 0)
            return -1;
        ens_hex_encode(rnd, sizeof(rnd), hex);
        snprintf(name, sizeof(name), "ensconce-%ld-%s", (long)getpid(), hex);
    }
    _cleanup_free_ char *dir = ens_path_join(root, name);
    if (!dir)
        return ens_error(err, ENOMEM, "configfs-tsm: out of memory");
    struct stat st;
    if (stat(root, &st) < 0 || !S_ISDIR(st.st_mode))
        return ens_error(err, ENODEV, "configfs-tsm: %s is absent (configfs not mounted or kernel older than 6.7)", root);
    bool created = false;
    if (mkdir(dir, 0700) < 0) {
        if (errno == ENXIO || errno == ENODEV)
            return ens_error(err, ENODEV, "configfs-tsm: no TSM provider (no TDX or SNP guest driver)");
        if (!(errno == EEXIST && o->reuse_existing))
            return ens_error_errno(err, "configfs-tsm: mkdir %s", dir);
    } else {
        created = true;
    }
    int ret = -1;
    unsigned long g0, g1;
    unsigned writes = 0;
    _cleanup_free_ char *prov = NULL;
    size_t plen;
    if (read_attr(dir, "provider", 64, &prov, &plen, err) < 0)
        goto out;
    prov[strcspn(prov, "\n")] = 0;
    snprintf(out->provider, sizeof(out->provider), "%s", prov);
    if (strcmp(prov, "tdx_guest") == 0)
        out->type = ENS_TEE_TDX;
    else if (strcmp(prov, "sev_guest") == 0)
        out->type = ENS_TEE_SNP;
    else {
        ens_error(err, ENOTSUP, "configfs-tsm: unsupported provider \"%.31s\"", prov);
        goto out;
    }
    if (read_generation(dir, &g0, err) < 0)
        goto out;
    if (out->type == ENS_TEE_SNP && o->privlevel >= 0) {
        char lv[16];
        int n = snprintf(lv, sizeof(lv), "%d", o->privlevel);
        if (write_attr(o, dir, "privlevel", lv, (size_t)n, err) < 0)
            goto out;
        writes++;
    }
    if (write_attr(o, dir, "inblob", report_data, 64, err) < 0)
        goto out;
    writes++;
    /* outblob: the kernel generates the quote on read; EBUSY while busy. */
    unsigned retries = o->busy_retries ? o->busy_retries : 20;
    for (unsigned i = 0;; i++) {
        _cleanup_error_ ens_error_t e = NULL;
        char *blob = NULL;
        size_t bl;
        if (read_attr(dir, "outblob", ENS_TEE_EVIDENCE_MAX, &blob, &bl, &e) == 0) {
            out->outblob = (uint8_t *)blob;
            out->outblob_len = bl;
            break;
        }
        if (ens_error_status(e) != EBUSY || i + 1 >= retries) {
            ens_error(err, ens_error_status(e), "%s", ens_error_msg(e));
            goto out;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (out->outblob_len == 0) {
        ens_error(err, EIO, "configfs-tsm: empty outblob");
        goto out;
    }
    {
        _cleanup_free_ char *p = ens_path_join(dir, "auxblob");
        if (p && access(p, F_OK) == 0) {
            char *aux = NULL;
            size_t al;
            if (read_attr(dir, "auxblob", ENS_TEE_EVIDENCE_MAX, &aux, &al, err) < 0)
                goto out;
            if (al) {
                out->auxblob = (uint8_t *)aux;
                out->auxblob_len = al;
            } else {
                free(aux);
            }
        }
    }
    if (out->type == ENS_TEE_SNP && out->auxblob) {
        struct ens_tee_snp_cert *certs;
        size_t n;
        if (ens_tee_snp_certtable_parse(out->auxblob, out->auxblob_len, &certs, &n, err) < 0)
            goto out;
        free(certs);
    }
    /* Another writer between our write and read changes the generation. */
    if (read_generation(dir, &g1, err) < 0)
        goto out;
    if (g1 != g0 + writes) {
        ens_error(err, EAGAIN, "configfs-tsm: generation changed from %lu to %lu (expected %lu): concurrent use of %s",
                  g0, g1, g0 + writes, dir);
        goto out;
    }
    /* The evidence must carry our REPORTDATA. */
    {
        size_t off = out->type == ENS_TEE_SNP ? 0x50 : 0;
        if (out->type == ENS_TEE_TDX) {
            uint16_t v = out->outblob_len >= 2 ? tee_u16(out->outblob) : 0;
            off = v == 5 ? 54 + 520 : 48 + 520;
        }
        if (out->outblob_len < off + 64 || memcmp(out->outblob + off, report_data, 64) != 0) {
            ens_error(err, EIO, "configfs-tsm: outblob does not carry the requested REPORTDATA");
            goto out;
        }
    }
    out->generation = g1;
    ret = 0;
out:
    if (created && rmdir(dir) < 0 && ret == 0) {
        ens_error_errno(err, "configfs-tsm: rmdir %s", dir);
        ret = -1;
    }
    if (ret < 0)
        ens_tee_tsm_report_clear(out);
    return ret;
}
