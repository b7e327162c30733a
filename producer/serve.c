/* serve.c — `sluice-producer serve`: options, start-up, and the one libev
 * loop. libmicrohttpd runs on it through httpd.h (its epoll fd an ev_io, its
 * timeout an ev_timer); once per loop turn, after MHD has finished the
 * connections resumed in the turn, the jobs gathered in it are sent
 * (serve_jobs_flush), so concurrent POSTs share one script call. */
#include "serve.h"
#include "keys.h"
#include "func.h"
#include "log.h"
#include "metrics_http.h"
#include "notify.h"
#include "start.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static serve_opts o;

static const sl_option options[] = {
    {"redis-url", "SLUICE_REDIS_URL", SL_OPT_SECRET, &o.redis_url, "redis://127.0.0.1:6379/0", 0, 0,
     "Redis address: redis://[user:pass@]host:port/db or unix:///path"},
    {"redis-timeout-ms", "SLUICE_REDIS_TIMEOUT_MS", SL_OPT_INT, &o.redis_timeout_ms, "5000", 100,
     3600000, "drop a Redis connection that does not answer within this"},
    {"prefix", "SLUICE_PREFIX", SL_OPT_STR, &o.prefix, "sluice", 0, 0, "key prefix"},
    {"listen", "SLUICE_LISTEN", SL_OPT_STR, &o.listen, "127.0.0.1:8787", 0, 0,
     "HOST:PORT (IPv4 or [IPv6]) or unix:/path to listen on"},
    {"tokens-file", "SLUICE_TOKENS_FILE", SL_OPT_STR, &o.tokens_file, NULL, 0, 0,
     "bearer tokens: one JSON object a line (see sluice-producer token new); reloaded on SIGHUP"},
    {"no-auth", NULL, SL_OPT_BOOL, &o.no_auth, NULL, 0, 0,
     "accept requests without a token (only behind a proxy that authenticates)"},
    {"max-body-bytes", "SLUICE_MAX_BODY_BYTES", SL_OPT_INT, &o.max_body, "8388608", 1024,
     1073741824, "refuse larger request bodies (413)"},
    {"max-payload-bytes", "SLUICE_MAX_PAYLOAD_BYTES", SL_OPT_INT, &o.max_payload, "65536", 16,
     16777216, "refuse larger payloads"},
    {"idempotency-ttl-ms", "SLUICE_IDEMPOTENCY_TTL_MS", SL_OPT_INT, &o.idem_ttl_ms, "86400000",
     1000, 31536000000LL, "how long an idempotency key is remembered"},
    {"max-connections", NULL, SL_OPT_INT, &o.max_conns, "16384", 16, 1000000,
     "open connections at most (waiting requests included)"},
    {"connection-memory-bytes", NULL, SL_OPT_INT, &o.conn_memory, "2048", 1024, 1048576,
     "memory per connection for the request's headers and the answer's: 2048 takes ~1.2 KB "
     "of request headers (more: 431, or the connection closed); a waiting request costs "
     "this plus ~1.5 KB"},
    {"spool", "SLUICE_SPOOL", SL_OPT_STR, &o.spool_path, NULL, 0, 0,
     "SQLite file where jobs wait while redis is out of reach (answered 202 \"spooled\")"},
    {"spool-max-mb", "SLUICE_SPOOL_MAX_MB", SL_OPT_INT, &o.spool_max_mb, "1024", 1, 1048576,
     "refuse jobs that would grow the spool past this (503)"},
    SL_METRICS_LISTEN_OPTION(&o.metrics_listen),
    {0},
};

