/* call.c — a job's requests to Discord and Telegram (call.h): the gate of
 * the request's limits, the HTTP engine, the report to the shared limits,
 * 429s waited out, and one verdict back to the handler. */
#include "call.h"
#include "gate.h"
#include "http.h"
#include "log.h"
#include "ratelimit.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARTS 4
/* how long a place under a Discord limit stays good for after its grant,
 * and how many times a request that missed it asks again before it goes
 * late all the same (a worker too busy to ever make it must still deliver) */
#define FRESH_US 10000
#define LATE_TRIES 3

struct part {
    char *name, *value, *path, *filename, *content_type;
};

struct pcall {
    struct pcalls *calls; /* its worker's (worker.calls) */
    task *t;
    const sl_bot *bot;
    int timed;
    const char *op;
    sl_call spec;
    struct part parts[MAX_PARTS];
    int nparts;
    sl_rl_request rl;
    gate_link link;
    sl_http_req *req;
    int in_http;
    int queued;           /* admitted, waiting for a free HTTP slot */
    int late_tries;       /* times not sent for being late (FRESH_US) */
    int resent;           /* its connection died unanswered: next time a fresh one */
    pcall *qprev, *qnext; /* in pcalls.qhead; qnext also links pcalls.spare */
    pcall_cb *cb;
    void *priv;
};

/* A worker's calls (worker.calls), from pcall_init to pcall_deinit.
 * Requests in flight are capped at the worker's concurrency: tasks waiting
 * in gates hold no slot, so when the limits open up more tasks may be
 * admitted at once than the worker runs; they queue here for an HTTP slot
 * (their place under the limits is taken) instead of all going out and
 * holding a connection and buffers each. */
struct pcalls {
    sl_bots bots;
    sl_http *http;
    const message_opts *o;
    struct ev_loop *loop;
    sl_http_req **free_reqs; /* reset requests (and their curl handles) for reuse */
    int nfree, cap;
    pcall *spare; /* freed calls for reuse, as many as cap */
    int nspare;
    int inflight, max_inflight;
    pcall *qhead, *qtail;
    ev_idle pump;
    unsigned long long late;     /* requests not sent for being late, ever */
    unsigned long long resent;   /* requests whose reused connection died, ever */
    char discord_ua[480];        /* "User-Agent: DiscordBot (URL, VERSION)" */
    unsigned long long unfenced; /* requests sent without a send-by time after LATE_TRIES */
};

static void pump_cb(struct ev_loop *loop, ev_idle *w, int revents);

int pcall_init(worker *w, const message_opts *o, char *err, size_t errlen)
{
    struct pcalls *C = w->calls = sl_calloc(1, sizeof *C);
    C->o = o;
    if (sl_discord_user_agent(C->discord_ua, sizeof C->discord_ua, o->discord_ua_url,
                              o->discord_ua_version, err, errlen))
        return SL_EINVAL;
    if (sl_bots_load(&C->bots, err, errlen))
        return SL_EINVAL;
    C->loop = w->loop;
    C->max_inflight = C->cap = w->concurrency > 0 ? w->concurrency : 1;
    C->free_reqs = sl_calloc((size_t)C->cap, sizeof *C->free_reqs);
    ev_idle_init(&C->pump, pump_cb);
    C->pump.data = C;
    sl_http_opts ho = {
        .connect_timeout_ms = 5000, .max_response = 1 << 20, .max_idle_connections = 1024};
    C->http = sl_http_new(w->loop, &ho);
    if (!C->http) {
        snprintf(err, errlen, "cannot start the HTTP engine (libcurl)");
        sl_bots_deinit(&C->bots);
        return SL_EINVAL;
    }
    for (int i = 0; i < C->bots.n; i++)
        sl_info("bot configured platform=%s name=%s", sl_platform_name(C->bots.bots[i].platform),
                C->bots.bots[i].name);
    return 0;
}

