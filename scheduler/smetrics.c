/* smetrics.c — the scheduler's metrics (--metrics-listen). Every scheduler
 * exports its own figures (leader or not, its Redis connection, what it
 * promoted, reclaimed and trimmed); the fleet-wide gauges (ready depth per
 * queue and priority, delayed, active, dead, the oldest ready job's age,
 * workers) are exported by the leader alone, so that a scrape of every
 * scheduler counts them once. The leader reads them once a second, not
 * per scrape and never per job: one pipeline of LLEN, ZCARD and LINDEX for
 * every queue (and the workers' ZCARD), then one MGET per queue for the
 * bodies of the jobs at the heads of its ready lists (their created_ms and
 * run_at_ms give the oldest one's age). A follower, or a leader whose last
 * read is older than 10 s, shows no fleet gauge at all.
 *
 * The archive's families (archive.c's archive_get_stats, contract 3):
 * sluice_archive_written_total is this scheduler's own; the events
 * stream's length, cap and the archive's lag are the fleet's, the
 * leader's alone.
 *
 * More families: a module of the scheduler registers its own in
 * smetrics_start (see "other modules' families" below) and sets them from
 * render_cb, which runs before every scrape. */
#include "sched.h"
#include "archive.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"

#include <stdlib.h>
#include <string.h>

enum { READ_EVERY_S = 1, STALE_S = 10 };

struct sq { /* the fleet series of one queue */
    sl_series *ready[SL_PRIO_COUNT], *delayed, *active, *dead, *oldest;
    int has_head[SL_PRIO_COUNT];                   /* this read found a job at the head */
    char head_key[SL_PRIO_COUNT][SL_KEY_MAX + 72]; /* its body's key */
};

struct smetrics {
    sl_metrics *m;     /* this scheduler's own */
    sl_metrics *fleet; /* the leader's fleet gauges */
    sl_metrics_http *http;
    sl_series *leader, *promoted, *reclaimed, *trimmed, *workers_removed;
    unsigned long long seen_promoted, seen_reclaimed, seen_trimmed, seen_removed;
    sl_metric *f_ready, *f_delayed, *f_active, *f_dead, *f_oldest;
    sl_series *workers;
    sl_series *ev_length, *ev_cap, *ev_lag, *archived; /* archive.c's (contract 3) */
    unsigned long long seen_archived;
    sl_series *rtt, *reconnects, *reconnects_sub;
    struct sq *q; /* [nq], grows with sched.queues */
    int nq;
    ev_timer read_timer;
    int reading;       /* replies still to come in this read */
    int broken;        /* a reply of this read was an error or missing */
    long long now_ms;  /* Redis time of this read (the first reply) */
    ev_tstamp read_at; /* when the last complete read ended; 0: never */
    sched *s;
};

/* Adds to counter C what the scheduler's own count *NOW has gained. */
static void catch_up(sl_series *c, unsigned long long now, unsigned long long *seen)
{
    if (now > *seen)
        sl_series_add(c, (double)(now - *seen));
    *seen = now;
}

static void render_cb(sl_metrics *m, void *priv)
{
    (void)m;
    struct smetrics *M = priv;
    sched *s = M->s;
    sl_series_set(M->leader, leader_active(s) ? 1 : 0);
    catch_up(M->promoted, s->promoted, &M->seen_promoted);
    catch_up(M->reclaimed, s->reclaimed, &M->seen_reclaimed);
    catch_up(M->trimmed, s->trimmed, &M->seen_trimmed);
    catch_up(M->workers_removed, s->workers_removed, &M->seen_removed);
    /* other modules' families: set them here from their getters */
    const archive_stats *a = archive_get_stats(s);
    if (a) {
        catch_up(M->archived, a->written, &M->seen_archived);
        sl_series_set(M->ev_cap, (double)a->events_cap); /* fleet: shown while leading */
        if (a->events_length >= 0)
            sl_series_set(M->ev_length, (double)a->events_length);
        if (a->lag_events >= 0)
            sl_series_set(M->ev_lag, (double)a->lag_events);
    }
}

static int show_fleet_cb(void *priv)
{
    struct smetrics *M = priv;
    return leader_active(M->s) && M->read_at > 0 && ev_now(M->s->loop) - M->read_at < STALE_S;
}