static const char *synopsis = "serve [--listen HOST:PORT|unix:/path] --tokens-file FILE [options]";
static const char *description =
    "The HTTP intake: bot frontends in any language enqueue jobs and follow them.\n"
    "  POST   /v1/jobs          one envelope, or {\"jobs\": [...]} (up to 1,000): 201 {\"id\"}\n"
    "                           or {\"ids\"}; an array with one bad job stores nothing\n"
    "  GET    /v1/jobs/ID       state, attempts, last_error, timings, batch, result;\n"
    "                           ?queue=Q skips the search across queues; ?wait=S (<= 60)\n"
    "                           holds the answer until the job is done or dead\n"
    "  DELETE /v1/jobs/ID       cancels a job still waiting (ready or delayed)\n"
    "  GET    /v1/queues        the figures of sluice-ctl stats --json\n"
    "  GET    /v1/batches/ID    a batch's counts\n"
    "  GET    /healthz, /readyz process up; Redis reachable (or the spool has room)\n"
    "Spool: with --spool PATH, jobs Redis cannot take (unreachable, timing out, LOADING,\n"
    "READONLY, OOM, MASTERDOWN, or a call whose answer was lost) are written to PATH\n"
    "(SQLite, synchronous=FULL) with their ids fixed, and answered 202 {\"id\" or \"ids\",\n"
    "\"spooled\": true}. The intake sends them in order, exactly once, when Redis is back;\n"
    "new jobs wait behind them meanwhile. A full spool (--spool-max-mb) answers 503.\n"
    "Errors are JSON: {\"error\": {\"field\": ..., \"message\": ...}}. Tokens are sent as\n"
    "Authorization: Bearer TOKEN. schemas/openapi.json describes it all. TLS is the\n"
    "reverse proxy's job: listen on loopback or a Unix socket.";

/* ---- the loop ------------------------------------------------------------ */

/* Once per loop turn (httpd.h), after MHD has run for resumed connections:
 * the jobs gathered in the turn go out together. */
static void turn_cb(sl_httpd *h, void *priv)
{
    (void)h;
    serve *s = priv;
    serve_jobs_flush(s);
    if (s->stopping && s->live == 0)
        ev_break(s->loop, EVBREAK_ALL);
}

void serve_resume(serve *s, sreq *r)
{
    r->phase = SREQ_ANSWER;
    s->live--;
    sl_httpd_resume(s->httpd, r->conn);
}

static void stop_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w, (void)revents;
    sl_warn("stopping: requests still waiting on Redis after 5 s; leaving");
    ev_break(loop, EVBREAK_ALL);
}

static void stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    serve *s = w->data;
    if (s->stopping)
        return;
    s->stopping = 1;
    sl_notify_stopping(&s->notify);
    sl_info("stopping: no new connections; answering the requests in flight live=%ld", s->live);
    sl_httpd_quiesce(s->httpd);
    serve_wait_release_all(s);
    ev_timer_start(loop, &s->stop_timer);
}

static void hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop, (void)revents;
    serve *s = w->data;
    if (!s->o.tokens_file)
        return;
    serve_tokens fresh;
    char err[512];
    if (serve_tokens_load(&fresh, s->o.tokens_file, err, sizeof err)) {
        sl_warn("SIGHUP: tokens not reloaded, the old ones stay: %s", err);
        return;
    }
    serve_tokens_deinit(&s->tokens);
    s->tokens = fresh;
    sl_info("SIGHUP: tokens reloaded tokens=%d", s->tokens.n);
}

/* systemctl status: requests open and waiting, the spool's depth. */
static void notify_status_cb(char *buf, size_t len, void *priv)
{
    serve *s = priv;
    long long jobs = 0, bytes = 0;
    char spool[48] = "";
    if (serve_spool_depth(s, &jobs, &bytes))
        snprintf(spool, sizeof spool, "; spool %lld jobs", jobs);
    snprintf(buf, len, "%srequests %ld open, %ld waiting%s; redis %s",
             s->stopping ? "stopping: " : "", s->open, s->live, spool,
             sl_rconn_is_up(s->redis) ? "up" : "down");
}

static void redis_state_cb(sl_rconn *c, int up, void *priv)
{
    if (up) {
        sl_notify_ready(&((serve *)priv)->notify); /* up: authenticated, scripts loaded */
        sl_func_report(c);
        serve_jobs_redis_up(priv);
    }
}

/* Waiting requests each hold a socket: raise the soft limit to the hard. */
static void raise_nofile(long long want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl))
        return;
    rlim_t need = (rlim_t)want + 64;
    if (rl.rlim_cur >= need)
        return;
    rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
    setrlimit(RLIMIT_NOFILE, &rl);
}

