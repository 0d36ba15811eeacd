/* SPDX-License-Identifier: Apache-2.0 */
/* lib/elf: resolution against the host's real binaries (cross-checked with ldd), a musl program in a fake
 * root, search-order and confinement cases, and malformed input. */
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

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "elf/elf.h"
#include "elf/elf_internal.h"

static char tmpdir[] = "/tmp/ens-test-elf-XXXXXX";
#include "tmpdir_fixture.h"

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

static bool has(const struct ens_elf_deps *d, const char *p)
{
    for (size_t i = 0; i < d->count; i++)
        if (strcmp(d->paths[i], p) == 0)
            return true;
    return false;
}

/* The set of real files ldd reports (its "=> /path" and the interpreter), as sorted newline-joined text. */
static char *ldd_set(const char *exe)
{
    char *cmd = NULL;
    if (asprintf(&cmd, "ldd %s | grep -o '/[^ ]*' | xargs -n1 realpath | sort -u", exe) < 0)
        abort();
    FILE *f = popen(cmd, "r");
    free(cmd);
    assert_non_null(f);
    char *buf = NULL;
    size_t len = 0;
    ens_error_t err = NULL;
    assert_int_equal(ens_read_fd(fileno(f), 1 << 20, &buf, &len, &err), 0);
    pclose(f);
    return buf;
}

static char *our_set(const struct ens_elf_deps *d)
{
    char *out = calloc(1, 1);
    for (size_t i = 0; i < d->count; i++) {
        struct stat st;
        assert_int_equal(lstat(d->paths[i], &st), 0);
        if (S_ISLNK(st.st_mode))
            continue;
        assert_true(S_ISREG(st.st_mode));
        char *n = NULL;
        if (asprintf(&n, "%s%s\n", out, d->paths[i]) < 0)
            abort();
        free(out);
        out = n;
    }
    return out;
}

static void host_binaries_match_ldd(void **state)
{
    (void)state;
    if (access("/usr/bin/ldd", X_OK) != 0)
        skip();
    const char *bins[] = {"/bin/ls", "/usr/bin/openssl", "/usr/bin/python3", "/usr/bin/node", "/usr/sbin/runc",
                          "/usr/bin/curl", "/usr/bin/ssh", "/usr/bin/sqlite3", "/usr/bin/redis-server"};
    int checked = 0;
    for (size_t i = 0; i < sizeof(bins) / sizeof(bins[0]); i++) {
        if (access(bins[i], X_OK) != 0)
            continue;
        char real[PATH_MAX];
        assert_non_null(realpath(bins[i], real));
        FILE *f = fopen(real, "rb");
        char magic[4] = {0};
        if (f == NULL || fread(magic, 1, 4, f) != 4 || memcmp(magic, "\177ELF", 4) != 0) {
            if (f)
                fclose(f);
            continue;
        }
        fclose(f);
        struct ens_elf_deps d;
        ens_error_t err = NULL;
        int rc = ens_elf_resolve("/", bins[i], &d, &err);
        if (rc < 0)
            fail_msg("%s: %s", bins[i], ens_error_msg(err));
        char *ours = our_set(&d), *theirs = ldd_set(bins[i]);
        if (strcmp(ours, theirs) != 0)
            fail_msg("%s: ours:\n%s\nldd:\n%s", bins[i], ours, theirs);
        /* Every listed symlink resolves to something also listed. */
        for (size_t k = 0; k < d.count; k++) {
            struct stat st;
            assert_int_equal(lstat(d.paths[k], &st), 0);
            assert_true(S_ISLNK(st.st_mode) || S_ISREG(st.st_mode));
        }
        free(ours);
        free(theirs);
        ens_elf_deps_free(&d);
        checked++;
    }
    assert_true(checked >= 2);
}

