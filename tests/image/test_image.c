/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of lib/image internals: references, paths, auth challenges, documents, layer streams
 * and whiteout application. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "crypto/digest.h"
#include "image/internal.h"

static void parse_ok(const char *s, enum ens_transport t, const char *path, const char *tag, const char *host,
                     const char *repo, const char *digest)
{
    struct image_ref r;
    ens_error_t err = NULL;
    int rc = image_ref_parse(s, &r, &err);
    if (rc < 0)
        fail_msg("%s: %s", s, ens_error_msg(err));
    assert_int_equal(r.transport, t);
#define CHECK(f) \
    if (f) assert_string_equal(r.f, f); else assert_null(r.f);
    CHECK(path);
    CHECK(tag);
    CHECK(host);
    CHECK(repo);
    CHECK(digest);
#undef CHECK
    image_ref_clear(&r);
}

static void parse_bad(const char *s, const char *want)
{
    struct image_ref r;
    ens_error_t err = NULL;
    assert_int_equal(image_ref_parse(s, &r, &err), -1);
    assert_non_null(err);
    if (!strstr(ens_error_msg(err), want))
        fail_msg("%s: error '%s' lacks '%s'", s, ens_error_msg(err), want);
    ens_error_release(&err);
}

static void test_refs(void **state)
{
    (void)state;
    const char *D = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    parse_ok("oci:/tmp/x", T_OCI, "/tmp/x", NULL, NULL, NULL, NULL);
    parse_ok("oci:/tmp/x:v1.2", T_OCI, "/tmp/x", "v1.2", NULL, NULL, NULL);
    parse_ok("oci-archive:a.tar", T_OCI_ARCHIVE, "a.tar", NULL, NULL, NULL, NULL);
    parse_ok("docker-archive:a.tar:example/app:v2", T_DOCKER_ARCHIVE, "a.tar", "example/app:v2", NULL, NULL, NULL);
    parse_ok("docker://debian", T_DOCKER, NULL, "latest", "docker.io", "library/debian", NULL);
    parse_ok("docker://user/app:1", T_DOCKER, NULL, "1", "docker.io", "user/app", NULL);
    parse_ok("docker://127.0.0.1:5000/a/b:tag", T_DOCKER, NULL, "tag", "127.0.0.1:5000", "a/b", NULL);
    parse_ok("docker://localhost/app", T_DOCKER, NULL, "latest", "localhost", "app", NULL);
    parse_ok("docker://quay.io/org/app-x_y.z", T_DOCKER, NULL, "latest", "quay.io", "org/app-x_y.z", NULL);
    char buf[200];
    snprintf(buf, sizeof(buf), "docker://r.example:443/ns/app@%s", D);
    parse_ok(buf, T_DOCKER, NULL, NULL, "r.example:443", "ns/app", D);
    snprintf(buf, sizeof(buf), "docker://r.example/ns/app:tag@%s", D);
    parse_ok(buf, T_DOCKER, NULL, NULL, "r.example", "ns/app", D);
    parse_bad("docker://r.example/App", "invalid repository");
    parse_bad("docker://r.example/app:bad/tag", "invalid");
    parse_bad("docker://r.example/app:-x", "invalid tag");
    parse_bad("docker://r.example/app@sha256:123", "invalid digest");
    parse_bad("docker://r.example/a..b", "invalid repository");
    parse_bad("oci:", "missing path");
    parse_bad("oci::tag", "empty path");
    parse_bad("oci:/x:bad tag", "invalid tag");
    parse_bad("dir:/x", "unknown transport");
    parse_bad("/just/a/path", "unknown transport");
    assert_true(tag_valid("v1.0_rc-1"));
    assert_false(tag_valid(""));
    assert_false(tag_valid(".x"));
    char longtag[140];
    memset(longtag, 'a', 129);
    longtag[129] = '\0';
    assert_false(tag_valid(longtag));
}

static void clean_is(const char *in, const char *want)
{
    bool esc;
    char *c = path_clean(in, &esc);
    if (!want) {
        assert_null(c);
        assert_true(esc);
        return;
    }
    assert_non_null(c);
    assert_string_equal(c, want);
    free(c);
}

