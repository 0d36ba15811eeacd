/* SPDX-License-Identifier: Apache-2.0 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#define MEM_BUCKETS 4096
#define REDIS_POOL 16
#define REDIS_TIMEOUT_MS 2000
/* A cart larger than this in Redis is treated as corrupt (bounded reads). */
#define MAX_CART_BYTES (1024 * 1024)

struct mem_entry {
    struct mem_entry *next;
    char *user;
    uint8_t *data;
    size_t len;
};

struct cart_store {
    /* Redis */
    char *host;
    int port;
    redisContext *pool[REDIS_POOL];
    int pool_n;
    pthread_mutex_t pool_lock;
    /* in-memory */
    struct mem_entry *buckets[MEM_BUCKETS];
    pthread_mutex_t mem_lock;
    /* read-modify-write */
    pthread_mutex_t rmw_lock;
};

cart_store *cart_store_new(const char *redis_addr, ens_error_t *err)
{
    cart_store *s = calloc(1, sizeof *s);
    if (!s) {
        ens_error(err, ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->pool_lock, NULL);
    pthread_mutex_init(&s->mem_lock, NULL);
    pthread_mutex_init(&s->rmw_lock, NULL);
    if (redis_addr) {
        const char *colon = strrchr(redis_addr, ':');
        char *end;
        long port = colon ? strtol(colon + 1, &end, 10) : -1;
        if (!colon || colon == redis_addr || *end || end == colon + 1 || port < 1 || port > 65535) {
            ens_error(err, EINVAL, "REDIS_ADDR '%s' is not host:port", redis_addr);
            cart_store_free(s);
            return NULL;
        }
        size_t hl = (size_t)(colon - redis_addr);
        /* [::1]:6379 */
        const char *h = redis_addr;
        if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
            h++;
            hl -= 2;
        }
        s->host = strndup(h, hl);
        s->port = (int)port;
        if (!s->host) {
            ens_error(err, ENOMEM, "out of memory");
            cart_store_free(s);
            return NULL;
        }
    }
    return s;
}

void cart_store_free(cart_store *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->pool_n; i++)
        redisFree(s->pool[i]);
    for (int b = 0; b < MEM_BUCKETS; b++) {
        struct mem_entry *e = s->buckets[b];
        while (e) {
            struct mem_entry *n = e->next;
            free(e->user);
            free(e->data);
            free(e);
            e = n;
        }
    }
    pthread_mutex_destroy(&s->pool_lock);
    pthread_mutex_destroy(&s->mem_lock);
    pthread_mutex_destroy(&s->rmw_lock);
    free(s->host);
    free(s);
}

void cart_store_lock(cart_store *s) { pthread_mutex_lock(&s->rmw_lock); }
void cart_store_unlock(cart_store *s) { pthread_mutex_unlock(&s->rmw_lock); }

/* ---------------------------------------------------------------- Redis */

