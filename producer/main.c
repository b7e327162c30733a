/* sluice-producer — enqueue jobs: one from flags, or many as NDJSON, alone
 * or in a batch; seal a batch; flush the spool. */
#include "producer.h"
#include "batch.h"
#include "config.h"
#include "enqueue.h"
#include "job.h"
#include "jsoncheck.h"
#include "keys.h"
#include "log.h"
#include "rblock.h"
#include "schema.h"
#include "serve.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static producer_opts o;

static const sl_option options[] = {
    {"redis-url", "SLUICE_REDIS_URL", SL_OPT_SECRET, &o.redis_url, "redis://127.0.0.1:6379/0", 0, 0,
     "Redis address: redis://[user:pass@]host:port/db or unix:///path"},
    {"redis-timeout-ms", "SLUICE_REDIS_TIMEOUT_MS", SL_OPT_INT, &o.redis_timeout_ms, "5000", 1,
     3600000, "give up when Redis does not answer (connect, read, write) within this"},
    {"prefix", "SLUICE_PREFIX", SL_OPT_STR, &o.prefix, "sluice", 0, 0, "key prefix"},
    {"type", NULL, SL_OPT_STR, &o.type, NULL, 0, 0, "job type (one job)"},
    {"queue", NULL, SL_OPT_STR, &o.queue, NULL, 0, 0, "queue (default: the type)"},
    {"priority", NULL, SL_OPT_STR, &o.priority, "normal", 0, 0, "critical, high, normal or low"},
    {"payload", NULL, SL_OPT_STR, &o.payload, "{}", 0, 0, "payload JSON, or @file"},
    {"delay-ms", NULL, SL_OPT_INT, &o.delay_ms, "0", 0, 31536000000LL, "run no earlier than this"},
    {"run-at-ms", NULL, SL_OPT_INT, &o.run_at_ms, "0", 0, 253402300799999LL,
     "run no earlier than this time (ms since the epoch)"},
    {"max-attempts", NULL, SL_OPT_INT, &o.max_attempts, "8", -1000000, 1000000, "runs allowed"},
    {"timeout-ms", NULL, SL_OPT_INT, &o.timeout_ms, "30000", -1, 100000000000LL,
     "one run's time limit"},
    {"idempotency-key", NULL, SL_OPT_STR, &o.idempotency_key, NULL, 0, 0,
     "same key within the TTL returns the first job's id"},
    {"batch", NULL, SL_OPT_STR, &o.batch, NULL, 0, 0,
     "put the jobs in batch ID, or \"new\" (a new id, printed first)"},
    {"batch-callback", NULL, SL_OPT_STR, &o.batch_callback, NULL, 0, 0,
     "job envelope (JSON or @file) enqueued once the batch completes"},
    {"batch-open", NULL, SL_OPT_BOOL, &o.batch_open, NULL, 0, 0,
     "do not seal the batch: more jobs will join (then: seal ID)"},
    {"batch-ttl-ms", "SLUICE_BATCH_TTL_MS", SL_OPT_INT, &o.batch_ttl_ms, "604800000", 1000,
     31536000000LL, "forget a batch not complete this long after its last use"},
    {"batch-keep-ms", "SLUICE_BATCH_KEEP_MS", SL_OPT_INT, &o.batch_keep_ms, "86400000", 1000,
     31536000000LL, "keep a complete batch's counts this long"},
    {"ndjson", NULL, SL_OPT_STR, &o.ndjson, NULL, 0, 0,
     "bulk: read one envelope per line from FILE, or - for stdin"},
    {"max-payload-bytes", "SLUICE_MAX_PAYLOAD_BYTES", SL_OPT_INT, &o.max_payload, "65536", 16,
     16777216, "refuse larger payloads"},
    {"idempotency-ttl-ms", "SLUICE_IDEMPOTENCY_TTL_MS", SL_OPT_INT, &o.idem_ttl_ms, "86400000",
     1000, 31536000000LL, "how long an idempotency key is remembered"},
    {"batch-size", NULL, SL_OPT_INT, &o.batch_size, "500", 1, 10000, "bulk: jobs per round trip"},
    {"spool", "SLUICE_SPOOL", SL_OPT_STR, &o.spool_path, NULL, 0, 0,
     "SQLite file where jobs wait while redis is out of reach"},
    {"spool-max-mb", "SLUICE_SPOOL_MAX_MB", SL_OPT_INT, &o.spool_max_mb, "1024", 1, 1048576,
     "refuse jobs that would grow the spool past this"},
    {0},
};

