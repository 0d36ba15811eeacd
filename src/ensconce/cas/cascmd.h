/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce cas` subcommands (one file each). */
#ifndef ENSCONCE_CLI_CASCMD_H
#define ENSCONCE_CLI_CASCMD_H

int ens_cmd_cas_attest(int argc, char **argv);   /* attest.c */
int ens_cmd_cas_platform(int argc, char **argv); /* platform.c */
int ens_cmd_cas_audit(int argc, char **argv);    /* audit.c */
int ens_cmd_cas_identity(int argc, char **argv); /* identity.c */

#endif
