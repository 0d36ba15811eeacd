/* SPDX-License-Identifier: Apache-2.0 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *log_prog = "ensconce";
static enum ens_log_level log_level = ENS_LOG_WARN;

void ens_log_init(const char *prog)
{
    if (prog)
        log_prog = prog;
    const char *v = getenv("ENSCONCE_LOG");
    if (v == NULL)
        v = getenv("SCONE_LOG");
    if (v == NULL)
        return;
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(v, names[i]) == 0)
            log_level = (enum ens_log_level)i;
}

void ens_log_set_level(enum ens_log_level level) { log_level = level; }

bool ens_log_enabled(enum ens_log_level level) { return level <= log_level; }

void ens_log(enum ens_log_level level, const char *fmt, ...)
{
    if (!ens_log_enabled(level))
        return;
    static const char *tags[] = {"error", "warning", "info", "debug"};
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s: %s\n", log_prog, tags[level], line);
}

bool ens_progress_enabled(void)
{
    static int cached = -1;
    if (cached < 0)
        cached = isatty(STDERR_FILENO) && getenv("ENSCONCE_NO_PROGRESS") == NULL;
    return cached;
}

static void human(unsigned long long n, char *out, size_t len)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(out, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void ens_progress(const char *what, unsigned long long done, unsigned long long total)
{
    if (!ens_progress_enabled())
        return;
    char d[32], t[32];
    human(done, d, sizeof(d));
    if (total) {
        human(total, t, sizeof(t));
        fprintf(stderr, "\r\033[K%s: %s / %s (%llu%%)", what, d, t, done * 100 / total);
    } else {
        fprintf(stderr, "\r\033[K%s: %s", what, d);
    }
    fflush(stderr);
}

void ens_progress_done(const char *what)
{
    if (!ens_progress_enabled())
        return;
    fprintf(stderr, "\r\033[K%s: done\n", what);
}

void ens_step(const char *fmt, ...)
{
    if (!ens_progress_enabled() && !ens_log_enabled(ENS_LOG_INFO))
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "==> ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}
