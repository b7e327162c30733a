/* tests.c — noop and io: enqueue every job first (batched and pipelined),
 * then start the workers and time them until the queue's "processed"
 * counter says all are done. Redis CPU comes from INFO cpu around each
 * phase, the workers' from /proc just before they are stopped. */
#include "bench.h"

#include <math.h>
#include <stdio.h>

/* Runs one bulk test of N jobs of TYPE with payload FIXED (NULL: {"n": i}).
 * Reports into b->report; returns 0 or -1 (errors are in the report). */
static int bulk_test(bench *b, const char *type, const char *fixed, double *rate, double *steady)
{
    char err[512];
    jobmaker m;
    long long n = b->jobs;
    if (jobmaker_init(&m, b, type, fixed, err, sizeof err)) {
        bench_error(b, "%s job: %s", type, err);
        return -1;
    }
    report_int(b, "jobs", n);
    report_int(b, "workers", b->workers);
    report_int(b, "concurrency", b->concurrency);
    report_int(b, "enqueue_batch", b->batch);
    report_int(b, "enqueue_pipeline", b->pipeline);
    if (b->worker_batch)
        report_int(b, "worker_batch", b->worker_batch);

    fprintf(stderr, "sluice-bench: enqueueing %lld %s jobs into %s\n", n, type, b->queue);
    double cpu0 = redis_cpu_s(b), t0 = now_s();
    long long taken = enqueue_bulk(b, &m, n);
    double t1 = now_s(), cpu1 = redis_cpu_s(b);
    jobmaker_deinit(&m);
    if (taken < 0)
        return -1;
    report_num(b, "enqueue_s", t1 - t0, 3);
    report_num(b, "enqueue_jobs_per_s", (double)taken / (t1 - t0), 0);
    report_num(b, "enqueue_redis_cpu_us_per_job", (cpu1 - cpu0) * 1e6 / (double)taken, 2);
    if (taken != n)
        return -1;

    fprintf(stderr, "sluice-bench: processing with %lld worker(s) at concurrency %lld\n",
            b->workers, b->concurrency);
    workers ws;
    double cpu2 = redis_cpu_s(b), t2 = now_s();
    if (workers_start(b, &ws, (int)b->workers, b->concurrency, NULL))
        return -1;
    progress pr;
    int rc = wait_processed(b, &ws, n, (double)b->timeout_s, &pr);
    double t3 = now_s(), cpu3 = redis_cpu_s(b);
    if (workers_stop(b, &ws, 30.0))
        rc = -1;
    if (rc)
        return -1;
    *rate = (double)n / (t3 - t2);
    /* Between 10% and 90% done: without start-up and the tail. */
    *steady = pr.t90 > pr.t10 ? 0.8 * (double)n / (pr.t90 - pr.t10) : NAN;
    report_num(b, "process_s", t3 - t2, 3);
    report_num(b, "process_jobs_per_s", *rate, 0);
    report_num(b, "steady_jobs_per_s", *steady, 0);
    report_num(b, "redis_cpu_us_per_job", (cpu3 - cpu2) * 1e6 / (double)n, 2);
    report_num(b, "worker_cpu_us_per_job", ws.cpu_s * 1e6 / (double)n, 2);
    report_int(b, "worker_max_rss_kb", ws.rss_kb);
    return 0;
}

int test_noop(bench *b)
{
    double rate, steady;
    return bulk_test(b, "noop", NULL, &rate, &steady);
}

int test_io(bench *b)
{
    char payload[48];
    double rate, steady;
    snprintf(payload, sizeof payload, "{\"ms\":%lld}", b->ms);
    report_int(b, "ms", b->ms);
    if (bulk_test(b, "sleep", payload, &rate, &steady))
        return -1;
    /* Each slot runs one job per ms at best. */
    double ideal = b->ms ? (double)b->workers * (double)b->concurrency * 1000.0 / (double)b->ms
                         : NAN; /* no ceiling: reported as null */
    report_num(b, "ideal_jobs_per_s", ideal, 0);
    report_num(b, "ratio_to_ideal", rate / ideal, 3);
    report_num(b, "steady_ratio_to_ideal", steady / ideal, 3);
    return 0;
}
