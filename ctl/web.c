/* web.c — `sluice-ctl web`: the dashboard. One page (web/index.html,
 * web/dashboard.js, web/style.css, compiled in by tools/embed.sh: no CDN,
 * works offline) that polls JSON endpoints:
 *
 *   GET  /api/view            the live view (view.c), as top draws it
 *   GET  /api/dead?limit=N    dead jobs, newest first, with reason and payload
 *   GET  /api/series?hours=H  throughput and failures per minute (archive rollups)
 *   GET  /api/apps            the interview workflow's pending applications
 *   POST /api/retry?queue=Q&id=ID    revive a dead job      (admin token)
 *   POST /api/cancel?queue=Q&id=ID   cancel a waiting job   (admin token)
 *
 * Threads: sluice-ctl is a command-line tool with blocking hiredis
 * (shared/rblock.c), not a libev program, so libmicrohttpd runs its own
 * internal polling thread (one thread, no thread per connection) and every
 * request is answered on it, one at a time, over one Redis connection.
 * The main thread only waits for SIGINT or SIGTERM. A refresh is one
 * pipelined round trip; /api/view answers from a copy at most a second
 * old, so any number of open pages cost Redis one refresh a second.
 *
 * Safety: read-only unless --admin-token-file is given; then POST actions
 * need "Authorization: Bearer TOKEN" (compared in constant time; the token
 * is never logged nor sent back). A browser does not add that header to a
 * cross-site request, so a page elsewhere cannot act. The Host header must
 * be an address or localhost, against DNS rebinding.
 * Everything from Redis reaches the page as JSON (cJSON escapes it) and
 * the script puts it in with textContent only; a strict
 * Content-Security-Policy (no inline script or style, nothing from
 * elsewhere) backs that up. */
#include "ctl.h"
#include "rblock.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define VIEW_MAX_AGE_MS 1000
#define DEAD_LIMIT_MAX 500
#define PAYLOAD_MAX 400 /* bytes of a dead job's payload sent to the page */
#define APPS_MAX 100

struct sl_embedded {
    const char *name;
    const char *text;
    size_t len;
};
extern const struct sl_embedded sl_web_assets[];

#define CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "                    \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

typedef struct web {
    ctl *c;
    sl_redis_addr addr;
    ctl_view *view;
    char *view_json; /* the last refresh, as sent */
    int64_t view_ms; /* when it was made (local clock) */
    char token[256]; /* "" = read-only; secret */
    size_t token_len;
    int port;
} web;

/* Reconnects after Redis went away. 0, or -1 (logged) when it is still
 * out of reach. */
static int redis_ok(web *w)
{
    if (w->c->rc && !w->c->rc->err)
        return 0;
    char err[512];
    redisContext *rc = sl_rblock_connect(&w->addr, 5.0, err, sizeof err);
    if (!rc) {
        ctl_errorf("web: %s", err);
        return -1;
    }
    if (w->c->rc)
        redisFree(w->c->rc);
    w->c->rc = rc;
    ctl_view_free(w->view);
    w->view = NULL;
    return 0;
}

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status, const char *type,
                                 const char *body, size_t len, int copy)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, (void *)body, copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Content-Security-Policy", CSP);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Sends DOC (and frees it). */
static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, cJSON *doc)
{
    char *s = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (!s)
        abort(); /* cJSON fails only when out of memory */
    enum MHD_Result ret = send_text(conn, status, "application/json", s, strlen(s), 1);
    free(s);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *msg)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "error", msg);
    return send_json(conn, status, doc);
}

