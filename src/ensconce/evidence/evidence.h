/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ENSCONCE_CLI_EVIDENCE_H
#define ENSCONCE_CLI_EVIDENCE_H

#include <time.h>

int ens_cmd_evidence_verify(int argc, char **argv);
int ens_cmd_evidence_get(int argc, char **argv);

/* Parses "YYYY-MM-DDThh:mm:ssZ", "YYYY-MM-DD" or "@EPOCH". */
int ens_evidence_parse_time(const char *s, time_t *out);

#endif
