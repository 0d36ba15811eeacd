/* SPDX-License-Identifier: Apache-2.0 */
/* ensconce-run's parts without containers (also under ASan/UBSan): run.json and environment, the
 * CAS configuration (untrusted input), PID 1 supervision, address resolution, memory-only files. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/fsutil.h"
#include "runtime.h"

static char tmpdir[] = "/tmp/ens-test-runtime-XXXXXX";
#include "tmpdir_fixture.h"

static char *write_tmp(const char *name, const char *text)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", tmpdir, name) < 0)
        abort();
    ens_error_t err = NULL;
    assert_int_equal(ens_write_file_atomic(p, text, strlen(text), 0600, &err), 0);
    return p;
}

#define PIN "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void run_json_and_environment(void **state)
{
    (void)state;
    char *p = write_tmp("run.json",
                        "{\"version\": 1, \"config_id\": \"s/a\", \"cas_addr\": \"cas:1\", \"las_addr\": \"las:2\","
                        " \"cas_identity\": \"" PIN "\", \"timeout_s\": 7,"
                        " \"measured\": {\"exe\": \"/bin/x\", \"user\": {\"uid\": 5, \"gid\": 6},"
                        "  \"shield\": {\"dir\": \"/s\", \"mountpoint\": \"/m\", \"mode\": \"fuse\"},"
                        "  \"volumes\": {\"data\": \"/v/data\"}}}");
    struct ens_run_config c;
    ens_error_t err = NULL;
    char *env0[] = {NULL};
    assert_int_equal(ens_run_config_load(p, env0, &c, &err), 0);
    assert_string_equal(c.config_id, "s/a");
    assert_string_equal(c.cas_addr, "cas:1");
    assert_true(c.have_pin);
    assert_int_equal(c.cas_pin[1], 0x11);
    assert_int_equal(c.timeout_s, 7);
    assert_string_equal(c.exe, "/bin/x");
    assert_true(c.have_user);
    assert_int_equal(c.uid, 5);
    assert_int_equal(c.shield_mode, ENS_SHIELD_MODE_FUSE);
    assert_string_equal(ens_run_volume_dir(&c, "data"), "/v/data");
    assert_null(ens_run_volume_dir(&c, "other"));
    assert_string_equal(c.memory_dir, ENS_RUN_DEFAULT_MEMDIR);
    assert_non_null(strstr(c.measured_json, "\"exe\":\"/bin/x\""));
    ens_run_config_free(&c);

    /* ENSCONCE_* beats SCONE_*, which beats the file. */
    char *env1[] = {"SCONE_CONFIG_ID=s/scone", "ENSCONCE_CONFIG_ID=s/ens", "SCONE_CAS_ADDR=scone:9",
                    "SCONE_LAS_ADDR=", "ENSCONCE_CAS_TIMEOUT=3", NULL};
    assert_int_equal(ens_run_config_load(p, env1, &c, &err), 0);
    assert_string_equal(c.config_id, "s/ens");
    assert_string_equal(c.cas_addr, "scone:9");
    assert_string_equal(c.las_addr, "las:2");
    assert_int_equal(c.timeout_s, 3);
    ens_run_config_free(&c);
    free(p);

    /* No file: environment only. */
    char *env2[] = {"SCONE_CONFIG_ID=x/y", NULL};
    assert_int_equal(ens_run_config_load("/nonexistent/run.json", env2, &c, &err), 0);
    assert_string_equal(c.config_id, "x/y");
    assert_false(c.have_pin);
    ens_run_config_free(&c);

    /* Refusals name the field. */
    const char *bad[][2] = {
        {"{\"version\": 2}", "version"},
        {"{\"cas_identity\": \"abc\"}", "cas_identity"},
        {"{\"timeout_s\": 0}", "timeout_s"},
        {"{\"config_id\": \"noslash\"}", "SESSION/SERVICE"},
        {"{\"measured\": {\"shield\": {\"dir\": \"/a/../b\", \"mountpoint\": \"/m\"}}}", "shield"},
        {"{\"measured\": {\"shield\": {\"dir\": \"/a\", \"mountpoint\": \"/m\", \"mode\": \"x\"}}}", "mode"},
        {"{\"measured\": {\"volumes\": {\"v\": \"rel\"}}}", "volume"},
        {"{\"measured\": {\"user\": {\"uid\": -1, \"gid\": 0}}}", "user"},
        {"{\"measured\": {\"exe\": 5}}", "exe"},
        {"{\"memory_dir\": \"relative\"}", "memory_dir"},
        {"{\"cas_addr\": \"a\\u0001b\"}", "control"},
        {"{\"a\": 1, \"a\": 2}", "invalid JSON"},
        {"[]", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p = write_tmp("bad.json", bad[i][0]);
        assert_int_equal(ens_run_config_load(p, env0, &c, &err), -1);
        if (strstr(ens_error_msg(err), bad[i][1]) == NULL)
            fail_msg("%s: message '%s' does not name '%s'", bad[i][0], ens_error_msg(err), bad[i][1]);
        ens_error_release(&err);
        ens_run_config_free(&c);
        free(p);
    }
}

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (j == NULL)
        fail_msg("test JSON: %s", je.text);
    return j;
}

