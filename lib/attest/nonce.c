/* SPDX-License-Identifier: Apache-2.0 */
/* Single-use nonces with a lifetime: a FIFO ring (issue order = expiry order) plus a hash
 * index.  Memory is bounded by max_outstanding; when full the oldest nonce is dropped. */
#include "attest/attest.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/digest.h"

struct slot {
    uint8_t nonce[ENS_NONCE_LEN];
    int64_t expires;
    bool live;
};

struct ens_nonce_store {
    pthread_mutex_t mu;
    unsigned ttl;
    size_t cap, head, count; /* ring of issued nonces */
    struct slot *ring;
    size_t *index;           /* open addressing: ring position + 1, 0 = empty */
    size_t index_cap;
};

static int64_t now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

ens_nonce_store *ens_nonce_store_new(unsigned ttl_s, size_t max_outstanding)
{
    ens_nonce_store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    s->ttl = ttl_s ? ttl_s : ENS_NONCE_TTL_S;
    s->cap = max_outstanding ? max_outstanding : 65536;
    s->index_cap = 1;
    while (s->index_cap < s->cap * 2)
        s->index_cap <<= 1;
    s->ring = calloc(s->cap, sizeof(*s->ring));
    s->index = calloc(s->index_cap, sizeof(*s->index));
    if (s->ring == NULL || s->index == NULL) {
        ens_nonce_store_free(s);
        return NULL;
    }
    return s;
}

void ens_nonce_store_free(ens_nonce_store *s)
{
    if (s == NULL)
        return;
    pthread_mutex_destroy(&s->mu);
    free(s->ring);
    free(s->index);
    free(s);
}

static size_t hash_of(const uint8_t n[ENS_NONCE_LEN])
{
    size_t h;
    memcpy(&h, n, sizeof(h)); /* nonces are random */
    return h;
}

/* Linear probing; returns the index slot holding nonce or the empty slot to use. */
static size_t *find(ens_nonce_store *s, const uint8_t n[ENS_NONCE_LEN])
{
    size_t mask = s->index_cap - 1;
    for (size_t i = hash_of(n) & mask;; i = (i + 1) & mask) {
        if (s->index[i] == 0)
            return &s->index[i];
        struct slot *sl = &s->ring[s->index[i] - 1];
        if (memcmp(sl->nonce, n, ENS_NONCE_LEN) == 0)
            return &s->index[i];
    }
}

/* Deletes index entry *p (backward-shift deletion keeps probing correct). */
static void index_delete(ens_nonce_store *s, size_t *p)
{
    size_t mask = s->index_cap - 1;
    size_t i = (size_t)(p - s->index);
    s->index[i] = 0;
    for (size_t j = (i + 1) & mask; s->index[j] != 0; j = (j + 1) & mask) {
        size_t pos = s->index[j];
        s->index[j] = 0;
        *find(s, s->ring[pos - 1].nonce) = pos;
    }
}

static void drop_oldest(ens_nonce_store *s)
{
    size_t tail = (s->head + s->cap - s->count) % s->cap;
    struct slot *sl = &s->ring[tail];
    if (sl->live) {
        index_delete(s, find(s, sl->nonce));
        sl->live = false;
    }
    s->count--;
}

int ens_nonce_issue(ens_nonce_store *s, uint8_t out[ENS_NONCE_LEN], ens_error_t *err)
{
    if (ens_random(out, ENS_NONCE_LEN, err) < 0)
        return -1;
    pthread_mutex_lock(&s->mu);
    int64_t now = now_mono();
    while (s->count > 0) {
        struct slot *t = &s->ring[(s->head + s->cap - s->count) % s->cap];
        if (s->count < s->cap && t->live && t->expires > now)
            break;
        drop_oldest(s);
    }
    struct slot *sl = &s->ring[s->head];
    memcpy(sl->nonce, out, ENS_NONCE_LEN);
    sl->expires = now + s->ttl;
    sl->live = true;
    *find(s, out) = s->head + 1;
    s->head = (s->head + 1) % s->cap;
    s->count++;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int ens_nonce_consume(ens_nonce_store *s, const uint8_t nonce[ENS_NONCE_LEN], ens_error_t *err)
{
    pthread_mutex_lock(&s->mu);
    size_t *p = find(s, nonce);
    if (*p == 0) {
        pthread_mutex_unlock(&s->mu);
        return ens_error(err, EPERM, "nonce unknown or already used");
    }
    struct slot *sl = &s->ring[*p - 1];
    bool fresh = sl->expires > now_mono();
    sl->live = false;
    index_delete(s, p);
    pthread_mutex_unlock(&s->mu);
    if (!fresh)
        return ens_error(err, EPERM, "nonce expired");
    return 0;
}
