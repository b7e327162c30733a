/* procs.c — the sluice-worker processes a test runs, what /proc says about
 * them, and the Redis figures a test reads (INFO cpu, the stats hash). */
#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double now_s(void)
{
    return (double)sl_monotonic_us() / 1e6;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

int workers_start(bench *b, workers *ws, int n, long long concurrency, const char *latency_log)
{
    char conc[24], wbatch[24], per_s[24];
    int discord = !strcmp(b->test, "message");
    snprintf(conc, sizeof conc, "%lld", concurrency);
    snprintf(wbatch, sizeof wbatch, "%lld", b->worker_batch);
    snprintf(per_s, sizeof per_s, "%lld", b->discord_per_s);
    char threads[24];
    snprintf(threads, sizeof threads, "%lld", b->pdf_threads);
    const char *argv[28];
    int k = 0;
    argv[k++] = b->worker_bin;
    argv[k++] = "--queues";
    argv[k++] = b->queue;
    argv[k++] = "--concurrency";
    argv[k++] = conc;
    argv[k++] = "--retention-ms";
    argv[k++] = "0";
    argv[k++] = "--log-level";
    argv[k++] = "warn";
    if (b->worker_batch) {
        argv[k++] = "--batch";
        argv[k++] = wbatch;
    }
    if (latency_log) {
        argv[k++] = "--latency-log";
        argv[k++] = latency_log;
    }
    if (discord) {
        argv[k++] = "--discord-per-second";
        argv[k++] = per_s;
    }
    if (!strcmp(b->test, "pdf")) {
        argv[k++] = "--pdf-dir";
        argv[k++] = b->pdf_dir;
        argv[k++] = "--tmp-dir";
        argv[k++] = b->tmp_dir;
        argv[k++] = "--pdf-threads";
        argv[k++] = threads;
    }
    argv[k] = NULL;

    memset(ws, 0, sizeof *ws);
    ws->pids = sl_calloc((size_t)n, sizeof *ws->pids);
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            bench_error(b, "fork: %s", strerror(errno));
            workers_stop(b, ws, 10.0);
            return -1;
        }
        if (pid == 0) {
            /* The address goes by environment, so that the password is not
             * on a command line for ps to show. Stdout stays the report's. */
            setenv("SLUICE_REDIS_URL", b->redis_url, 1);
            setenv("SLUICE_PREFIX", b->prefix, 1);
            if (discord) { /* the worker reads the token; this program never does */
                setenv("SLUICE_DISCORD_TOKEN_FILE", b->discord_token_file, 1);
                setenv("SLUICE_DISCORD_API", b->discord_api, 1);
            }
            dup2(STDERR_FILENO, STDOUT_FILENO);
            execv(b->worker_bin, (char *const *)argv);
            fprintf(stderr, "sluice-bench: cannot run %s: %s\n", b->worker_bin, strerror(errno));
            _exit(127);
        }
        ws->pids[ws->n++] = pid;
    }
    return 0;
}

/* utime + stime of PID in seconds, or -1. */
static double proc_cpu_s(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')'); /* the command name may hold spaces */
    unsigned long utime, stime;
    if (!p ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* VmHWM of PID in kB, or -1. */
static long long proc_hwm_kb(pid_t pid)
{
    char path[64], line[256];
    long long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) {
            kb = atoll(line + 6);
            break;
        }
    fclose(f);
    return kb;
}

static const char *describe_status(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "status %d", status);
    return buf;
}