static void cas_configuration(void **state)
{
    (void)state;
    json_t *cfg = J("{\"command\": [\"/bin/x\", \"a b\"], \"environment\": {\"K\": \"v=1\", \"E\": \"\"},"
                    " \"pwd\": \"/w\", \"injection_files\": [{\"path\": \"/a\", \"content\": \"\"},"
                    " {\"path\": \"/b\", \"content\": \"YQ==\"}, {\"path\": \"/c\", \"content\": \"YWI=\"},"
                    " {\"path\": \"/d\", \"content\": \"YWJj\"}],"
                    " \"fspf\": {\"path\": \"/s\", \"key\": \"" PIN "\", \"tag\": \"" PIN "\"},"
                    " \"volumes\": [{\"name\": \"v\", \"path\": \"/v\", \"key\": \"" PIN "\", \"tag\": null}],"
                    " \"uid\": 3, \"gid\": 4}");
    struct ens_run_service s;
    ens_error_t err = NULL;
    if (ens_run_service_parse(cfg, &s, &err) < 0)
        fail_msg("%s", ens_error_msg(err));
    assert_string_equal(s.argv[1], "a b");
    assert_null(s.argv[2]);
    assert_string_equal(s.envp[0], "K=v=1");
    assert_string_equal(s.envp[1], "E=");
    assert_null(s.envp[2]);
    assert_int_equal(s.nfiles, 4);
    assert_int_equal(s.files[0].len, 0);
    assert_int_equal(s.files[1].len, 1);
    assert_memory_equal(s.files[1].data, "a", 1);
    assert_int_equal(s.files[2].len, 2);
    assert_memory_equal(s.files[3].data, "abc", 3);
    assert_true(s.have_fspf);
    assert_int_equal(s.nvolumes, 1);
    assert_false(s.volumes[0].have_tag);
    assert_true(s.have_user);
    ens_run_service_free(&s);
    json_decref(cfg);

    const char *bad[] = {
        "{}",
        "{\"command\": []}",
        "{\"command\": [1]}",
        "{\"command\": [\"/x\"], \"environment\": {\"A=B\": \"x\"}}",
        "{\"command\": [\"/x\"], \"environment\": []}",
        "{\"command\": [\"/x\"], \"pwd\": \"rel\"}",
        "{\"command\": [\"/x\"], \"injection_files\": [{\"path\": \"/a\", \"content\": \"Y\"}]}",
        "{\"command\": [\"/x\"], \"injection_files\": [{\"path\": \"/a\", \"content\": \"Y!==\"}]}",
        "{\"command\": [\"/x\"], \"injection_files\": [{\"path\": \"../a\", \"content\": \"\"}]}",
        "{\"command\": [\"/x\"], \"fspf\": {\"key\": \"" PIN "\"}}",
        "{\"command\": [\"/x\"], \"fspf\": {\"key\": \"zz\", \"tag\": \"zz\"}}",
        "{\"command\": [\"/x\"], \"volumes\": [{\"name\": \"v\", \"path\": \"/v\"}]}",
        "{\"command\": [\"/x\"], \"uid\": 1}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cfg = J(bad[i]);
        if (ens_run_service_parse(cfg, &s, &err) == 0)
            fail_msg("accepted: %s", bad[i]);
        assert_non_null(strstr(ens_error_msg(err), "configuration"));
        ens_error_release(&err);
        ens_run_service_free(&s);
        json_decref(cfg);
    }
}

static int supervise(char *const argv[], int *status, ens_error_t *err)
{
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct ens_run_exec x = {.exe = argv[0], .argv = argv, .envp = envp};
    return ens_run_supervise(&x, status, err);
}

static void pid1_supervision(void **state)
{
    (void)state;
    int st = -1;
    ens_error_t err = NULL;
    char *a1[] = {"/bin/sh", "-c", "exit 3", NULL};
    assert_int_equal(supervise(a1, &st, &err), 0);
    assert_int_equal(st, 3);
    char *a2[] = {"/bin/sh", "-c", "kill -USR2 $$", NULL};
    assert_int_equal(supervise(a2, &st, &err), 0);
    assert_int_equal(st, 128 + SIGUSR2);
    /* The environment is exactly the one given. */
    char *a3[] = {"/bin/sh", "-c", "test \"$(env | grep -v '^PWD=' | grep -v '^SHLVL=' | grep -v '^_=')\" = PATH=/usr/bin:/bin", NULL};
    setenv("LEAK_ME", "1", 1);
    assert_int_equal(supervise(a3, &st, &err), 0);
    assert_int_equal(st, 0);
    /* A signal to the supervisor reaches the service; orphans are reaped on the way. */
    pid_t me = getpid();
    pid_t killer = fork();
    if (killer == 0) {
        usleep(300000);
        kill(me, SIGTERM);
        _exit(0);
    }
    char *a4[] = {"/bin/sh", "-c", "trap 'exit 7' TERM; (sleep 0.1 &) ; while :; do sleep 0.05; done", NULL};
    assert_int_equal(supervise(a4, &st, &err), 0);
    assert_int_equal(st, 7);
    waitpid(killer, NULL, WNOHANG);
    /* exec failures are errors naming the program, not a status. */
    char *a5[] = {"/nonexistent/prog", NULL};
    assert_int_equal(supervise(a5, &st, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "/nonexistent/prog"));
    assert_non_null(strstr(ens_error_msg(err), "exec"));
    ens_error_release(&err);
    struct ens_run_exec x = {.exe = "/bin/true", .argv = a1, .envp = a1 + 3, .pwd = "/nonexistent-dir"};
    assert_int_equal(ens_run_supervise(&x, &st, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "chdir"));
    ens_error_release(&err);
    /* Leave the signals as they were for the other tests. */
    sigset_t s;
    sigemptyset(&s);
    sigprocmask(SIG_SETMASK, &s, NULL);
}