static void test_paths(void **state)
{
    (void)state;
    clean_is("./etc/passwd", "etc/passwd");
    clean_is("/etc//passwd/", "etc/passwd");
    clean_is("a/./b/../c", "a/c");
    clean_is("/", "");
    clean_is(".", "");
    clean_is("a/..", "");
    clean_is("..", NULL);
    clean_is("../x", NULL);
    clean_is("a/../../x", NULL);
    clean_is("/../x", NULL);
    clean_is("...", "...");
    clean_is("..a/b..", "..a/b..");
}

static void test_www_auth(void **state)
{
    (void)state;
    struct www_auth a;
    assert_int_equal(www_auth_parse("Bearer realm=\"https://auth.example/token\",service=\"registry.example\","
                                    "scope=\"repository:a/b:pull,push\"", &a), 0);
    assert_string_equal(a.scheme, "bearer");
    assert_string_equal(a.realm, "https://auth.example/token");
    assert_string_equal(a.service, "registry.example");
    assert_string_equal(a.scope, "repository:a/b:pull,push");
    www_auth_clear(&a);
    assert_int_equal(www_auth_parse("Basic realm=\"Registry Realm\"", &a), 0);
    assert_string_equal(a.scheme, "basic");
    assert_string_equal(a.realm, "Registry Realm");
    assert_null(a.scope);
    www_auth_clear(&a);
    assert_int_equal(www_auth_parse("", &a), -1);
}

static void test_auth_file(void **state)
{
    (void)state;
    char path[] = "/tmp/ens-auth-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    /* dXNlcjpwYXNz = user:pass ; YTpi = a:b */
    const char *j = "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"dXNlcjpwYXNz\"},"
                    "\"reg.example:5000\":{\"auth\":\"YTpi\"},\"other\":{\"username\":\"u\",\"password\":\"p\"},"
                    "\"bad\":{\"auth\":\"bm9jb2xvbg==\"}}}";
    assert_int_equal(write(fd, j, strlen(j)), (ssize_t)strlen(j));
    close(fd);
    ens_error_t err = NULL;
    char *up = NULL;
    assert_int_equal(auth_lookup(path, "docker.io", &up, &err), 0);
    assert_string_equal(up, "user:pass");
    free(up);
    assert_int_equal(auth_lookup(path, "reg.example:5000", &up, &err), 0);
    assert_string_equal(up, "a:b");
    free(up);
    assert_int_equal(auth_lookup(path, "other", &up, &err), 0);
    assert_string_equal(up, "u:p");
    free(up);
    assert_int_equal(auth_lookup(path, "nothere", &up, &err), 0);
    assert_null(up);
    assert_int_equal(auth_lookup(path, "bad", &up, &err), -1);
    assert_null(strstr(ens_error_msg(err), "nocolon"));
    ens_error_release(&err);
    unlink(path);
}

