/* SPDX-License-Identifier: Apache-2.0 */
/* The shield directory: manifest versions, commit, objects, garbage collection. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "crypto/digest.h"
#include "shield/shield_internal.h"

uint64_t sh_get64(const uint8_t *p);

size_t sh_chunk_len(const struct sh_manifest *m, const struct sh_node *n, uint64_t idx)
{
    uint64_t start = idx * m->chunk;
    if (start >= n->size)
        return 0;
    uint64_t rest = n->size - start;
    return rest < m->chunk ? (size_t)rest : m->chunk;
}

int sh_new_obj_id(uint8_t id[SH_OBJ_ID_LEN], ens_error_t *err) { return ens_random(id, SH_OBJ_ID_LEN, err); }

char *sh_obj_path(const char *shield, const uint8_t id[SH_OBJ_ID_LEN], const char *suffix)
{
    char hex[SH_OBJ_ID_LEN * 2 + 1];
    ens_hex_encode(id, SH_OBJ_ID_LEN, hex);
    char *p = NULL;
    if (asprintf(&p, "%s/objects/%.2s/%s%s", shield, hex, hex, suffix ? suffix : "") < 0)
        return NULL;
    return p;
}

static int read_manifest_file(const char *path, uint8_t **buf, size_t *len, uint8_t tag[32], ens_error_t *err)
{
    char *b = NULL;
    if (ens_read_file(path, SH_MAX_MANIFEST + 128, &b, len, err) < 0)
        return -1;
    ens_sha256(b, *len, tag);
    *buf = (uint8_t *)b;
    return 0;
}

int ens_shield_current_tag(const char *shield_dir, uint8_t tag[ENS_SHIELD_TAG_LEN], ens_error_t *err)
{
    _cleanup_free_ char *p = ens_path_join(shield_dir, "manifest");
    _cleanup_free_ uint8_t *buf = NULL;
    size_t len;
    if (!p)
        return ens_error(err, ENOMEM, "out of memory");
    return read_manifest_file(p, &buf, &len, tag, err);
}

int sh_load(const char *shield, const uint8_t vk[32], const uint8_t tag[32], bool allow_prev,
            struct sh_manifest **m, bool *was_prev, ens_error_t *err)
{
    static const char *names[] = {"manifest", "manifest.prev"};
    char found_hex[65] = "", want_hex[65];
    ens_hex_encode(tag, 32, want_hex);
    for (int i = 0; i < (allow_prev ? 2 : 1); i++) {
        _cleanup_free_ char *p = ens_path_join(shield, names[i]);
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_error_ ens_error_t e = NULL;
        size_t len;
        uint8_t t[32];
        if (!p)
            return ens_error(err, ENOMEM, "out of memory");
        if (read_manifest_file(p, &buf, &len, t, &e) < 0) {
            if (i == 0) {
                ens_error(err, ens_error_status(e), "%s", ens_error_msg(e));
                return ens_error_wrap(err, "shield %s", shield);
            }
            continue;
        }
        if (i == 0)
            ens_hex_encode(t, 32, found_hex);
        if (!ens_ct_equal(t, tag, 32))
            continue;
        _cleanup_free_ char *plain = NULL;
        size_t plen;
        if (sh_manifest_open(vk, buf, len, &plain, &plen, err) < 0)
            return ens_error_wrap(err, "shield %s: %s", shield, names[i]);
        int rc = sh_manifest_parse(plain, plen, m, err);
        ens_wipe(plain, plen);
        if (rc < 0)
            return ens_error_wrap(err, "shield %s", shield);
        if (was_prev)
            *was_prev = i == 1;
        return 0;
    }
    return ens_error(err, EKEYREJECTED,
                     "shield %s: tag mismatch: the manifest's tag is %s, expected %s (tampered, rolled back or "
                     "wrong volume)",
                     shield, found_hex, want_hex);
}

/* Test hook: ENSCONCE_SHIELD_COMMIT_DELAY_MS pauses between the commit's steps so
 * that the crash tests can kill the process inside a commit. */
void sh_commit_pause(void);
void sh_commit_pause(void)
{
    static long ms = -1;
    if (ms < 0) {
        const char *v = getenv("ENSCONCE_SHIELD_COMMIT_DELAY_MS");
        ms = v ? strtol(v, NULL, 10) : 0;
        if (ms < 0 || ms > 10000)
            ms = 0;
    }
    if (ms > 0)
        usleep((useconds_t)ms * 1000);
}

static int fsync_path(const char *path, ens_error_t *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0)
        return ens_error_errno(err, "fsync %s", path);
    return 0;
}

