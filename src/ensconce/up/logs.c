/* SPDX-License-Identifier: Apache-2.0 */
/* ensconce logs: a service's output (its runtime's lines, then the service's). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "up/up.h"

int ens_cmd_logs(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, 0, 'h'}, {"file", required_argument, 0, 'f'}, {"follow", no_argument, 0, 'F'},
        {"project-name", required_argument, 0, 'p'}, {"state-dir", required_argument, 0, 'S'}, {0, 0, 0, 0},
    };
    const char *file = NULL, *project_name = NULL, *state_arg = NULL;
    bool follow = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hf:p:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': printf("Usage: ensconce logs [-p PROJECT] [--follow] SERVICE\n\nPrints the service's log; "
                         "cas and las name the local CAS and LAS.\n"); return 0;
        case 'f': file = optarg; break;
        case 'F': follow = true; break;
        case 'p': project_name = optarg; break;
        case 'S': state_arg = optarg; break;
        default: return ens_cli_usage_error("logs", "unknown option");
        }
    }
    if (optind + 1 != argc)
        return ens_cli_usage_error("logs", "expected one SERVICE");
    _cleanup_error_ ens_error_t err = NULL;
    struct up_project p;
    if (up_project_resolve(file, project_name, state_arg, false, &p, &err) < 0)
        return ens_error_report(&err, "ensconce logs");
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/logs/%s.log", p.state, argv[optind]) < 0)
        return 1;
    up_project_free(&p);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "ensconce logs: no log for %s (%s: %s)\n", argv[optind], path, strerror(errno));
        return 1;
    }
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            fwrite(buf, 1, (size_t)n, stdout);
            continue;
        }
        if (n < 0 && errno != EINTR)
            return 1;
        if (!follow)
            break;
        fflush(stdout);
        usleep(200 * 1000);
    }
    return 0;
}
