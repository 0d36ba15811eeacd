/* SPDX-License-Identifier: Apache-2.0 */
#include "image/common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/cleanup.h"

int img_common_opt(const char *cmd, int c, const char *arg, struct ens_image_opts *o)
{
    switch (c) {
    case OPT_TLS_VERIFY:
        if (!arg || strcmp(arg, "true") == 0 || strcmp(arg, "1") == 0)
            o->tls_verify = true;
        else if (strcmp(arg, "false") == 0 || strcmp(arg, "0") == 0)
            o->tls_verify = false;
        else
            return ens_cli_usage_error(cmd, "--tls-verify wants true or false, not '%s'", arg);
        return 1;
    case OPT_PLATFORM:
        if (!strchr(arg, '/'))
            return ens_cli_usage_error(cmd, "--platform wants OS/ARCH[/VARIANT], not '%s'", arg);
        o->platform = arg;
        return 1;
    case OPT_AUTHFILE:
        o->authfile = arg;
        return 1;
    default:
        return 0;
    }
}

static void img_cmd_usage(const struct img_cmd *cmd, FILE *f)
{
    fprintf(f,
            "Usage: ensconce %s [OPTIONS] %s\n\n%s\nOptions:\n%s" IMG_COMMON_HELP
            "  -h, --help            this help\n",
            cmd->name, cmd->operands, cmd->about, cmd->flag_help);
}

int img_open_from_args(const struct img_cmd *cmd, int argc, char **argv, bool *flag, ens_image **img)
{
    const struct option opts[] = {
        IMG_COMMON_LONGOPTS,
        { cmd->flag, no_argument, NULL, OPT_FLAG },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct ens_image_opts o;
    ens_image_opts_init(&o);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = img_common_opt(cmd->name, c, optarg, &o);
        if (r == 2)
            return 2;
        if (r == 1)
            continue;
        if (c == 'h') {
            img_cmd_usage(cmd, stdout);
            return 0;
        }
        if (c == OPT_FLAG) {
            *flag = true;
            continue;
        }
        return ens_cli_usage_error(cmd->name, "unknown option");
    }
    if (argc - optind != cmd->n_operands)
        return ens_cli_usage_error(cmd->name, "%s", cmd->operands_error);
    _cleanup_error_ ens_error_t err = NULL;
    if (ens_image_open(argv[optind], &o, img, &err) < 0) {
        fprintf(stderr, "ensconce %s: %s\n", cmd->name, ens_error_msg(err));
        return 1;
    }
    return IMG_ARGS_OK;
}

int img_edit_opt(const char *cmd, int c, const char *arg, struct img_edits *e, struct ens_image_opts *o)
{
    if (c == OPT_COMPRESSION) {
        if (strcmp(arg, "gzip") && strcmp(arg, "zstd") && strcmp(arg, "none"))
            return ens_cli_usage_error(cmd, "--compression wants gzip, zstd or none");
        o->compression = arg;
        return 1;
    }
    if (c < OPT_ENTRYPOINT || c > OPT_EXPOSE)
        return 0;
    struct img_edit *v = realloc(e->v, (e->n + 1) * sizeof(*v));
    if (!v)
        return ens_cli_usage_error(cmd, "out of memory");
    e->v = v;
    e->v[e->n++] = (struct img_edit){ c, arg };
    return 1;
}

void img_edits_free(struct img_edits *e)
{
    free(e->v);
    e->v = NULL;
    e->n = 0;
}

/* "[...]" is a JSON array of strings; anything else is split at spaces; "" means clear. */
static int parse_argv(const char *arg, char ***out, ens_error_t *err)
{
    *out = NULL;
    if (!*arg)
        return 0;
    size_t n = 0;
    char **v = NULL;
    if (arg[0] == '[') {
        json_error_t je;
        json_t *j = json_loads(arg, 0, &je);
        if (!json_is_array(j)) {
            json_decref(j);
            return ens_error(err, EINVAL, "'%s': not a JSON array (%s)", arg, je.text);
        }
        v = calloc(json_array_size(j) + 1, sizeof(char *));
        size_t i;
        json_t *s;
        json_array_foreach(j, i, s) {
            if (!json_is_string(s)) {
                json_decref(j);
                for (size_t k = 0; k < n; k++)
                    free(v[k]);
                free(v);
                return ens_error(err, EINVAL, "'%s': array elements must be strings", arg);
            }
            v[n++] = strdup(json_string_value(s));
        }
        json_decref(j);
    } else {
        _cleanup_free_ char *copy = strdup(arg);
        v = calloc(strlen(arg) / 2 + 2, sizeof(char *));
        char *save = NULL;
        for (char *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
            v[n++] = strdup(t);
    }
    *out = v;
    return 0;
}

int img_apply_edits(ens_image *img, const struct img_edits *e, ens_error_t *err)
{
    for (size_t i = 0; i < e->n; i++) {
        const char *a = e->v[i].arg;
        int r = 0;
        switch (e->v[i].opt) {
        case OPT_ENTRYPOINT:
        case OPT_CMD: {
            char **argv;
            if (parse_argv(a, &argv, err) < 0)
                return -1;
            r = e->v[i].opt == OPT_CMD ? ens_image_set_cmd(img, (const char *const *)argv, err)
                                       : ens_image_set_entrypoint(img, (const char *const *)argv, err);
            for (char **p = argv; p && *p; p++)
                free(*p);
            free(argv);
            break;
        }
        case OPT_ENV:
            r = ens_image_set_env(img, a, err);
            break;
        case OPT_WORKDIR:
            r = ens_image_set_workdir(img, a, err);
            break;
        case OPT_USER:
            r = ens_image_set_user(img, a, err);
            break;
        case OPT_LABEL: {
            _cleanup_free_ char *k = strdup(a);
            char *eq = k ? strchr(k, '=') : NULL;
            if (!eq)
                return ens_error(err, EINVAL, "--label '%s': want KEY=VALUE", a);
            *eq = '\0';
            r = ens_image_set_label(img, k, eq + 1, err);
            break;
        }
        case OPT_EXPOSE:
            r = ens_image_add_exposed_port(img, a, err);
            break;
        }
        if (r < 0)
            return -1;
    }
    return 0;
}