int sh_commit_manifest(const char *shield, const uint8_t vk[32], struct sh_manifest *m, uint8_t tag[32],
                       ens_error_t *err)
{
    m->generation++;
    size_t plen = 0;
    char *plain = sh_manifest_serialize(m, &plen);
    if (!plain) {
        m->generation--;
        return ens_error(err, ENOMEM, "manifest serialization failed");
    }
    _cleanup_free_ uint8_t *sealed = NULL;
    size_t slen;
    int rc = sh_manifest_seal(vk, plain, plen, &sealed, &slen, err);
    ens_wipe(plain, plen);
    free(plain);
    if (rc < 0) {
        m->generation--;
        return -1;
    }
    _cleanup_free_ char *cur = ens_path_join(shield, "manifest");
    _cleanup_free_ char *tmp = ens_path_join(shield, "manifest.tmp");
    _cleanup_free_ char *prev = ens_path_join(shield, "manifest.prev");
    _cleanup_free_ char *prevtmp = ens_path_join(shield, "manifest.prev.tmp");
    if (!cur || !tmp || !prev || !prevtmp)
        return ens_error(err, ENOMEM, "out of memory");
    {
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            return ens_error_errno(err, "create %s", tmp);
        if (ens_write_all(fd, sealed, slen, err) < 0 || fsync(fd) < 0) {
            m->generation--;
            return ens_error_wrap(err, "write %s", tmp);
        }
    }
    sh_commit_pause();
    /* Each step leaves a valid 'manifest' (old or new); 'manifest.prev' keeps the
     * version before it so an unacknowledged commit can be dropped at mount. */
    if (access(cur, F_OK) == 0) {
        unlink(prevtmp);
        if (link(cur, prevtmp) < 0 || rename(prevtmp, prev) < 0)
            return ens_error_errno(err, "keep previous manifest in %s", prev);
        sh_commit_pause();
    }
    if (rename(tmp, cur) < 0)
        return ens_error_errno(err, "rename %s to %s", tmp, cur);
    if (fsync_path(shield, err) < 0)
        return -1;
    sh_commit_pause();
    ens_sha256(sealed, slen, tag);
    return 0;
}

static int cmp_id(const void *a, const void *b) { return memcmp(a, b, SH_OBJ_ID_LEN); }

/* Sorted ids of the objects a manifest references. */
int sh_manifest_objs(const struct sh_manifest *m, uint8_t **ids, size_t *n);
int sh_manifest_objs(const struct sh_manifest *m, uint8_t **ids, size_t *n)
{
    size_t cnt = 0;
    for (size_t i = 1; i < m->nnodes; i++)
        if (m->nodes[i] && m->nodes[i]->type == SH_REG)
            cnt++;
    uint8_t *out = malloc(cnt * SH_OBJ_ID_LEN + 1);
    if (!out)
        return -1;
    size_t k = 0;
    for (size_t i = 1; i < m->nnodes; i++)
        if (m->nodes[i] && m->nodes[i]->type == SH_REG)
            memcpy(out + SH_OBJ_ID_LEN * k++, m->nodes[i]->obj, SH_OBJ_ID_LEN);
    qsort(out, cnt, SH_OBJ_ID_LEN, cmp_id);
    *ids = out;
    *n = cnt;
    return 0;
}

bool sh_ids_contain(const uint8_t *ids, size_t n, const uint8_t id[SH_OBJ_ID_LEN]);
bool sh_ids_contain(const uint8_t *ids, size_t n, const uint8_t id[SH_OBJ_ID_LEN])
{
    return ids && bsearch(id, ids, n, SH_OBJ_ID_LEN, cmp_id) != NULL;
}

static int load_ids(const char *shield, const char *name, const uint8_t vk[32], uint8_t **ids, size_t *n,
                    ens_error_t *err)
{
    _cleanup_free_ char *p = ens_path_join(shield, name);
    _cleanup_free_ uint8_t *buf = NULL;
    _cleanup_free_ char *plain = NULL;
    size_t len, plen;
    uint8_t t[32];
    *ids = NULL;
    *n = 0;
    if (access(p, F_OK) < 0)
        return 0;
    if (read_manifest_file(p, &buf, &len, t, err) < 0 || sh_manifest_open(vk, buf, len, &plain, &plen, err) < 0)
        return -1;
    struct sh_manifest *m = NULL;
    if (sh_manifest_parse(plain, plen, &m, err) < 0)
        return -1;
    int rc = sh_manifest_objs(m, ids, n);
    sh_manifest_free(m);
    return rc < 0 ? ens_error(err, ENOMEM, "out of memory") : 0;
}

