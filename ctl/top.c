/* top.c — `sluice-ctl top`: the live view (view.c) drawn in a terminal
 * every --interval seconds, one pipelined round trip a frame. Plain ANSI
 * escapes (home, erase line, erase below, the alternate screen), so it
 * needs no curses and works over ssh; every line is cut to the terminal's
 * width (never wrapped) and the sections share its height, 80x24 at
 * least. --once prints one frame, with no escapes, for tests and scripts
 * (two refreshes --interval apart, so that rates are known). When Redis
 * goes away the frame says so and top connects again at the next one. */
#include "ctl.h"
#include "rblock.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define LAT_WINDOW_MS (5 * 60000) /* rollups read for p50/p99 */

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* The frame: lines kept until drawn. */
typedef struct frame {
    char **lines;
    int n, cap;
    int cols;
} frame;

/* Adds a line cut to the width: control characters (a job's error may hold
 * escapes) become spaces, and a UTF-8 sequence counts as one column. */
static void add(frame *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(frame *f, const char *fmt, ...)
{
    char raw[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    char *out = sl_malloc(strlen(raw) + 1);
    int cols = 0;
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)raw; *p; p++) {
        if ((*p & 0xC0) != 0x80) { /* the start of a character */
            if (cols == f->cols)
                break;
            cols++;
        }
        out[o++] = *p < 0x20 || *p == 0x7f ? ' ' : (char)*p;
    }
    out[o] = '\0';
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 32;
        f->lines = sl_realloc(f->lines, (size_t)f->cap * sizeof *f->lines);
    }
    f->lines[f->n++] = out;
}

static double num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : "-";
}

/* "12.5", "12.3k" or "-" (unknown yet), in at most 6 columns */
static void rate(char *out, size_t len, const cJSON *rates, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rates, name);
    if (cJSON_IsNumber(v) && v->valuedouble >= 10000)
        snprintf(out, len, "%.1fk", v->valuedouble / 1000);
    else if (cJSON_IsNumber(v))
        snprintf(out, len, "%.1f", v->valuedouble);
    else
        snprintf(out, len, "-");
}

/* "35" ms, "1.2s", "3m", or "-" */
static void span(char *out, size_t len, const cJSON *v)
{
    if (!cJSON_IsNumber(v))
        snprintf(out, len, "-");
    else if (v->valuedouble < 1000)
        snprintf(out, len, "%.0f", v->valuedouble);
    else if (v->valuedouble < 60000)
        snprintf(out, len, "%.1fs", v->valuedouble / 1000);
    else
        snprintf(out, len, "%.0fm", v->valuedouble / 60000);
}

/* N in at most 5 columns: 1234, 12.3k, 123k, 1.2M */
static void count(char *out, size_t len, double n)
{
    if (n < 10000)
        snprintf(out, len, "%.0f", n);
    else if (n < 100000)
        snprintf(out, len, "%.1fk", n / 1000);
    else if (n < 1e6)
        snprintf(out, len, "%.0fk", n / 1000);
    else
        snprintf(out, len, "%.1fM", n / 1e6);
}

