/* SPDX-License-Identifier: Apache-2.0 */
/* ensconce chart render DIR [--set P=V] [--release NAME] [--namespace NS] [-o FILE] */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "chart/chart.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "deploy/gotmpl.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: ensconce chart render CHART_DIR [OPTIONS]\n\n"
                 "Renders every template of a chart with its values, like 'helm template', using ensconce's\n"
                 "renderer for the template subset of docs/kubernetes.md.\n\n"
                 "  -f, --values=FILE   merge a YAML values file (repeatable; before --set, as helm does)\n"
                 "  --set=PARAM=VALUE   override a value (dotted path, repeatable)\n"
                 "  --release=NAME      release name (default: the chart's name)\n"
                 "  --namespace=NS      release namespace (default: default)\n"
                 "  -o, --output=FILE   write to FILE instead of standard output\n");
}

int ens_cmd_chart_render(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, 0, 'h'},           {"set", required_argument, 0, 's'},
        {"values", required_argument, 0, 'f'},
        {"release", required_argument, 0, 'r'},  {"namespace", required_argument, 0, 'n'},
        {"output", required_argument, 0, 'o'},   {0, 0, 0, 0},
    };
    _cleanup_error_ ens_error_t err = NULL;
    json_auto_t *overrides = json_object();
    const char *release = NULL, *ns = "default", *output = NULL;
    const char *sets[64];
    size_t nsets = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:f:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return 0;
        case 's':
            if (nsets == 64)
                return ens_cli_usage_error("chart render", "too many --set");
            sets[nsets++] = optarg;
            break;
        case 'f': {
            _cleanup_free_ char *text = NULL;
            size_t len = 0;
            json_t *v = NULL;
            if (ens_read_file(optarg, 1 << 20, &text, &len, &err) < 0 ||
                (v = ens_yaml_to_json(text, len, optarg, &err)) == NULL)
                return ens_error_report(&err, "ensconce chart render");
            if (!json_is_object(v)) {
                json_decref(v);
                return ens_cli_usage_error("chart render", "%s: values must be a mapping", optarg);
            }
            ens_json_merge(overrides, v);
            json_decref(v);
            break;
        }
        case 'r': release = optarg; break;
        case 'n': ns = optarg; break;
        case 'o': output = optarg; break;
        default: return ens_cli_usage_error("chart render", "unknown option");
        }
    }
    if (optind + 1 != argc)
        return ens_cli_usage_error("chart render", "expected exactly one CHART_DIR");
    for (size_t i = 0; i < nsets; i++)
        if (ens_deploy_set(overrides, sets[i], &err) < 0) {
            ens_error_report(&err, "ensconce chart render");
            return 2;
        }
    const char *dir = argv[optind];
    if (release == NULL) {
        const char *slash = strrchr(dir, '/');
        release = slash && slash[1] ? slash + 1 : dir;
    }
    _cleanup_free_ char *yaml = NULL;
    if (ens_deploy_render(dir, overrides, release, ns, &yaml, &err) < 0)
        return ens_error_report(&err, "ensconce chart render");
    if (output) {
        if (ens_write_file_atomic(output, yaml, strlen(yaml), 0644, &err) < 0)
            return ens_error_report(&err, "ensconce chart render");
    } else {
        fputs(yaml, stdout);
    }
    return 0;
}
