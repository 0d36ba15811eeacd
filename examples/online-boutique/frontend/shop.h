/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shop's request handling, independent of the HTTP server: a request
 * (method, path below BASE_URL, a few headers, the form body) goes in, a
 * response (status, headers, body) comes out.  fe_handle() may block on the
 * back ends; it is thread-safe and is called from the worker pool.
 */
#ifndef ENSCONCE_FRONTEND_SHOP_H
#define ENSCONCE_FRONTEND_SHOP_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "mustache.h"

typedef struct {
    fe_backend be;
    mst_set *templates;
    const char *base_url;         /* "" or "/prefix" without a trailing slash */
    const char *platform;         /* local gcp azure aws onprem alibaba */
    const char *platform_name;
    const char *frontend_message; /* NULL or shown as a banner */
    bool single_shared_session;
    /* Whether a static file exists (URL below BASE_URL); lets a catalog's
     * "x.jpg" picture be shown from our "x.svg".  NULL: pictures as given. */
    bool (*has_static)(const char *url);
} fe_app;

typedef struct {
    const char *method;  /* "GET", "HEAD", "POST", ... */
    const char *path;    /* below BASE_URL, still percent-encoded, without the query */
    const char *cookie;  /* Cookie header or NULL */
    const char *referer; /* Referer header or NULL */
    const char *host;    /* Host header or NULL */
    const char *body;    /* application/x-www-form-urlencoded, NUL-terminated, or NULL */
} fe_request;

typedef struct {
    int status;
    const char *content_type; /* static string */
    char *location;           /* for redirects */
    fe_strv set_cookie;       /* Set-Cookie header values */
    char *body;
    size_t body_len;
} fe_response;

/* True when the path is served without a back end (health, robots): such
 * requests may be answered on the event loop. */
bool fe_route_is_local(const char *path);

void fe_handle(fe_app *app, const fe_request *req, fe_response *resp);
void fe_response_clear(fe_response *resp);

/* Maps ENV_PLATFORM to one of the known names (anything else → "local"). */
const char *fe_platform_normalize(const char *env, const char **display_name);

#endif