static int ready_cb(void *priv, char *why, size_t len)
{
    sched *s = priv;
    if (s->stopping) {
        snprintf(why, len, "stopping");
        return 0;
    }
    if (!sl_rconn_is_up(s->redis)) {
        snprintf(why, len, "redis: not connected, or its scripts not loaded yet");
        return 0;
    }
    return 1;
}

/* The series of queue I, made when the queue is first seen. */
static struct sq *queue_series(struct smetrics *M, int i)
{
    while (M->nq <= i) {
        M->q = sl_realloc(M->q, (size_t)(M->nq + 1) * sizeof *M->q);
        struct sq *q = &M->q[M->nq];
        const char *name = M->s->queues[M->nq].keys.queue;
        for (int p = 0; p < SL_PRIO_COUNT; p++)
            q->ready[p] = sl_metric_series(M->f_ready, (const char *[]){name, sl_priority_name(p)});
        q->delayed = sl_metric_series(M->f_delayed, (const char *[]){name});
        q->active = sl_metric_series(M->f_active, (const char *[]){name});
        q->dead = sl_metric_series(M->f_dead, (const char *[]){name});
        q->oldest = sl_metric_series(M->f_oldest, (const char *[]){name});
        M->nq++;
    }
    return &M->q[i];
}

struct ask { /* one reply of a read */
    struct smetrics *M;
    int queue; /* -1: the workers' ZCARD, or TIME */
    int what;  /* enum below, or the priority for READY / HEAD */
};
enum { READY = 0, HEAD = 100, DELAYED = 200, ACTIVE, DEAD, WORKERS, TIME, BODIES };

static void read_done(struct smetrics *M)
{
    if (--M->reading > 0)
        return;
    M->read_at = M->broken ? 0 : ev_now(M->s->loop); /* no gauges from a partial read */
    M->broken = 0;
}

static long long field_ms(const char *body, const char *name)
{
    const char *p = strstr(body, name);
    return p ? atoll(p + strlen(name)) : 0;
}

static void reply_cb(sl_rconn *rc, redisReply *r, void *priv)
{
    struct ask *a = priv;
    struct smetrics *M = a->M;
    int what = a->what, qi = a->queue;
    free(a);
    if (!rc)
        return;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        M->broken = 1;
        read_done(M);
        return;
    }
    struct sq *q = qi >= 0 ? &M->q[qi] : NULL;
    if (what == TIME && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
        M->now_ms = atoll(r->element[0]->str) * 1000 + atoll(r->element[1]->str) / 1000;
    else if (what == WORKERS)
        sl_series_set(M->workers, (double)r->integer);
    else if (what >= READY && what < READY + SL_PRIO_COUNT)
        sl_series_set(q->ready[what - READY], (double)r->integer);
    else if (what >= HEAD && what < HEAD + SL_PRIO_COUNT) {
        int p = what - HEAD;
        q->has_head[p] = r->type == REDIS_REPLY_STRING && r->len <= 64;
        if (q->has_head[p])
            snprintf(q->head_key[p], sizeof q->head_key[p], "%s%s",
                     M->s->queues[qi].keys.job_prefix, r->str);
    } else if (what == DELAYED)
        sl_series_set(q->delayed, (double)r->integer);
    else if (what == ACTIVE)
        sl_series_set(q->active, (double)r->integer);
    else if (what == DEAD)
        sl_series_set(q->dead, (double)r->integer);
    else if (what == BODIES && r->type == REDIS_REPLY_ARRAY) {
        long long oldest = -1;
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *b = r->element[i];
            if (b->type != REDIS_REPLY_STRING)
                continue;
            long long due = field_ms(b->str, "\"run_at_ms\":");
            if (due <= 0)
                due = field_ms(b->str, "\"created_ms\":") + field_ms(b->str, "\"delay_ms\":");
            if (due > 0 && (oldest < 0 || due < oldest))
                oldest = due;
        }
        double age = oldest > 0 && M->now_ms > oldest ? (double)(M->now_ms - oldest) / 1000 : 0;
        sl_series_set(q->oldest, age);
    }
    read_done(M);
}

