/* reap.c — jobs whose lease expired (their worker was killed, lost Redis, or
 * hung) go back to the front of their ready list with the attempt counted,
 * or to dead once attempts are used up. expired.lua lists them; the new
 * bodies are made here in C (Redis's cjson would turn [] into {}); and
 * reclaim.lua moves each only if it is still active with the same deadline
 * and lease token, so a job renewed or acked meanwhile is left alone. The
 * jobs of a worker whose heartbeat stopped take the same way, sooner
 * (dead.c); silent workers are removed from the registry. */
#include "sched.h"
#include "events.h"
#include "job.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { REAP_LIMIT = 500 };

struct reap_call {
    sched *s;
    int q;
};

static void reclaim_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct reap_call *c = priv;
    sched *s = c->s;
    int qi = c->q;
    free(c);
    if (!rc)
        return;
    s->queues[qi].busy_reap = 0;
    const char *err = sl_reply_error(reply);
    if (err)
        sl_warn("reclaim failed queue=%s error=\"%s\"", s->queues[qi].keys.queue, err);
    else if (reply && reply->type == REDIS_REPLY_INTEGER)
        s->reclaimed += (unsigned long long)reply->integer;
}

/* The rewritten body of a job taken back, where it goes, and its events.h
 * line (retried or dead) in LINE. WHY: "lease" (its lease expired) or
 * "worker" (its worker stopped heartbeating). */
static void judge(const char *id, const char *queue, const redisReply *body, const char *why,
                  sl_buf *out, sl_buf *line, const char **action, int *prio)
{
    const char *reason =
        why[0] == 'w' ? "worker dead: the worker running it stopped heartbeating (killed, hung "
                        "or cut off from Redis) before finishing"
                      : "lease expired: the worker running it stopped (killed, hung or cut off "
                        "from Redis) before finishing";
    const char *event = why[0] == 'w' ? "worker dead" : "lease expired";
    char err[512];
    sl_job job;
    *prio = SL_PRIO_NORMAL;
    if (body->type == REDIS_REPLY_STRING &&
        sl_job_parse(&job, body->str, body->len, 0, err, sizeof err) == 0) {
        job.attempts++;
        sl_job_set_error(&job, reason);
        *prio = job.priority;
        *action = job.attempts >= job.max_attempts ? "dead" : "ready";
        sl_job_encode(&job, out);
        sl_events_line(line, *action[0] == 'd' ? "dead" : "retried", id, &job, 0, 0, reason);
        sl_log(*action[0] == 'd' ? SL_LOG_WARN : SL_LOG_INFO,
               "%s job=%s queue=%s attempt=%d of=%d to=%s", event, id, queue, job.attempts,
               job.max_attempts, *action);
        sl_job_deinit(&job);
        return;
    }
    /* not a valid envelope: keep the text beside the reason, as the worker
     * does for jobs it cannot run */
    *action = "dead";
    sl_job_encode_broken(out, id, queue, reason,
                         body->type == REDIS_REPLY_STRING ? body->str : NULL,
                         body->type == REDIS_REPLY_STRING ? body->len : 0);
    sl_events_line(line, "dead", id, NULL, 0, 0, reason);
    sl_warn("%s job=%s queue=%s to=dead reason=\"not a valid job\"", event, id, queue);
}

int reap_reclaim(sched *s, int qi, redisReply **jobs, size_t n, const char *why,
                 sl_rconn_reply_cb *cb, void *priv)
{
    squeue *q = &s->queues[qi];
    int argc = 0, cap = 11 + (int)n * 8;
    const char **argv = sl_malloc(cap * sizeof *argv);
    size_t *lens = sl_malloc(cap * sizeof *lens);
    sl_buf *bodies = sl_calloc(n, sizeof *bodies);
    sl_buf *events = sl_calloc(n, sizeof *events);
    char events_cap[24];
    snprintf(events_cap, sizeof events_cap, "%lld", s->events_cap);
    char(*prios)[4] = sl_calloc(n, sizeof *prios);
    const char *keys[] = {q->keys.active,   q->keys.dead,     q->keys.stats,    q->keys.ready[0],
                          q->keys.ready[1], q->keys.ready[2], q->keys.ready[3], q->keys.lease,
                          q->keys.events,   q->keys.base,     events_cap};
    for (int i = 0; i < 11; i++) {
        argv[argc] = keys[i];
        lens[argc++] = strlen(keys[i]);
    }
    for (size_t j = 0; j < n; j++) {
        redisReply *id = jobs[4 * j], *deadline = jobs[4 * j + 1], *token = jobs[4 * j + 2],
                   *body = jobs[4 * j + 3];
        const char *action;
        int prio;
        judge(id->str, q->keys.queue, body, why, &bodies[j], &events[j], &action, &prio);
        snprintf(prios[j], sizeof prios[j], "%d", prio);
        argv[argc] = id->str, lens[argc++] = id->len;
        argv[argc] = deadline->str, lens[argc++] = deadline->len;
        argv[argc] = token->str, lens[argc++] = token->len;
        argv[argc] = why, lens[argc++] = strlen(why);
        argv[argc] = action, lens[argc++] = strlen(action);
        argv[argc] = prios[j], lens[argc++] = strlen(prios[j]);
        argv[argc] = bodies[j].data, lens[argc++] = bodies[j].len;
        argv[argc] = events[j].data, lens[argc++] = events[j].len;
    }
    int rc = sl_rconn_script(s->redis, SL_SCRIPT_RECLAIM, cb, priv, 9, argc, argv, lens);
    for (size_t j = 0; j < n; j++) {
        sl_buf_deinit(&bodies[j]);
        sl_buf_deinit(&events[j]);
    }
    free(bodies);
    free(events);
    free(prios);
    free(argv);
    free(lens);
    return rc;
}