static void test_documents(void **state)
{
    (void)state;
    ens_error_t err = NULL;
    struct manifest_doc m;
    const char *good = "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":{\"mediaType\":\""
                       MT_OCI_CONFIG "\",\"digest\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef"
                       "0123456789abcdef\",\"size\":10},\"layers\":[]}";
    assert_int_equal(parse_manifest(good, strlen(good), NULL, &m, &err), 0);
    assert_int_equal(m.n_layers, 0);
    manifest_doc_clear(&m);
    const char *v1 = "{\"schemaVersion\":1}";
    assert_int_equal(parse_manifest(v1, strlen(v1), NULL, &m, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "schemaVersion"));
    ens_error_release(&err);
    const char *baddigest = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"md5:00\",\"size\":1},"
                            "\"layers\":[]}";
    assert_int_equal(parse_manifest(baddigest, strlen(baddigest), NULL, &m, &err), -1);
    ens_error_release(&err);
    const char *dup = "{\"schemaVersion\":2,\"schemaVersion\":2}";
    assert_int_equal(parse_manifest(dup, strlen(dup), NULL, &m, &err), -1);
    ens_error_release(&err);

    const char *idx = "{\"schemaVersion\":2,\"manifests\":["
                      "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"sha256:1111111111111111111111111111111111"
                      "111111111111111111111111111111\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\","
                      "\"variant\":\"v8\"}},"
                      "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"sha256:2222222222222222222222222222222222"
                      "222222222222222222222222222222\",\"size\":2,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";
    struct blob b;
    assert_int_equal(index_pick(idx, strlen(idx), "linux/amd64", &b, &err), 0);
    assert_int_equal(b.size, 2);
    blob_clear(&b);
    assert_int_equal(index_pick(idx, strlen(idx), "linux/arm64/v8", &b, &err), 0);
    assert_int_equal(b.size, 1);
    blob_clear(&b);
    assert_int_equal(index_pick(idx, strlen(idx), "linux/s390x", &b, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "linux/s390x"));
    ens_error_release(&err);

    json_t *c = NULL;
    const char *cfg = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"config\":{\"Env\":[\"A=1\"]}}";
    assert_int_equal(parse_config(cfg, strlen(cfg), &c, &err), 0);
    json_decref(c);
    const char *badcfg = "{\"rootfs\":{\"diff_ids\":[]},\"config\":{\"Env\":\"A=1\"}}";
    assert_int_equal(parse_config(badcfg, strlen(badcfg), &c, &err), -1);
    ens_error_release(&err);
    const char *badid = "{\"rootfs\":{\"diff_ids\":[\"sha256:zz\"]}}";
    assert_int_equal(parse_config(badid, strlen(badid), &c, &err), -1);
    ens_error_release(&err);
}

/* ---- layers ---- */

struct ent {
    const char *path;
    char type; /* f file, d dir, l symlink, h hardlink */
    const char *data;
};

static char *make_layer(const char *tmp, enum comp c, const struct ent *e, struct blob *out)
{
    ens_error_t err = NULL;
    struct layer_writer *lw;
    assert_int_equal(layer_writer_open(tmp, c, 0, &lw, &err), 0);
    struct archive *aw = layer_writer_archive(lw);
    for (; e->path; e++) {
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, e->path);
        switch (e->type) {
        case 'f':
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_perm(ae, 0644);
            archive_entry_set_size(ae, (la_int64_t)strlen(e->data));
            break;
        case 'd':
            archive_entry_set_filetype(ae, AE_IFDIR);
            archive_entry_set_perm(ae, 0755);
            break;
        case 'l':
            archive_entry_set_filetype(ae, AE_IFLNK);
            archive_entry_set_perm(ae, 0777);
            archive_entry_set_symlink(ae, e->data);
            break;
        case 'h':
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_perm(ae, 0644);
            archive_entry_set_hardlink(ae, e->data);
            break;
        }
        assert_int_equal(archive_write_header(aw, ae), ARCHIVE_OK);
        if (e->type == 'f')
            assert_int_equal(archive_write_data(aw, e->data, strlen(e->data)), (la_ssize_t)strlen(e->data));
        archive_entry_free(ae);
    }
    assert_int_equal(layer_writer_close(lw, out, &err), 0);
    layer_writer_free(lw);
    return out->path;
}

static int apply(const char *root, struct blob *b, ens_error_t *err)
{
    int rootfd = open(root, O_PATH | O_DIRECTORY);
    int fd = open(b->path, O_RDONLY);
    struct layer_reader *lr;
    int r = layer_reader_open(fd, b->digest, b->digest, b->size, &lr, err);
    if (r == 0) {
        r = layer_apply_reader(rootfd, root, lr, "test", NULL, NULL, err);
        if (r == 0)
            r = layer_reader_finish(lr, b->diff_id, NULL, err);
        layer_reader_free(lr);
    }
    close(fd);
    close(rootfd);
    return r;
}

static bool exists(const char *root, const char *p)
{
    char buf[512];
    struct stat st;
    snprintf(buf, sizeof(buf), "%s/%s", root, p);
    return lstat(buf, &st) == 0;
}