/* A musl program and a musl shared library laid out in a fake root (no host paths involved). */
static void musl_fake_root(void **state)
{
    (void)state;
    if (access("/usr/bin/musl-gcc", X_OK) != 0)
        skip();
    char root[PATH_MAX];
    snprintf(root, sizeof(root), "%s/musl", tmpdir);
    assert_int_equal(sh("set -e; d=%s; mkdir -p $d/src $d/lib $d/usr/local/lib $d/app/bin $d/app/lib; cd $d/src;"
                        "echo 'int foo(void){return 42;}' > foo.c;"
                        "echo 'int bar(void){return 1;}' > bar.c;"
                        "echo 'int foo(void); int bar(void); int main(void){return foo()-bar()-41;}' > m.c;"
                        "musl-gcc -shared -fPIC -o libfoo.so.1.2 foo.c -Wl,-soname,libfoo.so.1;"
                        "musl-gcc -shared -fPIC -o libbar.so bar.c -Wl,-soname,libbar.so;"
                        "musl-gcc m.c -o m -L. -l:libfoo.so.1.2 -l:libbar.so -Wl,-rpath,'$ORIGIN/../lib';"
                        "cp m ../app/bin/m; cp libfoo.so.1.2 ../usr/local/lib/; ln -s libfoo.so.1.2 ../usr/local/lib/libfoo.so.1;"
                        "cp libbar.so ../app/lib/;"
                        "cp /lib/x86_64-linux-musl/libc.so ../lib/libc.musl-x86_64.so.1;"
                        "ln -s /lib/libc.musl-x86_64.so.1 ../lib/ld-musl-x86_64.so.1;"
                        "patchelf --version >/dev/null 2>&1 || true",
                        root), 0);
    /* The program was linked with libfoo.so.1.2 as its DT_NEEDED; re-link against the soname. */
    assert_int_equal(sh("set -e; cd %s/src; ln -sf libfoo.so.1.2 libfoo.so.1;"
                        "musl-gcc m.c -o ../app/bin/m -L. -l:libfoo.so.1 -l:libbar.so -Wl,-rpath,'$ORIGIN/../lib'",
                        root), 0);
    struct ens_elf_deps d;
    ens_error_t err = NULL;
    if (ens_elf_resolve(root, "/app/bin/m", &d, &err) < 0)
        fail_msg("%s", ens_error_msg(err));
    const char *want[] = {"/app/lib/libbar.so", "/lib/ld-musl-x86_64.so.1", "/lib/libc.musl-x86_64.so.1",
                          "/usr/local/lib/libfoo.so.1", "/usr/local/lib/libfoo.so.1.2"};
    for (size_t i = 0; i < d.count; i++)
        print_message("  %s\n", d.paths[i]);
    assert_int_equal(d.count, 5);
    for (size_t i = 0; i < 5; i++)
        assert_true(has(&d, want[i]));
    ens_elf_deps_free(&d);

    /* With /etc/ld-musl-x86_64.path, only its directories (and the rpath) are searched. */
    assert_int_equal(sh("set -e; d=%s; mkdir -p $d/etc $d/opt/l; echo /opt/l > $d/etc/ld-musl-x86_64.path;"
                        "cp $d/usr/local/lib/libfoo.so.1.2 $d/opt/l/libfoo.so.1", root), 0);
    if (ens_elf_resolve(root, "/app/bin/m", &d, &err) < 0)
        fail_msg("%s", ens_error_msg(err));
    assert_true(has(&d, "/opt/l/libfoo.so.1"));
    assert_false(has(&d, "/usr/local/lib/libfoo.so.1"));
    ens_elf_deps_free(&d);

    /* The program really runs from that root with the real musl loader (if we may chroot).  musl takes
     * the program's $ORIGIN from /proc/self/exe, so /proc is needed as in a container. */
    if (geteuid() == 0 && sh("mkdir -p %s/proc && mount --bind /proc %s/proc 2>/dev/null", root, root) == 0) {
        int rc = sh("chroot %s /app/bin/m", root);
        sh("umount %s/proc", root);
        assert_int_equal(rc, 0);
    }
    /* A missing library is an error naming it. */
    assert_int_equal(sh("rm %s/opt/l/libfoo.so.1", root), 0);
    assert_int_equal(ens_elf_resolve(root, "/app/bin/m", &d, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "libfoo.so.1"));
    ens_error_release(&err);
}

/* A glibc program copied into a fake root with libraries in a directory named by ld.so.conf.d, a decoy
 * library of another machine earlier in the search order, and an absolute symlink that would leave the
 * root if followed on the host. */
