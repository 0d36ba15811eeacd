/* SPDX-License-Identifier: Apache-2.0 */
/* Name resolution with libevent's evdns: a static glibc cannot load NSS modules in a scratch image. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "core/cleanup.h"
#include "runtime.h"

struct lookup {
    struct event_base *base;
    int done;
    int result;
    char numeric[INET6_ADDRSTRLEN];
    bool v6;
};

static void on_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
    struct lookup *l = arg;
    l->done = 1;
    l->result = result;
    event_base_loopbreak(l->base);
    if (result != 0)
        return;
    for (struct evutil_addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, l->numeric, sizeof(l->numeric));
            l->v6 = false;
            break;
        }
        if (ai->ai_family == AF_INET6 && l->numeric[0] == '\0') {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, l->numeric, sizeof(l->numeric));
            l->v6 = true;
        }
    }
    evutil_freeaddrinfo(res);
    if (l->numeric[0] == '\0')
        l->result = EVUTIL_EAI_NODATA;
}

/* /etc/hosts, read directly (bounded): the first address listed for the name, IPv4 preferred. */
static bool from_hosts(const char *host, struct lookup *l)
{
    _cleanup_fclose_ FILE *f = fopen("/etc/hosts", "re");
    if (f == NULL)
        return strcmp(host, "localhost") == 0 && snprintf(l->numeric, sizeof(l->numeric), "127.0.0.1") > 0;
    char line[1024], v6[INET6_ADDRSTRLEN] = "";
    int lines = 0;
    while (fgets(line, sizeof(line), f) && lines++ < 100000) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL, *addr = strtok_r(line, " \t\r\n", &save);
        if (addr == NULL)
            continue;
        for (char *name = strtok_r(NULL, " \t\r\n", &save); name; name = strtok_r(NULL, " \t\r\n", &save)) {
            if (strcasecmp(name, host) != 0)
                continue;
            unsigned char buf[sizeof(struct in6_addr)];
            if (inet_pton(AF_INET, addr, buf) == 1) {
                snprintf(l->numeric, sizeof(l->numeric), "%s", addr);
                l->v6 = false;
                return true;
            }
            if (inet_pton(AF_INET6, addr, buf) == 1 && v6[0] == '\0')
                snprintf(v6, sizeof(v6), "%s", addr);
        }
    }
    if (v6[0]) {
        snprintf(l->numeric, sizeof(l->numeric), "%s", v6);
        l->v6 = true;
        return true;
    }
    return false;
}

int ens_run_resolve_addr(const char *addr, int default_port, int timeout_s, char **out, ens_error_t *err)
{
    if (strncmp(addr, "unix:", 5) == 0) {
        *out = strdup(addr);
        return *out ? 0 : ens_error(err, ENOMEM, "out of memory");
    }
    const char *a = addr;
    const char *scheme = "";
    if (strncmp(a, "https://", 8) == 0) {
        scheme = "https://";
        a += 8;
    } else if (strncmp(a, "http://", 7) == 0) {
        scheme = "http://";
        a += 7;
    }
    _cleanup_free_ char *host = NULL;
    int port = default_port;
    if (a[0] == '[') {
        const char *end = strchr(a, ']');
        if (end == NULL)
            return ens_error(err, EINVAL, "address %s: missing ']'", addr);
        host = strndup(a + 1, (size_t)(end - a - 1));
        if (end[1] == ':')
            port = atoi(end + 2);
        else if (end[1] != '\0')
            return ens_error(err, EINVAL, "address %s: malformed", addr);
    } else {
        const char *colon = strrchr(a, ':');
        host = colon ? strndup(a, (size_t)(colon - a)) : strdup(a);
        if (colon) {
            char *e = NULL;
            long p = strtol(colon + 1, &e, 10);
            if (*e != '\0' && *e != '/')
                return ens_error(err, EINVAL, "address %s: bad port", addr);
            port = (int)p;
        }
    }
    if (host == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    if (host[0] == '\0' || port <= 0 || port > 65535)
        return ens_error(err, EINVAL, "address %s: needs HOST:PORT", addr);

    struct lookup l = {0};
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, host, buf) == 1) {
        snprintf(l.numeric, sizeof(l.numeric), "%s", host);
    } else if (inet_pton(AF_INET6, host, buf) == 1) {
        snprintf(l.numeric, sizeof(l.numeric), "%s", host);
        l.v6 = true;
    } else if (!from_hosts(host, &l)) {
        struct event_base *base = event_base_new();
        if (base == NULL)
            return ens_error(err, ENOMEM, "event_base_new failed");
        /* Name servers from /etc/resolv.conf (127.0.0.1 when it is absent, as glibc). */
        struct evdns_base *dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
        if (dns == NULL) {
            event_base_free(base);
            return ens_error(err, EHOSTUNREACH, "cannot resolve %s: not in /etc/hosts and no usable /etc/resolv.conf", host);
        }
        char tmo[16];
        snprintf(tmo, sizeof(tmo), "%d", timeout_s > 0 && timeout_s < 5 ? timeout_s : 5);
        evdns_base_set_option(dns, "timeout:", tmo);
        evdns_base_set_option(dns, "attempts:", "2");
        struct evutil_addrinfo hints = {0};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
        l.base = base;
        struct evdns_getaddrinfo_request *req = evdns_getaddrinfo(dns, host, NULL, &hints, on_resolved, &l);
        /* A hard deadline: with no reachable name server evdns may keep waiting for one. */
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        long limit_ms = (timeout_s > 0 ? timeout_s : 5) * 1000L;
        while (req != NULL && !l.done) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((t.tv_sec - t0.tv_sec) * 1000L + (t.tv_nsec - t0.tv_nsec) / 1000000L > limit_ms) {
                evdns_getaddrinfo_cancel(req);
                break;
            }
            struct timeval tv = {0, 100000};
            event_base_loopexit(base, &tv);
            event_base_dispatch(base);
        }
        if (!l.done)
            l.result = EVUTIL_EAI_CANCEL;
        evdns_base_free(dns, 0);
        event_base_free(base);
        if (!l.done || l.result != 0)
            return ens_error(err, EHOSTUNREACH, "cannot resolve %s: %s", host,
                             l.result == EVUTIL_EAI_CANCEL ? "no answer in time" : evutil_gai_strerror(l.result));
    }
    if (asprintf(out, l.v6 ? "%s[%s]:%d" : "%s%s:%d", scheme, l.numeric, port) < 0)
        return ens_error(err, ENOMEM, "out of memory");
    return 0;
}
