/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness for ensconce-run's parser of the configuration the CAS sends (untrusted until
 * parsed: sizes, types, paths, base64, hex) and of run.json. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *cfg = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (cfg) {
        struct ens_run_service s;
        ens_error_t err = NULL;
        ens_run_service_parse(cfg, &s, &err);
        ens_run_service_free(&s);
        ens_error_release(&err);
        json_decref(cfg);
    }
    /* The same bytes as run.json. */
    char path[] = "/tmp/ens-fuzz-runjson-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
        if (write(fd, data, size) == (ssize_t)size) {
            struct ens_run_config c;
            ens_error_t err = NULL;
            char *env[] = {NULL};
            ens_run_config_load(path, env, &c, &err);
            ens_run_config_free(&c);
            ens_error_release(&err);
        }
        close(fd);
        unlink(path);
    }
    return 0;
}
