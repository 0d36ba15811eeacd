/* SPDX-License-Identifier: Apache-2.0 */
#include "fs_common.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "crypto/digest.h"

int fs_read_key(const char *path, uint8_t key[ENS_SHIELD_KEY_LEN], ens_error_t *err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len;
    if (ens_read_file(path, 4096, &buf, &len, err) < 0)
        return -1;
    int rc = 0;
    if (len == ENS_SHIELD_KEY_LEN) { /* raw bytes (a hex key has 64 digits) */
        memcpy(key, buf, ENS_SHIELD_KEY_LEN);
    } else {
        char *s = buf;
        while (*s && isspace((unsigned char)*s))
            s++;
        size_t l = strlen(s);
        while (l && isspace((unsigned char)s[l - 1]))
            s[--l] = '\0';
        _cleanup_error_ ens_error_t e = NULL;
        if (l != 2 * ENS_SHIELD_KEY_LEN || ens_hex_decode(s, key, ENS_SHIELD_KEY_LEN, &e) < 0)
            rc = ens_error(err, EINVAL, "key file %s: expected 64 hex digits or 32 raw bytes", path);
    }
    ens_wipe(buf, len);
    return rc;
}

int fs_new_key(const char *path, uint8_t key[ENS_SHIELD_KEY_LEN], ens_error_t *err)
{
    if (ens_random(key, ENS_SHIELD_KEY_LEN, err) < 0)
        return -1;
    char hex[2 * ENS_SHIELD_KEY_LEN + 2];
    ens_hex_encode(key, ENS_SHIELD_KEY_LEN, hex);
    strcat(hex, "\n");
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return ens_error_errno(err, "create key file %s", path);
    int rc = ens_write_all(fd, hex, strlen(hex), err) < 0 || fsync(fd) < 0 ? -1 : 0;
    ens_wipe(hex, sizeof(hex));
    if (rc < 0) {
        unlink(path);
        return ens_error_wrap(err, "key file %s", path);
    }
    return 0;
}

int fs_get_tag(const char *hex, const char *file, uint8_t tag[ENS_SHIELD_TAG_LEN], ens_error_t *err)
{
    _cleanup_free_ char *buf = NULL;
    if ((hex == NULL) == (file == NULL))
        return ens_error(err, EINVAL, "give the expected tag with exactly one of --tag or --tag-file");
    if (file) {
        size_t len;
        if (ens_read_file(file, 4096, &buf, &len, err) < 0)
            return -1;
        buf[strcspn(buf, " \t\r\n")] = '\0';
        hex = buf;
    }
    _cleanup_error_ ens_error_t e = NULL;
    if (strlen(hex) != 2 * ENS_SHIELD_TAG_LEN || ens_hex_decode(hex, tag, ENS_SHIELD_TAG_LEN, &e) < 0)
        return ens_error(err, EINVAL, "tag%s%s: expected 64 hex digits", file ? " file " : "", file ? file : "");
    return 0;
}

int fs_write_tag(const char *path, const uint8_t tag[ENS_SHIELD_TAG_LEN], ens_error_t *err)
{
    char hex[2 * ENS_SHIELD_TAG_LEN + 2];
    ens_hex_encode(tag, ENS_SHIELD_TAG_LEN, hex);
    strcat(hex, "\n");
    return ens_write_file_atomic(path, hex, strlen(hex), 0644, err);
}

const struct option fs_key_tag_longopts[] = {FS_LONGOPTS_KEY_TAG, FS_LONGOPTS_HELP_END};

void fs_print_tag(const uint8_t tag[ENS_SHIELD_TAG_LEN])
{
    char hex[2 * ENS_SHIELD_TAG_LEN + 1];
    ens_hex_encode(tag, ENS_SHIELD_TAG_LEN, hex);
    printf("%s\n", hex);
}

int fs_output_tag(const struct fs_args *a, ens_error_t *err)
{
    if (a->opts.tag_out && fs_write_tag(a->opts.tag_out, a->tag, err) < 0)
        return -1;
    fs_print_tag(a->tag);
    return 0;
}

/* Returns 1 if c was a shared option (stored in o), 0 if not, 2 after a usage error. */
static int fs_common_opt(const char *cmd, int c, const char *arg, struct fs_opts *o)
{
    switch (c) {
    case 'k': o->key_file = arg; return 1;
    case 'N': o->new_key = true; return 1;
    case 'T': o->tag_hex = arg; return 1;
    case 'F': o->tag_file = arg; return 1;
    case 't': o->tag_out = arg; return 1;
    case 'c': {
        char *end;
        unsigned long v = strtoul(arg, &end, 0);
        if (*end || v == 0 || v > (4u << 20))
            return ens_cli_usage_error(cmd, "bad chunk size '%s'", arg);
        o->chunk_size = (uint32_t)v;
        return 1;
    }
    default: return 0;
    }
}

/* Returns -1 when the arguments are complete, else the exit status (0 after --help). */
static int fs_parse_args(const struct fs_cmd *cmd, void *ctx, int argc, char **argv, struct fs_opts *o)
{
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, cmd->shortopts, cmd->longopts, NULL)) != -1) {
        int r = fs_common_opt(cmd->name, c, optarg, o);
        if (r == 0 && cmd->own_opt)
            r = cmd->own_opt(c, optarg, ctx);
        if (r == 2)
            return 2;
        if (r == 1)
            continue;
        if (c == 'h') {
            cmd->usage(stdout);
            return 0;
        }
        return ens_cli_usage_error(cmd->name, "bad option");
    }
    if (argc - optind != cmd->n_operands)
        return ens_cli_usage_error(cmd->name, "%s", cmd->operands_error);
    if ((cmd->needs & FS_NEEDS_KEY) && !o->key_file)
        return ens_cli_usage_error(cmd->name, "--key-file is required");
    return -1;
}

/* Prints "ensconce CMD: message" and returns status. */
static int fs_report(const char *cmd, ens_error_t err, int status)
{
    fprintf(stderr, "ensconce %s: %s\n", cmd, ens_error_msg(err));
    return status;
}

int fs_run(const struct fs_cmd *cmd, void *ctx, int argc, char **argv)
{
    struct fs_args a = {0};
    int rc = fs_parse_args(cmd, ctx, argc, argv, &a.opts);
    if (rc >= 0)
        return rc;
    a.operands = argv + optind;
    _cleanup_error_ ens_error_t err = NULL;
    a.have_tag = (cmd->needs & FS_NEEDS_TAG) || a.opts.tag_hex || a.opts.tag_file;
    if (a.have_tag && fs_get_tag(a.opts.tag_hex, a.opts.tag_file, a.tag, &err) < 0)
        return fs_report(cmd->name, err, 2);
    a.have_key = a.opts.key_file != NULL;
    if (a.have_key && (a.opts.new_key ? fs_new_key(a.opts.key_file, a.key, &err)
                                      : fs_read_key(a.opts.key_file, a.key, &err)) < 0)
        return fs_report(cmd->name, err, 1);
    rc = cmd->run(&a, ctx, &err);
    ens_wipe(a.key, sizeof(a.key));
    return rc < 0 ? fs_report(cmd->name, err, 1) : 0;
}
