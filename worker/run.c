/* run.c — a claimed job's life in the process: validate it, find its
 * handler, start it under a timeout, and settle the result. A job that is
 * not valid, or whose type has no handler, goes to dead with the reason and
 * the worker carries on. */
#include "worker.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

static const handler *handlers[] = {&handler_noop,     &handler_sleep,     &handler_fail,
                                    &handler_message,  &handler_interview, &handler_followup,
                                    &handler_approval, &handler_pdf};

const handler *handler_find(const char *type)
{
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
        if (!strcmp(handlers[i]->type, type))
            return handlers[i];
    return NULL;
}

/* Freed tasks are kept for reuse; a sanitizer build frees them for real,
 * so that a use of a task after task_free() is an ASan report and not a
 * quiet read of a recycled task. */
#if defined(__SANITIZE_ADDRESS__)
#define TASK_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TASK_POOL 0
#endif
#endif
#ifndef TASK_POOL
#define TASK_POOL 1
#endif

static task *task_new(worker *w, wqueue *q)
{
    task *t = w->free_tasks;
    if (t)
        w->free_tasks = t->next;
    else
        t = sl_malloc(sizeof *t);
    memset(t, 0, sizeof *t);
    t->w = w;
    t->q = q;
    t->seq = ++w->tasks;
    sl_job_init(&t->job);
    t->next = w->run_head;
    if (w->run_head)
        w->run_head->prev = t;
    w->run_head = t;
    w->running++;
    q->inflight++;
    return t;
}

static void task_free(task *t)
{
    worker *w = t->w;
    ev_timer_stop(w->loop, &t->timeout);
    ev_timer_stop(w->loop, &t->timer);
    if (t->prev)
        t->prev->next = t->next;
    else
        w->run_head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    w->running--;
    t->q->inflight--;
    sl_job_deinit(&t->job);
    free(t->result);
    t->result = NULL;
    if (!TASK_POOL) {
        free(t);
        return;
    }
    t->next = w->free_tasks;
    w->free_tasks = t;
}

/* A job that cannot run: keep its original text under "raw" beside the
 * reason, so `GET` shows both, and send it to dead. */
static void bury_raw(worker *w, wqueue *q, const char *token, int64_t claimed_ms, const char *id,
                     const char *body, size_t len, const char *reason)
{
    sl_buf b = {0};
    sl_job_encode_broken(&b, id, q->keys.queue, reason, body, len);
    sl_warn("job dead job=%s queue=%s reason=\"%s\"", id, q->keys.queue, reason);
    settle_fail(q, id, token,
                &(struct settle_how){.action = SETTLE_DEAD,
                                     .priority = SL_PRIO_NORMAL,
                                     .body = &b,
                                     .claimed_ms = claimed_ms,
                                     .error = reason});
    wm_buried(w, q);
    sl_buf_deinit(&b);
    w->failed++;
}

/* Stops T's handler before T ends without its help (timeout, shutdown, a
 * lost lease): its calls, gate places, timers and renders go, or are marked
 * to be freed when they report back. */
static void task_cancel(task *t)
{
    if (t->h && t->h->cancel)
        t->h->cancel(t);
}

static void timeout_cb(struct ev_loop *loop, ev_timer *tm, int revents)
{
    (void)loop, (void)revents;
    task *t = tm->data;
    char msg[96];
    snprintf(msg, sizeof msg, "timeout: still running after %lld ms (timeout_ms)",
             (long long)t->job.timeout_ms);
    task_cancel(t);
    task_finish(t, TASK_RETRY, msg);
}

void run_claimed(worker *w, wqueue *q, const char *token, int64_t claimed_ms, const char *id,
                 const char *body, size_t len)
{
    if (w->draining) { /* claimed while stopping: straight back */
        settle_fail(q, id, token,
                    &(struct settle_how){.action = SETTLE_BACK, .priority = SL_PRIO_NORMAL});
        return;
    }
    char err[600];
    if (!sl_job_id_valid(id)) { /* an id pushed by hand: it names keys and channel lines */
        char reason[300];
        snprintf(reason, sizeof reason,
                 "invalid job: id: \"%.64s\" was queued, but an id is 1 to 64 of A-Z a-z 0-9 _ -",
                 id);
        bury_raw(w, q, token, claimed_ms, id, body, len, reason);
        return;
    }
    task *t = task_new(w, q);
    sl_strlcpy(t->token, token, sizeof t->token);
    t->claimed_ms = claimed_ms;
    if (sl_job_parse(&t->job, body, len, 0, err, sizeof err)) {
        char reason[700];
        snprintf(reason, sizeof reason, "invalid job: %s", err);
        bury_raw(w, q, token, claimed_ms, id, body, len, reason);
        task_free(t);
        return;
    }
    if (!t->job.id[0])
        sl_strlcpy(t->job.id, id, sizeof t->job.id);
    if (strcmp(t->job.id, id)) {
        char reason[300];
        snprintf(reason, sizeof reason,
                 "invalid job: id: the body says \"%.64s\" but it was "
                 "queued as \"%.64s\"",
                 t->job.id, id);
        bury_raw(w, q, token, claimed_ms, id, body, len, reason);
        task_free(t);
        return;
    }
    if (!t->job.queue[0])
        sl_strlcpy(t->job.queue, q->keys.queue, sizeof t->job.queue);
    t->h = handler_find(t->job.type);
    if (!t->h) {
        snprintf(err, sizeof err, "no handler for type \"%s\" on this worker", t->job.type);
        task_finish(t, TASK_PERMANENT, err);
        return;
    }
    t->started_us = sl_monotonic_us();
    if (w->latency_log)
        fprintf(w->latency_log, "%s %lld\n", t->job.id, (long long)sl_realtime_us());
    ev_timer_init(&t->timeout, timeout_cb, (double)t->job.timeout_ms / 1000.0, 0);
    t->timeout.data = t;
    ev_timer_start(w->loop, &t->timeout);
    ev_init(&t->timer, NULL);
    t->timer.data = t;
    wm_job_started(t);
    t->h->start(t);
}

