/* lease.c — keeps the leases of running jobs alive (one renew.lua call per
 * queue every lease/3, all of its running ids at once, each with its claim's
 * lease token) and tells the fleet this worker is alive (heartbeat.lua every
 * --heartbeat-ms; the leading scheduler takes back the jobs of a worker
 * whose heartbeats stopped). A job whose lease was found taken back stops
 * running here (task_abandon: cancelled, nothing settled), logged once per
 * renew call and counted (abandoned=, logged when the worker stops). */
#include "worker.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct renewal {
    worker *w;
    wqueue *q;
    uint64_t last; /* the newest task when it was sent: later ones were not in it */
};

static void renew_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct renewal *r = priv;
    worker *w = r->w;
    wqueue *q = r->q;
    uint64_t last = r->last;
    free(r);
    const char *err = reply ? sl_reply_error(reply) : NULL;
    if (err) {
        /* the leases were not renewed: said, as each one counts */
        sl_warn("renew refused queue=%s error=\"%s\" (leases run out unless a later renew "
                "gets through)",
                q->keys.queue, err);
        return;
    }
    if (!rc || !reply || reply->type != REDIS_REPLY_ARRAY || !reply->elements)
        return;
    /* Few ids at most, unless the worker was paused or cut off past its
     * leases: then one line for all of them. A run still going is stopped:
     * the job is someone else's now, and its effects must not happen twice.
     * (A job this worker claimed again since has a newer task, which keeps
     * running.) Each search starts over: an abandon changes the list. */
    int abandoned = 0;
    const char *sample = NULL;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        if (e->type != REDIS_REPLY_STRING)
            continue;
        sample = e->str;
        for (task *t = w->run_head; t; t = t->next) {
            if (t->q == q && t->seq <= last && !strcmp(t->job.id, e->str)) {
                task_abandon(t);
                abandoned++;
                break;
            }
        }
    }
    sl_warn("leases lost queue=%s jobs=%zu abandoned=%d sample=%s (the scheduler took them "
            "back: their lease expired, or this worker missed its heartbeats and was declared "
            "dead; they may run elsewhere now, so this worker stopped those still running and "
            "settles none of them)",
            q->keys.queue, reply->elements, abandoned, sample ? sample : "?");
}

static void renew_queue(worker *w, wqueue *q)
{
    if (!q->inflight)
        return;
    int n = 0, cap = 2 * q->inflight + 4;
    const char **argv = sl_malloc(cap * sizeof *argv);
    char lease[24];
    snprintf(lease, sizeof lease, "%lld", w->lease_ms);
    argv[n++] = q->keys.active;
    argv[n++] = q->keys.stats;
    argv[n++] = q->keys.lease;
    argv[n++] = lease;
    for (task *t = w->run_head; t && n + 1 < cap; t = t->next) {
        if (t->q == q) {
            argv[n++] = t->job.id;
            argv[n++] = t->token;
        }
    }
    struct renewal *r = sl_malloc(sizeof *r);
    r->w = w;
    r->q = q;
    r->last = w->tasks;
    if (sl_rconn_script(w->redis, SL_SCRIPT_RENEW, renew_reply_cb, r, 3, n, argv, NULL))
        free(r);
    free(argv);
}

static void lease_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    worker *w = t->data;
    for (int i = 0; i < w->nqueues; i++)
        renew_queue(w, &w->queues[i]);
}

static void heartbeat_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    (void)rc, (void)priv;
    const char *err = sl_reply_error(reply);
    if (err)
        sl_warn("heartbeat failed error=\"%s\"", err);
}

static void heartbeat_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    worker *w = t->data;
    char workers[SL_KEY_MAX], me[SL_KEY_MAX], ttl[24],
        host[128] = "", pid[16], conc[16], running[16], processed[24], failed[24], started[24],
        every[24];
    sl_keys_workers(workers, w->prefix);
    sl_keys_worker(me, w->prefix, w->id);
    snprintf(ttl, sizeof ttl, "%lld", w->heartbeat_ms * 6);
    gethostname(host, sizeof host - 1);
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    snprintf(conc, sizeof conc, "%d", w->concurrency);
    snprintf(running, sizeof running, "%d", w->running);
    snprintf(processed, sizeof processed, "%llu", (unsigned long long)w->processed);
    snprintf(failed, sizeof failed, "%llu", (unsigned long long)w->failed);
    snprintf(started, sizeof started, "%lld", (long long)w->started_ms);
    snprintf(every, sizeof every, "%lld", w->heartbeat_ms);
    sl_buf queues = {0};
    for (int i = 0; i < w->nqueues; i++) {
        if (i)
            sl_buf_puts(&queues, ",");
        sl_buf_puts(&queues, w->queues[i].keys.queue);
        if (w->queues[i].weight)
            sl_buf_printf(&queues, ":%d", w->queues[i].weight);
    }
    /* field, value: a table (heartbeat_every_ms is read by the scheduler's
     * dead-worker check) */
    /* clang-format off */
    const char *argv[] = {workers,              me,
                          w->id,                ttl,
                          "host",               host,
                          "pid",                pid,
                          "queues",             queues.data,
                          "concurrency",        conc,
                          "running",            running,
                          "processed",          processed,
                          "failed",             failed,
                          "started_ms",         started,
                          "heartbeat_every_ms", every,
                          "state",              w->draining ? "draining" : "running"};
    /* clang-format on */
    sl_rconn_script(w->redis, SL_SCRIPT_HEARTBEAT, heartbeat_reply_cb, NULL, 2,
                    (int)(sizeof argv / sizeof argv[0]), argv, NULL);
    sl_buf_deinit(&queues);
}

void lease_start(worker *w)
{
    double every = (double)w->lease_ms / 3000.0;
    ev_timer_init(&w->lease, lease_cb, every, every);
    w->lease.data = w;
    ev_timer_start(w->loop, &w->lease);
    double hb = (double)w->heartbeat_ms / 1000.0;
    ev_timer_init(&w->heartbeat, heartbeat_cb, 0.0, hb);
    w->heartbeat.data = w;
    ev_timer_start(w->loop, &w->heartbeat);
}

void lease_stop(worker *w)
{
    ev_timer_stop(w->loop, &w->lease);
    ev_timer_stop(w->loop, &w->heartbeat);
}
