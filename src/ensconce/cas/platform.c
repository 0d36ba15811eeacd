/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce cas platform add|list`: the LAS node keys whose simulation evidence the CAS accepts. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cas/cascmd.h"
#include "cas/casclient.h"
#include "cli.h"
#include "core/cleanup.h"
#include "core/fsutil.h"

static void help(FILE *f)
{
    fprintf(f, "Usage: ensconce cas platform add [--cas ADDR] (--cert FILE | --las ADDR)\n"
               "       ensconce cas platform list [--cas ADDR]\n\n"
               "Registers a LAS node certificate with the CAS (needs a client listed with\n"
               "`ensconce-cas --admin`).  --las fetches it from a LAS (HOST:PORT or unix:/path): only\n"
               "do that over a channel you trust; `ensconce-las --print-cert` on the node is the safe way.\n\n"
               "Options:\n"
               "  --cas ADDR    CAS client API (default $ENSCONCE_CAS_ADDR, $SCONE_CAS_ADDR, 127.0.0.1:8081)\n"
               "  --cert FILE   the node certificate (PEM)\n"
               "  --las ADDR    fetch the certificate from this LAS\n"
               "  -h, --help    this help\n");
}

static int fetch_las_cert(const char *las, char **pem, ens_error_t *err)
{
    struct ens_http_client_opts o = {.addr = las, .plain = true, .timeout_s = 10, .max_response = 65536};
    ens_http_conn *c = NULL;
    if (ens_http_connect(&o, &c, err) < 0)
        return ens_error_wrap(err, "LAS %s", las);
    struct ens_http_response r;
    int rc = ens_http_request(c, "GET", "/v1/node-cert", NULL, NULL, 0, &r, err);
    ens_http_close(c);
    if (rc < 0)
        return ens_error_wrap(err, "LAS %s", las);
    if (r.status != 200) {
        ens_http_response_clear(&r);
        return ens_error(err, EPROTO, "LAS %s: GET /v1/node-cert: status %d", las, r.status);
    }
    *pem = ens_steal(&r.body);
    ens_http_response_clear(&r);
    return 0;
}

int ens_cmd_cas_platform(int argc, char **argv)
{
    const char *cas = NULL, *cert = NULL, *las = NULL;
    static const struct option opts[] = {{"cas", required_argument, NULL, 'c'},
                                         {"cert", required_argument, NULL, 'f'},
                                         {"las", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cas = optarg; break;
        case 'f': cert = optarg; break;
        case 'l': las = optarg; break;
        case 'h': help(stdout); return 0;
        default: return ens_cli_usage_error("cas platform", "invalid option");
        }
    }
    if (optind + 1 != argc || (strcmp(argv[optind], "add") != 0 && strcmp(argv[optind], "list") != 0))
        return ens_cli_usage_error("cas platform", "expected 'add' or 'list'");
    bool add = strcmp(argv[optind], "add") == 0;
    if (add && (cert == NULL) == (las == NULL))
        return ens_cli_usage_error("cas platform", "add needs exactly one of --cert FILE or --las ADDR");
    _cleanup_error_ ens_error_t err = NULL;
    _cleanup_free_ char *addr = ens_casc_addr(cas);
    _cleanup_free_ char *pem = NULL;
    size_t len = 0;
    if (add && cert && ens_read_file(cert, 65536, &pem, &len, &err) < 0)
        return ens_error_report(&err, "ensconce cas platform");
    if (add && las && fetch_las_cert(las, &pem, &err) < 0)
        return ens_error_report(&err, "ensconce cas platform");
    ens_http_conn *conn = NULL;
    if (ens_casc_connect(addr, &conn, &err) < 0)
        return ens_error_report(&err, "ensconce cas platform");
    json_t *reply = NULL;
    int r;
    if (add) {
        json_t *req = json_pack("{s:s}", "certificate", pem);
        _cleanup_free_ char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
        json_decref(req);
        if (body == NULL) {
            ens_http_close(conn);
            fprintf(stderr, "ensconce cas platform: the certificate is not valid text\n");
            return 1;
        }
        r = ens_casc_call(conn, "POST", "/v1/platforms", "application/json", body, strlen(body), &reply, &err);
        if (r == 0)
            printf("%s\n", json_string_value(json_object_get(reply, "id")));
    } else {
        r = ens_casc_call(conn, "GET", "/v1/platforms", NULL, NULL, 0, &reply, &err);
        size_t i;
        json_t *p;
        if (r == 0)
            json_array_foreach(json_object_get(reply, "platforms"), i, p)
                printf("%s\n", json_string_value(json_object_get(p, "id")));
    }
    json_decref(reply);
    ens_http_close(conn);
    return r < 0 ? ens_error_report(&err, "ensconce cas platform") : 0;
}
