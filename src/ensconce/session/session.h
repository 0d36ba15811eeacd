/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ensconce session` subcommands.  verify.c and hash.c work offline (lib/policy);
 * create.c, update.c and read.c talk to the CAS and belong to the CAS engineer.
 * Until they exist, remote_stubs.c provides placeholders: whoever adds
 * create.c/update.c/read.c deletes remote_stubs.c and swaps it for the three
 * files in src/ensconce/session/meson.build.
 */
#ifndef ENSCONCE_SESSION_SESSION_H
#define ENSCONCE_SESSION_SESSION_H

int ens_cmd_session_create(int argc, char **argv); /* create.c: POST /session (no predecessor) */
int ens_cmd_session_update(int argc, char **argv); /* update.c: fills in the predecessor, POST /session */
int ens_cmd_session_read(int argc, char **argv);   /* read.c: GET /v1/sessions/NAME */
int ens_cmd_session_verify(int argc, char **argv); /* verify.c: parse + validate offline */
int ens_cmd_session_hash(int argc, char **argv);   /* hash.c: print the canonical hash */

#endif