static void addresses(void **state)
{
    (void)state;
    char *out = NULL;
    ens_error_t err = NULL;
    assert_int_equal(ens_run_resolve_addr("10.1.2.3:99", 1, 2, &out, &err), 0);
    assert_string_equal(out, "10.1.2.3:99");
    free(out);
    assert_int_equal(ens_run_resolve_addr("10.1.2.3", 18765, 2, &out, &err), 0);
    assert_string_equal(out, "10.1.2.3:18765");
    free(out);
    assert_int_equal(ens_run_resolve_addr("[::1]:5", 1, 2, &out, &err), 0);
    assert_string_equal(out, "[::1]:5");
    free(out);
    assert_int_equal(ens_run_resolve_addr("https://127.0.0.1:7", 1, 2, &out, &err), 0);
    assert_string_equal(out, "https://127.0.0.1:7");
    free(out);
    assert_int_equal(ens_run_resolve_addr("unix:/run/las.sock", 1, 2, &out, &err), 0);
    assert_string_equal(out, "unix:/run/las.sock");
    free(out);
    assert_int_equal(ens_run_resolve_addr("localhost:8", 1, 2, &out, &err), 0);
    assert_true(strcmp(out, "127.0.0.1:8") == 0 || strcmp(out, "[::1]:8") == 0);
    free(out);
    const char *bad[] = {"h:0", "h:70000", "h:x", ":5", "[::1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ens_run_resolve_addr(bad[i], 1, 2, &out, &err), -1);
        ens_error_release(&err);
    }
}

static void memory_only_files(void **state)
{
    (void)state;
    if (!ens_run_is_memory_fs("/dev/shm"))
        skip();
    char mem[] = "/dev/shm/ens-test-mem-XXXXXX";
    assert_non_null(mkdtemp(mem));
    ens_error_t err = NULL;
    assert_int_equal(ens_run_memory_dir(mem, &err), 0);
    char *inmem = NULL, *ondisk = NULL, *memdir = NULL;
    assert_true(asprintf(&inmem, "%s/app/conf/a.txt", mem) > 0);
    assert_true(asprintf(&memdir, "%s/m", mem) > 0);
    assert_true(asprintf(&ondisk, "%s/etc/b.txt", tmpdir) > 0);
    struct ens_run_file files[] = {
        {.path = inmem, .data = (unsigned char *)"secret-1", .len = 8},
        {.path = ondisk, .data = (unsigned char *)"secret-2", .len = 8},
    };
    assert_int_equal(ens_run_inject(memdir, files, 2, &err), 0);
    char *buf = NULL;
    assert_int_equal(ens_read_file(inmem, 1024, &buf, NULL, &err), 0);
    assert_string_equal(buf, "secret-1");
    free(buf);
    assert_int_equal(ens_read_file(ondisk, 1024, &buf, NULL, &err), 0);
    assert_string_equal(buf, "secret-2");
    free(buf);
    /* The second one's content lives under the memory directory. */
    struct stat st;
    bool is_link = lstat(ondisk, &st) == 0 && S_ISLNK(st.st_mode);
    if (!is_link) { /* bind mount (privileged): undo it */
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "umount %s", ondisk);
        assert_int_equal(system(cmd), 0);
    }
    assert_true(ens_run_is_memory_fs(memdir));
    /* A directory that is not memory-backed is refused unless a tmpfs can be mounted there. */
    char *disk = NULL;
    assert_true(asprintf(&disk, "%s/notmem", tmpdir) > 0);
    if (ens_run_memory_dir(disk, &err) == 0) {
        assert_true(ens_run_is_memory_fs(disk)); /* we were allowed to mount one */
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "umount %s", disk);
        assert_int_equal(system(cmd), 0);
    } else {
        assert_non_null(strstr(ens_error_msg(err), "memory"));
        ens_error_release(&err);
    }
    ens_rm_rf(mem, &err);
    free(inmem);
    free(ondisk);
    free(memdir);
    free(disk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(run_json_and_environment),
        cmocka_unit_test(cas_configuration),
        cmocka_unit_test(pid1_supervision),
        cmocka_unit_test(addresses),
        cmocka_unit_test(memory_only_files),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