void task_set_result(task *t, const cJSON *result)
{
    free(t->result);
    t->result = cJSON_PrintUnformatted(result);
    if (!t->result)
        abort();
    t->result_len = strlen(t->result);
}

/* The ack of T, done with a result: the envelope rewritten with it, and the
 * result alone for the completion channel. */
static void ack_result(task *t)
{
    char over[120];
    const char *r = t->result;
    size_t rlen = t->result_len;
    if ((long long)rlen > t->w->result_max) {
        sl_warn(
            "job result too big job=%s queue=%s type=%s bytes=%zu max=%lld (--result-max-bytes; "
            "the job is done, its result replaced by an error)",
            t->job.id, t->q->keys.queue, t->job.type, rlen, t->w->result_max);
        rlen = (size_t)snprintf(over, sizeof over,
                                "{\"error\":\"result over %lld bytes\",\"bytes\":%zu}",
                                t->w->result_max, t->result_len);
        r = over;
    }
    sl_buf body = {0};
    sl_job_encode_result(&t->job, &body, r, rlen);
    settle_ack_result(t->q, t->token, &t->job, t->claimed_ms, t->rate_limited, body.data, body.len,
                      r, rlen);
    sl_buf_deinit(&body);
}

void task_finish(task *t, enum task_result result, const char *error)
{
    worker *w = t->w;
    /* -1 when the job never started (no handler) */
    int64_t run_us = t->started_us ? sl_monotonic_us() - t->started_us : -1;
    if (run_us >= 0)
        w->avg_run_us += ((double)run_us - w->avg_run_us) / 64.0;
    wqueue *q = t->q;
    sl_job *job = &t->job;
    if (result == TASK_OK) {
        if (t->result)
            ack_result(t);
        else
            settle_ack(q, t->token, job, t->claimed_ms, t->rate_limited);
        wm_job_ended(t, WM_DONE, run_us);
        w->processed++;
        sl_debug("job done job=%s queue=%s type=%s", job->id, q->keys.queue, job->type);
        task_free(t);
        drain_check_done(w);
        return;
    }
    w->failed++;
    job->attempts++;
    sl_job_set_error(job, error ? error : "failed");
    sl_buf body = {0};
    sl_job_encode(job, &body);
    if (result == TASK_RETRY && job->attempts < job->max_attempts) {
        int64_t delay =
            sl_backoff_retry_delay(&w->backoff, job->attempts, (double)rand() / RAND_MAX);
        sl_info("job retry job=%s queue=%s type=%s attempt=%d of=%d delay_ms=%lld error=\"%s\"",
                job->id, q->keys.queue, job->type, job->attempts, job->max_attempts,
                (long long)delay, job->last_error);
        settle_fail(q, job->id, t->token,
                    &(struct settle_how){.action = SETTLE_RETRY,
                                         .delay_ms = delay,
                                         .priority = job->priority,
                                         .body = &body,
                                         .job = job,
                                         .claimed_ms = t->claimed_ms,
                                         .rate_limited = t->rate_limited,
                                         .error = job->last_error});
        wm_job_ended(t, WM_RETRIED, run_us);
    } else {
        sl_warn("job dead job=%s queue=%s type=%s attempt=%d of=%d reason=\"%s\"", job->id,
                q->keys.queue, job->type, job->attempts, job->max_attempts, job->last_error);
        settle_fail(q, job->id, t->token,
                    &(struct settle_how){.action = SETTLE_DEAD,
                                         .priority = job->priority,
                                         .body = &body,
                                         .batch = job->batch,
                                         .job = job,
                                         .claimed_ms = t->claimed_ms,
                                         .rate_limited = t->rate_limited,
                                         .error = job->last_error});
        wm_job_ended(t, WM_DEAD, run_us);
    }
    sl_buf_deinit(&body);
    task_free(t);
    drain_check_done(w);
}

void task_defer(task *t, long ms, const char *why)
{
    worker *w = t->w;
    sl_info("job deferred job=%s queue=%s delay_ms=%ld reason=\"%s\" (no attempt used)", t->job.id,
            t->q->keys.queue, ms, why);
    settle_fail(t->q, t->job.id, t->token,
                &(struct settle_how){.action = SETTLE_DEFER,
                                     .delay_ms = ms,
                                     .priority = t->job.priority,
                                     .job = &t->job,
                                     .claimed_ms = t->claimed_ms,
                                     .error = why});
    task_free(t);
    drain_check_done(w);
}

void run_hand_back_all(worker *w)
{
    /* run_head is newest first; hand back oldest last so that LPUSH leaves
     * the oldest at the front. */
    while (w->run_head) {
        task *t = w->run_head;
        task_cancel(t);
        sl_info("job handed back job=%s queue=%s", t->job.id, t->q->keys.queue);
        settle_fail(t->q, t->job.id, t->token,
                    &(struct settle_how){.action = SETTLE_BACK, .priority = t->job.priority});
        task_free(t);
    }
}

void task_abandon(task *t)
{
    worker *w = t->w;
    task_cancel(t);
    sl_debug("job abandoned job=%s queue=%s type=%s", t->job.id, t->q->keys.queue, t->job.type);
    w->abandoned++;
    task_free(t);
    drain_check_done(w);
}
