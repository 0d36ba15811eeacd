/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP(S) for ensconce's services and clients.
 *
 *  - TLS helpers over OpenSSL: P-256 keys, self-signed certificates, PEM
 *    files, and the identity of a peer = SHA-256 of its certificate's
 *    SubjectPublicKeyInfo (DER), so certificates can be renewed.
 *  - An HTTPS (or plain HTTP / Unix socket) server over libevent's evhttp:
 *    TLS 1.3 only, TCP_NODELAY, bounded headers and bodies, timeouts for slow
 *    clients, N event-loop threads sharing one listening socket.
 *  - A small blocking HTTP/1.1 client over TCP, TLS or a Unix socket, with an
 *    optional client certificate (mutual TLS) and server key pinning.  This
 *    part needs only OpenSSL and libc and links statically (ensconce-run).
 */
#ifndef ENSCONCE_NET_NET_H
#define ENSCONCE_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/error.h"

/* ---- TLS helpers ---------------------------------------------------- */

/* A fresh P-256 key. */
int ens_tls_keygen(EVP_PKEY **out, ens_error_t *err);
/* A self-signed X.509 v3 certificate for key (CN = cn, validity days,
 * optional SAN "IP:127.0.0.1,DNS:localhost"-style list or NULL). */
int ens_tls_selfsigned(EVP_PKEY *key, const char *cn, int days, const char *san, X509 **out,
                       ens_error_t *err);
/* SHA-256 of the DER SubjectPublicKeyInfo of a key / certificate. */
int ens_tls_key_id(EVP_PKEY *key, uint8_t out[32], ens_error_t *err);
int ens_tls_cert_id(X509 *cert, uint8_t out[32], ens_error_t *err);
/* DER SubjectPublicKeyInfo (malloc'd), of a key or of a certificate's key (cheaper). */
int ens_tls_key_spki(EVP_PKEY *key, uint8_t **der, size_t *len, ens_error_t *err);
int ens_tls_cert_spki(X509 *cert, uint8_t **der, size_t *len, ens_error_t *err);

/* PEM files.  Private keys are written 0600 (atomically). */
int ens_tls_load_key(const char *path, EVP_PKEY **out, ens_error_t *err);
int ens_tls_load_cert(const char *path, X509 **out, ens_error_t *err);
int ens_tls_save_key(const char *path, EVP_PKEY *key, ens_error_t *err);
int ens_tls_save_cert(const char *path, X509 *cert, ens_error_t *err);
/* PEM text <-> objects (malloc'd string). */
char *ens_tls_cert_pem(X509 *cert);
int ens_tls_cert_from_pem(const char *pem, size_t len, X509 **out, ens_error_t *err);
/* Loads key+cert from dir/NAME.key and dir/NAME.crt, creating a P-256 key and
 * a self-signed certificate (CN cn, SAN san) when they do not exist yet. */
int ens_tls_load_or_create(const char *dir, const char *name, const char *cn, const char *san,
                           EVP_PKEY **key, X509 **cert, ens_error_t *err);

/* A TLS 1.3 server context.  With want_client_cert, clients are asked for a
 * certificate; any (self-signed) certificate is accepted because clients are
 * identified by their key id, not by a CA.  A client may also send none. */
SSL_CTX *ens_tls_server_ctx(EVP_PKEY *key, X509 *cert, bool want_client_cert, ens_error_t *err);

/* ---- server ----------------------------------------------------------- */

struct evhttp_request;
typedef void (*ens_http_cb)(struct evhttp_request *req, void *arg);

struct ens_http_config {
    const char *listen;    /* "HOST:PORT", "[::1]:PORT" or "unix:/path" */
    SSL_CTX *tls;          /* NULL: plain HTTP */
    size_t max_body;       /* bytes; larger bodies get 413 */
    size_t max_headers;    /* bytes; larger headers get 4xx */
    int timeout_s;         /* per read/write: slow clients are dropped */
    unsigned threads;      /* event loops sharing the listener (>= 1) */
    ens_http_cb cb;        /* every request */
    void *arg;
};

typedef struct ens_http_server ens_http_server;

/* Binds and starts serving in cfg->threads threads.  Returns at once.  The first call
 * sets SIGPIPE to SIG_IGN for the process (peers may vanish mid-reply). */
int ens_http_server_start(const struct ens_http_config *cfg, ens_http_server **out, ens_error_t *err);
/* The bound port (useful with port 0). */
int ens_http_server_port(const ens_http_server *s);
/* Stops the loops, joins the threads, frees everything. */
void ens_http_server_stop(ens_http_server *s);

/* Request helpers for handlers. */
/* The body as a NUL-terminated malloc'd copy (NULL when empty: *len = 0). */
char *ens_http_body(struct evhttp_request *req, size_t *len);
/* The key id of the TLS client certificate; false when there is none. */
bool ens_http_peer_id(struct evhttp_request *req, uint8_t out[32]);
/* The client certificate (reference count incremented; X509_free it), or NULL. */
X509 *ens_http_peer_cert(struct evhttp_request *req);
/* Replies with a body (copied) and content type. */
void ens_http_reply(struct evhttp_request *req, int status, const char *ctype, const void *body, size_t len);
/* Replies {"error": MESSAGE} with the status. */
void ens_http_reply_error(struct evhttp_request *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Replies with a JSON document (steals the reference). */
struct json_t;
void ens_http_reply_json(struct evhttp_request *req, int status, struct json_t *doc);

/* ---- blocking client ------------------------------------------------- */

struct ens_http_client_opts {
    const char *addr;           /* "HOST:PORT", "[v6]:PORT", "unix:/path"; an "https://" or
                                   "http://" prefix selects TLS; default TLS unless plain */
    bool plain;                 /* no TLS (LAS over loopback/Unix socket) */
    EVP_PKEY *client_key;       /* mutual TLS (optional; both or neither) */
    X509 *client_cert;
    const uint8_t *pin;         /* 32-byte key id the server must present; NULL = no check */
    int timeout_s;              /* connect/read/write; default 10 */
    size_t max_response;        /* bytes; default 16 MiB */
};

typedef struct ens_http_conn ens_http_conn;

struct ens_http_response {
    int status;
    char *body;                 /* NUL-terminated, malloc'd */
    size_t len;
    char *content_type;         /* malloc'd, may be NULL */
};
void ens_http_response_clear(struct ens_http_response *r);

/* Connects (and completes the TLS handshake, checking the pin). */
int ens_http_connect(const struct ens_http_client_opts *o, ens_http_conn **out, ens_error_t *err);
/* One request on the (keep-alive) connection.  body may be NULL. */
int ens_http_request(ens_http_conn *c, const char *method, const char *path, const char *ctype,
                     const void *body, size_t len, struct ens_http_response *resp, ens_error_t *err);
/* The server's certificate on a TLS connection (reference owned by the connection). */
X509 *ens_http_conn_peer_cert(ens_http_conn *c);
void ens_http_close(ens_http_conn *c);

/* Splits "HOST:PORT" / "[v6]:PORT" (without scheme) into host and port.
 * default_port is used when there is no ":PORT". */
int ens_net_split_addr(const char *addr, int default_port, char **host, int *port, ens_error_t *err);

#endif
