/* sluice-bench — measures Sluice against the Redis at SLUICE_REDIS_URL with
 * real sluice-worker processes, and prints one JSON object on stdout.
 * Progress and errors go to stderr. main() parses options, runs one test,
 * prints the report and removes the bench queue's keys. */
#include "bench.h"
#include "log.h"
#include "rblock.h"
#include "schema.h"

#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bench B;

static const sl_option options[] = {
    {"redis-url", "SLUICE_REDIS_URL", SL_OPT_SECRET, &B.redis_url, "redis://127.0.0.1:6379/0", 0, 0,
     "Redis address: redis://[user:pass@]host:port/db or unix:///path"},
    {"prefix", "SLUICE_PREFIX", SL_OPT_STR, &B.prefix, "sluice", 0, 0, "key prefix"},
    {"queue", NULL, SL_OPT_STR, &B.queue, NULL, 0, 0,
     "queue to fill and drain (default bench-PID, so that runs never mix)"},
    {"worker-bin", NULL, SL_OPT_STR, &B.worker_bin, NULL, 0, 0,
     "sluice-worker to start (default: the one beside this program)"},
    {"jobs", NULL, SL_OPT_INT, &B.jobs, "100000", 1, 100000000, "noop, io, message: jobs to run"},
    {"workers", NULL, SL_OPT_INT, &B.workers, "1", 1, 256, "noop, io, message: worker processes"},
    {"concurrency", NULL, SL_OPT_INT, &B.concurrency, "0", 0, 100000,
     "jobs in flight per worker (0: 1000 for noop, io and message, 100 for latency)"},
    {"batch", NULL, SL_OPT_INT, &B.batch, "500", 1, 100000, "noop, io: jobs per enqueue call"},
    {"pipeline", NULL, SL_OPT_INT, &B.pipeline, "12", 1, 1024,
     "noop, io: enqueue calls in flight at once"},
    {"worker-batch", NULL, SL_OPT_INT, &B.worker_batch, "0", 0, 1000,
     "the workers' --batch (0: their default)"},
    {"rate", NULL, SL_OPT_INT, &B.rate, "1000", 1, 1000000, "latency: jobs enqueued per second"},
    {"seconds", NULL, SL_OPT_INT, &B.seconds, "10", 1, 3600, "latency: how long to enqueue"},
    {"ms", NULL, SL_OPT_INT, &B.ms, "50", 0, 3600000, "io: how long each sleep job waits"},
    {"discord-api", NULL, SL_OPT_STR, &B.discord_api, NULL, 0, 0,
     "message: the fake's Discord API, http://127.0.0.1:PORT/api/v10 (the workers' "
     "SLUICE_DISCORD_API)"},
    {"discord-token-file", NULL, SL_OPT_STR, &B.discord_token_file, NULL, 0, 0,
     "message: the bot token's file (the workers' SLUICE_DISCORD_TOKEN_FILE; never read here)"},
    {"channels", NULL, SL_OPT_INT, &B.channels, "100", 1, 1000000,
     "message: channels the messages are spread over"},
    {"discord-per-second", NULL, SL_OPT_INT, &B.discord_per_s, "50", 0, 100000,
     "message: the workers' --discord-per-second (0: no limit of their own)"},
    {"pdf-threads", NULL, SL_OPT_INT, &B.pdf_threads, "2", 1, 64,
     "pdf: render threads per worker (the workers' --pdf-threads)"},
    {"timeout-s", NULL, SL_OPT_INT, &B.timeout_s, "600", 1, 86400,
     "give up when the jobs are not all processed this long after the workers start"},
    {0},
};

