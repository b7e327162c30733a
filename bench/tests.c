/* tests.c — noop, io and message: enqueue every job first (batched and
 * pipelined), then start the workers and time them until the queue's
 * "processed" counter says all are done. Redis CPU comes from INFO cpu
 * around each phase, the workers' from /proc just before they are stopped.
 * The message test delivers to sluice-fake-platform and reads its counts. */
#include "bench.h"

#include <math.h>
#include <stdio.h>

int bulk_test(bench *b, jobmaker *m, const char *unit, double *rate, double *steady)
{
    const char *type = m->job.type;
    char name[64];
    long long n = b->jobs;
    report_int(b, "jobs", n);
    report_int(b, "workers", b->workers);
    report_int(b, "concurrency", b->concurrency);
    report_int(b, "enqueue_batch", b->batch);
    report_int(b, "enqueue_pipeline", b->pipeline);
    if (b->worker_batch)
        report_int(b, "worker_batch", b->worker_batch);

    fprintf(stderr, "sluice-bench: enqueueing %lld %s jobs into %s\n", n, type, b->queue);
    double cpu0 = redis_cpu_s(b), t0 = now_s();
    long long taken = enqueue_bulk(b, m, n);
    double t1 = now_s(), cpu1 = redis_cpu_s(b);
    jobmaker_deinit(m);
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
    snprintf(name, sizeof name, "process_%ss_per_s", unit);
    report_num(b, name, *rate, 0);
    snprintf(name, sizeof name, "steady_%ss_per_s", unit);
    report_num(b, name, *steady, 0);
    snprintf(name, sizeof name, "redis_cpu_us_per_%s", unit);
    report_num(b, name, (cpu3 - cpu2) * 1e6 / (double)n, 2);
    snprintf(name, sizeof name, "worker_cpu_us_per_%s", unit);
    report_num(b, name, ws.cpu_s * 1e6 / (double)n, 2);
    report_int(b, "worker_max_rss_kb", ws.rss_kb);
    return 0;
}

/* Sets up M for TYPE with payload FIXED (NULL: {"n": i}); -1 after
 * reporting. */
static int maker(bench *b, jobmaker *m, const char *type, const char *fixed)
{
    char err[512];
    if (!jobmaker_init(m, b, type, fixed, err, sizeof err))
        return 0;
    bench_error(b, "%s job: %s", type, err);
    return -1;
}

int test_noop(bench *b)
{
    jobmaker m;
    double rate, steady;
    if (maker(b, &m, "noop", NULL))
        return -1;
    return bulk_test(b, &m, "job", &rate, &steady);
}

int test_io(bench *b)
{
    char payload[48];
    jobmaker m;
    double rate, steady;
    snprintf(payload, sizeof payload, "{\"ms\":%lld}", b->ms);
    report_int(b, "ms", b->ms);
    if (maker(b, &m, "sleep", payload) || bulk_test(b, &m, "job", &rate, &steady))
        return -1;
    /* Each slot runs one job per ms at best. */
    double ideal = b->ms ? (double)b->workers * (double)b->concurrency * 1000.0 / (double)b->ms
                         : NAN; /* no ceiling: reported as null */
    report_num(b, "ideal_jobs_per_s", ideal, 0);
    report_num(b, "ratio_to_ideal", rate / ideal, 3);
    report_num(b, "steady_ratio_to_ideal", steady / ideal, 3);
    return 0;
}

/* The stats member NAME as an integer, or -1 when it is missing. */
static long long stat_int(const cJSON *stats, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(stats, name);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
}

int test_message(bench *b)
{
    char err[512];
    jobmaker m;
    double rate = NAN, steady = NAN;
    report_int(b, "channels", b->channels);
    report_int(b, "discord_per_second", b->discord_per_s);
    if (fake_init(b) || fake_reset(b))
        return -1;
    if (jobmaker_init_message(&m, b, b->channels, err, sizeof err)) {
        bench_error(b, "message job: %s", err);
        return -1;
    }
    int rc = bulk_test(b, &m, "message", &rate, &steady);
    /* The fake's counts, after a failed run too: they say what went wrong. */
    cJSON *stats = fake_stats(b);
    if (!stats)
        return -1;
    long long deliveries = stat_int(stats, "deliveries");
    long long duplicates = stat_int(stats, "duplicates");
    report_int(b, "deliveries", deliveries);
    report_int(b, "lost", deliveries >= 0 ? b->jobs - deliveries : -1);
    report_int(b, "duplicates", duplicates);
    /* the faults the fake injected (its --fail-rate, --fail-after-rate and
     * --drop-rate), and the re-sends of a delivered message it recognised
     * by their nonce */
    report_int(b, "fake_5xx", stat_int(stats, "failed"));
    report_int(b, "fake_5xx_after", stat_int(stats, "failed_after"));
    report_int(b, "fake_dropped", stat_int(stats, "dropped"));
    report_int(b, "nonce_repeats", stat_int(stats, "nonce_repeats"));
    const cJSON *limited = cJSON_GetObjectItemCaseSensitive(stats, "rate_limited");
    char *text = cJSON_IsObject(limited) ? cJSON_PrintUnformatted(limited) : NULL;
    report_raw(b, "rate_limited", text ? text : "null");
    cJSON_free(text);
    report_int(b, "max_global_per_second", stat_int(stats, "max_global_per_second"));
    cJSON_Delete(stats);
    if (!rc && b->discord_per_s)
        report_num(b, "steady_ratio_to_limit", steady / (double)b->discord_per_s, 3);
    int ok = deliveries == b->jobs && duplicates == 0;
    report_raw(b, "ok", ok ? "true" : "false");
    if (!ok)
        bench_error(b, "the fake counted %lld deliveries (of %lld) and %lld duplicates", deliveries,
                    b->jobs, duplicates);
    return ok && !rc ? 0 : -1;
}
