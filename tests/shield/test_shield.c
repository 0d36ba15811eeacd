/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the shield format: crypto, manifest parser, pack/verify/unpack and tamper detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "crypto/digest.h"
#include "shield/shield.h"
#include "shield/shield_internal.h"

static const uint8_t VK[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                               17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

struct sh_obj *sh_obj_new(const uint8_t id[SH_OBJ_ID_LEN]);

static void test_hkdf(void **state)
{
    (void)state;
    uint8_t a[32], b[32], c[32], d[32];
    assert_int_equal(sh_hkdf(VK, "object", (const uint8_t *)"x", 1, a), 0);
    assert_int_equal(sh_hkdf(VK, "object", (const uint8_t *)"x", 1, b), 0);
    assert_int_equal(sh_hkdf(VK, "object", (const uint8_t *)"y", 1, c), 0);
    assert_int_equal(sh_hkdf(VK, "manifest", (const uint8_t *)"x", 1, d), 0);
    assert_memory_equal(a, b, 32);
    assert_memory_not_equal(a, c, 32);
    assert_memory_not_equal(a, d, 32);
}

static void test_chunk(void **state)
{
    (void)state;
    uint8_t id[16] = {7}, id2[16] = {8};
    struct sh_obj *o = sh_obj_new(id), *o2 = sh_obj_new(id2);
    assert_int_equal(sh_obj_keys(o, VK), 0);
    assert_int_equal(sh_obj_keys(o2, VK), 0);
    uint8_t in[1000], ct[1016], out[1016], tag[16];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)i;
    for (int region = 0; region < 2; region++) {
        assert_int_equal(sh_chunk_seal(o, region, 3, 9, in, sizeof(in), ct, tag), 0);
        if (region == ENS_SHIELD_ENCRYPTED)
            assert_memory_not_equal(ct, in, sizeof(in));
        else
            assert_memory_equal(ct, in, sizeof(in));
        assert_int_equal(sh_chunk_open(o, region, 3, 9, ct, sizeof(in), tag, out), 0);
        assert_memory_equal(out, in, sizeof(in));
        /* wrong position, nonce, object, region, length, tag, data: all refused */
        assert_int_equal(sh_chunk_open(o, region, 4, 9, ct, sizeof(in), tag, out), -1);
        assert_int_equal(sh_chunk_open(o, region, 3, 10, ct, sizeof(in), tag, out), -1);
        assert_int_equal(sh_chunk_open(o2, region, 3, 9, ct, sizeof(in), tag, out), -1);
        assert_int_equal(sh_chunk_open(o, !region, 3, 9, ct, sizeof(in), tag, out), -1);
        assert_int_equal(sh_chunk_open(o, region, 3, 9, ct, sizeof(in) - 1, tag, out), -1);
        tag[5] ^= 1;
        assert_int_equal(sh_chunk_open(o, region, 3, 9, ct, sizeof(in), tag, out), -1);
        tag[5] ^= 1;
        ct[999] ^= 0x80;
        assert_int_equal(sh_chunk_open(o, region, 3, 9, ct, sizeof(in), tag, out), -1);
    }
    sh_obj_free(o);
    sh_obj_free(o2);
}

static struct sh_manifest *sample(void)
{
    struct sh_manifest *m = sh_manifest_new(65536);
    struct sh_node *root = sh_node_new(m, SH_DIR), *d = sh_node_new(m, SH_DIR), *f = sh_node_new(m, SH_REG),
                   *l = sh_node_new(m, SH_LNK);
    root->mode = 0755;
    d->mode = 0700;
    f->mode = 0644;
    f->size = 123456;
    f->region = ENS_SHIELD_AUTHENTICATED;
    memset(f->obj, 0xab, sizeof(f->obj));
    f->tab_inline = true; /* 2 chunks: the table lives in the manifest */
    memset(f->itab, 0xcd, sizeof(f->itab));
    l->target = strdup("../x");
    sh_dir_add(root, "d", d->ino);
    sh_dir_add(d, "f", f->ino);
    sh_dir_add(root, "hard", f->ino);
    sh_dir_add(root, "l", l->ino);
    return m;
}