static const char *synopsis =
    "enqueue [--type T --payload JSON | --ndjson FILE|-] [options] | seal ID [options] | serve "
    "[options] | token new [options] | flush --spool PATH";
static const char *description =
    "Enqueues jobs into Sluice. One job: --type and --payload (and the other job flags);\n"
    "prints the job id. Bulk: --ndjson reads one JSON envelope per line, prints one id per\n"
    "accepted line in input order, and reports each rejected line on stderr with its number.\n"
    "Batches: --batch ID puts the jobs in batch ID (--batch new makes an id and prints it\n"
    "before the job ids); sluice-ctl batch ID shows its counts. When every job was accepted\n"
    "the batch is sealed (no more jobs join it) unless --batch-open; once sealed and every\n"
    "job has ended (done or dead), the --batch-callback job is enqueued, once.\n"
    "seal ID: seals batch ID (optionally with --batch-callback) and prints its counts.\n"
    "serve: the HTTP intake (sluice-producer serve --help); token new: a token for it.\n"
    "Every job is checked strictly before anything reaches Redis: one JSON value per line,\n"
    "valid UTF-8, no NUL, no duplicate member names, and numbers stored exactly as written\n"
    "(integers of up to 15 digits always are; past a double's precision a number is\n"
    "refused: send big ids as strings). A refused line is reported as \"line N: FIELD:\n"
    "reason\". Ids are printed as soon as their jobs are stored; lines are sent as soon as\n"
    "no more input is waiting. If Redis fails mid-run, stderr says which lines were stored,\n"
    "which were sent without an answer and which were not stored.\n"
    "Spool: with --spool PATH, when redis is out of reach (no connection, no answer within\n"
    "--redis-timeout-ms, or LOADING, READONLY, OOM, MASTERDOWN) the jobs not yet stored wait\n"
    "in the SQLite file PATH instead, in order, ids fixed: their ids are printed as usual,\n"
    "stderr says \"spooled: N jobs to PATH\", and the exit status is 0. Every run first\n"
    "sends what waits there (deleting rows only once redis confirmed them; a job stored\n"
    "already refuses a second copy), and while some still wait every new job goes behind\n"
    "them. Jobs of a batch are never spooled. A full spool (--spool-max-mb) stops the run\n"
    "like a redis error. flush: sends what waits and says how many jobs went and how many\n"
    "wait (sluice-ctl spool PATH lists them).\n"
    "Exit status: 0 all enqueued or spooled (flush: the spool is empty), 1 some jobs\n"
    "rejected (seal: no such batch; flush: another process is flushing), 2 usage, spool or\n"
    "Redis error (flush: jobs still wait).";

/* Builds one envelope from the flags and sends it through the same parser
 * and validator as NDJSON lines, so both report errors alike. */
static int enqueue_one(redisContext *rc)
{
    cJSON *env = cJSON_CreateObject();
    cJSON_AddStringToObject(env, "type", o.type);
    if (o.queue)
        cJSON_AddStringToObject(env, "queue", o.queue);
    cJSON_AddStringToObject(env, "priority", o.priority);
    const char *ptext = o.payload;
    char *file = NULL;
    size_t plen = strlen(ptext);
    if (ptext[0] == '@') {
        file = sl_read_file(ptext + 1, &plen);
        if (!file) {
            fprintf(stderr, "sluice-producer: --payload: cannot read %s: %m\n", ptext + 1);
            cJSON_Delete(env);
            return 2;
        }
        ptext = file;
    }
    /* strict first: cJSON alone would take '{"ms":5} trailing' as {"ms":5} */
    sl_jsoncheck_error je;
    if (sl_jsoncheck(ptext, plen, &je)) {
        char err[512];
        sl_jsoncheck_format(&je, "payload", err, sizeof err);
        fprintf(stderr, "sluice-producer: %s\n", err);
        free(file);
        cJSON_Delete(env);
        return 1;
    }
    cJSON *payload = cJSON_ParseWithLength(ptext, plen);
    free(file);
    if (!payload) {
        fprintf(stderr, "sluice-producer: payload: not valid JSON\n");
        cJSON_Delete(env);
        return 1;
    }
    cJSON_AddItemToObject(env, "payload", payload);
    cJSON_AddNumberToObject(env, "max_attempts", (double)o.max_attempts);
    cJSON_AddNumberToObject(env, "timeout_ms", (double)o.timeout_ms);
    if (o.delay_ms)
        cJSON_AddNumberToObject(env, "delay_ms", (double)o.delay_ms);
    if (o.run_at_ms)
        cJSON_AddNumberToObject(env, "run_at_ms", (double)o.run_at_ms);
    if (o.idempotency_key)
        cJSON_AddStringToObject(env, "idempotency_key", o.idempotency_key);
    if (o.batch)
        cJSON_AddStringToObject(env, "batch", o.batch);
    char *text = cJSON_PrintUnformatted(env);
    cJSON_Delete(env);
    o.single = 1;
    /* One line through the bulk path: same validation, same reply handling. */
    long rc_bulk = producer_bulk_text(rc, &o, text, strlen(text), stdout);
    free(text);
    return rc_bulk < 0 ? 2 : rc_bulk > 0 ? 1 : 0;
}