static void ask(struct smetrics *M, int queue, int what, int argc, const char **argv)
{
    struct ask *a = sl_malloc(sizeof *a);
    *a = (struct ask){M, queue, what};
    if (sl_rconn_command(M->s->redis, reply_cb, a, argc, argv, NULL)) {
        free(a);
        M->broken = 1;
        return;
    }
    M->reading++;
}

/* The second step, once every reply of the first is in (the PING queued
 * after them is answered last): the bodies of the heads, one MGET a queue. */
static void heads_cb(sl_rconn *rc, redisReply *r, void *priv)
{
    (void)r;
    struct smetrics *M = priv;
    if (!rc)
        return;
    for (int i = 0; i < M->nq; i++) {
        struct sq *q = &M->q[i];
        const char *argv[1 + SL_PRIO_COUNT] = {"MGET"};
        int n = 1;
        for (int p = 0; p < SL_PRIO_COUNT; p++)
            if (q->has_head[p])
                argv[n++] = q->head_key[p];
        if (n == 1)
            sl_series_set(q->oldest, 0);
        else
            ask(M, i, BODIES, n, argv);
    }
    read_done(M); /* the PING's own count */
}

/* Once a second while leading: the first step of a read. */
static void read_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    struct smetrics *M = t->data;
    sched *s = M->s;
    if (!leader_active(s) || M->reading || !sl_rconn_is_up(s->redis))
        return;
    M->reading = 1; /* held until the PING below, so no step ends early */
    ask(M, -1, TIME, 1, (const char *[]){"TIME"});
    char workers[SL_KEY_MAX];
    sl_keys_workers(workers, s->prefix);
    ask(M, -1, WORKERS, 2, (const char *[]){"ZCARD", workers});
    for (int i = 0; i < s->nqueues; i++) {
        queue_series(M, i);
        const sl_keys *k = &s->queues[i].keys;
        for (int p = 0; p < SL_PRIO_COUNT; p++) {
            ask(M, i, READY + p, 2, (const char *[]){"LLEN", k->ready[p]});
            ask(M, i, HEAD + p, 3, (const char *[]){"LINDEX", k->ready[p], "0"});
        }
        ask(M, i, DELAYED, 2, (const char *[]){"ZCARD", k->delayed});
        ask(M, i, ACTIVE, 2, (const char *[]){"ZCARD", k->active});
        ask(M, i, DEAD, 2, (const char *[]){"ZCARD", k->dead});
    }
    if (sl_rconn_command(s->redis, heads_cb, M, 1, (const char *[]){"PING"}, NULL)) {
        M->broken = 1;
        read_done(M);
    }
}