static enum MHD_Result send_asset(struct MHD_Connection *conn, const char *url)
{
    static const struct {
        const char *url, *name, *type;
    } assets[] = {
        {"/", "index", "text/html; charset=utf-8"},
        {"/index.html", "index", "text/html; charset=utf-8"},
        {"/dashboard.js", "dashboard", "text/javascript; charset=utf-8"},
        {"/style.css", "style", "text/css; charset=utf-8"},
    };
    for (size_t i = 0; i < sizeof assets / sizeof assets[0]; i++) {
        if (strcmp(url, assets[i].url))
            continue;
        for (const struct sl_embedded *e = sl_web_assets; e->name; e++)
            if (!strcmp(e->name, assets[i].name))
                return send_text(conn, MHD_HTTP_OK, assets[i].type, e->text, e->len, 0);
    }
    if (!strcmp(url, "/favicon.ico")) /* none: said without a 404 in the console */
        return send_text(conn, MHD_HTTP_NO_CONTENT, "image/x-icon", "", 0, 0);
    return send_error(conn, MHD_HTTP_NOT_FOUND, "no such page");
}

static enum MHD_Result api_view(web *w, struct MHD_Connection *conn)
{
    int64_t now = sl_now_ms();
    if (!w->view_json || now - w->view_ms >= VIEW_MAX_AGE_MS) {
        if (redis_ok(w))
            return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "redis is out of reach");
        if (!w->view && !(w->view = ctl_view_new(w->c)))
            return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "redis refused the view");
        cJSON *doc = ctl_view_refresh(w->view, 1);
        if (!doc)
            return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "redis refused the view");
        cJSON_AddStringToObject(doc, "prefix", w->c->o->prefix);
        cJSON_AddBoolToObject(doc, "admin", w->token_len > 0);
        cJSON_AddBoolToObject(doc, "archive_given", w->c->o->archive != NULL);
        /* with an archive, the queue wait of its last 5 minutes' rollups too */
        char why[256];
        cJSON *lat =
            w->c->o->archive
                ? ctl_archive_latency(w->c->o->archive, sl_now_ms() - 5 * 60000, why, sizeof why)
                : NULL;
        if (lat)
            cJSON_AddItemToObject(doc, "archive_latency", lat);
        else
            cJSON_AddNullToObject(doc, "archive_latency");
        free(w->view_json);
        w->view_json = cJSON_PrintUnformatted(doc);
        cJSON_Delete(doc);
        w->view_ms = now;
    }
    return send_text(conn, MHD_HTTP_OK, "application/json", w->view_json, strlen(w->view_json), 1);
}

static long long arg_int(struct MHD_Connection *conn, const char *name, long long dflt,
                         long long min, long long max)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
    if (!v)
        return dflt;
    long long n = atoll(v);
    return n < min ? min : n > max ? max : n;
}

/* One dead job for the page: what its body says, the payload cut short. */
static cJSON *dead_json(const char *queue, const ctl_dead_entry *e, const redisReply *body)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "queue", queue);
    cJSON_AddStringToObject(o, "id", e->id);
    cJSON_AddNumberToObject(o, "died_ms", (double)e->died_ms);
    cJSON *doc =
        body->type == REDIS_REPLY_STRING ? cJSON_ParseWithLength(body->str, body->len) : NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "type");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(doc, "attempts");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(doc, "last_error");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(doc, "payload");
    const cJSON *raw = cJSON_GetObjectItemCaseSensitive(doc, "raw");
    cJSON_AddStringToObject(o, "type", cJSON_IsString(t) ? t->valuestring : "-");
    cJSON_AddNumberToObject(o, "attempts", cJSON_IsNumber(a) ? a->valuedouble : 0);
    cJSON_AddStringToObject(o, "last_error",
                            cJSON_IsString(err)                ? err->valuestring
                            : body->type == REDIS_REPLY_STRING ? ""
                                                               : "(body missing)");
    char *text =
        p ? cJSON_PrintUnformatted(p)
        : cJSON_IsString(raw)
            ? sl_strdup(raw->valuestring)
            : (!doc && body->type == REDIS_REPLY_STRING ? sl_strndup(body->str, body->len) : NULL);
    if (text) {
        char cut[PAYLOAD_MAX + 4];
        ctl_one_line(text, PAYLOAD_MAX, cut, sizeof cut);
        cJSON_AddStringToObject(o, "payload", cut);
        free(text);
    }
    cJSON_Delete(doc);
    return o;
}

