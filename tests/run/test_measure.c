/* SPDX-License-Identifier: Apache-2.0 */
/* lib/measure: the documented byte stream (recomputed independently here), determinism, sensitivity
 * to every input, settings canonicalisation, "#!" scripts and interpreter kinds. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "core/fsutil.h"
#include "crypto/digest.h"
#include "elf/elf.h"
#include "measure/measure.h"

static char tmpdir[] = "/tmp/ens-test-measure-XXXXXX";
#include "tmpdir_fixture.h"
static char root[256];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&cmd, fmt, ap) < 0)
        abort();
    va_end(ap);
    int rc = system(cmd);
    free(cmd);
    return rc;
}

static void measure_ok(const char *exe, const char *settings, const char *runtime, struct ens_measurement *m)
{
    struct ens_measure_spec s = {.root = root, .runtime = runtime, .exe = exe, .settings_json = settings};
    ens_error_t err = NULL;
    if (ens_measure(&s, m, &err) < 0)
        fail_msg("%s", ens_error_msg(err));
}

/* docs/measurement.md: SHA-256("ensconce-measurement-v1\0" || for each item: kind || be32(len) || path || sha256). */
static void recompute(const struct ens_measurement *m, uint8_t out[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, "ensconce-measurement-v1", 24);
    for (size_t i = 0; i < m->nitems; i++) {
        uint32_t l = htonl((uint32_t)strlen(m->items[i].path));
        EVP_DigestUpdate(c, &m->items[i].kind, 1);
        EVP_DigestUpdate(c, &l, 4);
        EVP_DigestUpdate(c, m->items[i].path, strlen(m->items[i].path));
        EVP_DigestUpdate(c, m->items[i].digest, 32);
    }
    unsigned int n = 32;
    EVP_DigestFinal_ex(c, out, &n);
    EVP_MD_CTX_free(c);
}

static void stream_and_items(void **state)
{
    (void)state;
    struct ens_measurement m;
    measure_ok("/bin/prog", NULL, "/bin/true", &m);
    uint8_t d[32];
    recompute(&m, d);
    assert_memory_equal(d, m.digest, 32);
    /* runtime first, then the executable, then the loader's files in path order, settings last */
    assert_int_equal(m.items[0].kind, 'R');
    assert_string_equal(m.items[0].path, "ensconce-run");
    assert_int_equal(m.items[1].kind, 'X');
    assert_string_equal(m.items[1].path, "/bin/prog");
    assert_int_equal(m.items[m.nitems - 1].kind, 'S');
    for (size_t i = 3; i + 1 < m.nitems; i++)
        assert_true(strcmp(m.items[i - 1].path, m.items[i].path) < 0);
    /* each file's digest is the SHA-256 of its contents */
    uint8_t f[32];
    char host[PATH_MAX + 16];
    snprintf(host, sizeof(host), "%s/bin/prog", root);
    ens_error_t err = NULL;
    assert_int_equal(ens_sha256_file(host, f, &err), 0);
    assert_memory_equal(f, m.items[1].digest, 32);
    /* the settings item is the SHA-256 of "{}" */
    ens_sha256("{}", 2, f);
    assert_memory_equal(f, m.items[m.nitems - 1].digest, 32);
    assert_int_equal(m.kind, ENS_INTERP_NONE);
    assert_string_equal(m.exe, "/bin/prog");
    bool has_libc = false, has_link = false;
    for (size_t i = 0; i < m.nitems; i++) {
        has_libc |= strstr(m.items[i].path, "libc.so.6") != NULL && m.items[i].kind == 'L';
        has_link |= m.items[i].kind == 'K';
    }
    assert_true(has_libc);
    assert_true(has_link);
    ens_measurement_free(&m);
}

