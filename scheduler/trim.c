/* trim.c — keeps done and dead within their retention (age, then count per
 * queue) with trim.lua, 5,000 jobs a call, calling again while there is
 * more, so memory stays bounded however fast jobs finish. */
#include "sched.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>

enum { TRIM_LIMIT = 5000 };

struct trim_call {
    sched *s;
    int q;
};

static void send_trim(sched *s, int qi);

static void trim_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct trim_call *c = priv;
    sched *s = c->s;
    int qi = c->q;
    free(c);
    if (!rc)
        return;
    s->queues[qi].busy_trim = 0;
    const char *err = sl_reply_error(reply);
    if (err) {
        sl_warn("trim failed queue=%s error=\"%s\"", s->queues[qi].keys.queue, err);
        return;
    }
    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        s->trimmed += (unsigned long long)reply->integer;
        if (reply->integer == TRIM_LIMIT && leader_active(s))
            send_trim(s, qi);
    }
}

static void send_trim(sched *s, int qi)
{
    squeue *q = &s->queues[qi];
    char a[4][24], limit[16];
    snprintf(a[0], sizeof a[0], "%lld", s->done_age_ms);
    snprintf(a[1], sizeof a[1], "%lld", s->done_max);
    snprintf(a[2], sizeof a[2], "%lld", s->dead_age_ms);
    snprintf(a[3], sizeof a[3], "%lld", s->dead_max);
    snprintf(limit, sizeof limit, "%d", TRIM_LIMIT);
    const char *argv[] = {q->keys.done, q->keys.dead, q->keys.base, a[0], a[1], a[2], a[3], limit};
    struct trim_call *c = sl_malloc(sizeof *c);
    c->s = s;
    c->q = qi;
    if (sl_rconn_script(s->redis, SL_SCRIPT_TRIM, trim_reply_cb, c, 2, 8, argv, NULL)) {
        free(c);
        return;
    }
    q->busy_trim = 1;
}

void trim_pass(sched *s)
{
    for (int i = 0; i < s->nqueues; i++)
        if (!s->queues[i].busy_trim)
            send_trim(s, i);
}