static void test_manifest_roundtrip(void **state)
{
    (void)state;
    struct sh_manifest *m = sample();
    size_t len;
    char *s = sh_manifest_serialize(m, &len);
    assert_non_null(s);
    struct sh_manifest *p = NULL;
    ens_error_t err = NULL;
    assert_int_equal(sh_manifest_parse(s, len, &p, &err), 0);
    size_t len2;
    char *s2 = sh_manifest_serialize(p, &len2);
    assert_string_equal(s, s2);
    /* hard link count derived from the entries */
    struct sh_node *root = p->nodes[1];
    struct sh_node *f = sh_get(p, sh_dir_find(root, "hard")->ino);
    assert_int_equal(f->nlink, 2);
    assert_int_equal(f->size, 123456);
    /* sealed form: authenticated, any flipped byte refused */
    uint8_t *sealed;
    size_t slen;
    assert_int_equal(sh_manifest_seal(VK, s, len, &sealed, &slen, &err), 0);
    char *plain;
    size_t plen;
    assert_int_equal(sh_manifest_open(VK, sealed, slen, &plain, &plen, &err), 0);
    assert_string_equal(plain, s);
    free(plain);
    for (size_t i = 0; i < slen; i += 7) {
        sealed[i] ^= 0x10;
        assert_int_equal(sh_manifest_open(VK, sealed, slen, &plain, &plen, &err), -1);
        ens_error_release(&err);
        sealed[i] ^= 0x10;
    }
    uint8_t wrong[32] = {0};
    assert_int_equal(sh_manifest_open(wrong, sealed, slen, &plain, &plen, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "authentication failed"));
    ens_error_release(&err);
    free(sealed);
    free(s);
    free(s2);
    sh_manifest_free(m);
    sh_manifest_free(p);
}

