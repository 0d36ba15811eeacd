/* SPDX-License-Identifier: Apache-2.0 */
#include "session/args.h"

#include <assert.h>
#include <getopt.h>
#include <stddef.h>

#include "cli.h"

enum { MAX_OPTS = 8 };

int session_parse_args(const char *cmd, void (*usage)(FILE *out), const struct session_opt *opts,
                       const char *operand_error, int argc, char **argv, const char **operand)
{
    /* getopt_long's tables, in the order of opts with --help last. */
    struct option longopts[MAX_OPTS + 2];
    char shortopts[2 * MAX_OPTS + 2], *s = shortopts;
    size_t n = 0;
    for (; opts[n].name; n++) {
        assert(n < MAX_OPTS);
        int has_arg = opts[n].value ? required_argument : no_argument;
        longopts[n] = (struct option){opts[n].name, has_arg, NULL, opts[n].val};
        if (opts[n].short_too) {
            *s++ = (char)opts[n].val;
            if (has_arg == required_argument)
                *s++ = ':';
        }
    }
    longopts[n] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[n + 1] = (struct option){NULL, 0, NULL, 0};
    *s++ = 'h';
    *s = '\0';

    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        const struct session_opt *o = opts;
        while (o->name && o->val != c)
            o++;
        if (!o->name)
            return ens_cli_usage_error(cmd, "invalid option");
        if (o->value)
            *o->value = optarg;
        else
            *o->set = true;
    }
    if (argc - optind != 1)
        return ens_cli_usage_error(cmd, "%s", operand_error);
    *operand = argv[optind];
    return SESSION_ARGS_OK;
}
