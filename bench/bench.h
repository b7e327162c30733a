/* bench.h — sluice-bench: a load generator that measures a running Redis
 * with real sluice-worker processes. It starts no Redis of its own.
 *
 *   main.c         options, the test table, the JSON report, clean-up
 *   jobmaker.c     jobs made and sent through libsluice's enqueue path
 *   procs.c        worker processes, /proc figures, Redis INFO and counters
 *   tests.c        the noop, io and message tests (bulk enqueue, then process)
 *   fake.c         the fake platform's control API (stats, reset) via curl
 *   latency.c      the latency test (paced single enqueues, start times)
 *   pdf_bench.c    the pdf test (one-page documents rendered and filed)
 *   spool_bench.c  the spool test (SQLite spool writes, sluice-producer flush) */
#ifndef SL_BENCH_H
#define SL_BENCH_H

#include <hiredis/hiredis.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "enqueue.h"
#include "job.h"
#include "keys.h"
#include "util.h"

typedef struct bench {
    /* options */
    const char *redis_url, *prefix, *queue, *worker_bin;
    long long jobs, workers, concurrency, batch, pipeline, worker_batch;
    long long rate, seconds, ms, timeout_s;
    const char *discord_api, *discord_token_file; /* message: for the workers only */
    long long channels, discord_per_s;            /* message */
    long long pdf_threads;                        /* pdf: the workers' --pdf-threads */
    char pdf_dir[128], tmp_dir[128];              /* pdf: the workers' --pdf-dir, --tmp-dir */
    /* state */
    const char *test;   /* "noop", "latency", "io", "message", "pdf" */
    char fake_url[256]; /* message: discord_api without /api/v10 */
    sl_redis_addr addr;
    redisContext *rc;
    sl_keys keys;
    sl_buf report; /* the JSON object's members so far, comma-separated */
    sl_buf errors; /* JSON strings, comma-separated */
    int nerrors;
} bench;

/* main.c: the report. Members come out in the order they are added. */
void report_int(bench *b, const char *name, long long v);
void report_num(bench *b, const char *name, double v, int decimals);
void report_str(bench *b, const char *name, const char *v);
/* JSON is added as it is: an object, true, false. */
void report_raw(bench *b, const char *name, const char *json);
/* Logs MSG on stderr and adds it to the report's "errors". */
void bench_error(bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* jobmaker.c: a reusable job (one sl_job, one body buffer) of one type whose
 * payload is fixed text, {"n": counter}, or a Discord message. */
typedef struct jobmaker {
    sl_job job;
    sl_buf body; /* the last job's envelope */
    sl_enqueue_batch batch;
    int counter;        /* payload {"n": i} instead of FIXED */
    long long channels; /* > 0: a Discord message to channel base + i % channels */
    long long n;
} jobmaker;

/* Sets up M for TYPE with payload FIXED (JSON text), or {"n": i} when FIXED is
 * NULL; validates the payload against the type's schema once. Returns 0, or
 * SL_EINVAL with the reason in ERR. */
int jobmaker_init(jobmaker *m, bench *b, const char *type, const char *fixed, char *err,
                  size_t errlen);
/* Sets up M for "message" jobs: {"platform": "discord", "channel_id":
 * str(1000 + i % CHANNELS), "content": "bench i"}. As jobmaker_init. */
int jobmaker_init_message(jobmaker *m, bench *b, long long channels, char *err, size_t errlen);
void jobmaker_deinit(jobmaker *m);

/* Enqueues N jobs in batches of --batch, --pipeline calls in flight. Returns
 * the number Redis took (a refused job is reported as an error), or -1 when
 * the connection failed. */
long long enqueue_bulk(bench *b, jobmaker *m, long long n);

/* Enqueues one job in one call and waits for the answer. ID_OUT (27 bytes)
 * gets its id; *SENT_US the wall clock just before the call went out.
 * Returns 0, or -1 after reporting the error. */
int enqueue_one(bench *b, jobmaker *m, char *id_out, int64_t *sent_us);

/* procs.c: worker processes. */
typedef struct workers {
    pid_t *pids;
    int n;
    double cpu_s;     /* utime + stime of all, read by workers_stop */
    long long rss_kb; /* largest VmHWM, read by workers_stop */
} workers;

/* Starts N sluice-worker processes on the bench queue at CONCURRENCY, with
 * --latency-log LATENCY_LOG when not NULL; for the message test with
 * --discord-per-second and the fake as Discord in their environment. Returns 0, or -1 after
 * reporting (no process is left running). */
int workers_start(bench *b, workers *ws, int n, long long concurrency, const char *latency_log);
/* Reads each worker's CPU time and peak RSS, sends SIGTERM, waits for every
 * one and checks that it exited 0 (SIGKILL after TIMEOUT_S). Returns 0, or
 * -1 after reporting. Frees the pid list. */
int workers_stop(bench *b, workers *ws, double timeout_s);
/* -1 after reporting when a worker has exited already, else 0. */
int workers_check(bench *b, workers *ws);

/* When the counter passed 10% and 90% of the target (monotonic seconds,
 * interpolated between polls): the rate between them leaves out start-up
 * and the tail. */
typedef struct progress {
    double t10, t90;
} progress;

/* Polls the queue's "processed" counter every 20 ms until it reaches TARGET;
 * fills P when not NULL. Returns 0, or -1 after reporting (timeout, a job
 * went dead, a worker died, Redis gone). */
int wait_processed(bench *b, workers *ws, long long target, double timeout_s, progress *p);
/* The queue's "processed" counter, or -1 when Redis failed. */
long long stat_processed(bench *b);

/* Redis's CPU time (used_cpu_user + used_cpu_sys) in seconds, or -1. */
double redis_cpu_s(bench *b);

/* Seconds on the monotonic clock. */
double now_s(void);

/* fake.c: the control API of the fake at --discord-api, through curl.
 * Each returns 0 / the parsed stats (caller frees), or -1 / NULL after
 * reporting. fake_init checks the URL and fills b->fake_url. */
int fake_init(bench *b);
int fake_reset(bench *b);
cJSON *fake_stats(bench *b);

/* tests.c: runs one bulk test of b->jobs jobs made by M (set up;
 * deinitialised here): enqueue them all, then time the workers. The
 * processing figures are named per UNIT ("job": jobs_per_s, cpu_us_per_job).
 * Reports into b->report; returns 0 or -1 (errors are in the report). */
int bulk_test(bench *b, jobmaker *m, const char *unit, double *rate, double *steady);

/* tests.c, latency.c, pdf_bench.c */
int test_noop(bench *b);
int test_io(bench *b);
int test_message(bench *b);
int test_spool(bench *b);
int test_latency(bench *b);
int test_pdf(bench *b);

#endif
