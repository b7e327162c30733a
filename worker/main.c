/* sluice-worker — runs jobs from one or more queues. main() only starts
 * things up; see worker.h for where each concern lives. */
#include "worker.h"
#include "config.h"
#include "events.h"
#include "func.h"
#include "log.h"
#include "metrics_http.h"
#include "call.h"
#include "gate.h"
#include "start.h"
#include "handlers/pdf_job.h"

#include <stdlib.h>
#include <string.h>

/* What the options set: each option's table entry points at the field it
 * fills, so the value lives in one place. */
static worker W;
static message_opts mo;
static pdf_opts pdf; /* the pdf job's (handlers/pdf_job.h) */
static struct {      /* read by main() only */
    const char *redis_url, *queues, *log_level, *id, *latency_log, *metrics_listen;
} o;

static const sl_option options[] = {
    {"redis-url", "SLUICE_REDIS_URL", SL_OPT_SECRET, &o.redis_url, "redis://127.0.0.1:6379/0", 0, 0,
     "Redis address: redis://[user:pass@]host:port/db or unix:///path"},
    {"prefix", "SLUICE_PREFIX", SL_OPT_STR, &W.prefix, "sluice", 0, 0, "key prefix"},
    {"queues", "SLUICE_QUEUES", SL_OPT_STR, &o.queues, "noop", 0, 0,
     "queues to serve: a,b,c (strict order), a:3,b:1 (weights), or both: "
     "a,b:3,c:1 serves a first, then b and c by weight"},
    {"concurrency", "SLUICE_CONCURRENCY", SL_OPT_INT32, &W.concurrency, "100", 1, 100000,
     "jobs in flight at once"},
    {"batch", "SLUICE_BATCH", SL_OPT_INT32, &W.batch, "256", 1, 1000, "most jobs per claim"},
    {"lease-ms", "SLUICE_LEASE_MS", SL_OPT_INT, &W.lease_ms, "30000", 300, 3600000,
     "lease of a claimed job; renewed every third of it while the job runs (fenced: "
     "once taken back, this worker's renew, ack or hand-back of it is refused, and its run "
     "here is stopped)"},
    {"grace-ms", "SLUICE_GRACE_MS", SL_OPT_INT, &W.grace_ms, "10000", 0, 3600000,
     "on SIGTERM, how long running jobs may finish before they are handed back"},
    {"retention-ms", "SLUICE_RETENTION_MS", SL_OPT_INT, &W.retention_ms, "3600000", 0,
     31536000000LL, "keep finished jobs in done this long (0: delete at once)"},
    {"result-max-bytes", "SLUICE_RESULT_MAX_BYTES", SL_OPT_INT, &W.result_max, "16384", 64, 1048576,
     "largest result a handler may give back (kept with the done job, published on "
     "PREFIX:{Q}:finished); a bigger one is replaced by {\"error\": \"result over N bytes\"} and "
     "the job is done all the same"},
    {"events-cap", "SLUICE_EVENTS_CAP", SL_OPT_INT, &W.events_cap, SL_EVENTS_CAP_DEFAULT_STR, 0,
     100000000,
     "entries kept in the job-end events stream PREFIX:events (XADD MAXLEN ~), which the "
     "leading scheduler archives into SQLite (--archive); one entry per ack or fail call, "
     "carrying all its ends. 0: write no events"},
    {"heartbeat-ms", "SLUICE_HEARTBEAT_MS", SL_OPT_INT, &W.heartbeat_ms, "5000", 100, 600000,
     "how often the worker reports itself; silent for 3 beats (the scheduler's "
     "--worker-dead-ms), it is dead and its jobs run elsewhere"},
    {"backoff-base-ms", "SLUICE_BACKOFF_BASE_MS", SL_OPT_INT, &W.backoff.base_ms, "1000", 1,
     3600000, "ceiling of the first retry delay (doubles per attempt, full jitter)"},
    {"backoff-max-ms", "SLUICE_BACKOFF_MAX_MS", SL_OPT_INT, &W.backoff.max_ms, "600000", 1,
     86400000, "longest retry delay"},
    {"discord-per-second", "SLUICE_DISCORD_PER_SECOND", SL_OPT_INT, &mo.discord_per_second, "50", 0,
     100000, "each Discord bot's global request limit, shared by the fleet (0: none)"},
    {"telegram-per-second", "SLUICE_TELEGRAM_PER_SECOND", SL_OPT_INT, &mo.telegram_per_second, "30",
     0, 100000, "each Telegram bot's message limit, shared by the fleet (0: none)"},
    {"discord-ua-url", "SLUICE_DISCORD_UA_URL", SL_OPT_STR, &mo.discord_ua_url, SL_PROJECT_URL, 0,
     0, "URL in the User-Agent Discord requires: DiscordBot (URL, VERSION)"},
    {"discord-ua-version", "SLUICE_DISCORD_UA_VERSION", SL_OPT_STR, &mo.discord_ua_version,
     SL_VERSION, 0, 0, "VERSION in that User-Agent"},
    {"invalid-threshold", "SLUICE_INVALID_THRESHOLD", SL_OPT_INT, &mo.invalid_threshold, "5000", 0,
     9999, "pause a Discord bot at this many 401/403/429 answers in 10 minutes"},
    {"pdf-threads", "SLUICE_PDF_THREADS", SL_OPT_INT32, &pdf.threads, "2", 1, 64,
     "threads rendering PDFs in this process (never on the event loop)"},
    {"pdf-renders", "SLUICE_PDF_RENDERS", SL_OPT_INT32, &pdf.renders, "30", 1, 100000,
     "PDF renders at once in the whole fleet (a semaphore in Redis)"},
    {"pdf-max-pages", "SLUICE_PDF_MAX_PAGES", SL_OPT_INT32, &pdf.render.max_pages, "50", 1, 10000,
     "longest PDF, in pages; a longer document fails for good"},
    {"pdf-max-bytes", "SLUICE_PDF_MAX_BYTES", SL_OPT_INT, &pdf.render.max_bytes, "10485760", 10000,
     1073741824, "largest PDF file, in bytes"},
    {"pdf-font", "SLUICE_PDF_FONT", SL_OPT_STR, &pdf.render.font, "DejaVu Sans", 0, 0,
     "font family for PDFs (fontconfig picks another for scripts it lacks)"},
    {"pdf-dir", "SLUICE_PDF_DIR", SL_OPT_STR, &pdf.out_dir, NULL, 0, 0,
     "directory that deliver.file writes under (unset: file delivery refused)"},
    {"pdf-put-allow", "SLUICE_PDF_PUT_ALLOW", SL_OPT_STR, &pdf.put_allow, NULL, 0, 0,
     "URL prefixes a PDF may be PUT to, comma-separated (unset: PUT refused)"},
    {"tmp-dir", "SLUICE_TMP_DIR", SL_OPT_STR, &pdf.tmp_dir, "/tmp/sluice", 0, 0,
     "temporary files (PDFs being made); those of dead workers are removed at start-up"},
    {"id", "SLUICE_WORKER_ID", SL_OPT_STR, &o.id, NULL, 0, 0,
     "worker id (default: host-pid-random)"},
    {"latency-log", NULL, SL_OPT_STR, &o.latency_log, NULL, 0, 0,
     "write \"id start_us\" for every run to FILE (sluice-bench's latency test)"},
    SL_METRICS_LISTEN_OPTION(&o.metrics_listen),
    {"log-level", "SLUICE_LOG_LEVEL", SL_OPT_STR, &o.log_level, "info", 0, 0,
     "debug, info, warn or error"},
    {0},
};

