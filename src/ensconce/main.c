/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/log.h"

#ifndef ENSCONCE_VERSION
#define ENSCONCE_VERSION "unknown"
#endif

static const struct ens_subcommand commands[] = {
    {"sconify", ens_cmd_sconify, "convert an image into a confidential one (policy, chart, compose)"},
    {"image", ens_cmd_image, "build, inspect, copy and unpack OCI images (no daemon)"},
    {"chart", ens_cmd_chart, "Helm charts without Helm: create, render (like helm template), infra"},
    {"fs", ens_cmd_fs, "the shield: pack, verify, show, unpack and mount encrypted file systems"},
    {"session", ens_cmd_session, "policy sessions: create, update, read, verify, hash"},
    {"cas", ens_cmd_cas, "talk to a CAS: attest and pin, platforms, collateral, audit"},
    {"evidence", ens_cmd_evidence, "verify SGX/TDX quotes and SEV-SNP reports offline"},
    {"up", ens_cmd_up, "run a Compose file of confidential services locally (runc)"},
    {"down", ens_cmd_down, "stop what 'up' started and clean up"},
    {"ps", ens_cmd_ps, "list the services 'up' started"},
    {"logs", ens_cmd_logs, "show a service's log"},
    {NULL, NULL, NULL},
};

static void help(FILE *out)
{
    fprintf(out, "Usage: ensconce COMMAND [OPTIONS]\n\n"
                 "ensconce turns container images into confidential ones and runs them.\n\nCommands:\n");
    for (const struct ens_subcommand *c = commands; c->name; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out, "\nRun 'ensconce COMMAND --help' for more.  Environment: ENSCONCE_LOG=error|warn|info|debug.\n");
}

int main(int argc, char **argv)
{
    ens_log_init("ensconce");
    if (argc < 2) {
        help(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        help(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("ensconce %s\n", ENSCONCE_VERSION);
        return 0;
    }
    for (const struct ens_subcommand *c = commands; c->name; c++)
        if (strcmp(c->name, argv[1]) == 0)
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "ensconce: unknown command '%s'\n", argv[1]);
    help(stderr);
    return 2;
}
