/* SPDX-License-Identifier: Apache-2.0 */
/* ensconce down: stop what `ensconce up` started and clean up. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "up/up.h"

int ens_cmd_down(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, 0, 'h'},          {"file", required_argument, 0, 'f'},
        {"project-name", required_argument, 0, 'p'}, {"state-dir", required_argument, 0, 'S'},
        {"volumes", no_argument, 0, 'v'},       {"keep-infra", no_argument, 0, 'K'},
        {0, 0, 0, 0},
    };
    const char *file = NULL, *project_name = NULL, *state_arg = NULL;
    bool volumes = false, keep_infra = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hf:p:v", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            printf("Usage: ensconce down [-f FILE] [-p PROJECT] [-v] [--keep-infra]\n\n"
                   "Stops the project's containers (SIGTERM, then SIGKILL after 10 s), deletes them and their\n"
                   "bundles, and stops the local CAS and LAS that 'up' started.\n\n"
                   "  -v, --volumes     also delete named volumes and the local CAS/LAS state\n"
                   "  --keep-infra      leave the local CAS and LAS running\n");
            return 0;
        case 'f': file = optarg; break;
        case 'p': project_name = optarg; break;
        case 'S': state_arg = optarg; break;
        case 'v': volumes = true; break;
        case 'K': keep_infra = true; break;
        default: return ens_cli_usage_error("down", "unknown option");
        }
    }
    if (geteuid() != 0) {
        fprintf(stderr, "ensconce down: needs root; run it with sudo\n");
        return 1;
    }
    _cleanup_error_ ens_error_t err = NULL;
    struct up_project p;
    if (up_project_resolve(file, project_name, state_arg, false, &p, &err) < 0)
        return ens_error_report(&err, "ensconce down");
    _cleanup_free_ char *upjson = ens_path_join(p.state, "up.json");
    json_auto_t *doc = json_load_file(upjson, 0, NULL);
    int rc = 0;
    json_t *svcs = json_object_get(doc, "services");
    for (size_t i = json_array_size(svcs); i-- > 0;) {
        const char *name = json_string_value(json_object_get(json_array_get(svcs, i), "name"));
        _cleanup_free_ char *id = up_container_id(p.name, name);
        if (up_runc_stop(p.state, id, 10, &err) < 0) {
            fprintf(stderr, "ensconce down: %s: %s\n", name, ens_error_msg(err));
            ens_error_release(&err);
            rc = 1;
            continue;
        }
        printf("%-24s stopped\n", name);
    }
    _cleanup_free_ char *bundles = ens_path_join(p.state, "bundles");
    ens_rm_rf(bundles, NULL);
    unlink(upjson);
    if (!keep_infra)
        up_infra_stop(p.state, NULL);
    if (volumes) {
        if (!keep_infra) {
            ens_rm_rf(p.state, NULL);
        } else {
            _cleanup_free_ char *v = ens_path_join(p.state, "volumes");
            ens_rm_rf(v, NULL);
        }
    }
    up_project_free(&p);
    return rc;
}
