/* dead.c — a worker whose heartbeat stopped gets its jobs taken back at
 * once, not after their leases: once it has been silent --worker-dead-ms
 * (3 beats at the workers' default --heartbeat-ms), and for at least
 * DEAD_BEATS of its own beats (the heartbeat_every_ms it reports), the
 * leader lists the jobs whose lease token names it (orphans.lua, one HSCAN
 * step of each queue's lease hash at a time) and sends them through
 * reclaim.lua as expired leases go (attempt counted, dead once attempts are
 * used up). reclaim.lua moves a job only if its deadline and token are
 * still those listed, so a worker that comes back and renews in between
 * keeps its jobs; one that comes back later finds its renews and settles
 * refused as stale. The lease stays the backstop.
 *
 * Not while the scheduler's own connection has been up for less than
 * --worker-dead-ms: after a Redis restart every worker looks silent until it
 * beats again. The silent workers of a pass are checked one at a time, each
 * in turn, so one that is silent but not dead by its own beats (a longer
 * --heartbeat-ms) never holds up the dead ones behind it; a dead one leaves
 * the registry once its jobs are back. */
#include "sched.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DEAD_BEATS = 3, SCAN_COUNT = 500 };

static void scan_next(sched *s);
static void check_next(sched *s);

/* The current worker's check or scan is over (WHY: it stopped early). */
static void finish(sched *s, const char *why)
{
    struct dead_scan *d = &s->dead;
    if (why) {
        sl_warn("dead worker scan stopped worker=%s taken=%llu (%s): the rest wait for their "
                "leases",
                d->worker, d->taken, why);
        d->ncand = d->next = 0; /* the next pass lists them again */
    }
    d->busy = 0;
    check_next(s);
}

/* The scan of the current queue moved on to CURSOR ("0": that queue is done). */
static void advance(sched *s, const char *cursor)
{
    struct dead_scan *d = &s->dead;
    if (!strcmp(cursor, "0")) {
        d->queue++;
        snprintf(d->cursor, sizeof d->cursor, "0");
    } else {
        snprintf(d->cursor, sizeof d->cursor, "%s", cursor);
    }
    scan_next(s);
}

static void reclaim_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    sched *s = priv;
    if (!rc)
        return;
    const char *err = sl_reply_error(reply);
    if (!reply || err || reply->type != REDIS_REPLY_INTEGER) {
        finish(s, err ? err : "no reply to reclaim");
        return;
    }
    s->dead.taken += (unsigned long long)reply->integer;
    s->reclaimed += (unsigned long long)reply->integer;
    char cursor[32];
    snprintf(cursor, sizeof cursor, "%s", s->dead.cursor[0] == '#' ? "0" : s->dead.cursor);
    advance(s, cursor);
}

static void orphans_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    sched *s = priv;
    struct dead_scan *d = &s->dead;
    if (!rc)
        return;
    const char *err = sl_reply_error(reply);
    if (!reply || err || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        finish(s, err ? err : "no reply to orphans");
        return;
    }
    if (!leader_active(s)) {
        finish(s, "leadership lost");
        return;
    }
    /* {next cursor, id1, deadline1, token1, body1, ...} */
    const char *cursor = reply->element[0]->str;
    size_t n = (reply->elements - 1) / 4;
    if (!n || d->queue >= s->nqueues) {
        advance(s, cursor);
        return;
    }
    /* the reclaim's reply moves on: "#" marks the queue's last step */
    if (!strcmp(cursor, "0"))
        snprintf(d->cursor, sizeof d->cursor, "#");
    else
        snprintf(d->cursor, sizeof d->cursor, "%s", cursor);
    if (reap_reclaim(s, d->queue, reply->element + 1, n, "worker", reclaim_reply_cb, s))
        finish(s, "redis connection down");
}

static void scan_next(sched *s)
{
    struct dead_scan *d = &s->dead;
    if (!leader_active(s)) {
        finish(s, "leadership lost");
        return;
    }
    if (d->queue >= s->nqueues) {
        sl_warn("worker dead worker=%s silent_ms=%lld taken_back=%llu: removed from the registry",
                d->worker, d->silent_ms, d->taken);
        reap_remove_worker(s, d->worker);
        finish(s, NULL);
        return;
    }
    squeue *q = &s->queues[d->queue];
    char count[16];
    snprintf(count, sizeof count, "%d", SCAN_COUNT);
    const char *argv[] = {q->keys.lease, q->keys.active, q->keys.base, d->worker, d->cursor, count};
    if (sl_rconn_script(s->redis, SL_SCRIPT_ORPHANS, orphans_reply_cb, s, 2, 6, argv, NULL))
        finish(s, "redis connection down");
}

/* The worker's own beat interval, from its registry hash (gone when it has
 * been silent for 6 beats: then it is dead by any count). */
static void every_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    sched *s = priv;
    struct dead_scan *d = &s->dead;
    if (!rc)
        return;
    if (!reply || sl_reply_error(reply)) {
        finish(s, sl_reply_error(reply) ? sl_reply_error(reply) : "no reply");
        return;
    }
    long long every = reply->type == REDIS_REPLY_STRING ? strtoll(reply->str, NULL, 10) : 0;
    if (every > 0 && d->silent_ms < DEAD_BEATS * every) {
        sl_debug("worker silent worker=%s silent_ms=%lld heartbeat_every_ms=%lld: not dead "
                 "before %d of its beats",
                 d->worker, d->silent_ms, every, DEAD_BEATS);
        finish(s, NULL);
        return;
    }
    sl_warn("worker dead worker=%s silent_ms=%lld (no heartbeat for --worker-dead-ms=%lld): "
            "taking back the jobs it holds",
            d->worker, d->silent_ms, s->worker_dead_ms);
    d->queue = 0;
    snprintf(d->cursor, sizeof d->cursor, "0");
    d->taken = 0;
    scan_next(s);
}

/* Asks the next silent worker of the list for its beat interval. */
static void check_next(sched *s)
{
    struct dead_scan *d = &s->dead;
    if (d->busy)
        return;
    if (d->next >= d->ncand || !leader_active(s)) {
        d->ncand = d->next = 0;
        return;
    }
    int i = d->next++;
    snprintf(d->worker, sizeof d->worker, "%s", d->cand[i]);
    d->silent_ms = d->cand_silent[i];
    char key[SL_KEY_MAX];
    sl_keys_worker(key, s->prefix, d->worker);
    const char *argv[] = {"HGET", key, "heartbeat_every_ms"};
    if (sl_rconn_command(s->redis, every_reply_cb, s, 3, argv, NULL)) {
        d->ncand = d->next = 0;
        return;
    }
    d->busy = 1;
}

void dead_take_back(sched *s, const char *id, long long silent_ms)
{
    struct dead_scan *d = &s->dead;
    /* a list still being worked through is finished first */
    if (d->busy || d->next > 0 || d->ncand >= (int)(sizeof d->cand / sizeof d->cand[0]) ||
        !s->redis_up_since ||
        (ev_now(s->loop) - s->redis_up_since) * 1000.0 < (double)s->worker_dead_ms)
        return;
    snprintf(d->cand[d->ncand], sizeof d->cand[0], "%s", id);
    d->cand_silent[d->ncand++] = silent_ms;
}

void dead_check(sched *s)
{
    check_next(s);
}