static const char *synopsis = "noop|latency|io|message|pdf|spool [options]";
static const char *description =
    "Tests (each prints one JSON object on stdout):\n"
    "  noop     enqueue --jobs no-op jobs in batches, then start --workers workers at\n"
    "           --concurrency and time until all are processed: jobs/s both ways, Redis\n"
    "           and worker CPU per job, worker peak RSS\n"
    "  latency  one worker; enqueue one job per call at --rate jobs/s for --seconds and\n"
    "           report enqueue-to-start p50/p90/p99/max in ms\n"
    "  io       --jobs sleep jobs of --ms each, one worker at --concurrency: jobs/s and\n"
    "           its ratio to the ideal concurrency * 1000 / ms\n"
    "  message  --jobs Discord messages over --channels channels, delivered by --workers\n"
    "           workers to sluice-fake-platform at --discord-api: messages/s, CPU per\n"
    "           message, worker peak RSS, and the fake's deliveries, duplicates and 429s\n"
    "  pdf      --jobs one-page documents rendered by --workers workers (--pdf-threads\n"
    "           each) and filed under a temporary --pdf-dir: documents/s, CPU per\n"
    "           document, worker peak RSS\n"
    "  spool    --jobs noop jobs into a producer spool (SQLite, synchronous=FULL): the\n"
    "           library's puts of --batch jobs, sluice-producer --spool with Redis refusing\n"
    "           connections, then sluice-producer flush into Redis: jobs/s each\n"
    "Runs against SLUICE_REDIS_URL and starts no Redis. Deletes the bench queue's keys\n"
    "when done.";

static const struct {
    const char *name;
    int (*run)(bench *b);
} tests[] = {{"noop", test_noop},       {"latency", test_latency}, {"io", test_io},
             {"message", test_message}, {"pdf", test_pdf},         {"spool", test_spool}};

static void member(bench *b, const char *name)
{
    if (b->report.len)
        sl_buf_puts(&b->report, ",");
    sl_buf_json_str(&b->report, name, strlen(name));
    sl_buf_puts(&b->report, ":");
}

void report_int(bench *b, const char *name, long long v)
{
    member(b, name);
    sl_buf_printf(&b->report, "%lld", v);
}

void report_num(bench *b, const char *name, double v, int decimals)
{
    member(b, name);
    if (!isfinite(v)) /* JSON has no NaN or infinity */
        sl_buf_puts(&b->report, "null");
    else
        sl_buf_printf(&b->report, "%.*f", decimals, v);
}

void report_str(bench *b, const char *name, const char *v)
{
    member(b, name);
    sl_buf_json_str(&b->report, v, strlen(v));
}

void report_raw(bench *b, const char *name, const char *json)
{
    member(b, name);
    sl_buf_puts(&b->report, json);
}

void bench_error(bench *b, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "sluice-bench: %s\n", msg);
    if (b->nerrors++)
        sl_buf_puts(&b->errors, ",");
    sl_buf_json_str(&b->errors, msg, strlen(msg));
}

/* Removes every key of the bench queue: the known structures by name, then
 * whatever SCAN still finds under "PREFIX:{Q}:" (job keys of jobs that did
 * not finish, idempotency keys). Returns the number of leftovers found. */