/* Lines of the queue table, at most ROOM with its header. */
static void queue_lines(frame *f, const cJSON *doc, const cJSON *arch, int room)
{
    const cJSON *queues = cJSON_GetObjectItemCaseSensitive(doc, "queues");
    add(f, "%-10s%4s %4s %5s %4s %5s %5s %5s %6s %6s %5s %5s %5s", "QUEUE", "CRIT", "HIGH", "NORM",
        "LOW", "DELAY", "ACTIV", "DEAD", "ENQ/s", "DONE/s", "FL/s", "P50", "P99");
    int nq = cJSON_GetArraySize(queues), shown = 0;
    const cJSON *q;
    cJSON_ArrayForEach(q, queues)
    {
        if (shown == room - 2 && nq > room - 1) {
            add(f, "... %d more queues (sluice-ctl stats lists them all)", nq - shown);
            break;
        }
        const cJSON *ready = cJSON_GetObjectItemCaseSensitive(q, "ready");
        const cJSON *rates = cJSON_GetObjectItemCaseSensitive(q, "rates");
        char enq[16], dn[16], fl[16], p50[16], p99[16], c[7][16];
        rate(enq, sizeof enq, rates, "enqueued");
        rate(dn, sizeof dn, rates, "processed");
        rate(fl, sizeof fl, rates, "failed");
        const char *names[7] = {"critical", "high", "normal", "low"};
        for (int i = 0; i < 4; i++)
            count(c[i], sizeof c[i], num(ready, names[i]));
        count(c[4], sizeof c[4], num(q, "delayed"));
        count(c[5], sizeof c[5], num(q, "active"));
        count(c[6], sizeof c[6], num(q, "dead"));
        const cJSON *lat = arch ? cJSON_GetObjectItemCaseSensitive(arch, q->string)
                                : cJSON_GetObjectItemCaseSensitive(q, "latency");
        span(p50, sizeof p50,
             cJSON_GetObjectItemCaseSensitive(lat, arch ? "wait_p50_ms" : "p50_ms"));
        span(p99, sizeof p99,
             cJSON_GetObjectItemCaseSensitive(lat, arch ? "wait_p99_ms" : "p99_ms"));
        add(f, "%-9.9s%s%4s %4s %5s %4s %5s %5s %5s %6s %6s %5s %5s %5s", q->string,
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(q, "paused")) ? "|" : " ", c[0], c[1],
            c[2], c[3], c[4], c[5], c[6], enq, dn, fl, p50, p99);
        shown++;
    }
    if (nq == 0)
        add(f, "(no queues yet: a producer registers each queue it enqueues into)");
}

/* Under the table: where P50/P99 come from; with the archive, the run
 * time too (all queues: the done-weighted p50, the highest p99). */
static void latency_line(frame *f, const cJSON *arch, const char *why)
{
    if (!arch) {
        add(f, "P50/P99: due->finished of the newest 50 done jobs per queue (%s)", why);
        return;
    }
    double sum = 0, n = 0, p99 = -1;
    const cJSON *q;
    cJSON_ArrayForEach(q, arch)
    {
        const cJSON *p50 = cJSON_GetObjectItemCaseSensitive(q, "run_p50_ms");
        const cJSON *hi = cJSON_GetObjectItemCaseSensitive(q, "run_p99_ms");
        if (cJSON_IsNumber(p50)) {
            sum += p50->valuedouble * num(q, "done");
            n += num(q, "done");
        }
        if (cJSON_IsNumber(hi) && hi->valuedouble > p99)
            p99 = hi->valuedouble;
    }
    char a[16] = "-", b[16] = "-";
    cJSON *tmp = cJSON_CreateNumber(n > 0 ? sum / n : 0);
    if (n > 0)
        span(a, sizeof a, tmp);
    cJSON_SetNumberValue(tmp, p99);
    if (p99 >= 0)
        span(b, sizeof b, tmp);
    cJSON_Delete(tmp);
    add(f, "P50/P99: queue wait, archive rollups of 5 min; run p50 %s p99 %s ms", a, b);
}

static void worker_lines(frame *f, const cJSON *doc, int room)
{
    const cJSON *workers = cJSON_GetObjectItemCaseSensitive(doc, "workers");
    int n = cJSON_GetArraySize(workers), shown = 0;
    add(f, "%-22s %-8s %8s %6s %s", "WORKERS", "STATE", "RUN/CONC", "BEAT", "IN FLIGHT (lease)");
    const cJSON *w;
    cJSON_ArrayForEach(w, workers)
    {
        if (shown == room - 1 && n > room) {
            add(f, "... %d more workers (sluice-ctl workers)", n - shown);
            break;
        }
        char jobs[512] = "";
        size_t o = 0;
        const cJSON *j;
        cJSON_ArrayForEach(j, cJSON_GetObjectItemCaseSensitive(w, "jobs"))
        {
            o += (size_t)snprintf(jobs + o, sizeof jobs - o, "%s%s:%s", o ? " " : "",
                                  str(j, "queue"), str(j, "id"));
            if (o >= sizeof jobs)
                break;
        }
        char rc[24];
        snprintf(rc, sizeof rc, "%.0f/%.0f", num(w, "running"), num(w, "concurrency"));
        add(f, "%-22.22s %-8.8s %8s %5.1fs %s", str(w, "id"), str(w, "state"), rc,
            num(w, "heartbeat_s_ago"), jobs[0] ? jobs : "-");
        shown++;
    }
    if (n == 0)
        add(f, "(no worker has reported)");
}

