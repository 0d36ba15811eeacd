/* SPDX-License-Identifier: Apache-2.0 */
/* The manifest tree and its JSON form (jansson); the parser validates every field. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "crypto/digest.h"
#include "shield/shield_internal.h"

uint64_t sh_nchunks(uint64_t size, uint32_t chunk) { return (size + chunk - 1) / chunk; }

struct sh_manifest *sh_manifest_new(uint32_t chunk)
{
    struct sh_manifest *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->chunk = chunk;
    m->nnodes = 1; /* ino 0 is never used */
    return m;
}

void sh_obj_free(struct sh_obj *o)
{
    if (!o)
        return;
    if (o->fd >= 0)
        close(o->fd);
    EVP_CIPHER_CTX_free(o->enc);
    EVP_CIPHER_CTX_free(o->dec);
    ens_wipe(o->key, sizeof(o->key));
    free(o->tab);
    if (o->cbuf)
        free(o->cbuf);
    free(o);
}

void sh_node_free(struct sh_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nents; i++)
        free(n->ents[i].name);
    free(n->ents);
    free(n->target);
    free(n->name);
    sh_obj_free(n->o);
    free(n);
}

void sh_manifest_free(struct sh_manifest *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nnodes; i++)
        sh_node_free(m->nodes ? m->nodes[i] : NULL);
    free(m->nodes);
    for (size_t i = 0; i < m->nrules; i++)
        free(m->rules[i].path);
    free(m->rules);
    free(m);
}

struct sh_node *sh_get(const struct sh_manifest *m, uint64_t ino)
{
    return ino > 0 && ino < m->nnodes ? m->nodes[ino] : NULL;
}

struct sh_node *sh_node_new(struct sh_manifest *m, int type)
{
    if (m->nnodes >= SH_MAX_INODES)
        return NULL;
    if (m->nnodes >= m->capnodes) {
        size_t nc = m->capnodes ? m->capnodes * 2 : 64;
        struct sh_node **nn = realloc(m->nodes, nc * sizeof(*nn));
        if (!nn)
            return NULL;
        memset(nn + m->capnodes, 0, (nc - m->capnodes) * sizeof(*nn));
        m->nodes = nn;
        m->capnodes = nc;
    }
    struct sh_node *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->type = type;
    n->ino = m->nnodes;
    m->nodes[m->nnodes++] = n;
    return n;
}

int sh_dir_add(struct sh_node *dir, const char *name, uint64_t ino)
{
    if (dir->nents == dir->capents) {
        size_t nc = dir->capents ? dir->capents * 2 : 8;
        struct sh_dirent *ne = realloc(dir->ents, nc * sizeof(*ne));
        if (!ne)
            return -1;
        dir->ents = ne;
        dir->capents = nc;
    }
    char *s = strdup(name);
    if (!s)
        return -1;
    dir->ents[dir->nents].name = s;
    dir->ents[dir->nents].ino = ino;
    dir->ents[dir->nents].cookie = ++dir->next_cookie;
    dir->nents++;
    return 0;
}

struct sh_dirent *sh_dir_find(const struct sh_node *dir, const char *name)
{
    for (size_t i = 0; i < dir->nents; i++)
        if (strcmp(dir->ents[i].name, name) == 0)
            return &dir->ents[i];
    return NULL;
}

void sh_dir_remove(struct sh_node *dir, const char *name)
{
    struct sh_dirent *e = sh_dir_find(dir, name);
    if (!e)
        return;
    free(e->name);
    size_t i = (size_t)(e - dir->ents);
    memmove(&dir->ents[i], &dir->ents[i + 1], (dir->nents - i - 1) * sizeof(*e));
    dir->nents--;
}

char *sh_node_path(const struct sh_manifest *m, const struct sh_node *n)
{
    const char *parts[256];
    int np = 0;
    const struct sh_node *c = n;
    while (c && c->ino != 1 && np < 256) {
        parts[np++] = c->name ? c->name : "?";
        c = sh_get(m, c->parent);
    }
    size_t len = 2;
    for (int i = 0; i < np; i++)
        len += strlen(parts[i]) + 1;
    char *out = malloc(len);
    if (!out)
        return NULL;
    char *p = out;
    if (np == 0)
        *p++ = '/';
    for (int i = np - 1; i >= 0; i--)
        p += sprintf(p, "/%s", parts[i]);
    *p = '\0';
    return out;
}

static const char *region_code(int r) { return r == ENS_SHIELD_AUTHENTICATED ? "authenticated" : "encrypted"; }