static enum MHD_Result api_dead(web *w, struct MHD_Connection *conn)
{
    long long limit = arg_int(conn, "limit", 50, 1, DEAD_LIMIT_MAX);
    if (redis_ok(w))
        return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "redis is out of reach");
    ctl *c = w->c;
    char **names;
    long nq = ctl_queues(c, NULL, &names);
    if (nq < 0)
        return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "redis refused the queues");
    ctl_dead_list l;
    enum MHD_Result ret;
    if (ctl_dead_read(c, names, nq, limit, &l)) {
        ret = send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "redis refused the dead jobs");
    } else {
        cJSON *doc = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(doc, "jobs");
        for (size_t i = 0; i < l.n; i++)
            cJSON_AddItemToArray(list, dead_json(names[l.e[i].queue], &l.e[i], l.bodies[i]));
        cJSON_AddNumberToObject(doc, "total", (double)l.total);
        ret = send_json(conn, MHD_HTTP_OK, doc);
    }
    ctl_dead_list_free(&l);
    ctl_queues_free(names, nq);
    return ret;
}

static enum MHD_Result api_series(web *w, struct MHD_Connection *conn)
{
    long long hours = arg_int(conn, "hours", 3, 1, 24 * 90);
    char why[256];
    cJSON *doc = cJSON_CreateObject();
    cJSON *rows =
        ctl_archive_series(w->c->o->archive, sl_now_ms() - hours * 3600000, why, sizeof why);
    cJSON_AddBoolToObject(doc, "archive", rows != NULL);
    cJSON_AddNumberToObject(doc, "hours", (double)hours);
    if (rows) {
        cJSON *cols = cJSON_AddArrayToObject(doc, "columns");
        const char *names[] = {"minute_ms", "done", "dead", "retried", "cancelled", "rate_limited"};
        for (int i = 0; i < 6; i++)
            cJSON_AddItemToArray(cols, cJSON_CreateString(names[i]));
        cJSON_AddItemToObject(doc, "rows", rows);
    } else {
        cJSON_AddStringToObject(doc, "why", w->c->o->archive ? why : "no archive (no --archive)");
    }
    return send_json(conn, MHD_HTTP_OK, doc);
}

static enum MHD_Result api_apps(web *w, struct MHD_Connection *conn)
{
    if (redis_ok(w))
        return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "redis is out of reach");
    ctl *c = w->c;
    char pending[SL_KEY_MAX], key[SL_KEY_MAX];
    snprintf(pending, sizeof pending, "%s:{app}:pending", c->o->prefix);
    redisReply *ids = ctl_command(c, "ZRANGE", "ZRANGE %s 0 %d WITHSCORES", pending, APPS_MAX - 1);
    if (!ids)
        return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "redis refused the applications");
    size_t n = ids->elements / 2;
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof key, "%s:{app}:app:%s", c->o->prefix, ids->element[2 * i]->str);
        redisAppendCommand(c->rc, "HGETALL %s", key);
    }
    redisAppendCommand(c->rc, "ZCARD %s", pending);
    redisReply **h = sl_calloc(n + 2, sizeof *h);
    enum MHD_Result ret;
    if (ctl_read_replies(c, h, n + 1, "reading applications")) {
        ret = send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "redis refused the applications");
    } else {
        static const char *fields[] = {"guild", "user",           "channel",
                                       "state", "reminders_done", "deadline_ms"};
        cJSON *doc = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(doc, "pending");
        for (size_t i = 0; i < n; i++) {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddStringToObject(a, "id", ids->element[2 * i]->str);
            cJSON_AddNumberToObject(a, "next_check_ms",
                                    (double)ctl_reply_int(ids->element[2 * i + 1], 0));
            for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
                for (size_t j = 0; j + 1 < h[i]->elements; j += 2)
                    if (!strcmp(h[i]->element[j]->str, fields[f]))
                        cJSON_AddStringToObject(a, fields[f], h[i]->element[j + 1]->str);
            cJSON_AddItemToArray(list, a);
        }
        cJSON_AddNumberToObject(doc, "pending_total", (double)ctl_reply_int(h[n], 0));
        ctl_free_replies(h, n + 1);
        ret = send_json(conn, MHD_HTTP_OK, doc);
    }
    free(h);
    freeReplyObject(ids);
    return ret;
}