static void glibc_fake_root(void **state)
{
    (void)state;
    char root[PATH_MAX];
    snprintf(root, sizeof(root), "%s/glibc", tmpdir);
    assert_int_equal(sh("set -e; d=%s; mkdir -p $d/bin $d/etc/ld.so.conf.d $d/opt/decoy $d/opt/libs $d/lib64 $d/real;"
                        "cp /bin/true $d/bin/true;"
                        "cp \"$(realpath /lib64/ld-linux-x86-64.so.2)\" $d/real/ld.so;"
                        "ln -s /real/ld.so $d/lib64/ld-linux-x86-64.so.2;"
                        "cp \"$(realpath /lib/x86_64-linux-gnu/libc.so.6)\" $d/opt/libs/libc.so.6;"
                        "cp $d/opt/libs/libc.so.6 $d/opt/decoy/libc.so.6;"
                        /* e_machine at offset 18: make the decoy an aarch64 library */
                        "printf '\\267\\000' | dd of=$d/opt/decoy/libc.so.6 bs=1 seek=18 conv=notrunc status=none;"
                        "echo 'include /etc/ld.so.conf.d/*.conf' > $d/etc/ld.so.conf;"
                        "echo '/opt/decoy' > $d/etc/ld.so.conf.d/a.conf;"
                        "printf '# comment\\n/opt/libs\\n' > $d/etc/ld.so.conf.d/b.conf",
                        root), 0);
    struct ens_elf_deps d;
    ens_error_t err = NULL;
    if (ens_elf_resolve(root, "/bin/true", &d, &err) < 0)
        fail_msg("%s", ens_error_msg(err));
    for (size_t i = 0; i < d.count; i++)
        print_message("  %s\n", d.paths[i]);
    assert_true(has(&d, "/lib64/ld-linux-x86-64.so.2"));
    assert_true(has(&d, "/real/ld.so"));
    assert_true(has(&d, "/opt/libs/libc.so.6"));
    assert_false(has(&d, "/opt/decoy/libc.so.6"));
    assert_int_equal(d.count, 3);
    ens_elf_deps_free(&d);

    /* "..", and absolute symlinks, stay inside the root. */
    assert_int_equal(sh("set -e; d=%s; rm $d/lib64/ld-linux-x86-64.so.2;"
                        "ln -s ../../../../../../../real/ld.so $d/lib64/ld-linux-x86-64.so.2", root), 0);
    if (ens_elf_resolve(root, "/bin/true", &d, &err) < 0)
        fail_msg("%s", ens_error_msg(err));
    assert_true(has(&d, "/real/ld.so"));
    ens_elf_deps_free(&d);
    assert_int_equal(sh("set -e; d=%s; rm -r $d/opt/libs; ln -s /usr/lib/x86_64-linux-gnu $d/opt/libs", root), 0);
    /* On the host that link would find libc; inside the root it leads nowhere. */
    assert_int_equal(ens_elf_resolve(root, "/bin/true", &d, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "libc.so.6"));
    ens_error_release(&err);

    /* A symlink loop is an error, not a hang. */
    assert_int_equal(sh("set -e; d=%s; rm $d/lib64/ld-linux-x86-64.so.2; ln -s /lib64/x $d/lib64/ld-linux-x86-64.so.2;"
                        "ln -s /lib64/ld-linux-x86-64.so.2 $d/lib64/x", root), 0);
    assert_int_equal(ens_elf_resolve(root, "/bin/true", &d, &err), -1);
    ens_error_release(&err);
}

static void static_binary_has_no_deps(void **state)
{
    (void)state;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/static", tmpdir);
    if (sh("set -e; mkdir -p %s/bin; echo 'int main(void){return 0;}' > %s/s.c; cc -static -o %s/bin/s %s/s.c 2>/dev/null",
           dir, dir, dir, dir) != 0)
        skip();
    struct ens_elf_deps d;
    ens_error_t err = NULL;
    if (ens_elf_resolve(dir, "/bin/s", &d, &err) < 0)
        fail_msg("%s", ens_error_msg(err));
    assert_int_equal(d.count, 0);
    ens_elf_deps_free(&d);
}

static void malformed_inputs_are_errors(void **state)
{
    (void)state;
    /* Not ELF, truncated, and every truncation of a real header. */
    struct ens_elf_info info;
    ens_error_t err = NULL;
    assert_int_equal(ens_elf_parse_mem("#!/bin/sh\n", 10, "x", &info, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "not an ELF"));
    ens_error_release(&err);
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(ens_read_file("/bin/true", 64u << 20, &buf, &len, &err), 0);
    assert_int_equal(ens_elf_parse_mem(buf, len, "true", &info, &err), 0);
    assert_non_null(info.interp);
    assert_true(info.n_needed >= 1);
    ens_elf_info_free(&info);
    for (size_t cut = 0; cut < 4096 && cut < len; cut += 7) {
        if (ens_elf_parse_mem(buf, cut, "cut", &info, &err) == 0)
            ens_elf_info_free(&info);
        ens_error_release(&err);
    }
    /* Random corruption of the first 4 KiB must never crash (ASan checks the bounds). */
    srand(1);
    for (int i = 0; i < 2000; i++) {
        char *c = malloc(len);
        memcpy(c, buf, len);
        for (int k = 0; k < 8; k++)
            c[(size_t)rand() % (len < 4096 ? len : 4096)] = (char)rand();
        if (ens_elf_parse_mem(c, len, "fuzz", &info, &err) == 0)
            ens_elf_info_free(&info);
        ens_error_release(&err);
        free(c);
    }
    free(buf);
    /* Relative or missing exe. */
    struct ens_elf_deps d;
    assert_int_equal(ens_elf_resolve("/", "bin/true", &d, &err), -1);
    ens_error_release(&err);
    assert_int_equal(ens_elf_resolve("/", "/nonexistent/x", &d, &err), -1);
    ens_error_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(host_binaries_match_ldd),
        cmocka_unit_test(musl_fake_root),
        cmocka_unit_test(glibc_fake_root),
        cmocka_unit_test(static_binary_has_no_deps),
        cmocka_unit_test(malformed_inputs_are_errors),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