int workers_stop(bench *b, workers *ws, double timeout_s)
{
    int rc = 0;
    char why[96];
    ws->cpu_s = 0;
    ws->rss_kb = 0;
    for (int i = 0; i < ws->n; i++) {
        if (!ws->pids[i]) /* reaped already; kill(0) would signal our group */
            continue;
        double cpu = proc_cpu_s(ws->pids[i]);
        long long kb = proc_hwm_kb(ws->pids[i]);
        ws->cpu_s += cpu > 0 ? cpu : 0;
        if (kb > ws->rss_kb)
            ws->rss_kb = kb;
        kill(ws->pids[i], SIGTERM);
    }
    double deadline = now_s() + timeout_s;
    int left = ws->n;
    while (left) {
        for (int i = 0; i < ws->n; i++) {
            if (!ws->pids[i])
                continue;
            int status;
            pid_t r = waitpid(ws->pids[i], &status, WNOHANG);
            if (r == 0)
                continue;
            if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
                bench_error(b, "worker %d: %s", (int)ws->pids[i],
                            r < 0 ? strerror(errno) : describe_status(status, why, sizeof why));
                rc = -1;
            }
            ws->pids[i] = 0;
            left--;
        }
        if (!left)
            break;
        if (now_s() > deadline) {
            for (int i = 0; i < ws->n; i++) {
                if (!ws->pids[i])
                    continue;
                bench_error(b, "worker %d still running %.0f s after SIGTERM: killed",
                            (int)ws->pids[i], timeout_s);
                kill(ws->pids[i], SIGKILL);
                waitpid(ws->pids[i], NULL, 0);
                ws->pids[i] = 0;
            }
            rc = -1;
            break;
        }
        sleep_ms(5);
    }
    free(ws->pids);
    ws->pids = NULL;
    ws->n = 0;
    return rc;
}

int workers_check(bench *b, workers *ws)
{
    char why[96];
    for (int i = 0; i < ws->n; i++) {
        int status;
        if (!ws->pids[i] || waitpid(ws->pids[i], &status, WNOHANG) != ws->pids[i])
            continue;
        bench_error(b, "worker %d ended early: %s", (int)ws->pids[i],
                    describe_status(status, why, sizeof why));
        ws->pids[i] = 0;
        return -1;
    }
    return 0;
}

/* The queue's "processed" counter, and its "dead" one in *DEAD; -1 when
 * Redis failed. */
static long long stat_counts(bench *b, long long *dead)
{
    redisReply *r = redisCommand(b->rc, "HMGET %s processed dead", b->keys.stats);
    if (!r)
        return -1;
    long long v = 0;
    *dead = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        if (r->element[0]->type == REDIS_REPLY_STRING)
            v = atoll(r->element[0]->str);
        if (r->element[1]->type == REDIS_REPLY_STRING)
            *dead = atoll(r->element[1]->str);
    }
    freeReplyObject(r);
    return v;
}

long long stat_processed(bench *b)
{
    long long dead;
    return stat_counts(b, &dead);
}

/* Sets *T to when the counter crossed MARK, between the poll at (T0, N0)
 * and the one at (T1, N1), if it did. */
static void crossed(double *t, double mark, double t0, long long n0, double t1, long long n1)
{
    if (*t == 0 && (double)n1 >= mark && n1 > n0)
        *t = (double)n0 >= mark ? t0 : t0 + (t1 - t0) * (mark - (double)n0) / (double)(n1 - n0);
}

int wait_processed(bench *b, workers *ws, long long target, double timeout_s, progress *p)
{
    double deadline = now_s() + timeout_s, next_note = now_s() + 5, prev_t = now_s();
    long long prev = 0;
    progress ignored;
    if (!p)
        p = &ignored;
    p->t10 = p->t90 = 0;
    for (;;) {
        long long dead, done = stat_counts(b, &dead);
        double t = now_s();
        if (done < 0) {
            bench_error(b, "redis: %s", b->rc->errstr);
            return -1;
        }
        /* A dead job is never processed: say so now, not at the timeout. */
        if (dead > 0) {
            bench_error(b, "%lld jobs dead (%lld of %lld processed)", dead, done, target);
            return -1;
        }
        crossed(&p->t10, 0.1 * (double)target, prev_t, prev, t, done);
        crossed(&p->t90, 0.9 * (double)target, prev_t, prev, t, done);
        prev = done, prev_t = t;
        if (done >= target)
            return 0;
        if (workers_check(b, ws))
            return -1;
        if (t > deadline) {
            bench_error(b, "timeout: %lld of %lld jobs processed after %.0f s", done, target,
                        timeout_s);
            return -1;
        }
        if (t > next_note) {
            fprintf(stderr, "sluice-bench: %lld of %lld processed\n", done, target);
            next_note = t + 5;
        }
        sleep_ms(20);
    }
}

double redis_cpu_s(bench *b)
{
    redisReply *r = redisCommand(b->rc, "INFO cpu");
    if (!r)
        return -1;
    double v = -1;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
        const char *u = strstr(r->str, "used_cpu_user:"), *s = strstr(r->str, "used_cpu_sys:");
        if (u && s)
            v = atof(u + 14) + atof(s + 13);
    }
    freeReplyObject(r);
    return v;
}