void pcall_deinit(worker *w)
{
    struct pcalls *C = w->calls;
    if (!C)
        return;
    gate_given g = gates_given(w);
    if (C->late)
        sl_info("requests asked again for missing their send-by time (%d ms after the grant): "
                "%llu; sent late all the same after %d misses: %llu",
                FRESH_US / 1000, C->late, LATE_TRIES, C->unfenced);
    if (g.places)
        sl_info("places granted and not used, given back: %llu (%llu ms of rate limiters' "
                "time, %llu bucket places)",
                g.places, g.ms, g.bucket);
    if (C->resent)
        sl_info("requests asked again after their reused connection died unanswered: %llu",
                C->resent);
    ev_idle_stop(C->loop, &C->pump);
    sl_http_free(C->http);
    C->http = NULL;
    while (C->nfree)
        sl_http_req_free(C->free_reqs[--C->nfree]);
    free(C->free_reqs);
    C->free_reqs = NULL;
    while (C->spare) {
        pcall *c = C->spare;
        C->spare = c->qnext;
        free(c);
    }
    C->nspare = 0;
    sl_bots_deinit(&C->bots);
    free(C);
    w->calls = NULL;
}

struct sl_http *pcall_http(worker *w)
{
    return w->calls->http;
}

const sl_bot *pcall_bot(worker *w, const char *platform, const char *name, char *err, size_t errlen)
{
    struct pcalls *C = w->calls;
    enum sl_platform p =
        platform && !strcmp(platform, "telegram") ? SL_PLATFORM_TELEGRAM : SL_PLATFORM_DISCORD;
    if (!name)
        name = "default";
    const sl_bot *b = sl_bots_find(&C->bots, p, name);
    if (!b)
        snprintf(err, errlen,
                 "no %s bot \"%s\" on this worker (set SLUICE_%s_TOKEN_FILE or SLUICE_BOTS_FILE)",
                 sl_platform_name(p), name, p == SL_PLATFORM_DISCORD ? "DISCORD" : "TELEGRAM");
    return b;
}

pcall *pcall_new(task *t, const sl_bot *bot, int timed)
{
    struct pcalls *C = t->w->calls;
    pcall *c = C->spare;
    if (c) {
        C->spare = c->qnext;
        C->nspare--;
        memset(c, 0, sizeof *c);
    } else {
        c = sl_calloc(1, sizeof *c);
    }
    c->calls = C;
    c->t = t;
    c->bot = bot;
    c->timed = timed;
    sl_call_init(&c->spec);
    return c;
}

sl_call *pcall_spec(pcall *c)
{
    return &c->spec;
}

static char *dup_or_null(const char *s)
{
    return s ? sl_strdup(s) : NULL;
}

void pcall_add_part(pcall *c, const char *name, const char *value, const char *path,
                    const char *filename, const char *content_type)
{
    assert(c->nparts < MAX_PARTS);
    struct part *p = &c->parts[c->nparts++];
    p->name = sl_strdup(name);
    p->value = dup_or_null(value);
    p->path = dup_or_null(path);
    p->filename = dup_or_null(filename);
    p->content_type = dup_or_null(content_type);
}

static void clear_parts(pcall *c)
{
    for (int i = 0; i < c->nparts; i++) {
        struct part *p = &c->parts[i];
        free(p->name);
        free(p->value);
        free(p->path);
        free(p->filename);
        free(p->content_type);
    }
    c->nparts = 0;
}

void pcall_reset(pcall *c)
{
    sl_call_deinit(&c->spec);
    sl_call_init(&c->spec);
    clear_parts(c);
}

static void unqueue(pcall *c)
{
    struct pcalls *C = c->calls;
    if (!c->queued)
        return;
    if (c->qprev)
        c->qprev->qnext = c->qnext;
    else
        C->qhead = c->qnext;
    if (c->qnext)
        c->qnext->qprev = c->qprev;
    else
        C->qtail = c->qprev;
    c->qprev = c->qnext = NULL;
    c->queued = 0;
}

/* An HTTP slot freed up: the next queued call goes out from the loop. */
static void slot_freed(struct pcalls *C)
{
    C->inflight--;
    if (C->qhead && !ev_is_active(&C->pump))
        ev_idle_start(C->loop, &C->pump);
}

