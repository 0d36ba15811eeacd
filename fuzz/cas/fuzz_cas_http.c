/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the HTTP layer of the CAS and of its clients.  The first byte picks:
 *   0: raw bytes to the CAS client API (evhttp parsing + cas_api_client), in-process server
 *   1: raw bytes to the CAS attestation API (cas_api_attest)
 *   2: raw bytes as a *server's response* to lib/net's blocking client (what ensconce-run
 *      and the CLI parse)
 * Plain HTTP on loopback/Unix sockets (TLS is OpenSSL's business); the servers run in their
 * own threads, so sanitizer reports there fail the run as well.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cas.h"
#include "crypto/digest.h"
#include "net/net.h"

static struct cas cas;
static int port[2];
static ens_http_server *srv[2]; /* live for the whole run */
static char upath[108];
static int ufd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[] = "/tmp/ens-fuzz-http-XXXXXX";
    if (mkdtemp(dir) == NULL)
        abort();
    char db[128], mk[128];
    snprintf(db, sizeof(db), "%s/cas.db", dir);
    snprintf(mk, sizeof(mk), "%s/master.key", dir);
    snprintf(upath, sizeof(upath), "%s/srv.sock", dir);
    ens_error_t err = NULL;
    if (cas_store_open(db, mk, &cas.store, &err) < 0 || ens_tls_keygen(&cas.key, &err) < 0
        || ens_tls_selfsigned(cas.key, "cas", 1, NULL, &cas.cert, &err) < 0) {
        fprintf(stderr, "setup: %s\n", ens_error_msg(err));
        abort();
    }
    cas_store_set_durable(cas.store, false);
    cas.nonces = ens_nonce_store_new(60, 1024);
    memset(cas.measurement, 'a', 64);
    ens_http_cb cbs[2] = {cas_api_client, cas_api_attest};
    for (int i = 0; i < 2; i++) {
        struct ens_http_config cfg = {.listen = "127.0.0.1:0", .max_body = 65536, .max_headers = 8192,
                                      .timeout_s = 2, .threads = 1, .cb = cbs[i], .arg = &cas};
        if (ens_http_server_start(&cfg, &srv[i], &err) < 0)
            abort();
        port[i] = ens_http_server_port(srv[i]);
    }
    ufd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, upath);
    if (bind(ufd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(ufd, 4) < 0)
        abort();
    return 0;
}

static void to_server(int p, const uint8_t *data, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
    a.sin_addr.s_addr = htonl(0x7f000001);
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
        if (len)
            (void)!send(fd, data, len, MSG_NOSIGNAL);
        shutdown(fd, SHUT_WR);
        char buf[4096];
        while (recv(fd, buf, sizeof(buf), 0) > 0) {
        }
    }
    close(fd);
}

struct fake {
    const uint8_t *data;
    size_t len;
};

static void *fake_server(void *arg)
{
    struct fake *f = arg;
    int c = accept(ufd, NULL, NULL);
    if (c < 0)
        return NULL;
    char buf[4096];
    struct timeval tv = {.tv_sec = 2};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)!recv(c, buf, sizeof(buf), 0);
    if (f->len)
        (void)!send(c, f->data, f->len, MSG_NOSIGNAL);
    close(c);
    return NULL;
}

static void to_client(const uint8_t *data, size_t len)
{
    struct fake f = {data, len};
    pthread_t t;
    pthread_create(&t, NULL, fake_server, &f);
    char addr[128];
    snprintf(addr, sizeof(addr), "unix:%s", upath);
    struct ens_http_client_opts o = {.addr = addr, .plain = true, .timeout_s = 2, .max_response = 1 << 20};
    ens_http_conn *c = NULL;
    ens_error_t err = NULL;
    if (ens_http_connect(&o, &c, &err) == 0) {
        struct ens_http_response r;
        if (ens_http_request(c, "POST", "/v1/evidence", "application/json", "{}", 2, &r, &err) == 0) {
            if (r.body == NULL || r.body[r.len] != '\0')
                abort();
            ens_http_response_clear(&r);
        }
        ens_http_close(c);
    }
    ens_error_release(&err);
    pthread_join(t, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    switch (data[0] % 3) {
    case 0: to_server(port[0], data + 1, size - 1); break;
    case 1: to_server(port[1], data + 1, size - 1); break;
    default: to_client(data + 1, size - 1); break;
    }
    return 0;
}
