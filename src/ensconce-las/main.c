/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ensconce-las: the Local Attestation Service (one per node).  In simulation it signs a
 * runtime's claims (measurement, report data) with the node key, whose certificate an
 * administrator registers with the CAS (`ensconce cas platform add`).  Anyone who can
 * reach the LAS can obtain such evidence: simulation protects the flow and data at rest,
 * not memory (docs/security.md).  Plain HTTP: the evidence is signed, so TLS adds nothing.
 */
#include <errno.h>
#include <event2/http.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"
#include "core/cleanup.h"
#include "core/log.h"
#include "crypto/digest.h"
#include "net/net.h"

struct las {
    EVP_PKEY *key;
    X509 *cert;
    char *cert_pem;
    char id_hex[65];
};

static void handle(struct evhttp_request *req, void *arg)
{
    struct las *las = arg;
    const char *uri = evhttp_request_get_uri(req);
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    const char *path = uri;
    if (strcmp(path, "/healthz") == 0) {
        if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD)
            return ens_http_reply_error(req, 405, "/healthz: use GET");
        ens_http_reply(req, 200, "text/plain", "ok\n", 3);
        return;
    }
    if (strcmp(path, "/v1/node-cert") == 0) {
        if (m != EVHTTP_REQ_GET)
            return ens_http_reply_error(req, 405, "%s: use GET", path);
        ens_http_reply(req, 200, "application/x-pem-file", las->cert_pem, strlen(las->cert_pem));
        return;
    }
    if (strcmp(path, "/v1/evidence") != 0)
        return ens_http_reply_error(req, 404, "no such endpoint");
    if (m != EVHTTP_REQ_POST)
        return ens_http_reply_error(req, 405, "/v1/evidence: use POST");
    size_t len = 0;
    _cleanup_free_ char *body = ens_http_body(req, &len);
    json_error_t je;
    json_t *doc = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (doc == NULL)
        return ens_http_reply_error(req, 400, "body: expected JSON {\"measurement\": HEX, \"report_data\": HEX}");
    const char *mh = json_string_value(json_object_get(doc, "measurement"));
    const char *rh = json_string_value(json_object_get(doc, "report_data"));
    uint8_t rd[64];
    if (!ens_attest_hex_valid(mh, 0)) {
        json_decref(doc);
        return ens_http_reply_error(req, 400, "measurement: expected lower-case hex, at most 64 bytes");
    }
    if (!ens_attest_hex_valid(rh, 0)) {
        json_decref(doc);
        return ens_http_reply_error(req, 400, "report_data: expected lower-case hex, at most 64 bytes");
    }
    size_t rdl = strlen(rh) / 2;
    ens_hex_decode(rh, rd, rdl, NULL);
    json_t *ev = NULL;
    _cleanup_error_ ens_error_t err = NULL;
    int r = ens_attest_sim_sign(las->key, las->cert, mh, rd, rdl, &ev, &err);
    json_decref(doc);
    if (r < 0)
        return ens_http_reply_error(req, 500, "%s", ens_error_msg(err));
    ens_http_reply_json(req, 200, ev);
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: ensconce-las [OPTIONS]\n\n"
               "The Local Attestation Service: signs simulation evidence with this node's key.\n\n"
               "Options:\n"
               "  --listen ADDR       TCP address (default 127.0.0.1:18766; use 0.0.0.0:18766 as a DaemonSet)\n"
               "  --socket PATH       also listen on a Unix socket\n"
               "  --no-tcp            only the Unix socket\n"
               "  --state-dir DIR     node key and certificate (default /var/lib/ensconce-las)\n"
               "  --print-cert        print the node certificate (PEM) and exit\n"
               "  --print-id          print the node key id (the platform id) and exit\n"
               "  --threads N         event-loop threads (default 2)\n"
               "  -h, --help          this help\n");
}

int main(int argc, char **argv)
{
    ens_log_init("ensconce-las");
    const char *listen = "127.0.0.1:18766", *sock = NULL, *state = "/var/lib/ensconce-las";
    bool print_cert = false, print_id = false, no_tcp = false;
    unsigned threads = 2;
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'}, {"socket", required_argument, NULL, 's'},
        {"state-dir", required_argument, NULL, 'd'}, {"print-cert", no_argument, NULL, 'c'},
        {"print-id", no_argument, NULL, 'i'}, {"no-tcp", no_argument, NULL, 'n'},
        {"threads", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': listen = optarg; break;
        case 's': sock = optarg; break;
        case 'd': state = optarg; break;
        case 'c': print_cert = true; break;
        case 'i': print_id = true; break;
        case 'n': no_tcp = true; break;
        case 't': threads = (unsigned)atoi(optarg); if (threads < 1 || threads > 64) threads = 2; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "ensconce-las: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (no_tcp && sock == NULL) {
        fprintf(stderr, "ensconce-las: --no-tcp needs --socket\n");
        return 2;
    }
    _cleanup_error_ ens_error_t err = NULL;
    struct las las = {0};
    if (ens_tls_load_or_create(state, "node", "ensconce-las node", NULL, &las.key, &las.cert, &err) < 0)
        return ens_error_report(&err, "ensconce-las");
    uint8_t id[32];
    if (ens_tls_cert_id(las.cert, id, &err) < 0)
        return ens_error_report(&err, "ensconce-las");
    ens_hex_encode(id, 32, las.id_hex);
    las.cert_pem = ens_tls_cert_pem(las.cert);
    if (print_cert || print_id) {
        if (print_cert)
            fputs(las.cert_pem, stdout);
        if (print_id)
            printf("%s\n", las.id_hex);
        return 0;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    ens_http_server *tcp = NULL, *unx = NULL;
    struct ens_http_config cfg = {.max_body = 64 * 1024, .max_headers = 8192, .timeout_s = 10,
                                  .threads = threads, .cb = handle, .arg = &las};
    if (!no_tcp) {
        cfg.listen = listen;
        if (ens_http_server_start(&cfg, &tcp, &err) < 0)
            return ens_error_report(&err, "ensconce-las");
    }
    if (sock) {
        _cleanup_free_ char *a = NULL;
        if (asprintf(&a, "unix:%s", sock) < 0)
            return 1;
        cfg.listen = a;
        cfg.threads = 1;
        if (ens_http_server_start(&cfg, &unx, &err) < 0)
            return ens_error_report(&err, "ensconce-las");
    }
    fprintf(stderr, "ensconce-las: platform %s listening on %s%s%s\n", las.id_hex, no_tcp ? "" : listen,
            sock ? " and unix:" : "", sock ? sock : "");
    int sig = 0;
    sigwait(&set, &sig);
    ens_http_server_stop(tcp);
    ens_http_server_stop(unx);
    EVP_PKEY_free(las.key);
    X509_free(las.cert);
    free(las.cert_pem);
    return 0;
}