void pcall_free(pcall *c)
{
    if (!c)
        return;
    struct pcalls *C = c->calls;
    gate_leave(&c->link);
    unqueue(c);
    if (c->req) {
        if (c->in_http) {
            sl_http_cancel(C->http, c->req);
            slot_freed(C);
        }
        if (C->nfree < C->cap) {
            sl_http_req_reset(c->req);
            C->free_reqs[C->nfree++] = c->req;
        } else {
            sl_http_req_free(c->req);
        }
    }
    sl_call_deinit(&c->spec);
    clear_parts(c);
    if (C->nspare < C->cap) {
        c->qnext = C->spare;
        C->spare = c;
        C->nspare++;
    } else {
        free(c);
    }
}

static void deliver(pcall *c, enum sl_verdict v, long status, const char *body, size_t len,
                    const char *error, long defer_ms)
{
    pcall_result r = {v, status, body ? body : "", len, error, defer_ms};
    c->cb(c, &r, c->priv);
}

static void admit_cb(task *t, long wait_ms, void *priv);

/* Into the gate of C's limits; AGAIN: at its head, for a request that was
 * let go and must ask again (gate_reenter). */
static void enqueue(pcall *c, int again)
{
    task *t = c->t;
    worker *w = t->w;
    if (c->bot->platform == SL_PLATFORM_DISCORD)
        sl_rl_discord(&c->rl, w->prefix, c->bot->name, c->spec.route, c->spec.major,
                      c->calls->o->discord_per_second, c->calls->o->invalid_threshold);
    else
        sl_rl_telegram(&c->rl, w->prefix, c->bot->name, c->spec.chat,
                       c->calls->o->telegram_per_second);
    /* waiting for a limit is not running: the job's timeout restarts when
     * the request is sent */
    if (c->timed)
        ev_timer_stop(w->loop, &t->timeout);
    (again ? gate_reenter : gate_enter)(w, t, &c->rl, admit_cb, c, &c->link);
}

void pcall_start(pcall *c, const char *op, pcall_cb *cb, void *priv)
{
    c->op = op;
    c->cb = cb;
    c->priv = priv;
    c->late_tries = 0;
    c->resent = 0;
    enqueue(c, 0);
}

static void http_done_cb(sl_http_req *req, void *priv);

/* Sends C's HTTP request to the platform, or queues it while max_inflight
 * requests are out. */
