/* SPDX-License-Identifier: Apache-2.0 */
/* Diagnostics to stderr and progress lines for long work (only on a terminal). */
#ifndef ENSCONCE_CORE_LOG_H
#define ENSCONCE_CORE_LOG_H

#include <stdbool.h>

enum ens_log_level { ENS_LOG_ERROR, ENS_LOG_WARN, ENS_LOG_INFO, ENS_LOG_DEBUG };

/* Level from ENSCONCE_LOG (error|warn|info|debug) or SCONE_LOG; default warn. */
void ens_log_init(const char *prog);
void ens_log_set_level(enum ens_log_level level);
bool ens_log_enabled(enum ens_log_level level);
void ens_log(enum ens_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Progress: a single overwritten line on a terminal, nothing otherwise.
 * total may be 0 when unknown. */
bool ens_progress_enabled(void);
void ens_progress(const char *what, unsigned long long done, unsigned long long total);
void ens_progress_done(const char *what);
/* One "step" line per phase of a multi-step job (printed on a terminal, or always when verbose). */
void ens_step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
