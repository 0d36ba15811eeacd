/* SPDX-License-Identifier: Apache-2.0 */
/* The group fixture of tests/run's unit tests: one temporary directory per program, made before the
 * tests and removed after them.  The including file defines `static char tmpdir[]` (a mkdtemp
 * template) before including this. */
#ifndef ENS_TESTS_RUN_TMPDIR_FIXTURE_H
#define ENS_TESTS_RUN_TMPDIR_FIXTURE_H

#include <stdlib.h>

#include "core/fsutil.h"

static int tmpdir_setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int tmpdir_teardown(void **state)
{
    (void)state;
    ens_error_t err = NULL;
    ens_rm_rf(tmpdir, &err);
    ens_error_release(&err);
    return 0;
}

#endif