int serve_main(int argc, char **argv)
{
    char err[512];
    char *pos[4];
    int npos = 4;
    const sl_start start = {"sluice-producer", synopsis, description, options};
    int rc = sl_start_options(&start, argc, argv, pos, &npos);
    if (rc != SL_START_GO)
        return rc;
    if (npos != 1) {
        fprintf(stderr, "sluice-producer: serve takes no arguments\n");
        sl_config_usage_line(stderr, "sluice-producer", synopsis);
        return 2;
    }
    sl_redis_addr addr;
    if ((rc = sl_start_setup(&start, "intake", NULL, o.redis_url, o.prefix, &addr)))
        return rc;
    if (!o.tokens_file && !o.no_auth) {
        fprintf(stderr, "sluice-producer: serve needs --tokens-file FILE (make entries with "
                        "sluice-producer token new), or --no-auth behind a proxy that "
                        "authenticates\n");
        return 2;
    }
    static serve s; /* the server; static: signal watchers point into it */
    s.o = o;
    if (o.tokens_file && serve_tokens_load(&s.tokens, o.tokens_file, err, sizeof err)) {
        fprintf(stderr, "sluice-producer: --tokens-file: %s\n", err);
        return 2;
    }
    int lfd = sl_httpd_listen(o.listen, "--listen", NULL, 1, err, sizeof err);
    if (lfd < 0) {
        fprintf(stderr, "sluice-producer: %s\n", err);
        return 2;
    }
    s.loop = sl_start_loop(NULL, 0, NULL);
    raise_nofile(o.max_conns);
    sl_keys_queues(s.queues_key, o.prefix);

    const sl_httpd_conf hc = {.listen_fd = lfd,
                              .conn_limit = (unsigned)o.max_conns,
                              .conn_memory = (size_t)o.conn_memory,
                              .conn_timeout = 300,
                              .suspend = 1,
                              .access = serve_access_cb,
                              .access_priv = &s,
                              .completed = serve_completed_cb,
                              .completed_priv = &s,
                              .turn = turn_cb,
                              .turn_priv = &s};
    s.httpd = sl_httpd_start(s.loop, &hc, err, sizeof err);
    if (!s.httpd) {
        fprintf(stderr, "sluice-producer: %s\n", err);
        close(lfd);
        return 2;
    }
    sl_start_signals(s.loop, &s.sigterm, &s.sigint, stop_cb, &s);
    ev_signal_init(&s.sighup, hup_cb, SIGHUP);
    s.sighup.data = &s;
    ev_signal_start(s.loop, &s.sighup);
    ev_timer_init(&s.stop_timer, stop_timer_cb, 5., 0.);

    s.redis = sl_rconn_new(s.loop, &addr, "intake");
    sl_rconn_set_timeout(s.redis, (double)o.redis_timeout_ms / 1000);
    sl_rconn_set_state_cb(s.redis, redis_state_cb, &s);
    s.sub = sl_rconn_new(s.loop, &addr, "intake-sub");
    serve_wait_init(&s);
    sl_notify_init(&s.notify, s.loop, notify_status_cb, &s);
    if (serve_spool_open(&s, err, sizeof err)) {
        fprintf(stderr, "sluice-producer: --spool: %s\n", err);
        return 2;
    }
    if (serve_metrics_start(&s, err, sizeof err)) {
        fprintf(stderr, "sluice-producer: %s\n", err);
        return 2;
    }

    char where[300];
    sl_redis_addr_describe(&addr, where, sizeof where);
    sl_info("listening listen=%s redis=%s auth=%s tokens=%d", o.listen, where,
            o.no_auth ? "off" : "bearer", s.tokens.n);
    ev_run(s.loop, 0);
    sl_notify_deinit(&s.notify);

    /* requests still waiting on Redis get their answer (503) from the
     * NULL replies, and every answer goes out before the daemon stops:
     * MHD must not be stopped with a connection suspended */
    sl_rconn_free(s.sub);
    sl_rconn_free(s.redis);
    s.sub = s.redis = NULL;
    serve_spool_close(&s); /* calls left unanswered: the spool takes their jobs */
    serve_wait_release_all(&s);
    sl_httpd_free(s.httpd);
    serve_metrics_stop(&s);
    serve_wait_deinit(&s);
    serve_jobs_free(&s);
    serve_tokens_deinit(&s.tokens);
    if (!strncmp(o.listen, "unix:", 5))
        unlink(o.listen + 5);
    sl_info("stopped");
    return 0;
}
