/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cleanup.h"
#include "core/error.h"
#include "core/fsutil.h"
#include "crypto/digest.h"

static void error_wrap_and_status(void **state)
{
    (void)state;
    ens_error_t err = NULL;
    assert_int_equal(ens_error(&err, EINVAL, "bad %s", "thing"), -1);
    assert_int_equal(ens_error_wrap(&err, "reading %s", "x.json"), -1);
    assert_string_equal(ens_error_msg(err), "reading x.json: bad thing");
    assert_int_equal(ens_error_status(err), EINVAL);
    /* A second error does not overwrite the first (the root cause wins). */
    ens_error(&err, EIO, "later");
    assert_string_equal(ens_error_msg(err), "reading x.json: bad thing");
    ens_error_release(&err);
    assert_null(err);
}

static void hex_roundtrip_and_rejects(void **state)
{
    (void)state;
    uint8_t in[4] = {0x00, 0xab, 0x10, 0xff}, out[4];
    char hex[9];
    ens_hex_encode(in, 4, hex);
    assert_string_equal(hex, "00ab10ff");
    assert_int_equal(ens_hex_decode("00AB10ff", out, 4, NULL), 0);
    assert_memory_equal(in, out, 4);
    ens_error_t err = NULL;
    assert_int_equal(ens_hex_decode("00ab10f", out, 4, &err), -1);
    ens_error_release(&err);
    assert_int_equal(ens_hex_decode(NULL, out, 4, &err), -1);
    ens_error_release(&err);
    assert_int_equal(ens_hex_decode("00ab10fg", out, 4, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "position 7"));
    ens_error_release(&err);
}

static void sha256_known_answer(void **state)
{
    (void)state;
    char d[ENS_DIGEST_STR_LEN];
    ens_digest_string("abc", 3, d);
    assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(ens_digest_valid(d));
    assert_false(ens_digest_valid("sha256:BA7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    assert_false(ens_digest_valid("sha512:ba7816bf"));
    assert_true(ens_ct_equal("abc", "abc", 3));
    assert_false(ens_ct_equal("abc", "abd", 3));
}

static void atomic_write_and_bounded_read(void **state)
{
    (void)state;
    char dir[] = "/tmp/ens-core-XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *path = ens_path_join(dir, "/f");
    assert_int_equal(ens_write_file_atomic(path, "hello", 5, 0600, NULL), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    assert_int_equal(ens_read_file(path, 5, &buf, &len, NULL), 0);
    assert_int_equal(len, 5);
    assert_string_equal(buf, "hello");
    ens_error_t err = NULL;
    char *small = NULL;
    assert_int_equal(ens_read_file(path, 4, &small, &len, &err), -1);
    assert_int_equal(ens_error_status(err), EFBIG);
    ens_error_release(&err);
    _cleanup_free_ char *sub = ens_path_join(dir, "a/b/c");
    assert_int_equal(ens_mkdir_p(sub, 0755, NULL), 0);
    assert_int_equal(ens_rm_rf(dir, NULL), 0);
    assert_int_equal(access(dir, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_wrap_and_status),
        cmocka_unit_test(hex_roundtrip_and_rejects),
        cmocka_unit_test(sha256_known_answer),
        cmocka_unit_test(atomic_write_and_bounded_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