/* Says how many jobs wait in the spool, on stderr. */
static void print_waiting(void)
{
    char err[400];
    sl_spool_depth d;
    if (sl_spool_stat(o.spool, &d, err, sizeof err))
        fprintf(stderr, "sluice-producer: %s\n", err);
    else
        fprintf(stderr, "sluice-producer: %lld job%s (%lld bytes) wait in %s\n", d.jobs,
                d.jobs == 1 ? "" : "s", d.bytes, o.spool_path);
}

/* Sends what waits in the spool before anything else. FLUSH (the flush
 * command): says what was done on stdout and returns its exit status.
 * Else: says on stderr what was sent, sets o.spool_only when jobs still
 * wait, and returns 0, or -1 on a spool error. */
static int flush_first(redisContext *r, int flush)
{
    static char why[sizeof((producer_flushed *)0)->why + 64];
    producer_flushed f;
    int st = producer_flush(r, &o, &f);
    if (f.busy) {
        if (flush) {
            fprintf(stderr, "sluice-producer: flush: another process is flushing %s\n",
                    o.spool_path);
            return 1;
        }
        return 0; /* that one sends them: ours go straight to redis */
    }
    long long moved = f.sent + f.already + f.refused;
    if (flush)
        printf("flushed: %lld job%s from %s (%lld sent, %lld stored already, %lld refused); "
               "%lld waiting\n",
               moved, moved == 1 ? "" : "s", o.spool_path, f.sent, f.already, f.refused, f.left);
    else if (moved)
        fprintf(stderr, "sluice-producer: flushed %lld spooled job%s from %s first\n", moved,
                moved == 1 ? "" : "s", o.spool_path);
    if (st == 1) {
        fprintf(stderr, "sluice-producer: flush: redis: %s; %lld job%s still waiting in %s\n",
                f.why, f.left, f.left == 1 ? "" : "s", o.spool_path);
        snprintf(why, sizeof why, "%s", f.why);
        o.spool_only = why;
    }
    if (flush)
        return st ? 2 : 0;
    return st < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    /* the intake and its tokens have options of their own (serve.c) */
    if (argc > 1 && !strcmp(argv[1], "serve"))
        return serve_main(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "token"))
        return serve_token_main(argc, argv);
    char err[512];
    char *pos[4];
    int npos = 4;
    int rc = sl_config_parse(options, argc, argv, pos, &npos, err, sizeof err);
    if (rc && rc != SL_CONFIG_HELP) {
        fprintf(stderr, "sluice-producer: %s\n", err);
        sl_config_usage_line(stderr, "sluice-producer", synopsis);
        return 2;
    }
    int seal = npos > 0 && !strcmp(pos[0], "seal");
    int flush = npos > 0 && !strcmp(pos[0], "flush");
    if (npos > 0 && strcmp(pos[0], "enqueue") && !seal && !flush) {
        /* before --help: "serve --help" must not pass for a command */
        fprintf(stderr,
                "sluice-producer: unknown command \"%.40s\" (the commands are enqueue, "
                "seal, flush, serve and token)\n",
                pos[0]);
        sl_config_usage_line(stderr, "sluice-producer", synopsis);
        return 2;
    }
    if (rc == SL_CONFIG_HELP) {
        sl_config_usage(stdout, "sluice-producer", synopsis, description, options);
        return 0;
    }
    if (flush && (npos > 1 || !o.spool_path || o.batch || o.ndjson || o.type)) {
        fprintf(stderr, "sluice-producer: flush takes --spool PATH (or SLUICE_SPOOL) and no "
                        "job: usage: sluice-producer flush --spool PATH\n");
        return 2;
    }
    if (seal ? npos != 2 : npos > 1) {
        fprintf(stderr, "sluice-producer: %s (usage: sluice-producer %s)\n",
                seal && npos < 2 ? "seal: missing batch ID" : "too many arguments", synopsis);
        return 2;
    }
    if (seal && (o.batch || o.ndjson || o.type || o.batch_open)) {
        fprintf(stderr, "sluice-producer: seal takes a batch ID and --batch-callback, not %s\n",
                o.batch    ? "--batch"
                : o.ndjson ? "--ndjson"
                : o.type   ? "--type"
                           : "--batch-open");
        return 2;
    }
    if (!seal && !flush && !o.ndjson && !o.type) {
        fprintf(stderr, "sluice-producer: give --type (one job) or --ndjson FILE (bulk); see "
                        "--help\n");
        return 2;
    }
    if (!seal && o.batch_callback && !o.batch) {
        fprintf(stderr, "sluice-producer: --batch-callback needs --batch ID (or: sluice-producer "
                        "seal ID --batch-callback JSON)\n");
        return 2;
    }
    if (sl_check_name("--prefix", o.prefix, err, sizeof err)) {
        fprintf(stderr, "sluice-producer: %s\n", err);
        return 2;
    }
    /* a Redis that goes away must not kill us mid-write: the summary of
     * what was stored is owed to the frontend */
    signal(SIGPIPE, SIG_IGN);
    sl_log_init("producer", SL_LOG_INFO);
    sl_schema_init();
    char batch_id[SL_ID_LEN + 1];
    if (o.batch && !strcmp(o.batch, "new")) {
        sl_id_new(batch_id);
        o.batch = batch_id;
    }
    const char *check = seal ? pos[1] : o.batch;
    if (check && sl_batch_check_id(seal ? "batch ID" : "--batch", check, err, sizeof err)) {
        fprintf(stderr, "sluice-producer: %s\n", err);
        return 2;
    }
    producer_callback *cb = NULL;
    if (o.batch_callback && !(cb = producer_callback_new(&o)))
        return 2;
    o.callback = cb;
    sl_redis_addr addr;
    if (sl_redis_addr_parse(o.redis_url, &addr, err, sizeof err)) {
        fprintf(stderr, "sluice-producer: --redis-url: %s\n", err);
        producer_callback_free(cb);
        return 2;
    }
    if (o.spool_path &&
        !(o.spool = sl_spool_open(o.spool_path, o.spool_max_mb * 1024 * 1024, err, sizeof err))) {
        fprintf(stderr, "sluice-producer: --spool: %s\n", err);
        producer_callback_free(cb);
        return 2;
    }
    redisContext *r = sl_rblock_connect(&addr, (double)o.redis_timeout_ms / 1000, err, sizeof err);
    if (!r && o.spool && !seal && !flush && sl_rblock_outage(err)) {
        o.spool_only = strncmp(err, "redis: ", 7) ? err : err + 7; /* every job: the spool */
    } else if (!r) {
        fprintf(stderr, "sluice-producer: %s%s\n", err,
                strstr(err, SL_RBLOCK_TIMED_OUT) ? " (--redis-timeout-ms sets the limit)" : "");
        if (flush)
            print_waiting();
        sl_spool_close(o.spool);
        producer_callback_free(cb);
        return 2;
    }
    if (r && o.spool) {
        int st = flush_first(r, flush);
        if (flush || st < 0) {
            redisFree(r);
            sl_spool_close(o.spool);
            producer_callback_free(cb);
            return st < 0 ? 2 : st;
        }
    }
    if (o.batch == batch_id && !o.spool_only) { /* a new batch: its id first, before the jobs' */
        printf("%s\n", batch_id);
        fflush(stdout);
    }
    int status;
    if (seal) {
        status = producer_seal(r, &o, pos[1]);
    } else if (o.ndjson) {
        int in = strcmp(o.ndjson, "-") ? open(o.ndjson, O_RDONLY | O_CLOEXEC) : 0;
        if (in < 0) {
            fprintf(stderr, "sluice-producer: --ndjson: cannot open %s: %m\n", o.ndjson);
            redisFree(r);
            sl_spool_close(o.spool);
            producer_callback_free(cb);
            return 2;
        }
        long rej = producer_bulk(r, &o, in, stdout);
        if (in != 0)
            close(in);
        status = rej < 0 ? 2 : rej > 0 ? 1 : 0;
    } else {
        status = enqueue_one(r);
    }
    redisFree(r);
    sl_spool_close(o.spool);
    producer_callback_free(cb);
    return status;
}
