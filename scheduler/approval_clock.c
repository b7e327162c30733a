/* approval_clock.c — the approval sweep's clock: every interval, while leading
 * and while any application is pending or awaits its decision message,
 * enqueue one `approval` job for the workers (worker/handlers/approval.c
 * does the checking, through the shared rate limits). The job's
 * idempotency key names the interval, so a failover in the middle of one
 * (two leaders for a moment) still makes one sweep; a sweep that finds
 * another running ends at once (app_sweep.lua's lock). */
#include "sched.h"
#include "enqueue.h"
#include "job.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void enqueue_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    sched *s = priv;
    (void)rc;
    const char *err = sl_reply_error(reply);
    if (!reply || err) {
        sl_warn("approval sweep not enqueued reason=\"%s\"", err ? err : "no answer");
        return;
    }
    s->sweeps++;
}

static void pending_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    sched *s = priv;
    (void)rc;
    if (!reply || reply->type != REDIS_REPLY_INTEGER || reply->integer == 0 || !leader_active(s))
        return;
    /* this host's clock: two leaders for a moment at most make one sweep
     * more, which finds the first one's lock and ends */
    long long now = (long long)sl_now_ms();
    char env[512], err[256];
    snprintf(env, sizeof env,
             "{\"type\":\"approval\",\"queue\":\"%s\",\"priority\":\"high\",\"max_attempts\":3,"
             "\"timeout_ms\":%lld,\"idempotency_key\":\"approval-sweep:%lld\",\"payload\":{}}",
             s->approval_queue, s->approval_ms * 6 > 120000 ? s->approval_ms * 6 : 120000,
             now / s->approval_ms);
    sl_job job;
    if (sl_job_parse(&job, env, strlen(env), 0, err, sizeof err)) {
        sl_error("approval sweep job not valid: %s", err);
        return;
    }
    sl_job_complete(&job);
    sl_buf body = {0};
    sl_job_encode(&job, &body);
    sl_enqueue_batch b;
    sl_enqueue_batch_init(&b, s->prefix, job.queue, 2 * s->approval_ms);
    sl_enqueue_batch_add(&b, &job, body.data, body.len);
    if (!s->approval_registered) { /* once: the set keeps it */
        char qkey[SL_KEY_MAX];
        sl_keys_queues(qkey, s->prefix);
        const char *sargv[3] = {"SADD", qkey, job.queue};
        if (sl_rconn_command(s->redis, NULL, NULL, 3, sargv, NULL) == 0)
            s->approval_registered = 1;
    }
    const char **argv;
    const size_t *lens;
    int argc = sl_enqueue_batch_args(&b, &argv, &lens);
    sl_rconn_script(s->redis, SL_SCRIPT_ENQUEUE, enqueue_reply_cb, s, SL_ENQUEUE_KEYS, argc, argv,
                    lens);
    sl_enqueue_batch_deinit(&b);
    sl_buf_deinit(&body);
    sl_job_deinit(&job);
}

static void approval_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    sched *s = t->data;
    if (!leader_active(s))
        return;
    char pending[SL_KEY_MAX], notify[SL_KEY_MAX];
    snprintf(pending, sizeof pending, "%s:{app}:pending", s->prefix);
    snprintf(notify, sizeof notify, "%s:{app}:notify", s->prefix);
    const char *argv[3] = {"EXISTS", pending, notify};
    sl_rconn_command(s->redis, pending_reply_cb, s, 3, argv, NULL);
}

void approval_start(sched *s)
{
    if (s->approval_ms <= 0)
        return;
    ev_timer_init(&s->approval_timer, approval_cb, 0, (double)s->approval_ms / 1000.0);
    s->approval_timer.data = s;
    ev_timer_again(s->loop, &s->approval_timer);
}

void approval_stop(sched *s)
{
    ev_timer_stop(s->loop, &s->approval_timer);
}