char *sh_manifest_serialize(const struct sh_manifest *m, size_t *len)
{
    /* Inodes are renumbered densely in tree order (ino 1 = root). */
    uint64_t *map = calloc(m->nnodes, sizeof(*map));
    uint64_t *order = calloc(m->nnodes, sizeof(*order));
    json_t *root = NULL;
    char *out = NULL;
    if (!map || !order)
        goto done;
    size_t count = 0, head = 0;
    map[1] = ++count;
    order[0] = 1;
    size_t norder = 1;
    while (head < norder) {
        struct sh_node *n = m->nodes[order[head++]];
        if (n->type != SH_DIR)
            continue;
        for (size_t i = 0; i < n->nents; i++) {
            uint64_t c = n->ents[i].ino;
            if (!map[c]) {
                map[c] = ++count;
                order[norder++] = c;
            }
        }
    }
    root = json_object();
    json_t *inodes = json_array(), *rules = json_array();
    json_object_set_new(root, "format", json_string(SH_FORMAT));
    json_object_set_new(root, "chunk_size", json_integer(m->chunk));
    json_object_set_new(root, "generation", json_integer((json_int_t)m->generation));
    json_object_set_new(root, "default_region", json_string(m->default_region == ENS_SHIELD_AUTHENTICATED
                                                                ? "authenticated"
                                                                : m->default_region == ENS_SHIELD_PLAIN ? "plain"
                                                                                                        : "encrypted"));
    for (size_t i = 0; i < m->nrules; i++)
        json_array_append_new(rules, json_pack("{s:s,s:s}", "path", m->rules[i].path, "region",
                                               ens_shield_region_name(m->rules[i].region)));
    json_object_set_new(root, "regions", rules);
    for (size_t k = 0; k < norder; k++) {
        struct sh_node *n = m->nodes[order[k]];
        json_t *j = json_object();
        json_object_set_new(j, "type", json_string(n->type == SH_DIR ? "dir" : n->type == SH_REG ? "file" : "symlink"));
        json_object_set_new(j, "mode", json_integer(n->mode & 07777));
        json_object_set_new(j, "uid", json_integer(n->uid));
        json_object_set_new(j, "gid", json_integer(n->gid));
        json_object_set_new(j, "mtime", json_pack("[I,i]", (json_int_t)n->mtime, (int)n->mtime_ns));
        if (n->type == SH_DIR) {
            json_t *e = json_array();
            for (size_t i = 0; i < n->nents; i++)
                json_array_append_new(e, json_pack("[s,I]", n->ents[i].name, (json_int_t)map[n->ents[i].ino]));
            json_object_set_new(j, "entries", e);
        } else if (n->type == SH_REG) {
            char ob[SH_OBJ_ID_LEN * 2 + 1], rb[SH_INLINE_MAX * SH_TENT_LEN * 2 + 1];
            ens_hex_encode(n->obj, SH_OBJ_ID_LEN, ob);
            size_t nch = (size_t)sh_nchunks(n->size, m->chunk);
            if (n->tab_inline)
                ens_hex_encode(n->itab, nch * SH_TENT_LEN, rb);
            else
                ens_hex_encode(n->root, SH_ROOT_LEN, rb);
            json_object_set_new(j, "region", json_string(region_code(n->region)));
            json_object_set_new(j, "size", json_integer((json_int_t)n->size));
            json_object_set_new(j, "object", json_string(ob));
            json_object_set_new(j, n->tab_inline ? "table" : "root", json_string(rb));
        } else {
            json_object_set_new(j, "target", json_string(n->target));
        }
        json_array_append_new(inodes, j);
    }
    json_object_set_new(root, "inodes", inodes);
    out = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    if (out)
        *len = strlen(out);
done:
    json_decref(root);
    free(map);
    free(order);
    return out;
}

static int get_uint(json_t *o, const char *key, uint64_t max, uint64_t *v, ens_error_t *err, const char *ctx)
{
    json_t *j = json_object_get(o, key);
    if (!json_is_integer(j) || json_integer_value(j) < 0 || (uint64_t)json_integer_value(j) > max)
        return ens_error(err, EINVAL, "manifest: %s: field '%s' missing or out of range", ctx, key);
    *v = (uint64_t)json_integer_value(j);
    return 0;
}

static int parse_hex(json_t *o, const char *key, uint8_t *out, size_t n, ens_error_t *err, const char *ctx)
{
    json_t *j = json_object_get(o, key);
    if (!json_is_string(j) || json_string_length(j) != 2 * n)
        return ens_error(err, EINVAL, "manifest: %s: field '%s' must be %zu hex digits", ctx, key, 2 * n);
    _cleanup_error_ ens_error_t e = NULL;
    if (ens_hex_decode(json_string_value(j), out, n, &e) < 0)
        return ens_error(err, EINVAL, "manifest: %s: field '%s' is not hex", ctx, key);
    return 0;
}

