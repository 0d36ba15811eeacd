/* SPDX-License-Identifier: Apache-2.0 */
/* Chart files compiled into the binary (see embed.py). */
#ifndef ENSCONCE_DEPLOY_EMBEDDED_H
#define ENSCONCE_DEPLOY_EMBEDDED_H

#include <stddef.h>

struct ens_embedded_file {
    const char *path; /* e.g. "service/templates/deployment.yaml" */
    const char *data;
    size_t len;
};

extern const struct ens_embedded_file ens_chart_files[]; /* ends with {NULL, NULL, 0} */

#endif