/* 1 when the request carries "Authorization: Bearer TOKEN"; the compare
 * takes the same time wherever the first difference is. */
static int authorized(const web *w, struct MHD_Connection *conn)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7))
        return 0;
    const char *t = h + 7;
    size_t len = strlen(t);
    unsigned char diff = (unsigned char)(len != w->token_len);
    for (size_t i = 0; i < w->token_len; i++)
        diff |= (unsigned char)(w->token[i] ^ (i < len ? t[i] : 0));
    return diff == 0;
}

static enum MHD_Result api_action(web *w, struct MHD_Connection *conn, int retry)
{
    if (!w->token_len)
        return send_error(conn, MHD_HTTP_FORBIDDEN,
                          "read-only: start sluice-ctl web with --admin-token-file to allow "
                          "actions");
    if (!authorized(w, conn))
        return send_error(conn, MHD_HTTP_UNAUTHORIZED, "a valid admin token is required");
    const char *queue = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "queue");
    const char *id = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "id");
    char err[256];
    if (!queue || sl_check_name("queue", queue, err, sizeof err))
        return send_error(conn, MHD_HTTP_BAD_REQUEST, queue ? err : "queue: missing");
    if (!id || !sl_job_id_valid(id))
        return send_error(conn, MHD_HTTP_BAD_REQUEST, "id: missing, or not a job id");
    if (redis_ok(w))
        return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "redis is out of reach");
    ctl_opts o = *w->c->o;
    o.queue = queue;
    ctl c = {.o = &o, .cmd = retry ? "retry" : "cancel", .rc = w->c->rc, .quiet = 1};
    char *pos[1] = {(char *)id};
    int rc = retry ? ctl_retry(&c, 1, pos) : ctl_cancel(&c, 1, pos);
    fprintf(stderr, "sluice-ctl: web: %s queue=%s job=%s: %s\n", c.cmd, queue, id,
            rc == CTL_OK         ? "done"
            : rc == CTL_NOTFOUND ? "refused"
                                 : "failed");
    w->view_ms = 0; /* the next view shows the change */
    if (rc == CTL_OK) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddBoolToObject(doc, "ok", 1);
        cJSON_AddStringToObject(doc, "done", retry ? "revived" : "cancelled");
        return send_json(conn, MHD_HTTP_OK, doc);
    }
    if (rc == CTL_NOTFOUND)
        return send_error(conn, MHD_HTTP_CONFLICT,
                          retry ? "not dead (any more): nothing to retry"
                                : "not ready or delayed: only waiting jobs can be cancelled");
    return send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "redis refused the action");
}

/* The Host header is an address (IPv4 or [IPv6]) or localhost, with any
 * port: a page on another site that re-points its own name at us (DNS
 * rebinding) sends its name, and is refused. */