static void test_manifest_rejects(void **state)
{
    (void)state;
    static const char *const head = "{\"format\":\"ensconce-shield/1\",\"chunk_size\":65536,\"generation\":1,"
                                    "\"default_region\":\"encrypted\",\"regions\":[],\"inodes\":";
    static const char *const bad[] = {
        "[]",                                                                         /* no root */
        "[{\"type\":\"file\",\"mode\":420,\"uid\":0,\"gid\":0,\"mtime\":[0,0]}]",     /* root not a dir */
        "[{\"type\":\"dir\",\"mode\":99999,\"uid\":0,\"gid\":0,\"mtime\":[0,0],\"entries\":[]}]", /* mode */
        "[{\"type\":\"dir\",\"mode\":493,\"uid\":0,\"gid\":0,\"mtime\":[0,0],\"entries\":[[\"a\",1]]}]", /* root link */
        "[{\"type\":\"dir\",\"mode\":493,\"uid\":0,\"gid\":0,\"mtime\":[0,0],\"entries\":[[\"a\",2]]}]", /* range */
        "[{\"type\":\"dir\",\"mode\":493,\"uid\":0,\"gid\":0,\"mtime\":[0,0],\"entries\":[]},"
        "{\"type\":\"dir\",\"mode\":493,\"uid\":0,\"gid\":0,\"mtime\":[0,0],\"entries\":[[\"x\",2]]}]", /* cycle */
        "[{\"type\":\"dir\",\"mode\":493,\"uid\":0,\"gid\":0,\"mtime\":[0,0],\"entries\":[[\"a/b\",2]]},"
        "{\"type\":\"symlink\",\"mode\":511,\"uid\":0,\"gid\":0,\"mtime\":[0,0],\"target\":\"t\"}]", /* slash */
        "[{\"type\":\"dir\",\"mode\":493,\"uid\":0,\"gid\":0,\"mtime\":[0,0],\"entries\":[[\"..\",2]]},"
        "{\"type\":\"symlink\",\"mode\":511,\"uid\":0,\"gid\":0,\"mtime\":[0,0],\"target\":\"t\"}]", /* dotdot */
        "[{\"type\":\"dir\",\"mode\":493,\"uid\":0,\"gid\":0,\"mtime\":[0,0],\"entries\":[[\"a\",2],[\"a\",2]]},"
        "{\"type\":\"symlink\",\"mode\":511,\"uid\":0,\"gid\":0,\"mtime\":[0,0],\"target\":\"t\"}]", /* dup */
        "[{\"type\":\"dir\",\"mode\":493,\"uid\":0,\"gid\":0,\"mtime\":[0,0],\"entries\":[[\"a\",2]]},"
        "{\"type\":\"file\",\"mode\":420,\"uid\":0,\"gid\":0,\"mtime\":[0,0],\"region\":\"encrypted\","
        "\"size\":1,\"object\":\"zz\",\"root\":\"00\"}]", /* hex */
        "[{\"type\":\"dir\",\"mode\":493,\"uid\":0,\"gid\":0,\"mtime\":[0,0],\"entries\":[]},"
        "{\"type\":\"symlink\",\"mode\":511,\"uid\":0,\"gid\":0,\"mtime\":[0,0],\"target\":\"t\"}]", /* orphan */
        "[{\"type\":\"dir\",\"mode\":493,\"uid\":0,\"gid\":0,\"mtime\":[0,0],\"entries\":[[\"a\",2],[\"b\",2]]},"
        "{\"type\":\"dir\",\"mode\":493,\"uid\":0,\"gid\":0,\"mtime\":[0,0],\"entries\":[]}]", /* dir twice */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char doc[2048];
        snprintf(doc, sizeof(doc), "%s%s}", head, bad[i]);
        struct sh_manifest *m = NULL;
        ens_error_t err = NULL;
        if (sh_manifest_parse(doc, strlen(doc), &m, &err) != -1)
            fail_msg("accepted bad manifest %zu: %s", i, doc);
        assert_non_null(strstr(ens_error_msg(err), "manifest"));
        ens_error_release(&err);
    }
    const char *bad_hdr[] = {"{}", "[]", "{\"format\":\"x\"}", "not json",
                             "{\"format\":\"ensconce-shield/1\",\"chunk_size\":1000,\"generation\":1}"};
    for (size_t i = 0; i < sizeof(bad_hdr) / sizeof(bad_hdr[0]); i++) {
        struct sh_manifest *m = NULL;
        ens_error_t err = NULL;
        assert_int_equal(sh_manifest_parse(bad_hdr[i], strlen(bad_hdr[i]), &m, &err), -1);
        ens_error_release(&err);
    }
}

static char tmpdir[64];

static void put(const char *rel, const char *content, size_t len)
{
    _cleanup_free_ char *p = ens_path_join(tmpdir, rel);
    ens_error_t err = NULL;
    assert_int_equal(ens_write_file_atomic(p, content, len, 0644, &err), 0);
}