static void test_whiteouts(void **state)
{
    (void)state;
    char tmp[] = "/tmp/ens-wh-XXXXXX";
    assert_non_null(mkdtemp(tmp));
    char root[300];
    snprintf(root, sizeof(root), "%s/root", tmp);
    assert_int_equal(mkdir(root, 0755), 0);
    ens_error_t err = NULL;
    struct blob l1, l2, l3;
    const struct ent e1[] = {
        { "a", 'd', NULL }, { "a/file", 'f', "1" }, { "a/keep", 'f', "k" }, { "b", 'd', NULL },
        { "b/x", 'f', "x" }, { "b/y", 'd', NULL }, { "b/y/z", 'f', "z" }, { "c", 'd', NULL },
        { "c/old", 'f', "o" }, { "link", 'l', "a" }, { "top", 'f', "t" }, { NULL, 0, NULL },
    };
    /* Opaque marker after this layer's own entries: they must survive it. */
    const struct ent e2[] = {
        { "a/.wh.file", 'f', "" }, { "b", 'd', NULL }, { "b/new", 'f', "n" }, { "b/.wh..wh..opq", 'f', "" },
        { ".wh.link", 'f', "" }, { ".wh.c", 'f', "" }, { ".wh.notthere", 'f', "" }, { "top", 'f', "T2" },
        { "hl", 'h', "top" }, { NULL, 0, NULL },
    };
    /* A later layer brings c back, as a file. */
    const struct ent e3[] = { { "c", 'f', "now a file" }, { "a", 'd', NULL }, { NULL, 0, NULL } };
    make_layer(tmp, COMP_GZIP, e1, &l1);
    make_layer(tmp, COMP_ZSTD, e2, &l2);
    make_layer(tmp, COMP_NONE, e3, &l3);
    assert_int_equal(apply(root, &l1, &err), 0);
    assert_true(exists(root, "a/file") && exists(root, "c/old") && exists(root, "link"));
    if (apply(root, &l2, &err) < 0)
        fail_msg("%s", ens_error_msg(err));
    assert_false(exists(root, "a/file"));
    assert_true(exists(root, "a/keep"));
    assert_false(exists(root, "b/x"));
    assert_false(exists(root, "b/y"));
    assert_true(exists(root, "b/new"));
    assert_false(exists(root, "link"));
    assert_false(exists(root, "c"));
    assert_false(exists(root, ".wh.notthere"));
    assert_false(exists(root, "b/.wh..wh..opq"));
    struct stat s1, s2;
    char p1[400], p2[400];
    snprintf(p1, sizeof(p1), "%s/top", root);
    snprintf(p2, sizeof(p2), "%s/hl", root);
    assert_int_equal(stat(p1, &s1), 0);
    assert_int_equal(stat(p2, &s2), 0);
    assert_int_equal(s1.st_ino, s2.st_ino);
    assert_int_equal(apply(root, &l3, &err), 0);
    snprintf(p1, sizeof(p1), "%s/c", root);
    assert_int_equal(lstat(p1, &s1), 0);
    assert_true(S_ISREG(s1.st_mode));
    assert_true(exists(root, "a/keep"));

    /* The digests the writer reports are those of the bytes: compressed and uncompressed. */
    uint8_t d[32];
    char hex[72] = "sha256:";
    assert_int_equal(ens_sha256_file(l1.path, d, &err), 0);
    ens_hex_encode(d, 32, hex + 7);
    assert_string_equal(hex, l1.digest);
    assert_string_equal(l3.digest, l3.diff_id); /* uncompressed layer */
    assert_string_not_equal(l1.digest, l1.diff_id);

    /* A wrong diff_id or digest is refused at the end of the stream. */
    char saved[72];
    memcpy(saved, l1.diff_id, 72);
    l1.diff_id[10] ^= 1;
    char root2[300];
    snprintf(root2, sizeof(root2), "%s/root2", tmp);
    mkdir(root2, 0755);
    assert_int_equal(apply(root2, &l1, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "diff_id"));
    ens_error_release(&err);
    memcpy(l1.diff_id, saved, 72);
    l1.digest[20] = l1.digest[20] == 'a' ? 'b' : 'a';
    assert_int_equal(apply(root2, &l1, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "digest mismatch"));
    ens_error_release(&err);

    blob_clear(&l1);
    blob_clear(&l2);
    blob_clear(&l3);
    assert_int_equal(ens_rm_rf(tmp, &err), 0);
}

static void test_xattrs(void **state)
{
    (void)state;
    char tmp[] = "/var/tmp/ens-xa-XXXXXX";
    assert_non_null(mkdtemp(tmp));
    ens_error_t err = NULL;
    struct layer_writer *lw;
    assert_int_equal(layer_writer_open(tmp, COMP_GZIP, 0, &lw, &err), 0);
    struct archive *aw = layer_writer_archive(lw);
    struct archive_entry *ae = archive_entry_new();
    archive_entry_set_pathname(ae, "f");
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_perm(ae, 0755);
    archive_entry_set_size(ae, 2);
    archive_entry_xattr_add_entry(ae, "user.ens", "hello", 5);
    assert_int_equal(archive_write_header(aw, ae), ARCHIVE_OK);
    assert_int_equal(archive_write_data(aw, "hi", 2), 2);
    archive_entry_free(ae);
    struct blob b;
    assert_int_equal(layer_writer_close(lw, &b, &err), 0);
    layer_writer_free(lw);
    char root[300], f[320];
    snprintf(root, sizeof(root), "%s/root", tmp);
    mkdir(root, 0755);
    assert_int_equal(apply(root, &b, &err), 0);
    snprintf(f, sizeof(f), "%s/f", root);
    char v[16] = "";
    ssize_t n = getxattr(f, "user.ens", v, sizeof(v));
    if (n < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP)) {
        blob_clear(&b);
        ens_rm_rf(tmp, &err);
        skip();
    }
    assert_int_equal(n, 5);
    assert_memory_equal(v, "hello", 5);
    blob_clear(&b);
    assert_int_equal(ens_rm_rf(tmp, &err), 0);
}