static long long cleanup(bench *b)
{
    const sl_keys *k = &b->keys;
    redisReply *r = redisCommand(b->rc, "DEL %s %s %s %s %s %s %s %s %s %s", k->ready[0],
                                 k->ready[1], k->ready[2], k->ready[3], k->delayed, k->active,
                                 k->done, k->dead, k->stats, k->paused);
    if (!r)
        return -1;
    freeReplyObject(r);
    char queues[SL_KEY_MAX];
    sl_keys_queues(queues, b->prefix);
    freeReplyObject(redisCommand(b->rc, "SREM %s %s", queues, k->queue));
    char pattern[SL_KEY_MAX + 2];
    snprintf(pattern, sizeof pattern, "%s*", k->base);
    char cursor[32] = "0";
    long long left = 0;
    do {
        r = redisCommand(b->rc, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            return -1;
        }
        sl_strlcpy(cursor, r->element[0]->str, sizeof cursor);
        redisReply *keys = r->element[1];
        if (keys->elements) {
            const char **argv = sl_malloc((keys->elements + 1) * sizeof *argv);
            size_t *lens = sl_malloc((keys->elements + 1) * sizeof *lens);
            argv[0] = "UNLINK", lens[0] = 6;
            for (size_t i = 0; i < keys->elements; i++) {
                argv[i + 1] = keys->element[i]->str;
                lens[i + 1] = keys->element[i]->len;
            }
            freeReplyObject(redisCommandArgv(b->rc, (int)keys->elements + 1, argv, lens));
            free(argv);
            free(lens);
            left += (long long)keys->elements;
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0"));
    return left;
}

/* The sluice-worker beside this program (its real path, via /proc). */
static const char *default_worker_bin(void)
{
    static char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 32);
    if (n <= 0)
        return "sluice-worker";
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    strcpy(slash ? slash + 1 : path, "sluice-worker");
    return path;
}

int main(int argc, char **argv)
{
    char err[512], *pos[2];
    int npos = 2;
    bench *b = &B;
    int rc = sl_config_parse(options, argc, argv, pos, &npos, err, sizeof err);
    if (rc && rc != SL_CONFIG_HELP) {
        fprintf(stderr, "sluice-bench: %s\n", err);
        sl_config_usage_line(stderr, "sluice-bench", synopsis);
        return 2;
    }
    int (*run)(bench *) = NULL;
    for (size_t i = 0; npos == 1 && i < sizeof tests / sizeof tests[0]; i++)
        if (!strcmp(pos[0], tests[i].name)) {
            run = tests[i].run;
            b->test = tests[i].name;
        }
    /* "sluice-bench serve --help" names no test: an error, not the help */
    if (rc == SL_CONFIG_HELP && (run || npos == 0)) {
        sl_config_usage(stdout, "sluice-bench", synopsis, description, options);
        return 0;
    }
    if (!run) {
        if (npos == 1)
            fprintf(stderr,
                    "sluice-bench: unknown test \"%.40s\" (the tests are noop, latency, io, "
                    "message, pdf and spool)\n",
                    pos[0]);
        else if (npos > 1)
            fprintf(stderr, "sluice-bench: unexpected argument \"%.40s\" (one test at a time)\n",
                    pos[1]);
        else
            fprintf(stderr,
                    "sluice-bench: name one test: noop, latency, io, message, pdf or spool\n");
        sl_config_usage_line(stderr, "sluice-bench", synopsis);
        return 2;
    }
    char queue[65];
    if (!b->queue) {
        snprintf(queue, sizeof queue, "bench-%d", (int)getpid());
        b->queue = queue;
    }
    if (sl_check_name("--prefix", b->prefix, err, sizeof err) ||
        sl_check_name("--queue", b->queue, err, sizeof err)) {
        fprintf(stderr, "sluice-bench: %s\n", err);
        return 2;
    }
    if (!b->worker_bin)
        b->worker_bin = default_worker_bin();
    if (access(b->worker_bin, X_OK)) {
        fprintf(stderr, "sluice-bench: --worker-bin: cannot run %s: %m\n", b->worker_bin);
        return 2;
    }
    if (!strcmp(b->test, "message")) {
        if (!b->discord_api || !b->discord_token_file) {
            fprintf(stderr, "sluice-bench: message needs --discord-api and --discord-token-file\n");
            return 2;
        }
        if (access(b->discord_token_file, R_OK)) {
            fprintf(stderr, "sluice-bench: --discord-token-file: cannot read %s: %m\n",
                    b->discord_token_file);
            return 2;
        }
    }
    if (!b->concurrency)
        b->concurrency = !strcmp(b->test, "latency") ? 100 : 1000;
    if (sl_redis_addr_parse(b->redis_url, &b->addr, err, sizeof err)) {
        fprintf(stderr, "sluice-bench: --redis-url: %s\n", err);
        return 2;
    }
    /* Hiredis frees its output buffer whenever it empties: keep glibc from
     * handing those megabytes back to the kernel and faulting them in again
     * for every batch, which costs more than the encoding. */
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    sl_log_init("bench", SL_LOG_WARN);
    sl_schema_init();
    signal(SIGPIPE, SIG_IGN);
    if (!(b->rc = sl_rblock_connect(&b->addr, 30.0, err, sizeof err))) {
        fprintf(stderr, "sluice-bench: %s\n", err);
        return 1;
    }
    sl_keys_init(&b->keys, b->prefix, b->queue);
    char queues[SL_KEY_MAX];
    sl_keys_queues(queues, b->prefix);
    freeReplyObject(redisCommand(b->rc, "SADD %s %s", queues, b->queue));

    report_str(b, "test", b->test);
    report_str(b, "queue", b->queue);
    run(b);

    long long left = cleanup(b);
    if (left < 0)
        bench_error(b, "clean-up: redis: %s", b->rc->errstr[0] ? b->rc->errstr : "bad reply");
    else
        report_int(b, "leftover_keys", left);
    printf("{%s", b->report.data);
    if (b->nerrors)
        printf(",\"errors\":[%s]", b->errors.data);
    printf("}\n");
    fflush(stdout);
    redisFree(b->rc);
    sl_buf_deinit(&b->report);
    sl_buf_deinit(&b->errors);
    return b->nerrors ? 1 : 0;
}
