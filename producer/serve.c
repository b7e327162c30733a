/* serve.c — `sluice-producer serve`: options, start-up, and the one libev
 * loop. libmicrohttpd runs in external mode with epoll: its epoll fd is an
 * ev_io on the loop, MHD_get_timeout sets one ev_timer, and an ev_prepare
 * runs once per loop turn, after every callback of the turn: it lets MHD
 * finish connections resumed in the turn and sends the jobs gathered in it
 * (serve_jobs_flush), so concurrent POSTs share one script call. */
#include "serve.h"
#include "keys.h"
#include "func.h"
#include "log.h"
#include "start.h"

#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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

static void mhd_run(serve *s)
{
    s->resumed = 0;
    MHD_run(s->mhd);
}

static void mhd_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    mhd_run(w->data);
}

static void mhd_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    mhd_run(w->data);
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    serve *s = w->data;
    if (s->resumed)
        mhd_run(s);
    serve_jobs_flush(s);
    MHD_UNSIGNED_LONG_LONG ms;
    ev_timer_stop(loop, &s->mhd_timer);
    if (MHD_get_timeout(s->mhd, &ms) == MHD_YES) {
        ev_timer_set(&s->mhd_timer, (double)ms / 1000.0, 0.);
        ev_timer_start(loop, &s->mhd_timer);
    }
    if (s->stopping && s->live == 0)
        ev_break(loop, EVBREAK_ALL);
}

void serve_resume(serve *s, sreq *r)
{
    r->phase = SREQ_ANSWER;
    s->live--;
    MHD_resume_connection(r->conn);
    s->resumed = 1;
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
    sl_info("stopping: no new connections; answering the requests in flight live=%ld", s->live);
    MHD_socket fd = MHD_quiesce_daemon(s->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
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

static void redis_state_cb(sl_rconn *c, int up, void *priv)
{
    if (up) {
        sl_func_report(c);
        serve_jobs_redis_up(priv);
    }
}

/* ---- listening ----------------------------------------------------------- */

/* A listening socket for SPEC; -1 after printing why. */
static int listen_on(const char *spec)
{
    int fd;
    if (!strncmp(spec, "unix:", 5)) {
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        const char *path = spec + 5;
        if (!*path || strlen(path) >= sizeof un.sun_path) {
            fprintf(stderr, "sluice-producer: --listen: unix:PATH needs a path of 1 to %zu bytes\n",
                    sizeof un.sun_path - 1);
            return -1;
        }
        strcpy(un.sun_path, path);
        unlink(path); /* a socket left by an earlier run */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&un, sizeof un) || listen(fd, 1024)) {
            fprintf(stderr, "sluice-producer: --listen %s: %s\n", spec, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        return fd;
    }
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host) {
        fprintf(stderr, "sluice-producer: --listen: \"%s\" is not HOST:PORT or unix:/path\n", spec);
        return -1;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || end == colon + 1) {
        fprintf(stderr, "sluice-producer: --listen: port \"%s\" is not 0..65535\n", colon + 1);
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    size_t hl = strlen(host);
    if (host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            goto bad_host;
        sl = sizeof *a6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
            goto bad_host;
        sl = sizeof *a4;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 4096)) {
        fprintf(stderr, "sluice-producer: --listen %s: %s\n", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
bad_host:
    fprintf(stderr,
            "sluice-producer: --listen: \"%s\" is not an IP address (give 127.0.0.1, "
            "[::1], 0.0.0.0 ...)\n",
            host);
    return -1;
}

static void mhd_log_cb(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    sl_warn("libmicrohttpd: %s", msg);
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
    int lfd = listen_on(o.listen);
    if (lfd < 0)
        return 2;
    s.loop = sl_start_loop(NULL, 0, NULL);
    raise_nofile(o.max_conns);
    sl_keys_queues(s.queues_key, o.prefix);

    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    s.mhd = MHD_start_daemon(flags, 0, NULL, NULL, serve_access_cb, &s, MHD_OPTION_EXTERNAL_LOGGER,
                             mhd_log_cb, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
                             MHD_OPTION_CONNECTION_LIMIT, (unsigned)o.max_conns,
                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)o.conn_memory,
                             MHD_OPTION_CONNECTION_TIMEOUT, 300u, MHD_OPTION_NOTIFY_COMPLETED,
                             serve_completed_cb, &s, MHD_OPTION_END);
    if (!s.mhd) {
        fprintf(stderr, "sluice-producer: libmicrohttpd did not start (%s)\n", strerror(errno));
        close(lfd);
        return 2;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s.mhd, MHD_DAEMON_INFO_EPOLL_FD);
    ev_io_init(&s.mhd_io, mhd_io_cb, info->epoll_fd, EV_READ);
    s.mhd_io.data = &s;
    ev_io_start(s.loop, &s.mhd_io);
    ev_init(&s.mhd_timer, mhd_timer_cb);
    s.mhd_timer.data = &s;
    ev_prepare_init(&s.prepare, prepare_cb);
    s.prepare.data = &s;
    ev_prepare_start(s.loop, &s.prepare);
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
    if (serve_spool_open(&s, err, sizeof err)) {
        fprintf(stderr, "sluice-producer: --spool: %s\n", err);
        return 2;
    }

    char where[300];
    sl_redis_addr_describe(&addr, where, sizeof where);
    sl_info("listening listen=%s redis=%s auth=%s tokens=%d", o.listen, where,
            o.no_auth ? "off" : "bearer", s.tokens.n);
    ev_run(s.loop, 0);

    /* requests still waiting on Redis get their answer (503) from the
     * NULL replies, and every answer goes out before the daemon stops:
     * MHD must not be stopped with a connection suspended */
    sl_rconn_free(s.sub);
    sl_rconn_free(s.redis);
    s.sub = s.redis = NULL;
    serve_spool_close(&s); /* calls left unanswered: the spool takes their jobs */
    serve_wait_release_all(&s);
    for (int i = 0; i < 3; i++)
        MHD_run(s.mhd);
    MHD_stop_daemon(s.mhd);
    serve_wait_deinit(&s);
    serve_jobs_free(&s);
    serve_tokens_deinit(&s.tokens);
    if (!strncmp(o.listen, "unix:", 5))
        unlink(o.listen + 5);
    sl_info("stopped");
    return 0;
}