static const char *description =
    "Claims jobs from Redis and runs them: one event loop, many jobs in flight, leases\n"
    "renewed while they run. SIGTERM: stop claiming, let running jobs finish within\n"
    "--grace-ms, hand the rest back to ready, exit 0. Job types: message, interview,\n"
    "followup, approval, pdf, and noop, sleep, fail for tests. Bot tokens come from\n"
    "SLUICE_DISCORD_TOKEN_FILE, SLUICE_TELEGRAM_TOKEN_FILE or SLUICE_BOTS_FILE.";

static int parse_queues(worker *w, const char *spec, char *err, size_t errlen)
{
    char *copy = sl_strdup(spec), *save = NULL;
    int n = 1;
    for (const char *p = spec; *p; p++)
        n += *p == ',';
    w->queues = sl_calloc(n, sizeof *w->queues);
    int weighted = -1, tier = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        int weight = 0;
        if (colon) {
            *colon = '\0';
            char *end;
            long v = strtol(colon + 1, &end, 10);
            if (*end || v < 1 || v > 1000) {
                snprintf(err, errlen, "--queues: weight of \"%s\" must be 1..1000", tok);
                goto fail;
            }
            weight = (int)v;
        }
        /* a strict queue is a tier of its own; a run of weighted queues
         * shares one */
        if (w->nqueues > 0 && !(colon && weighted == 1))
            tier++;
        weighted = colon != NULL;
        if (sl_check_name("--queues", tok, err, errlen))
            goto fail;
        wqueue *q = &w->queues[w->nqueues++];
        q->w = w;
        q->weight = weight;
        q->tier = tier;
        q->maybe_ready = 1;
        q->heard = 1; /* until an ack says the channel has no subscriber */
        sl_keys_init(&q->keys, w->prefix, tok);
    }
    free(copy);
    if (!w->nqueues) {
        snprintf(err, errlen, "--queues: name at least one queue");
        return SL_EINVAL;
    }
    return 0;
fail:
    free(copy);
    return SL_EINVAL;
}