int smetrics_start(sched *s, const char *listen, char *err, size_t errlen)
{
    if (!listen || !*listen)
        return 0;
    struct smetrics *M = sl_calloc(1, sizeof *M);
    M->s = s;
    sl_metrics *m = M->m = sl_metrics_new();
    M->leader = sl_metric_series(
        sl_metrics_gauge(m, "sluice_scheduler_leader",
                         "1 while this scheduler holds the leader lock (it alone exports the "
                         "fleet gauges), else 0.",
                         ""),
        NULL);
    M->promoted =
        sl_metric_series(sl_metrics_counter(m, "sluice_scheduler_promoted_total",
                                            "Delayed jobs this scheduler moved to ready.", ""),
                         NULL);
    M->reclaimed = sl_metric_series(
        sl_metrics_counter(m, "sluice_scheduler_reclaimed_total",
                           "Jobs this scheduler took back from an expired lease or a dead "
                           "worker.",
                           ""),
        NULL);
    M->trimmed =
        sl_metric_series(sl_metrics_counter(m, "sluice_scheduler_trimmed_total",
                                            "Done and dead jobs trimmed by retention.", ""),
                         NULL);
    M->workers_removed =
        sl_metric_series(sl_metrics_counter(m, "sluice_scheduler_workers_removed_total",
                                            "Silent workers removed from the registry.", ""),
                         NULL);
    const double *secs = sl_metrics_seconds_buckets;
    sl_metric *rtt = sl_metrics_histogram(
        m, "sluice_redis_roundtrip_seconds",
        "A Redis command's time from send to reply, on the scheduler's command connection.", "",
        secs, sl_metrics_seconds_nbuckets);
    sl_metric *reconnects = sl_metrics_counter(m, "sluice_redis_reconnects_total",
                                               "Times a Redis connection came back up.", "conn");
    M->rtt = sl_metric_series(rtt, NULL);
    M->reconnects = sl_metric_series(reconnects, (const char *[]){"commands"});
    M->reconnects_sub = sl_metric_series(reconnects, (const char *[]){"wakeups"});
    /* other modules' families (the archive's, contract 3): register them
     * here, on M->m, and set them in render_cb */
    M->archived = sl_metric_series(
        sl_metrics_counter(m, "sluice_archive_written_total",
                           "Job ends this scheduler archived into SQLite (--archive): rows and "
                           "rollup counts, each stream entry once.",
                           ""),
        NULL);

    sl_metrics *f = M->fleet = sl_metrics_new();
    M->f_ready = sl_metrics_gauge(f, "sluice_queue_ready",
                                  "Jobs ready to run, fleet-wide (leading scheduler only).",
                                  "queue,priority");
    M->f_delayed = sl_metrics_gauge(
        f, "sluice_queue_delayed",
        "Jobs waiting for their time (delays, retries), fleet-wide (leading scheduler only).",
        "queue");
    M->f_active = sl_metrics_gauge(
        f, "sluice_queue_active",
        "Jobs claimed by a worker and not yet settled, fleet-wide (leading scheduler only).",
        "queue");
    M->f_dead = sl_metrics_gauge(f, "sluice_queue_dead",
                                 "Dead jobs kept, fleet-wide (leading scheduler only).", "queue");
    M->f_oldest = sl_metrics_gauge(
        f, "sluice_queue_oldest_ready_age_seconds",
        "Age of the oldest job at the head of a ready list, from when it was first due (0: "
        "none ready; leading scheduler only).",
        "queue");
    M->workers = sl_metric_series(
        sl_metrics_gauge(f, "sluice_workers",
                         "Workers in the registry, fleet-wide (leading scheduler only).", ""),
        NULL);
    /* the events stream is the fleet's: its gauges are the leader's alone */
    M->ev_length = sl_metric_series(
        sl_metrics_gauge(f, "sluice_events_length",
                         "Entries in the job-end events stream PREFIX:events (XLEN, read every "
                         "2 s; leading scheduler only).",
                         ""),
        NULL);
    M->ev_cap = sl_metric_series(
        sl_metrics_gauge(f, "sluice_events_cap",
                         "The events stream's cap in entries (--events-cap, XADD MAXLEN ~; "
                         "leading scheduler only).",
                         ""),
        NULL);
    M->ev_lag = sl_metric_series(
        sl_metrics_gauge(f, "sluice_archive_lag_events",
                         "Events entries the archive group has not read yet (XINFO GROUPS lag; "
                         "leading scheduler only).",
                         ""),
        NULL);
    sl_metrics_on_render(m, render_cb, M);
    ev_timer_init(&M->read_timer, read_cb, 0, READ_EVERY_S);
    M->read_timer.data = M;
    ev_timer_start(s->loop, &M->read_timer);
    s->metrics = M;
    M->http = sl_metrics_http_start(s->loop, listen, m, ready_cb, s, err, errlen);
    if (!M->http) {
        smetrics_stop(s);
        return SL_EINVAL;
    }
    sl_metrics_http_also(M->http, f, show_fleet_cb, M);
    /* only now: the connections keep these series while they live */
    sl_rconn_set_metrics(s->redis, M->rtt, M->reconnects);
    sl_rconn_set_metrics(s->subs, NULL, M->reconnects_sub);
    return 0;
}

void smetrics_stop(sched *s)
{
    struct smetrics *M = s->metrics;
    if (!M)
        return;
    ev_timer_stop(s->loop, &M->read_timer);
    sl_metrics_http_free(M->http);
    sl_metrics_free(M->m);
    sl_metrics_free(M->fleet);
    free(M->q);
    free(M);
    s->metrics = NULL;
}

void smetrics_quiet(sched *s)
{
    struct smetrics *M = s->metrics;
    if (!M)
        return;
    /* the loop ends once nothing is left running: no more reads, and the
     * listener goes too */
    ev_timer_stop(s->loop, &M->read_timer);
    sl_metrics_http_free(M->http);
    M->http = NULL;
}