static void send_request(pcall *c)
{
    struct pcalls *C = c->calls;
    task *t = c->t;
    if (C->inflight >= C->max_inflight) {
        c->queued = 1;
        c->qprev = C->qtail;
        c->qnext = NULL;
        if (C->qtail)
            C->qtail->qnext = c;
        else
            C->qhead = c;
        C->qtail = c;
        return;
    }
    char url[1024], log_url[512], auth[512];
    const char *base =
        c->bot->platform == SL_PLATFORM_DISCORD ? C->bots.discord_api : C->bots.telegram_api;
    if (!c->req)
        c->req = C->nfree ? C->free_reqs[--C->nfree] : sl_http_req_new();
    else
        sl_http_req_reset(c->req);
    if (c->bot->platform == SL_PLATFORM_DISCORD) {
        snprintf(url, sizeof url, "%s%s", base, c->spec.path.data);
        snprintf(log_url, sizeof log_url, "%s%s", base, c->spec.path.data);
        snprintf(auth, sizeof auth, "Authorization: Bot %s", c->bot->token);
        sl_http_req_add_header(c->req, auth);
        memset(auth, 0, sizeof auth);
        sl_http_req_add_header(c->req, C->discord_ua);
    } else {
        snprintf(url, sizeof url, "%s/bot%s%s", base, c->bot->token, c->spec.path.data);
        snprintf(log_url, sizeof log_url, "%s/bot<token>%s", base, c->spec.path.data);
    }
    sl_http_req_set_url(c->req, url, log_url);
    memset(url, 0, sizeof url);
    const char *m = c->spec.method;
    enum sl_http_method method = !strcmp(m, "POST")     ? SL_HTTP_POST
                                 : !strcmp(m, "PATCH")  ? SL_HTTP_PATCH
                                 : !strcmp(m, "PUT")    ? SL_HTTP_PUT
                                 : !strcmp(m, "DELETE") ? SL_HTTP_DELETE
                                                        : SL_HTTP_GET;
    sl_http_req_set_method(c->req, method);
    /* A Discord POST the server would act on twice (a channel create) goes
     * on a fresh connection, where no idle close can race it. A Telegram
     * send reuses one: a new TLS connection per send would miss the send-by
     * fence below, and a reused connection that died can no longer be
     * re-sent behind our back (SL_HTTP_RESENT): a lost answer is a retry,
     * as on a fresh connection. A repeat-safe request whose connection died
     * goes again on a fresh one. */
    if ((method == SL_HTTP_POST && !c->spec.repeat_safe &&
         c->bot->platform == SL_PLATFORM_DISCORD) ||
        c->resent)
        sl_http_req_set_fresh(c->req, 1);
    if (c->nparts) {
        for (int i = 0; i < c->nparts; i++) {
            struct part *p = &c->parts[i];
            if (!p->path) {
                sl_http_req_add_part(c->req, p->name, p->value, strlen(p->value), NULL,
                                     p->content_type);
            } else if (sl_http_req_add_file_part(c->req, p->name, p->path, p->filename,
                                                 p->content_type)) {
                char err[600];
                snprintf(err, sizeof err, "cannot read %s for part %s", p->path, p->name);
                deliver(c, SL_VERDICT_RETRY, 0, NULL, 0, err, 0);
                return;
            }
        }
    } else if (c->spec.body.len) {
        sl_http_req_set_body(c->req, "application/json", c->spec.body.data, c->spec.body.len);
    }
    /* below the lease, so a hung request never outlives the job's claim */
    long timeout = (long)t->job.timeout_ms;
    if (timeout > t->w->lease_ms * 2 / 3)
        timeout = (long)(t->w->lease_ms * 2 / 3);
    sl_http_req_set_timeout(c->req, timeout);
    /* Discord and Telegram count a limit's requests in windows as they
     * arrive, and we pace them as they are granted: one that leaves much
     * later than its grant may land in a window with the ones granted after
     * it (two sends to one Telegram chat within a second). Past FRESH_US it
     * is not sent and asks again (its place goes back, never an attempt), so
     * requests reach the platform as spaced as they were granted. */
    if (c->rl.nlimits > 0) {
        if (c->late_tries < LATE_TRIES)
            sl_http_req_set_send_by(c->req, c->link.granted_us + FRESH_US);
        else
            C->unfenced++;
    }
    int rc = sl_http_start(C->http, c->req, http_done_cb, c);
    if (rc) {
        char err[100];
        snprintf(err, sizeof err, "http: the request could not be started: %s", sl_strerror(rc));
        deliver(c, SL_VERDICT_RETRY, 0, NULL, 0, err, 0);
        return;
    }
    c->in_http = 1;
    C->inflight++;
}

static void pump_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)revents;
    struct pcalls *C = w->data;
    while (C->qhead && C->inflight < C->max_inflight) {
        pcall *c = C->qhead;
        unqueue(c);
        send_request(c);
    }
    if (!C->qhead || C->inflight >= C->max_inflight)
        ev_idle_stop(loop, w);
}

static void admit_cb(task *t, long wait_ms, void *priv)
{
    pcall *c = priv;
    if (wait_ms > 0) {
        /* a long wait (global 429, invalid-request pause): the handler hands
         * the job back to Redis as a delayed job, no attempt used */
        deliver(c, SL_VERDICT_RETRY, 0, NULL, 0, "rate limited", wait_ms);
        return;
    }
    if (c->timed) {
        ev_timer_set(&t->timeout, (double)t->job.timeout_ms / 1000.0, 0);
        ev_timer_start(t->w->loop, &t->timeout);
    }
    send_request(c);
}

static const char *header_of(const void *ctx, const char *name)
{
    return sl_http_header(ctx, name);
}

