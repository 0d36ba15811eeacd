/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness for lib/elf's parser: arbitrary bytes as an ELF file (untrusted image content). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "elf/elf_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ens_elf_info info;
    ens_error_t err = NULL;
    if (ens_elf_parse_mem(data, size, "fuzz", &info, &err) == 0) {
        /* Touch every string so that the sanitizers check them. */
        size_t n = info.interp ? strlen(info.interp) : 0;
        for (size_t i = 0; i < info.n_needed; i++)
            n += strlen(info.needed[i]);
        n += info.rpath ? strlen(info.rpath) : 0;
        n += info.runpath ? strlen(info.runpath) : 0;
        n += info.soname ? strlen(info.soname) : 0;
        (void)n;
        ens_elf_info_free(&info);
    }
    ens_error_release(&err);
    return 0;
}
