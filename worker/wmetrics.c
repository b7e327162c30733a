/* wmetrics.c — the worker's metrics (--metrics-listen): its registry, the
 * families it exports and the calls that update them. Families are
 * registered at start-up; a queue's series for a job type are made the
 * first time a job of that type ends there and kept in the queue, so a
 * job's end is a few adds on kept pointers. Every update is skipped when
 * --metrics-listen is not set (worker.metrics is then NULL).
 *
 * sluice_jobs_processed_total counts what the queue's stats hash counts as
 * processed: the acks ack.lua accepted, counted when its reply comes (a
 * settle sent again after a lost reply counts once). The failures count
 * fail.lua's retried and dead the same way. */
#include "wmetrics.h"
#include "log.h"
#include "metrics_http.h"

#include <stdlib.h>
#include <string.h>

/* The job types with a handler here; any other type is "unknown" (a label
 * never takes a type from a job's text: cardinality stays bounded). */
static const handler *const known[] = {&handler_noop,     &handler_sleep,     &handler_fail,
                                       &handler_message,  &handler_interview, &handler_followup,
                                       &handler_approval, &handler_pdf};
_Static_assert(sizeof known / sizeof known[0] == WM_NKNOWN, "WM_NKNOWN: the handlers above");

static void render_cb(sl_metrics *m, void *priv)
{
    (void)m;
    worker *w = priv;
    for (int i = 0; i < w->nqueues; i++)
        sl_series_set(w->metrics->queues[i].in_flight, w->queues[i].inflight);
}

static int ready_cb(void *priv, char *why, size_t len)
{
    worker *w = priv;
    if (w->draining) {
        snprintf(why, len, "draining: stopping after SIGTERM");
        return 0;
    }
    if (!sl_rconn_is_up(w->redis)) {
        snprintf(why, len, "redis: not connected, or its scripts not loaded yet");
        return 0;
    }
    return 1;
}

int wmetrics_start(worker *w, const char *listen, long invalid_threshold, char *err, size_t errlen)
{
    if (!listen || !*listen)
        return 0;
    struct wmetrics *M = sl_calloc(1, sizeof *M);
    sl_metrics *m = M->m = sl_metrics_new();
    const double *secs = sl_metrics_seconds_buckets;
    int nsecs = sl_metrics_seconds_nbuckets;
    M->processed = sl_metrics_counter(
        m, "sluice_jobs_processed_total",
        "Jobs this worker ran to done whose ack Redis accepted (what the queue's stats hash "
        "counts as processed).",
        "queue,type");
    M->failed = sl_metrics_counter(
        m, "sluice_jobs_failed_total",
        "Runs that failed, as fail.lua counted them: outcome retried (an attempt used, due "
        "again later) or dead.",
        "queue,type,outcome");
    M->run = sl_metrics_histogram(m, "sluice_job_run_seconds",
                                  "A run's time, from its start here to its end.", "queue,type",
                                  secs, nsecs);
    M->wait = sl_metrics_histogram(
        m, "sluice_job_wait_seconds",
        "From when the job was first due (enqueued, or its run_at) to the start of this run.",
        "queue,type", secs, nsecs);
    M->in_flight =
        sl_metrics_gauge(m, "sluice_jobs_in_flight",
                         "Jobs this worker holds (running or waiting in a gate).", "queue");
    M->claims = sl_metrics_counter(m, "sluice_claims_total", "claim.lua calls answered.", "queue");
    M->claimed =
        sl_metrics_counter(m, "sluice_jobs_claimed_total", "Jobs those claims returned.", "queue");
    sl_metric *rtt = sl_metrics_histogram(
        m, "sluice_redis_roundtrip_seconds",
        "A Redis command's time from send to reply, on the worker's command connection.", "", secs,
        nsecs);
    sl_metric *reconnects = sl_metrics_counter(m, "sluice_redis_reconnects_total",
                                               "Times a Redis connection came back up.", "conn");
    M->http_requests = sl_metrics_counter(
        m, "sluice_http_requests_total",
        "Requests to Discord and Telegram answered, by route class (never an id or a token) and "
        "HTTP status.",
        "platform,route,status");
    M->rl_waits = sl_metrics_counter(
        m, "sluice_ratelimit_waits_total",
        "Times a rate-limit check told a bot's requests to wait, by the narrowest limit they are "
        "under.",
        "bot,scope");
    M->rl_429 = sl_metrics_counter(m, "sluice_ratelimit_429_total",
                                   "429 answers, by bot name and the scope the platform gave.",
                                   "bot,scope");
    M->invalid = sl_metrics_counter(
        m, "sluice_discord_invalid_requests_total",
        "Discord answers 401, 403 and 429 (not shared-scope), which Discord counts against its "
        "ban line.",
        "bot");
    sl_series_set(sl_metric_series(sl_metrics_gauge(m, "sluice_discord_invalid_requests_limit",
                                                    "Discord's ban line: invalid requests per "
                                                    "window (10 minutes, per IP).",
                                                    ""),
                                   NULL),
                  10000);
    sl_series_set(
        sl_metric_series(sl_metrics_gauge(m, "sluice_discord_invalid_requests_pause_threshold",
                                          "--invalid-threshold: a bot pauses at this many invalid "
                                          "requests in 10 minutes, fleet-wide.",
                                          ""),
                         NULL),
        (double)invalid_threshold);
    sl_metric *pdf = sl_metrics_counter(m, "sluice_pdf_renders_total",
                                        "PDF renders ended on this worker's threads.", "outcome");
    M->pdf_ok = sl_metric_series(pdf, (const char *[]){"ok"});
    M->pdf_failed = sl_metric_series(pdf, (const char *[]){"failed"});
    M->pdf_waits = sl_metric_series(
        sl_metrics_counter(m, "sluice_pdf_place_waits_total",
                           "Times a PDF job asked for a place under --pdf-renders and found the "
                           "fleet's places all taken (the semaphore in Redis).",
                           ""),
        NULL);
    M->queues = sl_calloc((size_t)w->nqueues, sizeof *M->queues);
    for (int i = 0; i < w->nqueues; i++) {
        const char *q[] = {w->queues[i].keys.queue};
        M->queues[i].in_flight = sl_metric_series(M->in_flight, q);
        M->queues[i].claims = sl_metric_series(M->claims, q);
        M->queues[i].claimed = sl_metric_series(M->claimed, q);
    }
    sl_metrics_on_render(m, render_cb, w);
    w->metrics = M;
    M->http = sl_metrics_http_start(w->loop, listen, m, ready_cb, w, err, errlen);
    if (!M->http) {
        wmetrics_stop(w);
        return SL_EINVAL;
    }
    /* only now: the connections keep these series while they live */
    sl_rconn_set_metrics(w->redis, sl_metric_series(rtt, NULL),
                         sl_metric_series(reconnects, (const char *[]){"commands"}));
    sl_rconn_set_metrics(w->subs, NULL, sl_metric_series(reconnects, (const char *[]){"wakeups"}));
    return 0;
}

