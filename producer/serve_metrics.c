/* serve_metrics.c — the intake's metrics (--metrics-listen): its answers
 * by route class and status, the spool's depth, its Redis connections.
 * An answer's series is found by route and status among the few made so
 * far (a look-up per request, over a handful of series). */
#include "serve.h"
#include "metrics.h"
#include "metrics_http.h"

#include <stdio.h>
#include <stdlib.h>

struct serve_metrics {
    sl_metrics *m;
    sl_metrics_http *http;
    sl_metric *requests;
    sl_series *spool_jobs, *spool_bytes;
};

static void render_cb(sl_metrics *m, void *priv)
{
    (void)m;
    serve *s = priv;
    long long jobs = 0, bytes = 0;
    serve_spool_depth(s, &jobs, &bytes);
    sl_series_set(s->metrics->spool_jobs, (double)jobs);
    sl_series_set(s->metrics->spool_bytes, (double)bytes);
}

static int ready_cb(void *priv, char *why, size_t len)
{
    serve *s = priv;
    if (s->stopping) {
        snprintf(why, len, "stopping");
        return 0;
    }
    if (!sl_rconn_is_up(s->redis)) {
        snprintf(why, len, "redis: not connected, or its scripts not loaded yet%s",
                 s->spool ? " (jobs go to the spool meanwhile)" : "");
        return 0;
    }
    return 1;
}

int serve_metrics_start(serve *s, char *err, size_t errlen)
{
    if (!s->o.metrics_listen || !*s->o.metrics_listen)
        return 0;
    struct serve_metrics *M = s->metrics = sl_calloc(1, sizeof *M);
    sl_metrics *m = M->m = sl_metrics_new();
    M->requests = sl_metrics_counter(
        m, "sluice_intake_requests_total",
        "Requests the intake answered, by route class (never an id or a token) and HTTP status.",
        "route,status");
    M->spool_jobs = sl_metric_series(
        sl_metrics_gauge(m, "sluice_intake_spool_jobs",
                         "Jobs waiting in the intake's --spool for Redis (0 without a spool).", ""),
        NULL);
    M->spool_bytes =
        sl_metric_series(sl_metrics_gauge(m, "sluice_intake_spool_bytes",
                                          "Their size, as counted against --spool-max-mb.", ""),
                         NULL);
    sl_metric *rtt = sl_metrics_histogram(
        m, "sluice_redis_roundtrip_seconds",
        "A Redis command's time from send to reply, on the intake's command connection.", "",
        sl_metrics_seconds_buckets, sl_metrics_seconds_nbuckets);
    sl_metric *reconnects = sl_metrics_counter(m, "sluice_redis_reconnects_total",
                                               "Times a Redis connection came back up.", "conn");
    sl_metrics_on_render(m, render_cb, s);
    M->http = sl_metrics_http_start(s->loop, s->o.metrics_listen, m, ready_cb, s, err, errlen);
    if (!M->http) {
        serve_metrics_stop(s);
        return -1;
    }
    /* only now: the connections keep these series while they live */
    sl_rconn_set_metrics(s->redis, sl_metric_series(rtt, NULL),
                         sl_metric_series(reconnects, (const char *[]){"commands"}));
    sl_rconn_set_metrics(s->sub, NULL, sl_metric_series(reconnects, (const char *[]){"wakeups"}));
    return 0;
}

void serve_metrics_answer(serve *s, const char *route, int status)
{
    if (!s->metrics)
        return;
    char code[16];
    snprintf(code, sizeof code, "%d", status);
    sl_series_inc(sl_metric_series(s->metrics->requests, (const char *[]){route, code}));
}

void serve_metrics_stop(serve *s)
{
    struct serve_metrics *M = s->metrics;
    if (!M)
        return;
    sl_metrics_http_free(M->http);
    sl_metrics_free(M->m);
    free(M);
    s->metrics = NULL;
}