static void expired_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct reap_call *c = priv;
    sched *s = c->s;
    squeue *q = &s->queues[c->q];
    if (!rc) {
        free(c);
        return;
    }
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 5 || !leader_active(s)) {
        const char *err = sl_reply_error(reply);
        if (err)
            sl_warn("expired scan failed queue=%s error=\"%s\"", q->keys.queue, err);
        q->busy_reap = 0;
        free(c);
        return;
    }
    /* {now, id1, deadline1, token1, body1, ...} */
    size_t n = (reply->elements - 1) / 4;
    if (reap_reclaim(s, c->q, reply->element + 1, n, "lease", reclaim_reply_cb, c)) {
        q->busy_reap = 0;
        free(c);
    }
}

void reap_remove_worker(sched *s, const char *id)
{
    char workers[SL_KEY_MAX], key[SL_KEY_MAX];
    sl_keys_workers(workers, s->prefix);
    sl_keys_worker(key, s->prefix, id);
    const char *zrem[] = {"ZREM", workers, id};
    const char *del[] = {"DEL", key};
    sl_rconn_command(s->redis, NULL, NULL, 3, zrem, NULL);
    sl_rconn_command(s->redis, NULL, NULL, 2, del, NULL);
    s->workers_removed++;
}

/* {id1, beat1, ...}: workers silent for at least --worker-dead-ms (or
 * --worker-stale-ms when that is 0). */
static void workers_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    sched *s = priv;
    if (!rc || !reply || reply->type != REDIS_REPLY_ARRAY || !leader_active(s))
        return;
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const char *id = reply->element[i]->str;
        long long silent = s->server_now_ms - strtoll(reply->element[i + 1]->str, NULL, 10);
        if (s->worker_dead_ms > 0 && silent >= s->worker_dead_ms) {
            dead_take_back(s, id, silent); /* removes it once its jobs are back */
        } else if (s->worker_dead_ms == 0 && silent >= s->worker_stale_ms) {
            sl_warn("worker gone worker=%s (no heartbeat for %lld ms): removed", id, silent);
            reap_remove_worker(s, id);
        }
    }
    dead_check(s);
}

void reap_pass(sched *s)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%d", REAP_LIMIT);
    for (int i = 0; i < s->nqueues; i++) {
        squeue *q = &s->queues[i];
        if (q->busy_reap)
            continue;
        struct reap_call *c = sl_malloc(sizeof *c);
        c->s = s;
        c->q = i;
        const char *argv[] = {q->keys.active, q->keys.lease, q->keys.base, limit};
        if (sl_rconn_script(s->redis, SL_SCRIPT_EXPIRED, expired_reply_cb, c, 2, 4, argv, NULL)) {
            free(c);
            continue;
        }
        q->busy_reap = 1;
    }
    /* Silent workers: their heartbeat score is older than the limit. The
     * server's clock is the one that stamped the heartbeats (server_now_ms
     * is at most a promotion pass old, so the silence is never overstated).
     * Nobody silent: this one command is all the pass costs. */
    if (s->server_now_ms > 0) {
        char workers[SL_KEY_MAX], max[32];
        sl_keys_workers(workers, s->prefix);
        long long limit_ms = s->worker_dead_ms > 0 ? s->worker_dead_ms : s->worker_stale_ms;
        snprintf(max, sizeof max, "%lld", s->server_now_ms - limit_ms);
        const char *argv[] = {"ZRANGEBYSCORE", workers, "-inf", max,
                              "WITHSCORES",    "LIMIT", "0",    "64"};
        sl_rconn_command(s->redis, workers_reply_cb, s, 8, argv, NULL);
    }
}