static bool valid_name(json_t *s)
{
    if (!json_is_string(s))
        return false;
    const char *v = json_string_value(s);
    size_t l = json_string_length(s);
    return l > 0 && l <= 255 && strlen(v) == l && !strchr(v, '/') && strcmp(v, ".") != 0 && strcmp(v, "..") != 0;
}

static int cmp_ent(const void *a, const void *b)
{
    return strcmp(((const struct sh_dirent *)a)->name, ((const struct sh_dirent *)b)->name);
}

int ens_shield_region_parse(const char *s, enum ens_shield_region *r)
{
    if (strcmp(s, "encrypted") == 0)
        *r = ENS_SHIELD_ENCRYPTED;
    else if (strcmp(s, "authenticated") == 0)
        *r = ENS_SHIELD_AUTHENTICATED;
    else if (strcmp(s, "plain") == 0)
        *r = ENS_SHIELD_PLAIN;
    else
        return -1;
    return 0;
}

const char *ens_shield_region_name(enum ens_shield_region r)
{
    return r == ENS_SHIELD_AUTHENTICATED ? "authenticated" : r == ENS_SHIELD_PLAIN ? "plain" : "encrypted";
}

/* The header; *mp gets the new manifest (the caller frees it, also on failure). */
static int parse_header(json_t *root, struct sh_manifest **mp, ens_error_t *err)
{
    if (!json_is_object(root))
        return ens_error(err, EINVAL, "manifest: not a JSON object");
    json_t *fmt = json_object_get(root, "format");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), SH_FORMAT) != 0)
        return ens_error(err, EINVAL, "manifest: unsupported format (want %s)", SH_FORMAT);
    uint64_t chunk, gen;
    if (get_uint(root, "chunk_size", SH_MAX_CHUNK, &chunk, err, "header") < 0 ||
        get_uint(root, "generation", (uint64_t)INT64_MAX, &gen, err, "header") < 0)
        return -1;
    if (chunk < SH_MIN_CHUNK || (chunk & (chunk - 1)))
        return ens_error(err, EINVAL, "manifest: chunk_size %llu is not a power of two in [4096, 4194304]",
                         (unsigned long long)chunk);
    struct sh_manifest *m = *mp = sh_manifest_new((uint32_t)chunk);
    if (!m)
        return ens_error(err, ENOMEM, "out of memory");
    m->generation = gen;
    enum ens_shield_region dr;
    json_t *jdr = json_object_get(root, "default_region");
    if (!json_is_string(jdr) || ens_shield_region_parse(json_string_value(jdr), &dr) < 0)
        return ens_error(err, EINVAL, "manifest: header: bad default_region");
    m->default_region = dr;
    return 0;
}

static int parse_rules(json_t *root, struct sh_manifest *m, ens_error_t *err)
{
    json_t *rules = json_object_get(root, "regions");
    if (!json_is_array(rules) || json_array_size(rules) > 4096)
        return ens_error(err, EINVAL, "manifest: 'regions' must be an array (at most 4096)");
    m->rules = calloc(json_array_size(rules) + 1, sizeof(*m->rules));
    if (!m->rules)
        return ens_error(err, ENOMEM, "out of memory");
    size_t ri;
    json_t *jr;
    json_array_foreach(rules, ri, jr)
    {
        json_t *p = json_object_get(jr, "path"), *k = json_object_get(jr, "region");
        enum ens_shield_region r;
        if (!json_is_string(p) || json_string_length(p) == 0 || json_string_length(p) > 4096 ||
            strlen(json_string_value(p)) != json_string_length(p) || json_string_value(p)[0] != '/' ||
            !json_is_string(k) || ens_shield_region_parse(json_string_value(k), &r) < 0)
            return ens_error(err, EINVAL, "manifest: region rule %zu: bad path or region", ri);
        m->rules[ri].path = strdup(json_string_value(p));
        m->rules[ri].region = r;
        m->nrules++;
        if (!m->rules[ri].path)
            return ens_error(err, ENOMEM, "out of memory");
    }
    return 0;
}