void wmetrics_stop(worker *w)
{
    struct wmetrics *M = w->metrics;
    if (!M)
        return;
    sl_metrics_http_free(M->http);
    for (int i = 0; i < w->nqueues; i++)
        for (int k = 0; k < WM_NTYPES; k++)
            free(M->queues[i].types[k]);
    free(M->queues);
    sl_metrics_free(M->m);
    free(M);
    w->metrics = NULL;
}

/* Q's series for jobs of handler H (NULL: no handler), made on first use. */
static struct wm_type *type_of(worker *w, wqueue *q, const handler *h)
{
    int k = 0;
    while (k < WM_NKNOWN && known[k] != h)
        k++;
    struct wm_queue *mq = &w->metrics->queues[q - w->queues];
    struct wm_type *ty = mq->types[k];
    if (ty)
        return ty;
    struct wmetrics *M = w->metrics;
    ty = mq->types[k] = sl_calloc(1, sizeof *ty);
    const char *type = k < WM_NKNOWN ? known[k]->type : "unknown";
    const char *qt[] = {q->keys.queue, type};
    ty->processed = sl_metric_series(M->processed, qt);
    ty->retried = sl_metric_series(M->failed, (const char *[]){q->keys.queue, type, "retried"});
    ty->dead = sl_metric_series(M->failed, (const char *[]){q->keys.queue, type, "dead"});
    ty->run = sl_metric_series(M->run, qt);
    ty->wait = sl_metric_series(M->wait, qt);
    return ty;
}

static void list_push(struct wm_list *l, sl_series *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->s = sl_realloc(l->s, (size_t)l->cap * sizeof *l->s);
    }
    l->s[l->n++] = s;
}

void wm_list_move(struct wm_list *dst, struct wm_list *src)
{
    for (int i = 0; i < src->n; i++)
        list_push(dst, src->s[i]);
    src->n = 0;
}

void wm_list_take(struct wm_list *dst, struct wm_list *src)
{
    struct wm_list tmp = *dst;
    *dst = *src;
    *src = tmp;
    src->n = 0;
}

void wm_list_count(struct wm_list *l, long long accepted)
{
    for (int i = 0; i < l->n && i < accepted; i++)
        sl_series_inc(l->s[i]);
    l->n = 0;
}

void wm_list_deinit(struct wm_list *l)
{
    free(l->s);
    memset(l, 0, sizeof *l);
}

void wm_job_started(task *t)
{
    worker *w = t->w;
    if (!w->metrics)
        return;
    int64_t due = t->job.run_at_ms > 0 ? t->job.run_at_ms : t->job.created_ms + t->job.delay_ms;
    /* the loop's time (wall clock, read once a turn): no clock call a job */
    double waited = ev_now(w->loop) - (double)due / 1000.0;
    sl_series_observe(type_of(w, t->q, t->h)->wait, waited > 0 ? waited : 0);
}

void wm_job_ended(task *t, enum wm_outcome outcome, int64_t run_us)
{
    worker *w = t->w;
    if (!w->metrics)
        return;
    struct wm_type *ty = type_of(w, t->q, t->h);
    if (run_us >= 0)
        sl_series_observe(ty->run, (double)run_us / 1e6);
    switch (outcome) {
    case WM_DONE:
        list_push(&t->q->ack_m, ty->processed);
        break;
    case WM_RETRIED:
        list_push(&t->q->fail_m, ty->retried);
        break;
    case WM_DEAD:
        list_push(&t->q->fail_m, ty->dead);
        break;
    }
}

void wm_buried(worker *w, wqueue *q)
{
    if (w->metrics)
        list_push(&q->fail_m, type_of(w, q, NULL)->dead);
}

void wm_claimed(worker *w, wqueue *q, size_t got)
{
    if (!w->metrics)
        return;
    struct wm_queue *mq = &w->metrics->queues[q - w->queues];
    sl_series_inc(mq->claims);
    sl_series_add(mq->claimed, (double)got);
}
