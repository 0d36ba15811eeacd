/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Group commit for attestation decisions.  Each decision must be in the audit log (and an
 * accepted key in attested_keys) on disk before its reply leaves, but one fsync per
 * attestation would cap the CAS at the disk's fsync rate.  Handlers queue their decision
 * and return to their event loop; this thread writes everything queued in one transaction,
 * then schedules each reply on its connection's event loop (event_base_once is thread-safe
 * with evthread_use_pthreads).  libevent keeps a request whose connection died alive until
 * the reply, which it then drops.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cas.h"
#include "core/cleanup.h"
#include "net/net.h"

#define MAX_BATCH 512

struct cas_committer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct cas_job *head, *tail;
    bool stopping;
    size_t outstanding; /* submitted, reply not yet delivered */
};

int cas_records_write(struct cas *cas, struct cas_record *const *recs, size_t n, ens_error_t *err)
{
    cas_store *st = cas->log_store ? cas->log_store : cas->store;
    if (cas_store_begin(st, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const struct cas_record *r = recs[i];
        if (!r->valid)
            continue;
        if ((r->add_key && cas_store_add_attested_key(st, r->actor, r->session, r->service, r->expires, err) < 0)
            || cas_store_audit(st, r->actor, r->action, r->object, r->result, r->detail, err) < 0) {
            cas_store_rollback(st);
            return -1;
        }
    }
    return cas_store_commit(st, err);
}

static void deliver(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cas_job *job = arg;
    struct cas_committer *c = job->committer;
    if (job->counted && c != NULL) {
        pthread_mutex_lock(&c->mu);
        c->outstanding--;
        pthread_mutex_unlock(&c->mu);
    }
    if (job->reply)
        ens_http_reply_json(job->req, job->status, job->reply);
    else
        ens_http_reply_error(job->req, job->status, "%s", job->msg);
    free(job);
}

static void finish_job(struct cas *cas, struct cas_job *job, bool written)
{
    if (!written && job->rec.valid) {
        /* Not audited means not released. */
        json_decref(job->reply);
        job->reply = NULL;
        job->status = 503;
        snprintf(job->msg, sizeof(job->msg), "the CAS could not record this decision; try again");
        atomic_fetch_add(&cas->metrics.attest_error, 1);
    }
    static const struct timeval now = {0, 0};
    job->counted = true;
    job->committer = cas->committer;
    if (event_base_once(job->base, -1, EV_TIMEOUT, deliver, job, &now) < 0) {
        /* The loop is gone: the connection with it; nobody to answer. */
        pthread_mutex_lock(&cas->committer->mu);
        cas->committer->outstanding--;
        pthread_mutex_unlock(&cas->committer->mu);
        json_decref(job->reply);
        free(job);
    }
}

static void *committer_main(void *arg)
{
    struct cas *cas = arg;
    struct cas_committer *c = cas->committer;
    struct cas_record *recs[MAX_BATCH];
    struct cas_job *jobs[MAX_BATCH];
    time_t last_purge = 0;
    for (;;) {
        if (time(NULL) - last_purge > 3600) {
            /* attested_keys would otherwise grow by one row per attestation forever. */
            ens_error_t perr = NULL;
            if (cas_store_purge_expired(cas->log_store ? cas->log_store : cas->store, &perr) < 0)
                fprintf(stderr, "ensconce-cas: %s\n", ens_error_msg(perr));
            ens_error_release(&perr);
            last_purge = time(NULL);
        }
        pthread_mutex_lock(&c->mu);
        while (c->head == NULL && !c->stopping)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->head == NULL && c->stopping) {
            pthread_mutex_unlock(&c->mu);
            return NULL;
        }
        size_t n = 0;
        while (c->head && n < MAX_BATCH) {
            jobs[n] = c->head;
            recs[n] = &c->head->rec;
            c->head = c->head->next;
            n++;
        }
        if (c->head == NULL)
            c->tail = NULL;
        pthread_mutex_unlock(&c->mu);
        ens_error_t err = NULL;
        bool ok = cas_records_write(cas, recs, n, &err) == 0;
        if (!ok)
            fprintf(stderr, "ensconce-cas: audit: %s\n", ens_error_msg(err));
        ens_error_release(&err);
        for (size_t i = 0; i < n; i++)
            finish_job(cas, jobs[i], ok);
    }
}

int cas_commit_start(struct cas *cas, ens_error_t *err)
{
    struct cas_committer *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return ens_error(err, ENOMEM, "out of memory");
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    cas->committer = c;
    if (pthread_create(&c->thread, NULL, committer_main, cas) != 0) {
        cas->committer = NULL;
        free(c);
        return ens_error(err, EAGAIN, "starting the commit thread");
    }
    return 0;
}

void cas_commit_submit(struct cas *cas, struct cas_job *job, struct evhttp_request *req)
{
    struct cas_committer *c = cas->committer;
    job->req = req;
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    job->base = conn ? evhttp_connection_get_base(conn) : NULL;
    if (job->rec.valid && c != NULL && job->base != NULL) {
        pthread_mutex_lock(&c->mu);
        if (!c->stopping) {
            job->next = NULL;
            if (c->tail)
                c->tail->next = job;
            else
                c->head = job;
            c->tail = job;
            c->outstanding++;
            pthread_cond_signal(&c->cv);
            pthread_mutex_unlock(&c->mu);
            return;
        }
        pthread_mutex_unlock(&c->mu);
    }
    /* Nothing to record, or shutting down: write synchronously and reply now. */
    if (job->rec.valid) {
        struct cas_record *r = &job->rec;
        ens_error_t err = NULL;
        if (cas_records_write(cas, &r, 1, &err) < 0) {
            json_decref(job->reply);
            job->reply = NULL;
            job->status = 503;
            snprintf(job->msg, sizeof(job->msg), "the CAS could not record this decision; try again");
        }
        ens_error_release(&err);
    }
    job->counted = false;
    deliver(-1, 0, job);
}

void cas_commit_stop(struct cas *cas)
{
    struct cas_committer *c = cas->committer;
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    /* The event loops still run: wait (bounded) for the scheduled replies to go out. */
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&c->mu);
        size_t left = c->outstanding;
        pthread_mutex_unlock(&c->mu);
        if (left == 0)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void cas_commit_free(struct cas *cas)
{
    struct cas_committer *c = cas->committer;
    if (c == NULL)
        return;
    cas->committer = NULL;
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}
