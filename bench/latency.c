/* latency.c — enqueue-to-start latency. One worker runs with --latency-log,
 * writing "ID START_US" (wall clock) as each job starts; the bench enqueues
 * one job per call at --rate jobs/s, paced to absolute deadlines, noting the
 * wall clock just before each call goes out. After the last job is
 * processed the worker is stopped (which flushes its log) and every job's
 * start is matched with its enqueue. */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { WARMUP_JOBS = 20 };

struct sample {
    char id[SL_ID_LEN + 1];
    int64_t sent_us;  /* wall clock just before the call went out */
    int64_t start_us; /* from the worker's log; 0 = not seen */
    int64_t rtt_us;   /* the enqueue call's round trip */
};

static int by_id(const void *a, const void *b)
{
    return strcmp(((const struct sample *)a)->id, ((const struct sample *)b)->id);
}

static int by_value(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank percentile P (0..1] of the N sorted values V. */
static int64_t percentile(const int64_t *v, size_t n, double p)
{
    size_t i = (size_t)ceil(p * (double)n);
    return v[i ? i - 1 : 0];
}

static void report_percentiles(bench *b, const char *what, int64_t *v, size_t n)
{
    static const struct {
        const char *name;
        double p;
    } ps[] = {{"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}, {"max", 1.0}};
    char name[64];
    qsort(v, n, sizeof *v, by_value);
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        snprintf(name, sizeof name, "%s_%s_ms", what, ps[i].name);
        report_num(b, name, n ? (double)percentile(v, n, ps[i].p) / 1000.0 : NAN, 3);
    }
}

/* Waits until the worker listens for wake-ups on the queue's channel, so
 * that the first measured job does not wait for its start-up. */
static int wait_subscribed(bench *b, workers *ws, double timeout_s)
{
    double deadline = now_s() + timeout_s;
    for (;;) {
        redisReply *r = redisCommand(b->rc, "PUBSUB NUMSUB %s", b->keys.notify);
        if (!r) {
            bench_error(b, "redis: %s", b->rc->errstr);
            return -1;
        }
        long long subs =
            r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[1]->integer : 0;
        freeReplyObject(r);
        if (subs > 0)
            return 0;
        if (workers_check(b, ws))
            return -1;
        if (now_s() > deadline) {
            bench_error(b, "the worker did not subscribe to %s within %.0f s", b->keys.notify,
                        timeout_s);
            return -1;
        }
        usleep(5000);
    }
}

/* Matches the worker's log lines with the samples (sorted by id). Returns
 * the number of lines for jobs already seen (runs more than once). */
static long long read_log(bench *b, const char *path, struct sample *s, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        bench_error(b, "cannot read the worker's latency log %s: %s", path, strerror(errno));
        return 0;
    }
    char line[256];
    long long again = 0;
    struct sample key;
    while (fgets(line, sizeof line, f)) {
        char id[65];
        long long start;
        if (sscanf(line, "%64s %lld", id, &start) != 2 || strlen(id) != SL_ID_LEN)
            continue;
        memcpy(key.id, id, SL_ID_LEN + 1);
        struct sample *hit = bsearch(&key, s, n, sizeof *s, by_id);
        if (!hit)
            continue; /* a warm-up job */
        if (hit->start_us)
            again++;
        else
            hit->start_us = start;
    }
    fclose(f);
    return again;
}

int test_latency(bench *b)
{
    char err[512];
    long long total = b->rate * b->seconds;
    report_int(b, "rate", b->rate);
    report_int(b, "seconds", b->seconds);
    report_int(b, "concurrency", b->concurrency);
    report_int(b, "jobs", total);
    if (total > 10000000) {
        bench_error(b, "--rate * --seconds: %lld jobs, the limit is 10000000", total);
        return -1;
    }
    if (b->worker_batch)
        report_int(b, "worker_batch", b->worker_batch);
    jobmaker m;
    if (jobmaker_init(&m, b, "noop", NULL, err, sizeof err)) {
        bench_error(b, "noop job: %s", err);
        return -1;
    }
    char path[] = "/tmp/sluice-bench-latency-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        bench_error(b, "mkstemp %s: %s", path, strerror(errno));
        jobmaker_deinit(&m);
        return -1;
    }
    close(fd);
    struct sample *s = sl_calloc((size_t)total, sizeof *s);
    int rc = -1;
    workers ws;
    if (workers_start(b, &ws, 1, b->concurrency, path))
        goto out;
    if (wait_subscribed(b, &ws, 30.0))
        goto stop;

    /* A few jobs first, so that connections and allocations are warm. */
    char id[SL_ID_LEN + 1];
    int64_t t;
    for (int i = 0; i < WARMUP_JOBS; i++) {
        if (enqueue_one(b, &m, id, &t))
            goto stop;
        usleep(1000);
    }
    if (wait_processed(b, &ws, WARMUP_JOBS, 30.0, NULL))
        goto stop;

    fprintf(stderr, "sluice-bench: enqueueing %lld jobs/s for %lld s\n", b->rate, b->seconds);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t base_ns = (int64_t)t0.tv_sec * 1000000000 + t0.tv_nsec, max_lag_ns = 0;
    long long late = 0;
    for (long long i = 0; i < total; i++) {
        int64_t due = base_ns + (int64_t)((double)i * 1e9 / (double)b->rate);
        struct timespec ts = {(time_t)(due / 1000000000), (long)(due % 1000000000)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t lag = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - due;
        if (lag > max_lag_ns)
            max_lag_ns = lag;
        late += lag > 1000000;
        if (enqueue_one(b, &m, s[i].id, &s[i].sent_us))
            goto stop;
        s[i].rtt_us = sl_realtime_us() - s[i].sent_us;
    }
    double sent_s = now_s() - ((double)t0.tv_sec + (double)t0.tv_nsec / 1e9);
    report_num(b, "enqueue_jobs_per_s", (double)total / sent_s, 1);
    report_num(b, "send_lag_max_ms", (double)max_lag_ns / 1e6, 3);
    report_int(b, "sends_late_over_1ms", late);
    rc = wait_processed(b, &ws, WARMUP_JOBS + total, (double)b->timeout_s, NULL);
stop:
    if (workers_stop(b, &ws, 30.0))
        rc = -1;
    if (rc)
        goto out;

    int64_t *lat = sl_calloc((size_t)total, sizeof *lat),
            *rtt = sl_calloc((size_t)total, sizeof *rtt);
    size_t n = 0;
    for (long long i = 0; i < total; i++)
        rtt[i] = s[i].rtt_us;
    qsort(s, (size_t)total, sizeof *s, by_id);
    long long again = read_log(b, path, s, (size_t)total), missing = 0;
    for (long long i = 0; i < total; i++) {
        if (s[i].start_us)
            lat[n++] = s[i].start_us - s[i].sent_us;
        else if (!missing++)
            bench_error(b, "job %s was processed but has no start in the worker's log", s[i].id);
    }
    if (missing > 1)
        bench_error(b, "%lld of %lld jobs have no start in the worker's log", missing, total);
    report_int(b, "measured", (long long)n);
    report_percentiles(b, "latency", lat, n);
    report_percentiles(b, "enqueue_call", rtt, (size_t)total);
    if (again)
        report_int(b, "started_twice", again);
    free(lat);
    free(rtt);
    rc = missing ? -1 : 0;
out:
    unlink(path);
    free(s);
    jobmaker_deinit(&m);
    return rc;
}
