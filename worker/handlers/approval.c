/* approval.c — the `approval` job (schemas/approval.json): one sweep over
 * every pending application, enqueued by the scheduler every interval.
 *
 * A sweep: app_sweep.lua takes the fleet-wide sweep lock, expires the
 * applications past their deadline and returns the pending ones and the
 * decided ones whose message is not out yet. Those messages are enqueued
 * at once (idempotency key decision:APP: once, whatever re-runs); every
 * pending application is checked concurrently — a GET of the member for
 * its role, through the shared rate limits like any request, and/or the
 * frontend's status URL; app_decide.lua then records the decisions (each
 * application is decided once, whoever sweeps) and the sweep enqueues
 * their messages and clears them from notify. A crash anywhere leaves
 * either the application pending (checked again next sweep) or in notify
 * (its message enqueued next sweep, deduplicated by its key). */
#include "../call.h"
#include "../spawn.h"
#include "app.h"
#include "http.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

#define MAX_URL_CHECKS 64 /* status URL requests in flight per sweep */

enum verdict { PENDING, APPROVED, REJECTED };

struct check {
    struct sweep *s;
    char id[65], guild[24], user[24], role[24];
    char *url;
    const sl_bot *bot;
    pcall *call;
    sl_http_req *req;
    int waiting; /* requests of this check still out */
    enum verdict v;
};

struct sweep {
    app_job j; /* first: the state is an app_job (app.h) */
    worker *w; /* the task's: the sweep may outlive it (app_cancel) */
    char base[SL_KEY_MAX], pending[SL_KEY_MAX], notify[SL_KEY_MAX], lock[SL_KEY_MAX];
    struct check *checks;
    int nchecks, open; /* checks not finished */
    int next_url;      /* next check whose URL request is to go out */
    int urls_inflight;
    char **notified; /* ids whose message was enqueued */
    int nnotified;
    char **announce; /* ids in the spawn in flight */
    int nannounce;
    spawn *sp;
    int phase; /* 0 notify old + checks, 1 decide, 2 notify new */
    int approved, rejected, expired;
};

static void sweep_free(struct sweep *s)
{
    for (int i = 0; i < s->nchecks; i++) {
        struct check *c = &s->checks[i];
        pcall_free(c->call);
        if (c->req) {
            sl_http_cancel(pcall_http(s->w), c->req);
            sl_http_req_free(c->req);
        }
        free(c->url);
    }
    free(s->checks);
    for (int i = 0; i < s->nnotified; i++)
        free(s->notified[i]);
    free(s->notified);
    for (int i = 0; i < s->nannounce; i++)
        free(s->announce[i]);
    free(s->announce);
    spawn_cancel(s->sp);
    if (s->j.t)
        s->j.t->state = NULL;
    free(s);
}

static void sweep_release(app_job *j)
{
    sweep_free((struct sweep *)j);
}

static void sweep_drop(app_job *j)
{
    struct sweep *s = (struct sweep *)j;
    for (int i = 0; i < s->nchecks; i++) {
        pcall_free(s->checks[i].call);
        s->checks[i].call = NULL;
    }
    spawn_cancel(s->sp);
    s->sp = NULL;
}

static void finish(struct sweep *s, enum task_result r, const char *error)
{
    app_finish(&s->j, r, error);
}

static const char *rstr(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING ? r->str : "";
}

/* Adds the message of one decided application (7 reply values: id, state,
 * bot, guild, user, channel, text) to S's spawn. */
static void announce(struct sweep *s, redisReply **e)
{
    const char *id = rstr(e[0]), *bot = rstr(e[2]), *channel = rstr(e[5]), *text = rstr(e[6]);
    s->announce = sl_realloc(s->announce, (size_t)(s->nannounce + 1) * sizeof *s->announce);
    s->announce[s->nannounce++] = sl_strdup(id);
    if (!channel[0] || !text[0])
        return; /* nothing to say: only cleared from notify */
    sl_buf env = {0};
    sl_buf_printf(&env,
                  "{\"type\":\"message\",\"priority\":\"high\",\"idempotency_key\":\"decision:%s\","
                  "\"payload\":{\"platform\":\"discord\",\"bot\":",
                  id);
    sl_buf_json_str(&env, bot[0] ? bot : "default", strlen(bot[0] ? bot : "default"));
    sl_buf_printf(&env, ",\"channel_id\":\"%s\",\"content\":", channel);
    sl_buf_json_str(&env, text, strlen(text));
    sl_buf_puts(&env, "}}");
    char err[256];
    if (!s->sp)
        s->sp = spawn_new(s->j.t->w);
    if (spawn_add(s->sp, env.data, err, sizeof err))
        sl_warn("decision message not valid application=%s reason=\"%s\"", id, err);
    sl_buf_deinit(&env);
}

static void decide(struct sweep *s);

/* The messages of announce[] are enqueued (or not): remember the ids. */
static void announced(struct sweep *s, int ok)
{
    if (ok) {
        s->notified =
            sl_realloc(s->notified, (size_t)(s->nnotified + s->nannounce) * sizeof *s->notified);
        for (int i = 0; i < s->nannounce; i++)
            s->notified[s->nnotified++] = s->announce[i];
    } else {
        for (int i = 0; i < s->nannounce; i++)
            free(s->announce[i]);
    }
    s->nannounce = 0;
}