static void flip_byte(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, off), 1);
    b ^= 1;
    assert_int_equal(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

static void test_pack_verify_unpack(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/ens-shield-unit-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    ens_error_t err = NULL;
    _cleanup_free_ char *src = ens_path_join(tmpdir, "src");
    _cleanup_free_ char *sh = ens_path_join(tmpdir, "shield");
    _cleanup_free_ char *out = ens_path_join(tmpdir, "out");
    _cleanup_free_ char *sub = ens_path_join(src, "etc");
    assert_int_equal(ens_mkdir_p(sub, 0755, &err), 0);
    _cleanup_free_ char *big = malloc(200000);
    for (size_t i = 0; i < 200000; i++)
        big[i] = (char)(i * 7);
    put("src/big", big, 200000);
    put("src/etc/conf", "setting=1\n", 10);
    put("src/empty", "", 0);
    struct ens_shield_rule rules[] = {{"/etc", ENS_SHIELD_AUTHENTICATED}};
    struct ens_shield_pack_opts po = {.rules = rules, .nrules = 1, .chunk_size = 4096};
    uint8_t tag[32], tag2[32];
    assert_int_equal(ens_shield_pack(src, sh, VK, &po, tag, &err), 0);
    assert_int_equal(ens_shield_current_tag(sh, tag2, &err), 0);
    assert_memory_equal(tag, tag2, 32);
    assert_int_equal(ens_shield_verify(sh, VK, tag, &err), 0);
    assert_int_equal(ens_shield_unpack(sh, VK, tag, out, &err), 0);
    _cleanup_free_ char *got = NULL;
    size_t glen;
    _cleanup_free_ char *obig = ens_path_join(out, "big");
    assert_int_equal(ens_read_file(obig, 1 << 20, &got, &glen, &err), 0);
    assert_int_equal(glen, 200000);
    assert_memory_equal(got, big, 200000);
    /* a packed shield cannot be written over */
    assert_int_equal(ens_shield_pack(src, sh, VK, &po, tag2, &err), -1);
    ens_error_release(&err);
    /* wrong tag and wrong key are refused */
    tag2[0] = tag[0] ^ 1;
    memcpy(tag2 + 1, tag + 1, 31);
    assert_int_equal(ens_shield_verify(sh, VK, tag2, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "tag mismatch"));
    ens_error_release(&err);
    uint8_t vk2[32] = {0};
    assert_int_equal(ens_shield_verify(sh, vk2, tag, &err), -1);
    ens_error_release(&err);
    /* flip one data byte of the big file: verify and unpack name the file; unpack leaves nothing */
    struct sh_manifest *m = NULL;
    assert_int_equal(sh_load(sh, VK, tag, false, &m, NULL, &err), 0);
    struct sh_node *bn = sh_get(m, sh_dir_find(m->nodes[1], "big")->ino);
    _cleanup_free_ char *bpath = sh_obj_path(sh, bn->obj, NULL);
    flip_byte(bpath, 5000);
    assert_int_equal(ens_shield_verify(sh, VK, tag, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "/big"));
    assert_non_null(strstr(ens_error_msg(err), "chunk 1"));
    ens_error_release(&err);
    _cleanup_free_ char *out2 = ens_path_join(tmpdir, "out2");
    assert_int_equal(ens_shield_unpack(sh, VK, tag, out2, &err), -1);
    ens_error_release(&err);
    _cleanup_free_ char *leftover = ens_path_join(out2, "big");
    assert_int_equal(access(leftover, F_OK), -1);
    flip_byte(bpath, 5000);
    assert_int_equal(ens_shield_verify(sh, VK, tag, &err), 0);
    /* table tampering is caught by the root */
    _cleanup_free_ char *tpath = sh_obj_path(sh, bn->obj, ".t");
    flip_byte(tpath, 30);
    assert_int_equal(ens_shield_verify(sh, VK, tag, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "chunk table"));
    ens_error_release(&err);
    flip_byte(tpath, 30);
    /* the authenticated region keeps plaintext on disk but detects changes */
    struct sh_node *en = sh_get(m, sh_dir_find(m->nodes[1], "etc")->ino);
    struct sh_node *cn = sh_get(m, sh_dir_find(en, "conf")->ino);
    assert_int_equal(cn->region, ENS_SHIELD_AUTHENTICATED);
    _cleanup_free_ char *cpath = sh_obj_path(sh, cn->obj, NULL);
    _cleanup_free_ char *cdata = NULL;
    assert_int_equal(ens_read_file(cpath, 100, &cdata, &glen, &err), 0);
    assert_string_equal(cdata, "setting=1\n");
    flip_byte(cpath, 0);
    assert_int_equal(ens_shield_verify(sh, VK, tag, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "/etc/conf"));
    ens_error_release(&err);
    sh_manifest_free(m);
    ens_rm_rf(tmpdir, &err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hkdf),
        cmocka_unit_test(test_chunk),
        cmocka_unit_test(test_manifest_roundtrip),
        cmocka_unit_test(test_manifest_rejects),
        cmocka_unit_test(test_pack_verify_unpack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