int sh_gc(const char *shield, const uint8_t vk[32], ens_error_t *err)
{
    _cleanup_free_ uint8_t *cur = NULL, *prev = NULL;
    size_t ncur, nprev;
    if (load_ids(shield, "manifest", vk, &cur, &ncur, err) < 0 ||
        load_ids(shield, "manifest.prev", vk, &prev, &nprev, err) < 0)
        return ens_error_wrap(err, "garbage collection of %s", shield);
    _cleanup_free_ char *od = ens_path_join(shield, "objects");
    _cleanup_closedir_ DIR *d = opendir(od);
    if (!d)
        return errno == ENOENT ? 0 : ens_error_errno(err, "open %s", od);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        _cleanup_free_ char *sub = ens_path_join(od, de->d_name);
        _cleanup_closedir_ DIR *sd = opendir(sub);
        if (!sd)
            continue;
        struct dirent *se;
        while ((se = readdir(sd))) {
            if (se->d_name[0] == '.')
                continue;
            uint8_t id[SH_OBJ_ID_LEN];
            char hex[SH_OBJ_ID_LEN * 2 + 1];
            snprintf(hex, sizeof(hex), "%.32s", se->d_name);
            _cleanup_error_ ens_error_t e = NULL;
            if (strlen(se->d_name) >= 32 && ens_hex_decode(hex, id, SH_OBJ_ID_LEN, &e) == 0 &&
                (sh_ids_contain(cur, ncur, id) || sh_ids_contain(prev, nprev, id)))
                continue;
            unlinkat(dirfd(sd), se->d_name, 0);
        }
    }
    return 0;
}

struct sh_obj *sh_obj_new(const uint8_t id[SH_OBJ_ID_LEN]);
struct sh_obj *sh_obj_new(const uint8_t id[SH_OBJ_ID_LEN])
{
    struct sh_obj *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->fd = -1;
    memcpy(o->id, id, SH_OBJ_ID_LEN);
    return o;
}

int sh_obj_load(const char *shield, const uint8_t vk[32], const struct sh_manifest *m, struct sh_node *n,
                ens_error_t *err)
{
    if (n->o && n->o->loaded)
        return 0;
    _cleanup_free_ char *path = sh_node_path(m, n);
    if (!n->o && !(n->o = sh_obj_new(n->obj)))
        return ens_error(err, ENOMEM, "out of memory");
    struct sh_obj *o = n->o;
    _cleanup_free_ char *dp = sh_obj_path(shield, n->obj, NULL);
    _cleanup_free_ char *tp = sh_obj_path(shield, n->obj, ".t");
    if (!dp || !tp)
        return ens_error(err, ENOMEM, "out of memory");
    if (o->fd < 0) {
        o->fd = open(dp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (o->fd < 0)
            return ens_error(err, EIO, "%s: data object missing or unreadable", path ? path : "?");
    }
    struct stat st;
    if (fstat(o->fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != n->size)
        return ens_error(err, EIO, "%s: data object has the wrong size (truncated or extended)", path ? path : "?");
    uint64_t nch = sh_nchunks(n->size, m->chunk);
    _cleanup_free_ char *tb = NULL;
    size_t tl = 0;
    _cleanup_error_ ens_error_t e = NULL;
    if (n->tab_inline) {
        if (nch > SH_INLINE_MAX || !(tb = malloc(SH_INLINE_MAX * SH_TENT_LEN)))
            return ens_error(err, EIO, "%s: bad inline chunk table", path ? path : "?");
        memcpy(tb, n->itab, nch * SH_TENT_LEN);
    } else if (ens_read_file(tp, nch * SH_TENT_LEN, &tb, &tl, &e) < 0 || tl != nch * SH_TENT_LEN) {
        return ens_error(err, EIO, "%s: chunk table missing or of the wrong size", path ? path : "?");
    }
    free(o->tab);
    o->tab = calloc(nch + 1, sizeof(*o->tab));
    if (!o->tab)
        return ens_error(err, ENOMEM, "out of memory");
    for (uint64_t i = 0; i < nch; i++) {
        o->tab[i].ctr = sh_get64((const uint8_t *)tb + i * SH_TENT_LEN);
        memcpy(o->tab[i].tag, tb + i * SH_TENT_LEN + 8, SH_GCM_TAG_LEN);
    }
    o->ntab = o->captab = nch;
    uint8_t root[SH_ROOT_LEN];
    sh_table_root(o->tab, nch, root);
    if (!n->tab_inline && !ens_ct_equal(root, n->root, SH_ROOT_LEN))
        return ens_error(err, EIO, "%s: chunk table does not match the manifest (tampered or replayed)",
                         path ? path : "?");
    if (sh_obj_keys(o, vk) < 0)
        return ens_error(err, EIO, "%s: key derivation failed", path ? path : "?");
    o->loaded = true;
    return 0;
}

int sh_obj_read_chunk(const struct sh_manifest *m, struct sh_node *n, uint64_t idx, uint8_t *out, size_t len,
                      ens_error_t *err)
{
    struct sh_obj *o = n->o;
    if (idx >= o->ntab || len > m->chunk)
        return ens_error(err, EIO, "chunk %llu out of range", (unsigned long long)idx);
    if (o->tab[idx].ctr == 0) {
        memset(out, 0, len);
        return 0;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(o->fd, out + got, len - got, (off_t)(idx * m->chunk + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got != len || sh_chunk_open(o, n->region, idx, o->tab[idx].ctr, out, len, o->tab[idx].tag, out) < 0) {
        _cleanup_free_ char *path = sh_node_path(m, n);
        return ens_error(err, EIO, "%s: integrity check failed at chunk %llu (tampered data)", path ? path : "?",
                         (unsigned long long)idx);
    }
    return 0;
}