static void sweep_done(struct sweep *s)
{
    sl_info("approval sweep done job=%s checked=%d approved=%d rejected=%d", s->j.t->job.id,
            s->nchecks, s->approved, s->rejected);
    finish(s, TASK_OK, NULL);
}

static void cleared_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct sweep *s = priv;
    (void)rc;
    if (!app_reply_ok(&s->j, reply))
        return;
    sweep_done(s);
}

static void spawned_cb(int ok, const char *error, void *priv)
{
    struct sweep *s = priv;
    s->sp = NULL;
    if (!ok)
        sl_warn("decision messages not enqueued job=%s reason=\"%s\" (next sweep)", s->j.t->job.id,
                error);
    announced(s, ok);
    if (s->phase == 0) {
        s->phase = 1;
        if (s->open == 0)
            decide(s);
        return;
    }
    /* phase 2: the new decisions' messages are out; clear them from notify */
    if (!s->nnotified) {
        if (ok)
            sweep_done(s);
        else
            finish(s, TASK_RETRY, error);
        return;
    }
    const char **argv = sl_calloc((size_t)s->nnotified + 2, sizeof *argv);
    argv[0] = "ZREM";
    argv[1] = s->notify;
    for (int i = 0; i < s->nnotified; i++)
        argv[i + 2] = s->notified[i];
    int bad = app_command(&s->j, cleared_cb, s->nnotified + 2, argv);
    free(argv);
    if (bad)
        finish(s, TASK_RETRY, APP_REDIS_DOWN);
}

static void decided_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct sweep *s = priv;
    (void)rc;
    if (!app_reply_ok(&s->j, reply))
        return;
    s->phase = 2;
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i + 7 <= reply->elements; i += 7) {
        const char *state = rstr(reply->element[i + 1]);
        sl_info("application decided application=%s state=%s", rstr(reply->element[i]), state);
        announce(s, &reply->element[i]);
    }
    if (s->sp) {
        spawn_send(s->sp, spawned_cb, s);
        return;
    }
    announced(s, 1);
    spawned_cb(1, NULL, s);
}

static void decide(struct sweep *s)
{
    int n = 0;
    for (int i = 0; i < s->nchecks; i++)
        n += s->checks[i].v != PENDING;
    int argc = 6 + 2 * n + s->nnotified;
    const char **argv = sl_calloc((size_t)argc, sizeof *argv);
    char count[16];
    snprintf(count, sizeof count, "%d", n);
    argv[0] = s->pending;
    argv[1] = s->notify;
    argv[2] = s->lock;
    argv[3] = s->base;
    argv[4] = s->j.t->job.id;
    argv[5] = count;
    int k = 6;
    for (int i = 0; i < s->nchecks; i++) {
        struct check *c = &s->checks[i];
        if (c->v == PENDING)
            continue;
        argv[k++] = c->id;
        argv[k++] = c->v == APPROVED ? "approved" : "rejected";
        if (c->v == APPROVED)
            s->approved++;
        else
            s->rejected++;
    }
    for (int i = 0; i < s->nnotified; i++)
        argv[k++] = s->notified[i];
    /* the script clears the old notifications; the call copies its
     * arguments, so they are forgotten here either way */
    char **old = s->notified;
    int nold = s->nnotified;
    s->notified = NULL;
    s->nnotified = 0;
    int bad = app_script(&s->j, decided_cb, SL_SCRIPT_APP_DECIDE, 3, argc, argv);
    free(argv);
    for (int i = 0; i < nold; i++)
        free(old[i]);
    free(old);
    if (bad)
        finish(s, TASK_RETRY, APP_REDIS_DOWN);
}

static void check_done(struct check *c)
{
    struct sweep *s = c->s;
    if (--c->waiting > 0)
        return;
    pcall_free(c->call);
    c->call = NULL;
    s->open--;
    if (s->open == 0 && s->phase == 1)
        decide(s);
}

static void member_cb(pcall *pc, const pcall_result *r, void *priv)
{
    struct check *c = priv;
    (void)pc;
    if (r->verdict == SL_VERDICT_OK) {
        cJSON *doc = cJSON_ParseWithLength(r->body, r->len);
        const cJSON *role;
        cJSON_ArrayForEach(role, cJSON_GetObjectItemCaseSensitive(doc, "roles"))
        {
            if (cJSON_IsString(role) && !strcmp(role->valuestring, c->role))
                c->v = c->v == PENDING ? APPROVED : c->v;
        }
        cJSON_Delete(doc);
    } else if (r->status != 404) { /* 404: not (or no longer) a member: still pending */
        sl_debug("member check failed application=%s reason=\"%s\"", c->id,
                 r->error ? r->error : "-");
    }
    check_done(c);
}

static void start_urls(struct sweep *s);