static void ratelimit_lines(frame *f, const cJSON *doc, int room)
{
    const cJSON *bots = cJSON_GetObjectItemCaseSensitive(doc, "ratelimits");
    int n = cJSON_GetArraySize(bots), shown = 0;
    if (n == 0) {
        add(f, "RATE LIMITS: none in use (no rate-limit keys)");
        return;
    }
    add(f, "%-24s %-22s %9s %s", "RATE LIMITS (bot)", "BLOCKED", "401/3/429", "PACED LIMITERS");
    const cJSON *b;
    cJSON_ArrayForEach(b, bots)
    {
        if (shown == room - 1 && n > room) {
            add(f, "... %d more bots", n - shown);
            break;
        }
        char blocked[48] = "-";
        const cJSON *why = cJSON_GetObjectItemCaseSensitive(b, "blocked");
        if (cJSON_IsString(why))
            snprintf(blocked, sizeof blocked, "%.12s %.1fs", why->valuestring,
                     num(b, "blocked_ms") / 1000.0);
        add(f, "%-24.24s %-22s %9.0f %.0f of %.0f (max %.0f ms ahead)", str(b, "bot"), blocked,
            num(b, "invalid_10min"), num(b, "pacing"), num(b, "limiters"), num(b, "max_ahead_ms"));
        shown++;
    }
}

static void dead_lines(frame *f, const cJSON *doc, int room)
{
    const cJSON *dead = cJSON_GetObjectItemCaseSensitive(doc, "dead_recent");
    if (cJSON_GetArraySize(dead) == 0) {
        add(f, "DEAD: none");
        return;
    }
    add(f, "DEAD (newest)");
    int shown = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, dead)
    {
        if (shown++ == room - 1)
            break;
        char when[40], err[200];
        ctl_iso_time((int64_t)num(d, "died_ms"), when, sizeof when);
        ctl_one_line(str(d, "last_error"), 150, err, sizeof err);
        add(f, "%.8s %-10.10s %s %s", when + 11, str(d, "queue"), str(d, "id"), err);
    }
}

/* The whole frame for a ROWS x COLS terminal. */
static void build(frame *f, const ctl *c, const cJSON *doc, const cJSON *arch, const char *why,
                  int rows)
{
    const cJSON *workers = cJSON_GetObjectItemCaseSensitive(doc, "workers");
    const cJSON *queues = cJSON_GetObjectItemCaseSensitive(doc, "queues");
    char when[40];
    ctl_iso_time((int64_t)num(doc, "now_ms"), when, sizeof when);
    long long ready = 0, dead = 0;
    const cJSON *q;
    cJSON_ArrayForEach(q, queues)
    {
        ready += (long long)num(q, "ready_total");
        dead += (long long)num(q, "dead");
    }
    add(f, "sluice top  %s  %.8sZ  queues %d  ready %lld  dead %lld  workers %d", c->o->prefix,
        when + 11, cJSON_GetArraySize(queues), ready, dead, cJSON_GetArraySize(workers));
    /* rows: title, queues (header + rows), latency note, workers, rate
     * limits, dead; each section at least its header and one line */
    int nw = cJSON_GetArraySize(workers);
    int nb = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "ratelimits"));
    int nd = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "dead_recent"));
    int wr = nw < 1 ? 1 : nw > 4 ? 4 : nw, br = nb < 1 ? 0 : nb > 3 ? 3 : nb;
    int dr = nd < 1 ? 0 : nd > 4 ? 4 : nd;
    int qroom = rows - 1 - 1 - 1 - (1 + wr) - (1 + br) - (1 + dr);
    int nq = cJSON_GetArraySize(queues);
    if (qroom > nq + 1) /* the header and a row per queue */
        qroom = nq + 1;
    if (qroom < 2)
        qroom = 2;
    queue_lines(f, doc, arch, qroom);
    latency_line(f, arch, why);
    worker_lines(f, doc, wr);
    ratelimit_lines(f, doc, br ? br : 1);
    dead_lines(f, doc, dr ? dr + 1 : 1);
    while (f->n > rows) /* a tiny terminal: the bottom goes */
        free(f->lines[--f->n]);
}