static void put(const char *dir, const char *rel, const char *data)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    ens_error_t err = NULL;
    char *slash = strrchr(p, '/');
    *slash = '\0';
    assert_int_equal(ens_mkdir_p(p, 0755, &err), 0);
    *slash = '/';
    if (data) {
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fputs(data, f);
        fclose(f);
    }
}

static int count_cb(void *ud, const struct ens_image_entry *e, struct ens_image_data *d, ens_error_t *err)
{
    (void)d;
    (void)err;
    (void)e;
    (*(int *)ud)++;
    return 0;
}

static void test_read_file(void **state)
{
    (void)state;
    char tmp[] = "/var/tmp/ens-rf-XXXXXX";
    assert_non_null(mkdtemp(tmp));
    char l1[300], l2[300];
    snprintf(l1, sizeof(l1), "%s/l1", tmp);
    snprintf(l2, sizeof(l2), "%s/l2", tmp);
    put(l1, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
    put(l1, "etc/gone", "old");
    put(l1, "opq/lower", "lower");
    put(l1, "app/real", "content");
    char p[512], q[512];
    snprintf(p, sizeof(p), "%s/app/link", l1);
    assert_int_equal(symlink("real", p), 0);
    snprintf(p, sizeof(p), "%s/app/abs", l1);
    assert_int_equal(symlink("/etc/passwd", p), 0);
    snprintf(p, sizeof(p), "%s/app/real", l1);
    snprintf(q, sizeof(q), "%s/app/hard", l1);
    assert_int_equal(link(p, q), 0);
    put(l2, "etc/.wh.gone", "");
    put(l2, "opq/.wh..wh..opq", "");
    put(l2, "opq/upper", "upper");
    put(l2, "etc/passwd", "changed\n");
    ens_error_t err = NULL;
    ens_image *img;
    assert_int_equal(ens_image_new(NULL, &img, &err), 0);
    assert_int_equal(ens_image_add_layer_dir(img, l1, "/", &err), 0);
    assert_int_equal(ens_image_add_layer_dir(img, l2, "/", &err), 0);
    char *buf;
    size_t len;
    assert_int_equal(ens_image_read_file(img, "/etc/passwd", 1000, &buf, &len, &err), 0);
    assert_string_equal(buf, "changed\n");
    free(buf);
    assert_int_equal(ens_image_read_file(img, "/etc/gone", 1000, &buf, &len, &err), 1);
    assert_null(buf);
    assert_int_equal(ens_image_read_file(img, "/opq/lower", 1000, &buf, &len, &err), 1);
    assert_int_equal(ens_image_read_file(img, "/opq/upper", 1000, &buf, &len, &err), 0);
    assert_string_equal(buf, "upper");
    free(buf);
    assert_int_equal(ens_image_read_file(img, "/app/link", 1000, &buf, &len, &err), 0);
    assert_string_equal(buf, "content");
    free(buf);
    assert_int_equal(ens_image_read_file(img, "/app/hard", 1000, &buf, &len, &err), 0);
    assert_string_equal(buf, "content");
    free(buf);
    assert_int_equal(ens_image_read_file(img, "/app/abs", 1000, &buf, &len, &err), 0);
    assert_string_equal(buf, "changed\n");
    free(buf);
    assert_int_equal(ens_image_read_file(img, "/app/real", 3, &buf, &len, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "limit"));
    ens_error_release(&err);
    assert_int_equal(ens_image_read_file(img, "/nope", 3, &buf, &len, &err), 1);
    int n = 0;
    assert_int_equal(ens_image_layer_walk(img, 1, count_cb, &n, &err), 0);
    assert_true(n >= 6);
    struct ens_image_layer li;
    assert_int_equal(ens_image_layer_info(img, 0, &li), 0);
    assert_true(ens_digest_valid(li.digest) && ens_digest_valid(li.diff_id));
    assert_int_equal(ens_image_layer_info(img, 2, &li), -1);
    ens_image_free(img);
    assert_int_equal(ens_rm_rf(tmp, &err), 0);
}

static void test_entry_check(void **state)
{
    (void)state;
    ens_error_t err = NULL;
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_pathname(e, "ok/file");
    assert_int_equal(entry_check(e, "L", &err), 0);
    archive_entry_set_pathname(e, "a/../../x");
    assert_int_equal(entry_check(e, "L", &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "a/../../x"));
    ens_error_release(&err);
    archive_entry_set_pathname(e, "h");
    archive_entry_set_hardlink(e, "../x");
    assert_int_equal(entry_check(e, "L", &err), -1);
    ens_error_release(&err);
    archive_entry_set_hardlink(e, "/");
    assert_int_equal(entry_check(e, "L", &err), -1);
    ens_error_release(&err);
    archive_entry_free(e);
    e = archive_entry_new();
    archive_entry_set_pathname(e, "sock");
    archive_entry_set_filetype(e, AE_IFSOCK);
    assert_int_equal(entry_check(e, "L", &err), -1);
    ens_error_release(&err);
    archive_entry_free(e);
}

static void test_edits(void **state)
{
    (void)state;
    ens_error_t err = NULL;
    ens_image *img;
    struct ens_image_opts o;
    ens_image_opts_init(&o);
    o.platform = "linux/arm64/v8";
    assert_int_equal(ens_image_new(&o, &img, &err), 0);
    json_t *c = ens_image_config(img);
    assert_string_equal(json_string_value(json_object_get(c, "architecture")), "arm64");
    assert_string_equal(json_string_value(json_object_get(c, "variant")), "v8");
    const char *ep[] = { "/bin/app", "--flag", NULL };
    assert_int_equal(ens_image_set_entrypoint(img, ep, &err), 0);
    assert_int_equal(ens_image_set_env(img, "A=1", &err), 0);
    assert_int_equal(ens_image_set_env(img, "B=2", &err), 0);
    assert_int_equal(ens_image_set_env(img, "A=3", &err), 0);
    assert_int_equal(ens_image_set_env(img, "=x", &err), -1);
    ens_error_release(&err);
    assert_int_equal(ens_image_set_workdir(img, "relative", &err), -1);
    ens_error_release(&err);
    assert_int_equal(ens_image_add_exposed_port(img, "70000", &err), -1);
    ens_error_release(&err);
    assert_int_equal(ens_image_add_exposed_port(img, "53/udp", &err), 0);
    assert_int_equal(ens_image_add_exposed_port(img, "80", &err), 0);
    assert_int_equal(ens_image_set_label(img, "k", "v", &err), 0);
    json_t *cc = json_object_get(ens_image_config(img), "config");
    json_t *env = json_object_get(cc, "Env");
    assert_int_equal(json_array_size(env), 2);
    assert_string_equal(json_string_value(json_array_get(env, 0)), "A=3");
    assert_non_null(json_object_get(json_object_get(cc, "ExposedPorts"), "80/tcp"));
    assert_non_null(json_object_get(json_object_get(cc, "ExposedPorts"), "53/udp"));
    char d1[72], d2[72];
    assert_int_equal(ens_image_manifest_digest(img, d1, &err), 0);
    assert_int_equal(ens_image_manifest_digest(img, d2, &err), 0);
    assert_string_equal(d1, d2);
    assert_int_equal(ens_image_set_cmd(img, NULL, &err), 0);
    ens_image_free(img);
}


/* Removing paths after an unpack (the names it recorded decide which layers to rewrite, and the
 * rewrite of a verified plain tar seeks over removed data) gives the same blobs, byte for byte, as
 * removing them from an image read afresh (every layer scanned and hashed). */
static int names_cb(void *ud, const struct ens_image_entry *e, struct ens_image_data *d, ens_error_t *err)
{
    (void)d;
    (void)err;
    char *names = ud;
    strncat(names, e->path, 1000 - strlen(names) - 2);
    strcat(names, " ");
    return 0;
}

static void remove_digests(const char *src, bool unpack_first, const char *root, char digests[2][72])
{
    ens_error_t err = NULL;
    ens_image *img = NULL;
    assert_int_equal(ens_image_open(src, NULL, &img, &err), 0);
    if (unpack_first && ens_image_unpack(img, root, false, &err) < 0)
        fail_msg("unpack: %s", ens_error_msg(err));
    const char *paths[] = {"/secret"};
    if (ens_image_remove_paths(img, paths, 1, &err) < 0)
        fail_msg("remove: %s", ens_error_msg(err));
    for (size_t i = 0; i < 2; i++) {
        struct ens_image_layer li;
        assert_int_equal(ens_image_layer_info(img, i, &li), 0);
        snprintf(digests[i], 72, "%s", li.digest);
    }
    /* what is left: keep/hard was the secret's first name (it carried the data): it goes too */
    char names[1000] = "";
    assert_int_equal(ens_image_layer_walk(img, 0, names_cb, names, &err), 0);
    assert_string_equal(names, "keep keep/a keep/z ");
    ens_image_free(img);
}

static void test_remove_after_unpack(void **state)
{
    (void)state;
    static const char *const comps[] = {"none", "gzip", "zstd"};
    for (size_t c = 0; c < 3; c++) {
        char tmp[] = "/var/tmp/ens-rm-XXXXXX";
        assert_non_null(mkdtemp(tmp));
        char l1[300], l2[300], src[400], root[400], p[512], q[512];
        snprintf(l1, sizeof(l1), "%s/l1", tmp);
        snprintf(l2, sizeof(l2), "%s/l2", tmp);
        snprintf(src, sizeof(src), "oci:%s/src:v1", tmp);
        snprintf(root, sizeof(root), "%s/root", tmp);
        /* larger than the reader's 1 MiB buffer, so that libarchive asks to skip it */
        _cleanup_free_ char *big = malloc(3000001);
        for (size_t i = 0; i < 3000000; i++)
            big[i] = (char)('a' + (i * 7919) % 26);
        big[3000000] = 0;
        put(l1, "secret/big", big);
        put(l1, "keep/a", "kept");
        put(l1, "secret/sub/x", "x");
        big[0] = 'Z';
        put(l1, "keep/z", big); /* not the secret: its bytes stay */
        big[0] = 'a';
        snprintf(p, sizeof(p), "%s/secret/big", l1);
        snprintf(q, sizeof(q), "%s/keep/hard", l1);
        assert_int_equal(link(p, q), 0);
        put(l2, "keep/b", "b");
        ens_error_t err = NULL;
        ens_image *img = NULL;
        assert_int_equal(ens_image_new(NULL, &img, &err), 0);
        assert_int_equal(ens_image_set_compression(img, comps[c], &err), 0);
        assert_int_equal(ens_image_add_layer_dir(img, l1, "/", &err), 0);
        assert_int_equal(ens_image_add_layer_dir(img, l2, "/", &err), 0);
        struct ens_image_layer before[2];
        assert_int_equal(ens_image_layer_info(img, 0, &before[0]), 0);
        assert_int_equal(ens_image_layer_info(img, 1, &before[1]), 0);
        char b0[72], b1[72];
        snprintf(b0, sizeof(b0), "%s", before[0].digest);
        snprintf(b1, sizeof(b1), "%s", before[1].digest);
        if (ens_image_write(img, src, NULL, &err) < 0)
            fail_msg("write: %s", ens_error_msg(err));
        ens_image_free(img);

        char fresh[2][72], unpacked[2][72];
        remove_digests(src, false, root, fresh);
        remove_digests(src, true, root, unpacked);
        assert_string_not_equal(fresh[0], b0); /* the layer holding /secret was rewritten */
        assert_string_equal(fresh[1], b1);     /* the other was not */
        assert_string_equal(unpacked[0], fresh[0]);
        assert_string_equal(unpacked[1], fresh[1]);
        /* the unpacked tree still had the files: the removal is from the layers only */
        snprintf(p, sizeof(p), "%s/secret/big", root);
        assert_int_equal(access(p, F_OK), 0);
        ens_rm_rf(tmp, NULL);
    }
}

static int stop_cb(void *ud, const struct ens_image_entry *e, struct ens_image_data *d, ens_error_t *err)
{
    (void)e;
    (void)d;
    (void)err;
    (*(int *)ud)++;
    return 1; /* stop at the first entry: the reader is freed while its thread may still run */
}

/* Large layers are read, hashed and decompressed by a second thread: the content, the digest checks
 * and the errors must be those of the single-threaded reader. */
static void test_threaded_reader(void **state)
{
    (void)state;
    static const char *const comps[] = {"gzip", "zstd", "none"};
    for (size_t c = 0; c < 3; c++) {
        char tmp[] = "/var/tmp/ens-pipe-XXXXXX";
        assert_non_null(mkdtemp(tmp));
        char l1[300], ref[400], root[400], p[512];
        snprintf(l1, sizeof(l1), "%s/l1", tmp);
        snprintf(ref, sizeof(ref), "oci:%s/src:v1", tmp);
        snprintf(root, sizeof(root), "%s/root", tmp);
        size_t n = 9u << 20; /* incompressible: the blob is well above the threading threshold */
        _cleanup_free_ char *data = malloc(n + 1);
        ens_error_t err = NULL;
        assert_int_equal(ens_random(data, n, &err), 0);
        for (size_t i = 0; i < n; i++)
            data[i] = data[i] ? data[i] : 'x';
        data[n] = '\0';
        put(l1, "big/one", data);
        put(l1, "big/two", "small");
        ens_image *img = NULL;
        assert_int_equal(ens_image_new(NULL, &img, &err), 0);
        assert_int_equal(ens_image_set_compression(img, comps[c], &err), 0);
        assert_int_equal(ens_image_add_layer_dir(img, l1, "/", &err), 0);
        struct ens_image_layer li;
        assert_int_equal(ens_image_layer_info(img, 0, &li), 0);
        assert_true(li.size > (6 << 20));
        char digest[72];
        snprintf(digest, sizeof(digest), "%s", li.digest);
        assert_int_equal(ens_image_write(img, ref, NULL, &err), 0);
        ens_image_free(img);

        /* whole content */
        assert_int_equal(ens_image_open(ref, NULL, &img, &err), 0);
        if (ens_image_unpack(img, root, false, &err) < 0)
            fail_msg("unpack: %s", ens_error_msg(err));
        _cleanup_free_ char *back = NULL;
        size_t blen = 0;
        snprintf(p, sizeof(p), "%s/big/one", root);
        assert_int_equal(ens_read_file(p, n + 1, &back, &blen, &err), 0);
        assert_int_equal(blen, n);
        assert_memory_equal(back, data, n);
        ens_image_free(img);

        /* stopped early, then read again to the end */
        assert_int_equal(ens_image_open(ref, NULL, &img, &err), 0);
        int seen = 0;
        assert_int_equal(ens_image_layer_walk(img, 0, stop_cb, &seen, &err), 0);
        assert_int_equal(seen, 1);
        seen = 0;
        assert_int_equal(ens_image_layer_walk(img, 0, count_cb, &seen, &err), 0);
        assert_true(seen >= 3);
        ens_image_free(img);

        /* one byte changed in the middle of the blob, then the blob cut short */
        snprintf(p, sizeof(p), "%s/src/blobs/sha256/%s", tmp, digest + 7);
        int fd = open(p, O_RDWR);
        assert_true(fd >= 0);
        unsigned char byte;
        off_t mid = (off_t)(li.size / 2);
        assert_int_equal(pread(fd, &byte, 1, mid), 1);
        byte ^= 0x40;
        assert_int_equal(pwrite(fd, &byte, 1, mid), 1);
        for (int round = 0; round < 2; round++) {
            ens_rm_rf(root, NULL);
            assert_int_equal(ens_image_open(ref, NULL, &img, &err), 0);
            assert_int_equal(ens_image_unpack(img, root, false, &err), -1);
            if (!strstr(ens_error_msg(err), "digest") && !strstr(ens_error_msg(err), "descriptor says"))
                fail_msg("%s, round %d: unexpected error: %s", comps[c], round, ens_error_msg(err));
            ens_error_release(&err);
            ens_image_free(img);
            assert_int_equal(access(root, F_OK), -1); /* no partial tree */
            assert_int_equal(ftruncate(fd, (off_t)(li.size * 3 / 4)), 0);
        }
        close(fd);
        ens_rm_rf(tmp, NULL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refs),         cmocka_unit_test(test_paths),     cmocka_unit_test(test_www_auth),
        cmocka_unit_test(test_auth_file),    cmocka_unit_test(test_documents), cmocka_unit_test(test_whiteouts),
        cmocka_unit_test(test_entry_check),  cmocka_unit_test(test_edits),     cmocka_unit_test(test_xattrs),
        cmocka_unit_test(test_read_file),    cmocka_unit_test(test_remove_after_unpack),
        cmocka_unit_test(test_threaded_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