static void url_cb(sl_http_req *req, void *priv)
{
    struct check *c = priv;
    struct sweep *s = c->s;
    s->urls_inflight--;
    if (sl_http_outcome(req) == SL_HTTP_OK && sl_http_status(req) == 200) {
        cJSON *doc = cJSON_Parse(sl_http_body(req, NULL));
        const char *st = app_str(doc, "status");
        if (st && !strcmp(st, "approved"))
            c->v = APPROVED;
        else if (st && !strcmp(st, "rejected") && c->v == PENDING)
            c->v = REJECTED;
        cJSON_Delete(doc);
    } else {
        sl_debug("status check failed application=%s reason=\"%s\"", c->id, sl_http_error(req));
    }
    sl_http_req_free(req);
    c->req = NULL;
    start_urls(s);
    check_done(c);
}

static void start_urls(struct sweep *s)
{
    while (s->urls_inflight < MAX_URL_CHECKS && s->next_url < s->nchecks) {
        struct check *c = &s->checks[s->next_url++];
        if (!c->url)
            continue;
        c->req = sl_http_req_new();
        sl_http_req_set_url(c->req, c->url, NULL);
        sl_http_req_set_timeout(c->req, 10000);
        if (sl_http_start(pcall_http(s->w), c->req, url_cb, c)) {
            sl_http_req_free(c->req);
            c->req = NULL;
            check_done(c);
            continue;
        }
        s->urls_inflight++;
    }
}

static void swept_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct sweep *s = priv;
    (void)rc;
    if (!app_reply_ok(&s->j, reply))
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        strcmp(rstr(reply->element[0]), "ok")) {
        sl_info("approval sweep skipped job=%s: another sweep is running", s->j.t->job.id);
        finish(s, TASK_OK, NULL);
        return;
    }
    size_t i = 1;
    for (; i + 7 <= reply->elements && strcmp(rstr(reply->element[i]), "|"); i += 7)
        announce(s, &reply->element[i]);
    i++; /* "|" */
    size_t n = i <= reply->elements ? (reply->elements - i) / 6 : 0;
    s->checks = sl_calloc(n ? n : 1, sizeof *s->checks);
    for (; i + 6 <= reply->elements; i += 6) {
        struct check *c = &s->checks[s->nchecks++];
        c->s = s;
        sl_strlcpy(c->id, rstr(reply->element[i]), sizeof c->id);
        sl_strlcpy(c->guild, rstr(reply->element[i + 2]), sizeof c->guild);
        sl_strlcpy(c->user, rstr(reply->element[i + 3]), sizeof c->user);
        sl_strlcpy(c->role, rstr(reply->element[i + 4]), sizeof c->role);
        const char *url = rstr(reply->element[i + 5]);
        c->url = url[0] ? sl_strdup(url) : NULL;
        const char *bot = rstr(reply->element[i + 1]);
        char err[300];
        c->bot = c->role[0] && c->guild[0] && c->user[0]
                     ? pcall_bot(s->w, "discord", bot[0] ? bot : NULL, err, sizeof err)
                     : NULL;
        c->waiting = (c->bot != NULL) + (c->url != NULL);
    }
    s->open = s->nchecks;
    sl_info("approval sweep job=%s pending=%d to_notify=%d", s->j.t->job.id, s->nchecks,
            s->nannounce);
    for (int k = 0; k < s->nchecks; k++) {
        struct check *c = &s->checks[k];
        if (!c->waiting) { /* nothing to ask for this one */
            s->open--;
            continue;
        }
        if (c->bot) {
            c->call = pcall_new(s->j.t, c->bot, 0);
            sl_discord_get_member(pcall_spec(c->call), c->guild, c->user);
            pcall_start(c->call, "get", member_cb, c);
        }
    }
    start_urls(s);
    if (s->sp) {
        spawn_send(s->sp, spawned_cb, s);
        return;
    }
    announced(s, 1);
    spawned_cb(1, NULL, s);
}

static void approval_start(task *t)
{
    struct sweep *s = sl_calloc(1, sizeof *s);
    s->j.t = t;
    s->w = t->w;
    s->j.release = sweep_release;
    s->j.drop = sweep_drop;
    t->state = s;
    app_base(s->base, t->w->prefix);
    app_key(s->pending, t->w->prefix, "pending");
    app_key(s->notify, t->w->prefix, "notify");
    app_key(s->lock, t->w->prefix, "sweep");
    char limit[24];
    snprintf(limit, sizeof limit, "%lld", app_int(t->job.payload, "limit", 10000));
    /* the lock outlives the sweep's own time limit a little: a sweep whose
     * worker died holds it no longer than that, and its re-run (same job
     * id) takes it back */
    char lock_ms[24];
    snprintf(lock_ms, sizeof lock_ms, "%lld", (long long)t->job.timeout_ms + 10000);
    const char *argv[7] = {s->pending, s->notify, s->lock, s->base, t->job.id, lock_ms, limit};
    if (app_script(&s->j, swept_cb, SL_SCRIPT_APP_SWEEP, 3, 7, argv))
        finish(s, TASK_RETRY, APP_REDIS_DOWN);
}

static void approval_cancel(task *t)
{
    app_cancel(t->state);
}

const handler handler_approval = {"approval", approval_start, approval_cancel};