static void frame_deinit(frame *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->lines[i]);
    free(f->lines);
    memset(f, 0, sizeof *f);
}

static void term_size(int *rows, int *cols)
{
    struct winsize ws;
    *rows = 24, *cols = 80;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
        *rows = ws.ws_row;
        *cols = ws.ws_col;
    }
}

/* Sleeps S seconds, or less when a signal asks to stop. */
static void pause_for(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (!stop_flag && nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* One refresh and, with an archive, its rollups. */
static cJSON *refresh(ctl *c, ctl_view *v, cJSON **arch, char *why, size_t whylen)
{
    *arch = NULL;
    snprintf(why, whylen, "no --archive");
    if (c->o->archive)
        *arch = ctl_archive_latency(c->o->archive, sl_now_ms() - LAT_WINDOW_MS, why, whylen);
    return ctl_view_refresh(v, *arch == NULL);
}

/* A new connection and view after Redis went away; NULL while it is out of
 * reach (the reason is printed, and drawn over at the next frame). */
static ctl_view *reconnect(ctl *c)
{
    sl_redis_addr addr;
    char err[512];
    if (sl_redis_addr_parse(c->o->redis_url, &addr, err, sizeof err))
        return NULL; /* parsed once already by main() */
    if (!c->rc && !(c->rc = sl_rblock_connect(&addr, 5.0, err, sizeof err)))
        return NULL;
    return ctl_view_new(c);
}

int ctl_top(ctl *c, int npos, char **pos)
{
    (void)npos, (void)pos;
    ctl_view *v = ctl_view_new(c);
    if (!v)
        return CTL_FAIL;
    char why[256];
    cJSON *arch = NULL, *doc;
    if (c->o->once) {
        cJSON_Delete(refresh(c, v, &arch, why, sizeof why));
        cJSON_Delete(arch);
        pause_for((double)c->o->interval);
        if (!(doc = refresh(c, v, &arch, why, sizeof why))) {
            ctl_view_free(v);
            return CTL_FAIL;
        }
        frame f = {.cols = 80};
        build(&f, c, doc, arch, why, 24);
        for (int i = 0; i < f.n; i++)
            puts(f.lines[i]);
        frame_deinit(&f);
        cJSON_Delete(doc);
        cJSON_Delete(arch);
        ctl_view_free(v);
        return CTL_OK;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* the alternate screen, the cursor hidden; both undone on the way out */
    fputs("\x1b[?1049h\x1b[?25l", stdout);
    while (!stop_flag) {
        int rows, cols;
        term_size(&rows, &cols);
        frame f = {.cols = cols};
        doc = NULL;
        arch = NULL;
        if (v || (v = reconnect(c)))
            doc = refresh(c, v, &arch, why, sizeof why);
        if (doc) {
            build(&f, c, doc, arch, why, rows);
        } else { /* Redis went away: say so, and try again next time */
            ctl_view_free(v);
            v = NULL;
            redisFree(c->rc);
            c->rc = NULL;
            add(&f,
                "sluice top  %s: redis is out of reach; trying again every %llds "
                "(Ctrl-C quits)",
                c->o->prefix, c->o->interval);
        }
        fputs("\x1b[H", stdout);
        for (int i = 0; i < f.n; i++)
            printf("%s\x1b[K%s", f.lines[i], i + 1 < f.n ? "\r\n" : "");
        fputs("\x1b[J", stdout);
        fflush(stdout);
        frame_deinit(&f);
        cJSON_Delete(doc);
        cJSON_Delete(arch);
        pause_for((double)c->o->interval);
    }
    fputs("\x1b[?25h\x1b[?1049l", stdout);
    fflush(stdout);
    ctl_view_free(v);
    return CTL_OK;
}