static int host_ok(struct MHD_Connection *conn)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
    if (!h || !h[0])
        return 0;
    if (h[0] == '[')
        return strchr(h, ']') != NULL;
    char name[256];
    size_t n = strcspn(h, ":");
    if (n >= sizeof name)
        return 0;
    memcpy(name, h, n);
    name[n] = '\0';
    struct in_addr a;
    return !strcmp(name, "localhost") || inet_pton(AF_INET, name, &a) == 1;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_len, void **state)
{
    (void)version, (void)upload;
    web *w = cls;
    static int seen;
    if (!*state) { /* headers only: the body (ignored) comes in later calls */
        *state = &seen;
        return MHD_YES;
    }
    if (*upload_len) {
        *upload_len = 0;
        return MHD_YES;
    }
    if (!host_ok(conn))
        return send_error(conn, MHD_HTTP_MISDIRECTED_REQUEST,
                          "the Host header must name the address sluice-ctl web listens on");
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    int post = !strcmp(method, "POST");
    if (post && !strcmp(url, "/api/retry"))
        return api_action(w, conn, 1);
    if (post && !strcmp(url, "/api/cancel"))
        return api_action(w, conn, 0);
    if (!get)
        return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed here");
    if (!strcmp(url, "/api/view"))
        return api_view(w, conn);
    if (!strcmp(url, "/api/dead"))
        return api_dead(w, conn);
    if (!strcmp(url, "/api/series"))
        return api_series(w, conn);
    if (!strcmp(url, "/api/apps"))
        return api_apps(w, conn);
    return send_asset(conn, url);
}

static void mhd_log_cb(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fputs("sluice-ctl: web: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* The token from --admin-token-file: its first line. 0, or CTL_FAIL after
 * saying what is wrong (never the token). */
static int read_token(web *w, const char *path)
{
    size_t len;
    char *text = sl_read_file(path, &len);
    if (!text) {
        ctl_errorf("web: --admin-token-file %s: %s", path, strerror(errno));
        return CTL_FAIL;
    }
    size_t n = strcspn(text, "\r\n");
    if (n < 16 || n >= sizeof w->token) {
        ctl_errorf("web: --admin-token-file %s: the token must be 16 to %zu characters on its "
                   "first line (it has %zu)",
                   path, sizeof w->token - 1, n);
        free(text);
        return CTL_FAIL;
    }
    memcpy(w->token, text, n);
    w->token[n] = '\0';
    w->token_len = n;
    memset(text, 0, len);
    free(text);
    return 0;
}

int ctl_web(ctl *c, int npos, char **pos)
{
    (void)npos, (void)pos;
    web w = {.c = c};
    const char *colon = strrchr(c->o->listen, ':');
    char ip[48];
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (!colon || (size_t)(colon - c->o->listen) >= sizeof ip || (w.port = atoi(colon + 1)) <= 0 ||
        w.port > 65535) {
        ctl_errorf("web: --listen: expected HOST:PORT with an IPv4 address and a port 1..65535, "
                   "got \"%.60s\"",
                   c->o->listen);
        return CTL_FAIL;
    }
    snprintf(ip, sizeof ip, "%.*s", (int)(colon - c->o->listen), c->o->listen);
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
        ctl_errorf("web: --listen: \"%s\" is not an IPv4 address", ip);
        return CTL_FAIL;
    }
    sa.sin_port = htons((uint16_t)w.port);
    if (c->o->token_file && read_token(&w, c->o->token_file))
        return CTL_FAIL;
    char err[512];
    if (sl_redis_addr_parse(c->o->redis_url, &w.addr, err, sizeof err)) {
        ctl_errorf("--redis-url: %s", err);
        return CTL_FAIL;
    }
    /* SIGINT and SIGTERM for sigwait below: blocked before the thread starts */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)w.port,
                         NULL, NULL, access_cb, &w, MHD_OPTION_EXTERNAL_LOGGER, mhd_log_cb, NULL,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
                         64u, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!d) {
        ctl_errorf("web: cannot listen on %s: %s", c->o->listen, strerror(errno));
        return CTL_FAIL;
    }
    fprintf(stderr, "sluice-ctl: web: dashboard on http://%s/ (%s)\n", c->o->listen,
            w.token_len ? "retry and cancel allowed with the admin token" : "read-only");
    int sig = 0;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    fprintf(stderr, "sluice-ctl: web: stopped (signal %d)\n", sig);
    ctl_view_free(w.view);
    free(w.view_json);
    memset(w.token, 0, sizeof w.token);
    return CTL_OK;
}
