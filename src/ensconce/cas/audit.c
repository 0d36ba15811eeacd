/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ensconce cas audit verify`: recomputes the audit log's hash chain, either from the CAS's
 * database file (--data DIR / --db FILE: also detects edits made behind the CAS's back) or
 * from the CAS over its API (--cas ADDR, administrators only).  Entry i is
 *   hash_i = SHA-256(hash_{i-1} "\n" JSON{seq, ts, actor, action, object, result, detail})
 * with sorted keys, compact separators and \u escapes for non-ASCII; hash_0 = 64 zeros.
 */
#include <errno.h>
#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cas/cascmd.h"
#include "cas/casclient.h"
#include "cli.h"
#include "core/cleanup.h"
#include "core/fsutil.h"
#include "crypto/digest.h"

static void help(FILE *f)
{
    fprintf(f, "Usage: ensconce cas audit verify (--data DIR | --db FILE | --cas ADDR) [--expect-head HASH]\n\n"
               "Checks that every audit entry chains to its predecessor and that sequence numbers have\n"
               "no gaps.  --expect-head also checks the last hash (detects truncation).\n\n"
               "Options:\n"
               "  --data DIR          the CAS data directory (reads DIR/cas.db)\n"
               "  --db FILE           a CAS database or backup file\n"
               "  --cas ADDR          fetch the log from a running CAS (client key must be an --admin)\n"
               "  --expect-head HASH  the hash the last entry must have\n"
               "  -v, --verbose       print every entry\n"
               "  -h, --help          this help\n");
}

struct chain {
    char prev[65];
    long long seq;
    bool verbose;
};

static int check_entry(struct chain *ch, long long seq, long long ts, const char *actor, const char *action,
                       const char *object, const char *result, const char *detail, const char *prev,
                       const char *hash, ens_error_t *err)
{
    if (seq != ch->seq + 1)
        return ens_error(err, EBADMSG, "entry %lld follows entry %lld: entries are missing", seq, ch->seq);
    if (strcmp(prev, ch->prev) != 0)
        return ens_error(err, EBADMSG, "entry %lld: its prev %.64s is not the hash of entry %lld", seq, prev, ch->seq);
    json_t *e = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s}", "seq", (json_int_t)seq, "ts", (json_int_t)ts,
                          "actor", actor, "action", action, "object", object, "result", result, "detail", detail);
    _cleanup_free_ char *text = e ? json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII) : NULL;
    json_decref(e);
    if (text == NULL)
        return ens_error(err, EBADMSG, "entry %lld: fields are not valid UTF-8", seq);
    ens_sha256_ctx *c = ens_sha256_new();
    if (c == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    ens_sha256_update(c, ch->prev, strlen(ch->prev));
    ens_sha256_update(c, "\n", 1);
    ens_sha256_update(c, text, strlen(text));
    uint8_t h[32];
    ens_sha256_final(c, h);
    ens_sha256_free(c);
    char hex[65];
    ens_hex_encode(h, 32, hex);
    if (strcmp(hex, hash) != 0)
        return ens_error(err, EBADMSG, "entry %lld (%s %s): content does not match its hash (modified)", seq, action,
                         object);
    if (ch->verbose)
        printf("%lld %lld %s %s %s %s %s\n", seq, ts, actor, action, object, result, detail);
    memcpy(ch->prev, hex, 65);
    ch->seq = seq;
    return 0;
}

static const char *col(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s ? s : "";
}

static int verify_db(const char *path, struct chain *ch, ens_error_t *err)
{
    sqlite3 *db = NULL;
    if (access(path, R_OK) != 0)
        return ens_error_errno(err, "%s", path);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        int r = ens_error(err, EIO, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
        sqlite3_close(db);
        return r;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT seq, ts, actor, action, object, result, detail, prev, hash FROM audit"
                               " ORDER BY seq",
                           -1, &st, NULL)
        != SQLITE_OK) {
        int r = ens_error(err, EIO, "%s: not a CAS store: %s", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return r;
    }
    int r = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        r = check_entry(ch, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), col(st, 2), col(st, 3),
                        col(st, 4), col(st, 5), col(st, 6), col(st, 7), col(st, 8), err);
        if (r < 0)
            break;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = ens_error(err, EIO, "%s: %s", path, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return r;
}

static int verify_api(const char *addr, struct chain *ch, ens_error_t *err)
{
    ens_http_conn *c = NULL;
    if (ens_casc_connect(addr, &c, err) < 0)
        return -1;
    int r = 0;
    for (;;) {
        char path[64];
        snprintf(path, sizeof(path), "/v1/audit?after=%lld", ch->seq);
        json_t *reply = NULL;
        if ((r = ens_casc_call(c, "GET", path, NULL, NULL, 0, &reply, err)) < 0)
            break;
        json_t *arr = json_object_get(reply, "entries");
        size_t i;
        json_t *e;
        json_array_foreach(arr, i, e)
        {
            const char *f[7] = {0};
            const char *names[7] = {"actor", "action", "object", "result", "detail", "prev", "hash"};
            for (int k = 0; k < 7; k++)
                f[k] = json_string_value(json_object_get(e, names[k]));
            json_t *seq = json_object_get(e, "seq"), *ts = json_object_get(e, "ts");
            if (!json_is_integer(seq) || !json_is_integer(ts) || !f[0] || !f[1] || !f[2] || !f[3] || !f[4] || !f[5]
                || !f[6]) {
                r = ens_error(err, EBADMSG, "audit entry %zu from the CAS is malformed", i);
                break;
            }
            if ((r = check_entry(ch, json_integer_value(seq), json_integer_value(ts), f[0], f[1], f[2], f[3], f[4],
                                 f[5], f[6], err))
                < 0)
                break;
        }
        size_t n = json_array_size(arr);
        json_decref(reply);
        if (r < 0 || n == 0)
            break;
    }
    ens_http_close(c);
    return r;
}

int ens_cmd_cas_audit(int argc, char **argv)
{
    const char *data = NULL, *dbf = NULL, *cas = NULL, *head = NULL;
    struct chain ch = {.seq = 0};
    memset(ch.prev, '0', 64);
    ch.prev[64] = '\0';
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                         {"db", required_argument, NULL, 'f'},
                                         {"cas", required_argument, NULL, 'c'},
                                         {"expect-head", required_argument, NULL, 'e'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'f': dbf = optarg; break;
        case 'c': cas = optarg; break;
        case 'e': head = optarg; break;
        case 'v': ch.verbose = true; break;
        case 'h': help(stdout); return 0;
        default: return ens_cli_usage_error("cas audit", "invalid option");
        }
    }
    if (optind + 1 != argc || strcmp(argv[optind], "verify") != 0)
        return ens_cli_usage_error("cas audit", "expected 'verify'");
    if ((data != NULL) + (dbf != NULL) + (cas != NULL) != 1)
        return ens_cli_usage_error("cas audit", "give exactly one of --data, --db, --cas");
    _cleanup_error_ ens_error_t err = NULL;
    _cleanup_free_ char *path = data ? ens_path_join(data, "cas.db") : NULL;
    int r;
    if (cas) {
        _cleanup_free_ char *addr = ens_casc_addr(cas);
        r = verify_api(addr, &ch, &err);
    } else {
        r = verify_db(path ? path : dbf, &ch, &err);
    }
    if (r == 0 && head && strcasecmp(head, ch.prev) != 0)
        r = ens_error(err ? NULL : &err, EBADMSG, "the last entry's hash %s is not the expected head %s", ch.prev,
                      head);
    if (r < 0) {
        fprintf(stderr, "ensconce cas audit verify: FAILED: %s\n", ens_error_msg(err));
        return 1;
    }
    printf("audit log OK: %lld entries, head %s\n", ch.seq, ch.prev);
    return 0;
}