static void report(pcall *c, const sl_rl_answer *answer)
{
    const char *argv[SL_RL_REPORT_ARGS];
    size_t lens[SL_RL_REPORT_ARGS];
    char nums[6][32];
    sl_rl_answer a = *answer;
    a.granted_at_ms = c->link.granted_at_ms;
    int argc = sl_rl_report_args(&c->rl, &a, argv, lens, nums);
    sl_rconn_script(c->t->w->redis, SL_SCRIPT_RL_REPORT, NULL, NULL, 1, argc, argv, lens);
}

/* No answer came: tells Redis nothing about the limits, but frees the
 * route's discovery place (rl_report.lua drops the lock) so that the next
 * request learns it. */
static void report_no_answer(pcall *c)
{
    sl_rl_answer none = {0, "", -1, -1, -1, "", -1, 0};
    report(c, &none);
}

/* The request was not sent: its place goes back to the limits (and a
 * route's discovery is freed), so a late request costs the fleet nothing. */
static void release_place(pcall *c)
{
    gate_give_back(c->t->w, &c->rl, c->link.granted_at_ms, c->link.window, c->link.seq,
                   c->link.discover);
}

static void http_done_cb(sl_http_req *req, void *priv)
{
    pcall *c = priv;
    struct pcalls *C = c->calls;
    c->in_http = 0;
    slot_freed(C);
    if (sl_http_outcome(req) == SL_HTTP_LATE) {
        C->late++;
        c->late_tries++;
        sl_debug("not sent, granted too long ago job=%s late=%llu", c->t->job.id, C->late);
        release_place(c);
        enqueue(c, 1);
        return;
    }
    /* Written once on a reused connection that then died unanswered: the
     * server may have acted on it, and curl was not let send it again (that
     * copy would have had no grant). One the server takes once however
     * often it comes (a nonce, a GET, an edit) asks for a new place and
     * goes again, no attempt used; a channel create or a Telegram send
     * fails as any lost answer does, and retries with backoff. */
    if (sl_http_outcome(req) == SL_HTTP_RESENT && !c->resent &&
        (c->spec.repeat_safe || strcmp(c->spec.method, "POST"))) {
        C->resent++;
        c->resent = 1;
        sl_debug("connection died unanswered, asking again job=%s resent=%llu", c->t->job.id,
                 C->resent);
        if (c->bot->platform == SL_PLATFORM_DISCORD)
            report_no_answer(c);
        enqueue(c, 1);
        return;
    }
    if (sl_http_outcome(req) != SL_HTTP_OK) {
        if (c->bot->platform == SL_PLATFORM_DISCORD)
            report_no_answer(c);
        deliver(c, SL_VERDICT_RETRY, 0, NULL, 0, sl_http_error(req), 0);
        return;
    }
    long status = sl_http_status(req);
    size_t len;
    const char *body = sl_http_body(req, &len);
    sl_rl_answer a;
    if (c->bot->platform == SL_PLATFORM_DISCORD)
        sl_rl_parse_discord(&a, (int)status, header_of, req, body, len);
    else
        sl_rl_parse_telegram(&a, (int)status, body, len);
    wm_http(c->t->w, c->bot, &c->spec, status, a.scope);
    /* Redis hears of an answer when it can teach something: the first of a
     * route, any bucket's headers (they keep the shared window in step with
     * the server's), or trouble (429, 401, 403, 5xx). A plain 2xx without
     * headers has nothing to say. */
    if (c->link.discover || status < 200 || status >= 300 || a.bucket[0])
        report(c, &a);
    char err[512] = "";
    enum sl_verdict v =
        sl_platform_verdict(c->bot->platform, c->op, (int)status, body, len, err, sizeof err);
    if (v == SL_VERDICT_RATE) {
        sl_info("rate limited job=%s scope=%s retry_after_ms=%ld (no attempt used)", c->t->job.id,
                a.scope[0] ? a.scope : "-", a.retry_after_ms);
        c->t->rate_limited++; /* in the job's end event: the archive's rate_limited */
        gate_hold(c->t->w, &c->rl, a.retry_after_ms > 0 ? a.retry_after_ms : 1000);
        enqueue(c, 1);
        return;
    }
    deliver(c, v, status, body, len, v == SL_VERDICT_OK ? NULL : err, 0);
}