static int parse_file(const struct sh_manifest *m, struct sh_node *n, json_t *ji, const char *ctx, ens_error_t *err)
{
    json_t *jr = json_object_get(ji, "region");
    enum ens_shield_region r;
    if (!json_is_string(jr) || ens_shield_region_parse(json_string_value(jr), &r) < 0 || r == ENS_SHIELD_PLAIN)
        return ens_error(err, EINVAL, "manifest: %s: bad region", ctx);
    n->region = r;
    if (get_uint(ji, "size", SH_MAX_SIZE, &n->size, err, ctx) < 0 ||
        parse_hex(ji, "object", n->obj, SH_OBJ_ID_LEN, err, ctx) < 0)
        return -1;
    /* small files: the chunk table itself ("table"), else the digest of its file ("root") */
    uint64_t nch = sh_nchunks(n->size, m->chunk);
    n->tab_inline = nch <= SH_INLINE_MAX;
    if (n->tab_inline ? parse_hex(ji, "table", n->itab, (size_t)nch * SH_TENT_LEN, err, ctx) < 0
                      : parse_hex(ji, "root", n->root, SH_ROOT_LEN, err, ctx) < 0)
        return -1;
    return 0;
}

static int parse_symlink(struct sh_node *n, json_t *ji, const char *ctx, ens_error_t *err)
{
    json_t *tg = json_object_get(ji, "target");
    if (!json_is_string(tg) || json_string_length(tg) == 0 || json_string_length(tg) > 4095 ||
        strlen(json_string_value(tg)) != json_string_length(tg))
        return ens_error(err, EINVAL, "manifest: %s: bad symlink target", ctx);
    n->target = strdup(json_string_value(tg));
    if (!n->target)
        return ens_error(err, ENOMEM, "out of memory");
    return 0;
}

/* A directory's entries, each naming an inode in [2, ninodes]. */
static int parse_dir(struct sh_node *n, json_t *ji, size_t ninodes, const char *ctx, ens_error_t *err)
{
    json_t *ents = json_object_get(ji, "entries");
    if (!json_is_array(ents))
        return ens_error(err, EINVAL, "manifest: %s: 'entries' must be an array", ctx);
    size_t ei;
    json_t *je;
    json_array_foreach(ents, ei, je)
    {
        json_t *nm = json_array_get(je, 0), *ci = json_array_get(je, 1);
        if (!json_is_array(je) || json_array_size(je) != 2 || !valid_name(nm) || !json_is_integer(ci) ||
            json_integer_value(ci) < 2 || (uint64_t)json_integer_value(ci) > ninodes)
            return ens_error(err, EINVAL, "manifest: %s: entry %zu: bad name or inode number", ctx, ei);
        if (sh_dir_add(n, json_string_value(nm), (uint64_t)json_integer_value(ci)) < 0)
            return ens_error(err, ENOMEM, "out of memory");
    }
    if (n->nents > 1) {
        qsort(n->ents, n->nents, sizeof(*n->ents), cmp_ent);
        for (size_t i = 0; i < n->nents; i++)
            n->ents[i].cookie = i + 1; /* keep cookies increasing in array order */
        for (size_t i = 1; i < n->nents; i++)
            if (strcmp(n->ents[i - 1].name, n->ents[i].name) == 0)
                return ens_error(err, EINVAL, "manifest: %s: duplicate entry name", ctx);
    }
    return 0;
}

/* Inode idx + 1 of ninodes (the root first), added to m. */
static int parse_inode(struct sh_manifest *m, json_t *ji, size_t idx, size_t ninodes, ens_error_t *err)
{
    char ctx[48];
    snprintf(ctx, sizeof(ctx), "inode %zu", idx + 1);
    if (!json_is_object(ji))
        return ens_error(err, EINVAL, "manifest: %s: not an object", ctx);
    json_t *jt = json_object_get(ji, "type");
    const char *t = json_is_string(jt) ? json_string_value(jt) : "";
    int type = strcmp(t, "dir") == 0 ? SH_DIR : strcmp(t, "file") == 0 ? SH_REG : strcmp(t, "symlink") == 0 ? SH_LNK : 0;
    if (!type || (idx == 0 && type != SH_DIR))
        return ens_error(err, EINVAL, "manifest: %s: bad type%s", ctx, idx == 0 ? " (the root must be a dir)" : "");
    struct sh_node *n = sh_node_new(m, type);
    if (!n)
        return ens_error(err, ENOMEM, "out of memory");
    uint64_t v, uid, gid;
    if (get_uint(ji, "mode", 07777, &v, err, ctx) < 0 || get_uint(ji, "uid", UINT32_MAX, &uid, err, ctx) < 0 ||
        get_uint(ji, "gid", UINT32_MAX, &gid, err, ctx) < 0)
        return -1;
    n->mode = (uint32_t)v;
    n->uid = (uint32_t)uid;
    n->gid = (uint32_t)gid;
    json_t *mt = json_object_get(ji, "mtime");
    if (!json_is_array(mt) || json_array_size(mt) != 2 || !json_is_integer(json_array_get(mt, 0)) ||
        !json_is_integer(json_array_get(mt, 1)) || json_integer_value(json_array_get(mt, 1)) < 0 ||
        json_integer_value(json_array_get(mt, 1)) >= 1000000000)
        return ens_error(err, EINVAL, "manifest: %s: bad mtime", ctx);
    n->mtime = n->ctime = json_integer_value(json_array_get(mt, 0));
    n->mtime_ns = n->ctime_ns = (uint32_t)json_integer_value(json_array_get(mt, 1));
    if (type == SH_REG)
        return parse_file(m, n, ji, ctx, err);
    if (type == SH_LNK)
        return parse_symlink(n, ji, ctx, err);
    return parse_dir(n, ji, ninodes, ctx, err);
}