static redisContext *redis_get(cart_store *s, ens_error_t *err)
{
    pthread_mutex_lock(&s->pool_lock);
    redisContext *c = s->pool_n ? s->pool[--s->pool_n] : NULL;
    pthread_mutex_unlock(&s->pool_lock);
    if (c)
        return c;
    struct timeval tv = {REDIS_TIMEOUT_MS / 1000, (REDIS_TIMEOUT_MS % 1000) * 1000};
    c = redisConnectWithTimeout(s->host, s->port, tv);
    if (!c) {
        ens_error(err, ENOMEM, "redis: cannot allocate a context");
        return NULL;
    }
    if (c->err) {
        ens_error(err, ECONNREFUSED, "redis %s:%d: %s", s->host, s->port, c->errstr);
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

/* Returns a healthy connection to the pool; a broken one is dropped. */
static void redis_put(cart_store *s, redisContext *c, bool broken)
{
    if (broken || c->err) {
        redisFree(c);
        return;
    }
    pthread_mutex_lock(&s->pool_lock);
    if (s->pool_n < REDIS_POOL) {
        s->pool[s->pool_n++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&s->pool_lock);
    if (c)
        redisFree(c);
}

static int redis_cart_get(cart_store *s, const char *user, uint8_t **data, size_t *len, ens_error_t *err)
{
    redisContext *c = redis_get(s, err);
    if (!c)
        return -1;
    redisReply *r = redisCommand(c, "HMGET %s absexp sldexp data", user);
    if (!r) {
        ens_error(err, EIO, "redis %s:%d: %s", s->host, s->port, c->errstr[0] ? c->errstr : "no reply");
        redis_put(s, c, true);
        return -1;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        rc = ens_error(err, EIO, "redis: %.200s", r->str);
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
        rc = ens_error(err, EIO, "redis: unexpected reply to HMGET");
    } else {
        redisReply *d = r->element[2];
        if (d->type == REDIS_REPLY_NIL) {
            *data = NULL;
            *len = 0;
        } else if (d->type != REDIS_REPLY_STRING || d->len > MAX_CART_BYTES) {
            rc = ens_error(err, EIO, "redis: cart data of '%s' is not a string of at most %d bytes", user,
                           MAX_CART_BYTES);
        } else if (!(*data = malloc(d->len ? d->len : 1))) {
            rc = ens_error(err, ENOMEM, "out of memory");
        } else {
            memcpy(*data, d->str, d->len);
            *len = d->len;
        }
    }
    freeReplyObject(r);
    redis_put(s, c, false);
    return rc;
}

static int redis_cart_put(cart_store *s, const char *user, const uint8_t *data, size_t len, ens_error_t *err)
{
    redisContext *c = redis_get(s, err);
    if (!c)
        return -1;
    /* upstream's layout (Microsoft.Extensions.Caching.StackExchangeRedis without expiry) */
    redisReply *r = redisCommand(c, "HSET %s absexp -1 sldexp -1 data %b", user, (const char *)data, len);
    if (!r) {
        ens_error(err, EIO, "redis %s:%d: %s", s->host, s->port, c->errstr[0] ? c->errstr : "no reply");
        redis_put(s, c, true);
        return -1;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR)
        rc = ens_error(err, EIO, "redis: %.200s", r->str);
    freeReplyObject(r);
    redis_put(s, c, false);
    return rc;
}

/* ---------------------------------------------------------------- memory */

static unsigned bucket_of(const char *user)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)user; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % MEM_BUCKETS;
}

static int mem_get(cart_store *s, const char *user, uint8_t **data, size_t *len, ens_error_t *err)
{
    int rc = 0;
    *data = NULL;
    *len = 0;
    pthread_mutex_lock(&s->mem_lock);
    for (struct mem_entry *e = s->buckets[bucket_of(user)]; e; e = e->next) {
        if (strcmp(e->user, user) != 0)
            continue;
        if (!(*data = malloc(e->len ? e->len : 1)))
            rc = ens_error(err, ENOMEM, "out of memory");
        else {
            memcpy(*data, e->data, e->len);
            *len = e->len;
        }
        break;
    }
    pthread_mutex_unlock(&s->mem_lock);
    return rc;
}

static int mem_put(cart_store *s, const char *user, const uint8_t *data, size_t len, ens_error_t *err)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return ens_error(err, ENOMEM, "out of memory");
    memcpy(copy, data, len);
    unsigned b = bucket_of(user);
    pthread_mutex_lock(&s->mem_lock);
    struct mem_entry *e;
    for (e = s->buckets[b]; e; e = e->next)
        if (strcmp(e->user, user) == 0)
            break;
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e || !(e->user = strdup(user))) {
            pthread_mutex_unlock(&s->mem_lock);
            free(e);
            free(copy);
            return ens_error(err, ENOMEM, "out of memory");
        }
        e->next = s->buckets[b];
        s->buckets[b] = e;
    }
    free(e->data);
    e->data = copy;
    e->len = len;
    pthread_mutex_unlock(&s->mem_lock);
    return 0;
}

int cart_store_get(cart_store *s, const char *user_id, uint8_t **data, size_t *len, ens_error_t *err)
{
    *data = NULL;
    *len = 0;
    return s->host ? redis_cart_get(s, user_id, data, len, err) : mem_get(s, user_id, data, len, err);
}

int cart_store_put(cart_store *s, const char *user_id, const uint8_t *data, size_t len, ens_error_t *err)
{
    return s->host ? redis_cart_put(s, user_id, data, len, err) : mem_put(s, user_id, data, len, err);
}
