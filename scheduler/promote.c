/* promote.c — moves due delayed jobs (delayed jobs, retries after backoff)
 * into their ready lists with promote.lua, 1,000 a call per queue, calling
 * again while a queue has more due. The next pass is timed by the soonest
 * job still waiting (from the server's clock), capped at --tick-ms; an
 * enqueue of a job earlier than every other wakes it on pub/sub. */
#include "sched.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PROMOTE_LIMIT = 1000 };

struct promote_call {
    sched *s;
    int q;
};

static void send_promote(sched *s, int qi);

static void arm_next(sched *s)
{
    double after = (double)s->tick_ms / 1000.0;
    if (s->next_due_ms >= 0) {
        double until = (double)(s->next_due_ms - s->server_now_ms) / 1000.0;
        if (until < after)
            after = until < 0 ? 0 : until;
    }
    promote_soon(s, after);
}

static void promote_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct promote_call *c = priv;
    sched *s = c->s;
    int qi = c->q;
    free(c);
    s->promote_outstanding--;
    if (!rc)
        return;
    if (qi < s->nqueues)
        s->queues[qi].busy_promote = 0;
    const char *err = sl_reply_error(reply);
    if (err)
        sl_warn("promote failed error=\"%s\"", err);
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3) {
        long long n = reply->element[0]->integer, due = reply->element[1]->integer;
        s->server_now_ms = reply->element[2]->integer;
        if (n > 0) {
            s->promoted += (unsigned long long)n;
            sl_debug("promoted queue=%s jobs=%lld", s->queues[qi].keys.queue, n);
        }
        if (n == PROMOTE_LIMIT && qi < s->nqueues) {
            send_promote(s, qi); /* more are due */
        } else if (due >= 0 && (s->next_due_ms < 0 || due < s->next_due_ms)) {
            s->next_due_ms = due;
        }
    }
    if (s->promote_outstanding == 0 && leader_active(s)) {
        if (s->promote_again) { /* that pass may have run before the new job came */
            s->promote_again = 0;
            promote_soon(s, 0);
        } else {
            arm_next(s);
        }
    }
}

static void send_promote(sched *s, int qi)
{
    squeue *q = &s->queues[qi];
    char limit[16];
    snprintf(limit, sizeof limit, "%d", PROMOTE_LIMIT);
    const char *argv[] = {q->keys.delayed,
                          q->keys.ready[0],
                          q->keys.ready[1],
                          q->keys.ready[2],
                          q->keys.ready[3],
                          q->keys.base,
                          limit};
    struct promote_call *c = sl_malloc(sizeof *c);
    c->s = s;
    c->q = qi;
    if (sl_rconn_script(s->redis, SL_SCRIPT_PROMOTE, promote_reply_cb, c, 5, 7, argv, NULL)) {
        free(c);
        return;
    }
    q->busy_promote = 1;
    s->promote_outstanding++;
}

static void promote_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    sched *s = t->data;
    if (!leader_active(s) || s->promote_outstanding)
        return;
    s->next_due_ms = -1;
    for (int i = 0; i < s->nqueues; i++)
        send_promote(s, i);
    if (!s->promote_outstanding) /* nothing sent: Redis down or no queues */
        promote_soon(s, (double)s->tick_ms / 1000.0);
}

void promote_soon(sched *s, double after_s)
{
    if (ev_is_active(&s->promote_timer) &&
        ev_timer_remaining(s->loop, &s->promote_timer) <= after_s)
        return;
    ev_timer_stop(s->loop, &s->promote_timer);
    ev_timer_set(&s->promote_timer, after_s, 0);
    ev_timer_start(s->loop, &s->promote_timer);
}

static void message_cb(sl_rconn *c, const char *channel, const char *msg, size_t len, void *priv)
{
    (void)c, (void)channel, (void)len;
    (void)msg;
    sched *s = priv;
    /* A job due sooner than any other was scheduled: a pass now finds its
     * due time and arms the timer for it. */
    if (!s->leader)
        return;
    sched_refresh_queues(s); /* the job may be on a queue new to us */
    if (s->promote_outstanding == 0)
        promote_soon(s, 0);
    else
        s->promote_again = 1;
}

void promote_start(sched *s)
{
    ev_init(&s->promote_timer, promote_cb);
    s->promote_timer.data = s;
    char channel[SL_KEY_MAX];
    sl_keys_sched_notify(channel, s->prefix);
    const char *ch = channel;
    sl_rconn_subscribe(s->subs, 1, &ch, message_cb, s);
}