/* Everything the JSON says, into *mp (the caller frees it, also on failure). */
static int manifest_from_json(json_t *root, struct sh_manifest **mp, ens_error_t *err)
{
    if (parse_header(root, mp, err) < 0 || parse_rules(root, *mp, err) < 0)
        return -1;
    json_t *inodes = json_object_get(root, "inodes");
    if (!json_is_array(inodes) || json_array_size(inodes) == 0 || json_array_size(inodes) >= SH_MAX_INODES)
        return ens_error(err, EINVAL, "manifest: 'inodes' must be a non-empty array");
    size_t idx;
    json_t *ji;
    json_array_foreach(inodes, idx, ji)
    {
        if (parse_inode(*mp, ji, idx, json_array_size(inodes), err) < 0)
            return -1;
    }
    return 0;
}

/* Structure: every non-root inode referenced; directories exactly once and
 * reachable from the root (so the tree has no cycles).  Sets parents, names and link counts. */
static int check_tree(struct sh_manifest *m, ens_error_t *err)
{
    _cleanup_free_ uint32_t *refs = calloc(m->nnodes, sizeof(*refs));
    if (!refs)
        return ens_error(err, ENOMEM, "out of memory");
    for (size_t i = 1; i < m->nnodes; i++) {
        struct sh_node *n = m->nodes[i];
        for (size_t k = 0; k < n->nents; k++) {
            struct sh_node *c = m->nodes[n->ents[k].ino];
            if (refs[c->ino]++ == 0) {
                c->parent = n->ino;
                c->name = strdup(n->ents[k].name);
                if (!c->name)
                    return ens_error(err, ENOMEM, "out of memory");
            }
            if (c->type == SH_DIR && refs[c->ino] > 1)
                return ens_error(err, EINVAL, "manifest: directory inode %llu has more than one link",
                                 (unsigned long long)c->ino);
            if (refs[c->ino] > 65000)
                return ens_error(err, EINVAL, "manifest: inode %llu has too many links", (unsigned long long)c->ino);
        }
    }
    for (size_t i = 2; i < m->nnodes; i++)
        if (refs[i] == 0)
            return ens_error(err, EINVAL, "manifest: inode %zu is not referenced by any directory", i);
    /* reachability: walk parents of every directory up to the root within nnodes steps */
    for (size_t i = 2; i < m->nnodes; i++) {
        if (m->nodes[i]->type != SH_DIR)
            continue;
        uint64_t c = i;
        size_t steps = 0;
        while (c != 1 && steps++ < m->nnodes)
            c = m->nodes[c]->parent;
        if (c != 1)
            return ens_error(err, EINVAL, "manifest: directory inode %zu is not reachable from the root", i);
    }
    for (size_t i = 1; i < m->nnodes; i++) {
        struct sh_node *n = m->nodes[i];
        n->nlink = n->type == SH_DIR ? 2 : refs[i];
        if (n->type == SH_DIR) {
            for (size_t k = 0; k < n->nents; k++)
                if (m->nodes[n->ents[k].ino]->type == SH_DIR)
                    n->nlink++;
        }
    }
    return 0;
}

int sh_manifest_parse(const char *buf, size_t len, struct sh_manifest **out, ens_error_t *err)
{
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return ens_error(err, EINVAL, "manifest: invalid JSON at line %d: %s", je.line, je.text);
    struct sh_manifest *m = NULL;
    int rc = manifest_from_json(root, &m, err);
    json_decref(root);
    if (rc < 0 || check_tree(m, err) < 0) {
        sh_manifest_free(m);
        return -1;
    }
    *out = m;
    return 0;
}
