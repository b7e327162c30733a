/* spool_bench.c — the spool test: how fast jobs go into a producer's SQLite spool
 * (WAL, synchronous=FULL) and how fast `sluice-producer flush` sends them to
 * Redis. Three figures over --jobs noop jobs:
 *
 *   spool_put_jobs_per_s  sl_spool_put alone, --batch jobs per transaction
 *   cli_spool_jobs_per_s  `sluice-producer --ndjson FILE --spool` with Redis
 *                         refusing connections: read, check, spool, print ids
 *   flush_jobs_per_s      `sluice-producer flush` of that spool into the
 *                         bench's Redis, every row confirmed and deleted
 *
 * The sluice-producer run is the one beside --worker-bin. */
#include "bench.h"
#include "spool.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs ARGV (the producer) with stdout to /dev/null and the bench's Redis
 * in its environment; returns its exit status, or -1. */
static int run_producer(bench *b, const char *const *argv)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        setenv("SLUICE_REDIS_URL", b->redis_url, 1);
        setenv("SLUICE_PREFIX", b->prefix, 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The library alone: N jobs into PATH, BATCH per transaction. */
static double put_rate(bench *b, const char *path, long long n, long long batch)
{
    char err[512];
    sl_spool *s = sl_spool_open(path, LLONG_MAX, err, sizeof err);
    if (!s) {
        bench_error(b, "%s", err);
        return -1;
    }
    sl_spool_job *jobs = sl_calloc((size_t)batch, sizeof *jobs);
    char(*ids)[SL_ID_LEN + 1] = sl_malloc((size_t)batch * sizeof *ids);
    char(*bodies)[160] = sl_malloc((size_t)batch * sizeof *bodies);
    double t0 = now_s();
    for (long long done = 0; done < n;) {
        int k = 0;
        for (; k < batch && done + k < n; k++) {
            sl_id_new(ids[k]);
            int len = snprintf(bodies[k], sizeof bodies[k],
                               "{\"id\":\"%s\",\"type\":\"noop\",\"queue\":\"%s\",\"priority\":"
                               "\"normal\",\"payload\":{\"n\":%lld}}",
                               ids[k], b->queue, done + k);
            jobs[k] = (sl_spool_job){.queue = b->queue,
                                     .id = ids[k],
                                     .priority = SL_PRIO_NORMAL,
                                     .body = bodies[k],
                                     .len = (size_t)len};
        }
        if (sl_spool_put(s, jobs, k, err, sizeof err)) {
            bench_error(b, "%s", err);
            break;
        }
        done += k;
    }
    double t = now_s() - t0;
    free(jobs);
    free(ids);
    free(bodies);
    sl_spool_close(s);
    return (double)n / t;
}

/* The flushed jobs never run: their keys go here, not into the report's
 * leftovers. */
static void unlink_jobs(bench *b)
{
    for (;;) {
        redisReply *r = redisCommand(b->rc, "LPOP %s 1000", b->keys.ready[SL_PRIO_NORMAL]);
        if (!r || r->type != REDIS_REPLY_ARRAY || !r->elements) {
            freeReplyObject(r);
            return;
        }
        for (size_t i = 0; i < r->elements; i++)
            redisAppendCommand(b->rc, "UNLINK %sjob:%s", b->keys.base, r->element[i]->str);
        for (size_t i = 0; i < r->elements; i++) {
            void *u = NULL;
            if (redisGetReply(b->rc, &u) != REDIS_OK)
                break;
            freeReplyObject(u);
        }
        freeReplyObject(r);
    }
}

int test_spool(bench *b)
{
    char dir[] = "/tmp/sluice-bench-spool.XXXXXX";
    if (!mkdtemp(dir)) {
        bench_error(b, "cannot make a temporary directory: %m");
        return -1;
    }
    char producer[PATH_MAX], lib_db[sizeof dir + 16], cli_db[sizeof dir + 16],
        input[sizeof dir + 16];
    snprintf(producer, sizeof producer, "%s", b->worker_bin);
    char *slash = strrchr(producer, '/');
    snprintf(slash ? slash + 1 : producer,
             sizeof producer - (size_t)(slash ? slash + 1 - producer : 0), "sluice-producer");
    snprintf(lib_db, sizeof lib_db, "%s/lib.db", dir);
    snprintf(cli_db, sizeof cli_db, "%s/cli.db", dir);
    snprintf(input, sizeof input, "%s/jobs.ndjson", dir);
    int status = -1;
    report_int(b, "jobs", b->jobs);
    report_int(b, "batch", b->batch);
    report_raw(b, "synchronous_full", "true");

    double put = put_rate(b, lib_db, b->jobs, b->batch);
    if (put < 0)
        goto out;
    report_num(b, "spool_put_jobs_per_s", put, 0);

    FILE *f = fopen(input, "w");
    if (!f) {
        bench_error(b, "cannot write %s: %m", input);
        goto out;
    }
    for (long long i = 0; i < b->jobs; i++)
        fprintf(f, "{\"type\":\"noop\",\"queue\":\"%s\",\"payload\":{\"n\":%lld}}\n", b->queue, i);
    fclose(f);
    /* port 1: connection refused at once, so every job goes to the spool */
    const char *spool_argv[] = {
        producer, "--ndjson", input, "--spool", cli_db, "--redis-url", "redis://127.0.0.1:1/0",
        NULL};
    double t0 = now_s();
    int st = run_producer(b, spool_argv);
    double t = now_s() - t0;
    if (st != 0) {
        bench_error(b, "%s --ndjson ... --spool: exit status %d", producer, st);
        goto out;
    }
    report_num(b, "cli_spool_jobs_per_s", (double)b->jobs / t, 0);

    const char *flush_argv[] = {producer, "flush", "--spool", cli_db, NULL};
    double cpu0 = redis_cpu_s(b);
    t0 = now_s();
    st = run_producer(b, flush_argv);
    t = now_s() - t0;
    double cpu = redis_cpu_s(b) - cpu0;
    if (st != 0) {
        bench_error(b, "%s flush: exit status %d", producer, st);
        goto out;
    }
    report_num(b, "flush_jobs_per_s", (double)b->jobs / t, 0);
    report_num(b, "flush_redis_cpu_us_per_job", cpu * 1e6 / (double)b->jobs, 2);
    redisReply *r = redisCommand(b->rc, "LLEN %s", b->keys.ready[SL_PRIO_NORMAL]);
    long long stored = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    report_int(b, "jobs_in_redis", stored);
    if (stored != b->jobs)
        bench_error(b, "%lld jobs in redis after the flush, expected %lld", stored, b->jobs);
    else
        status = 0;
    unlink_jobs(b);
out:;
    char cmd[sizeof dir + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd))
        bench_error(b, "could not remove %s", dir);
    return status;
}