static void every_input_counts(void **state)
{
    (void)state;
    struct ens_measurement a, b;
    measure_ok("/bin/prog", "{\"b\": 1, \"a\": [1, 2]}", "/bin/true", &a);
    /* deterministic, and settings are canonical JSON (key order, spacing do not matter) */
    measure_ok("/bin/prog", "{\"a\":[1,2],\"b\":1}", "/bin/true", &b);
    assert_memory_equal(a.digest, b.digest, 32);
    ens_measurement_free(&b);
    measure_ok("/bin/prog", "{\"a\":[1,2],\"b\":2}", "/bin/true", &b);
    assert_memory_not_equal(a.digest, b.digest, 32);
    ens_measurement_free(&b);
    measure_ok("/bin/prog", "{\"b\": 1, \"a\": [1, 2]}", "/bin/false", &b);
    assert_memory_not_equal(a.digest, b.digest, 32);
    ens_measurement_free(&b);
    /* one byte in a library */
    assert_int_equal(sh("cd %s && f=$(find . -name 'libc.so.6' -type f | head -1) && cp $f %s/libc.bak && "
                        "printf Z | dd of=$f bs=1 seek=100 conv=notrunc status=none", root, tmpdir), 0);
    measure_ok("/bin/prog", "{\"b\": 1, \"a\": [1, 2]}", "/bin/true", &b);
    assert_memory_not_equal(a.digest, b.digest, 32);
    ens_measurement_free(&b);
    assert_int_equal(sh("cd %s && f=$(find . -name 'libc.so.6' -type f | head -1) && cp %s/libc.bak $f", root, tmpdir), 0);
    /* a symlink's target: /lib64 -> /usr/lib64 loads the same files but is another layout */
    assert_int_equal(sh("cd %s && t=$(readlink lib64) && ln -sfn /usr/lib64 lib64.tmp && mv -T lib64.tmp lib64 && "
                        "echo $t > %s/lib64.target", root, tmpdir), 0);
    measure_ok("/bin/prog", "{\"b\": 1, \"a\": [1, 2]}", "/bin/true", &b);
    assert_memory_not_equal(a.digest, b.digest, 32);
    ens_measurement_free(&b);
    assert_int_equal(sh("cd %s && ln -sfn $(cat %s/lib64.target) lib64.tmp && mv -T lib64.tmp lib64", root, tmpdir), 0);
    measure_ok("/bin/prog", "{\"b\": 1, \"a\": [1, 2]}", "/bin/true", &b);
    assert_memory_equal(a.digest, b.digest, 32);
    ens_measurement_free(&b);
    ens_measurement_free(&a);
    /* malformed settings and missing programs are errors */
    struct ens_measure_spec s = {.root = root, .exe = "/bin/prog", .settings_json = "[1]"};
    ens_error_t err = NULL;
    assert_int_equal(ens_measure(&s, &a, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "settings"));
    ens_error_release(&err);
    s.settings_json = NULL;
    s.exe = "/bin/missing";
    assert_int_equal(ens_measure(&s, &a, &err), -1);
    ens_error_release(&err);
    s.exe = "nothere";
    assert_int_equal(ens_measure(&s, &a, &err), -1);
    ens_error_release(&err);
}

static void scripts_and_kinds(void **state)
{
    (void)state;
    /* "#!/usr/bin/env python3": env and python3 (found in PATH) are measured, kind python. */
    assert_int_equal(sh("set -e; cd %s; mkdir -p usr/bin app; cp bin/prog usr/bin/env; cp bin/prog usr/bin/python3.11;"
                        "ln -sf python3.11 usr/bin/python3; printf '#!/usr/bin/env python3\\nprint(1)\\n' > app/run.py;"
                        "chmod +x app/run.py; printf '#!/bin/prog -x\\n' > app/run.sh; chmod +x app/run.sh", root), 0);
    struct ens_measurement m;
    measure_ok("/app/run.py", NULL, NULL, &m);
    assert_int_equal(m.kind, ENS_INTERP_PYTHON);
    assert_string_equal(m.interpreter, "/usr/bin/python3.11");
    int interp_items = 0;
    for (size_t i = 0; i < m.nitems; i++)
        interp_items += m.items[i].kind == 'I';
    assert_int_equal(interp_items, 2);
    ens_measurement_free(&m);
    measure_ok("/app/run.sh", NULL, NULL, &m);
    assert_int_equal(m.kind, ENS_INTERP_OTHER);
    assert_string_equal(m.interpreter, "/bin/prog");
    ens_measurement_free(&m);
    /* a bare name is found in PATH inside the root */
    struct ens_measure_spec s = {.root = root, .exe = "python3", .path = "/nope:/usr/bin"};
    ens_error_t err = NULL;
    assert_int_equal(ens_measure(&s, &m, &err), 0);
    assert_string_equal(m.exe, "/usr/bin/python3.11");
    assert_int_equal(m.kind, ENS_INTERP_PYTHON);
    ens_measurement_free(&m);
}

static int setup(void **state)
{
    if (tmpdir_setup(state) < 0)
        return -1;
    snprintf(root, sizeof(root), "%s/root", tmpdir);
    /* A small root: /bin/prog (a copy of /bin/true) and the loader's files for it, copied as
     * lib/elf lists them (links as links, in order). */
    if (sh("mkdir -p %s/bin && cp /bin/true %s/bin/prog", root, root) != 0)
        return -1;
    struct ens_elf_deps d;
    ens_error_t err = NULL;
    if (ens_elf_resolve("/", "/bin/true", &d, &err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < d.count && rc == 0; i++)
        rc = sh("mkdir -p \"%s$(dirname %s)\" && cp -a %s %s%s", root, d.paths[i], d.paths[i], root, d.paths[i]);
    ens_elf_deps_free(&d);
    return rc == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stream_and_items),
        cmocka_unit_test(every_input_counts),
        cmocka_unit_test(scripts_and_kinds),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
