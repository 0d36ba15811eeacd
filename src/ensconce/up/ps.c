/* SPDX-License-Identifier: Apache-2.0 */
/* ensconce ps: the services `ensconce up` started, with their state and health. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "up/up.h"

int ens_cmd_ps(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, 0, 'h'}, {"file", required_argument, 0, 'f'},
        {"project-name", required_argument, 0, 'p'}, {"state-dir", required_argument, 0, 'S'}, {0, 0, 0, 0},
    };
    const char *file = NULL, *project_name = NULL, *state_arg = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hf:p:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': printf("Usage: ensconce ps [-f FILE] [-p PROJECT]\n\nLists the project's services: container, "
                         "state and health.\n"); return 0;
        case 'f': file = optarg; break;
        case 'p': project_name = optarg; break;
        case 'S': state_arg = optarg; break;
        default: return ens_cli_usage_error("ps", "unknown option");
        }
    }
    _cleanup_error_ ens_error_t err = NULL;
    struct up_project p;
    if (up_project_resolve(file, project_name, state_arg, false, &p, &err) < 0)
        return ens_error_report(&err, "ensconce ps");
    _cleanup_free_ char *upjson = ens_path_join(p.state, "up.json");
    json_auto_t *doc = json_load_file(upjson, 0, NULL);
    if (doc == NULL) {
        fprintf(stderr, "ensconce ps: project %s is not up (no %s)\n", p.name, upjson);
        up_project_free(&p);
        return 1;
    }
    printf("%-24s %-32s %-10s %s\n", "SERVICE", "CONTAINER", "STATE", "HEALTH");
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(doc, "services"), i, s) {
        const char *name = json_string_value(json_object_get(s, "name"));
        _cleanup_free_ char *id = up_container_id(p.name, name);
        _cleanup_free_ char *st = up_runc_status(p.state, id);
        const char *health = "-";
        if (st && json_object_get(s, "health")) {
            ens_error_t e = NULL;
            health = up_health_check(p.state, id, json_object_get(s, "health"), &e) > 0 ? "healthy" : "unhealthy";
            ens_error_release(&e);
        }
        printf("%-24s %-32s %-10s %s\n", name, id, st ? st : "absent", health);
    }
    up_project_free(&p);
    return 0;
}