static void flush_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
    (void)loop, (void)revents;
    worker *w = p->data;
    settle_flush(w);
    fetch_maybe_claim(w);
    drain_check_done(w);
}

static void settle_retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    settle_flush(t->data);
}

/* systemctl status: jobs in flight against --concurrency, the queues. */
static void notify_status_cb(char *buf, size_t len, void *priv)
{
    worker *w = priv;
    snprintf(buf, len, "%sjobs %d/%d in flight (%d waiting on rate limits); queues %s; redis %s",
             w->draining ? "draining: " : "", w->running, w->concurrency, w->parked, o.queues,
             sl_rconn_is_up(w->redis) ? "up" : "down");
}

static void redis_state_cb(sl_rconn *c, int up, void *priv)
{
    worker *w = priv;
    drain_check_closed(w);
    if (up) {                        /* say at once that this worker lives, and keep its leases */
        sl_notify_ready(&w->notify); /* up: authenticated, scripts loaded */
        sl_func_report(c);
        ev_feed_event(w->loop, &w->heartbeat, EV_TIMER);
        ev_feed_event(w->loop, &w->lease, EV_TIMER);
        settle_flush(w);
        fetch_maybe_claim(w);
    }
}

int main(int argc, char **argv)
{
    const sl_start start = {"sluice-worker", "[options]", description, options};
    int rc = sl_start_options(&start, argc, argv, NULL, NULL);
    if (rc != SL_START_GO)
        return rc;
    sl_redis_addr addr;
    if ((rc = sl_start_setup(&start, "worker", o.log_level, o.redis_url, W.prefix, &addr)))
        return rc;
    char err[512];
    if (parse_queues(&W, o.queues, err, sizeof err)) {
        fprintf(stderr, "sluice-worker: %s\n", err);
        return 2;
    }
    W.started_ms = sl_now_ms();
    W.loop = sl_start_loop(W.id, sizeof W.id, o.id);
    sl_keys_sched_notify(W.sched_channel, W.prefix);

    if (o.latency_log && !(W.latency_log = fopen(o.latency_log, "w"))) {
        fprintf(stderr, "sluice-worker: --latency-log: cannot open %s: %m\n", o.latency_log);
        return 2;
    }
    W.redis = sl_rconn_new(W.loop, &addr, "commands");
    W.subs = sl_rconn_new(W.loop, &addr, "wakeups");
    sl_rconn_set_state_cb(W.redis, redis_state_cb, &W);
    fetch_start(&W);
    lease_start(&W);
    gates_start(&W);
    if (pcall_init(&W, &mo, err, sizeof err)) {
        fprintf(stderr, "sluice-worker: %s\n", err);
        return 2;
    }
    if (pdf_init(&W, &pdf, err, sizeof err)) {
        fprintf(stderr, "sluice-worker: %s\n", err);
        return 2;
    }
    if (wmetrics_start(&W, o.metrics_listen, mo.invalid_threshold, err, sizeof err)) {
        fprintf(stderr, "sluice-worker: %s\n", err);
        return 2;
    }
    ev_prepare_init(&W.flush, flush_cb);
    W.flush.data = &W;
    ev_prepare_start(W.loop, &W.flush);
    ev_init(&W.settle_retry, settle_retry_cb);
    W.settle_retry.data = &W;
    drain_start(&W);
    sl_notify_init(&W.notify, W.loop, notify_status_cb, &W);

    char where[400];
    sl_redis_addr_describe(&addr, where, sizeof where);
    sl_info("worker started worker=%s queues=%s concurrency=%d redis=%s", W.id, o.queues,
            W.concurrency, where);
    ev_run(W.loop, 0);

    sl_notify_deinit(&W.notify);
    lease_stop(&W);
    drain_stop(&W);
    ev_timer_stop(W.loop, &W.poll);
    ev_timer_stop(W.loop, &W.settle_retry);
    ev_prepare_stop(W.loop, &W.flush);
    sl_rconn_free(W.subs);
    sl_rconn_free(W.redis);
    wmetrics_stop(&W);
    pdf_deinit(&W);
    pcall_deinit(&W);
    gates_free(&W);
    for (int i = 0; i < W.nqueues; i++) {
        pending_deinit(&W.queues[i].acks);
        pending_deinit(&W.queues[i].backs);
        pending_deinit(&W.queues[i].rets);
        pending_deinit(&W.queues[i].fails);
        wm_list_deinit(&W.queues[i].ack_m);
        wm_list_deinit(&W.queues[i].fail_m);
        sl_buf_deinit(&W.queues[i].ack_events);
    }
    free(W.queues);
    while (W.free_tasks) {
        task *t = W.free_tasks;
        W.free_tasks = t->next;
        free(t);
    }
    sl_buf_deinit(&W.event_line);
    if (W.latency_log)
        fclose(W.latency_log);
    ev_loop_destroy(W.loop);
    return 0;
}
