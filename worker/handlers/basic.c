/* basic.c — the built-in job types: noop (finishes at once), sleep (waits
 * {"ms": N} on a timer, never blocking the loop) and fail (fails the first
 * {"times": K} attempts with a transient error, or {"permanent": true}). */
#include "../worker.h"

#include <stdio.h>

static void noop_start(task *t)
{
    task_finish(t, TASK_OK, NULL);
}

const handler handler_noop = {"noop", noop_start, NULL};

static void sleep_done_cb(struct ev_loop *loop, ev_timer *tm, int revents)
{
    (void)loop, (void)revents;
    task_finish(tm->data, TASK_OK, NULL);
}

static void sleep_start(task *t)
{
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(t->job.payload, "ms");
    ev_timer_set(&t->timer, (ms ? ms->valuedouble : 0) / 1000.0, 0);
    ev_set_cb(&t->timer, sleep_done_cb);
    ev_timer_start(t->w->loop, &t->timer);
}

static void sleep_cancel(task *t)
{
    ev_timer_stop(t->w->loop, &t->timer);
}

const handler handler_sleep = {"sleep", sleep_start, sleep_cancel};

static void fail_start(task *t)
{
    const cJSON *perm = cJSON_GetObjectItemCaseSensitive(t->job.payload, "permanent");
    const cJSON *times = cJSON_GetObjectItemCaseSensitive(t->job.payload, "times");
    if (cJSON_IsTrue(perm)) {
        task_finish(t, TASK_PERMANENT, "fail: permanent failure requested by the payload");
        return;
    }
    int k = times ? (int)times->valuedouble : 1 << 30;
    if (t->job.attempts < k) {
        char msg[96];
        snprintf(msg, sizeof msg, "fail: planned transient failure %d of %d", t->job.attempts + 1,
                 k);
        task_finish(t, TASK_RETRY, msg);
        return;
    }
    task_finish(t, TASK_OK, NULL);
}

const handler handler_fail = {"fail", fail_start, NULL};
