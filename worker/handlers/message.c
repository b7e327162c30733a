/* message.c — the `message` job: send, edit or delete a chat message on
 * Discord or Telegram (schemas/message.json).
 *
 * A run: resolve the bot and, for a Discord DM, the DM channel (opened once
 * per user and cached); wait in the gate of the request's rate limits
 * (gate.c: no slot held, no attempt used); send over the shared HTTP engine;
 * report what the answer says about the limits (rl_report.lua); settle.
 * A 429 puts the job back in its gate; 5xx and network trouble retry with
 * backoff; other 4xx are permanent, with the platform's message. */
#include "../gate.h"
#include "../worker.h"
#include "bots.h"
#include "http.h"
#include "log.h"
#include "platform.h"
#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>

enum stage { OPEN_DM, MESSAGE };

struct msg {
    task *t;
    const sl_bot *bot;
    const char *op;
    char user[24];    /* Discord DM recipient, "" if none */
    char channel[24]; /* Discord channel, once known */
    enum stage stage;
    sl_call call;
    sl_rl_request rl;
    gate_link link;
    sl_http_req *req;
    int in_http;
};

static struct {
    sl_bots bots;
    sl_http *http;
    const message_opts *o;
    sl_http_req *free_reqs[256];
    int nfree;
    /* Discord DM channels by user, per bot: a small direct-mapped cache */
    struct dm {
        char key[96];
        char channel[24];
    } dms[4096];
} M;

int message_init(worker *w, const message_opts *o, char *err, size_t errlen)
{
    M.o = o;
    if (sl_bots_load(&M.bots, err, errlen))
        return SL_EINVAL;
    sl_http_opts ho = {
        .connect_timeout_ms = 5000, .max_response = 1 << 20, .max_idle_connections = 1024};
    M.http = sl_http_new(w->loop, &ho);
    if (!M.http) {
        snprintf(err, errlen, "cannot start the HTTP engine (libcurl)");
        sl_bots_deinit(&M.bots);
        return SL_EINVAL;
    }
    for (int i = 0; i < M.bots.n; i++)
        sl_info("bot configured platform=%s name=%s", sl_platform_name(M.bots.bots[i].platform),
                M.bots.bots[i].name);
    return 0;
}

void message_deinit(void)
{
    sl_http_free(M.http);
    M.http = NULL;
    while (M.nfree)
        sl_http_req_free(M.free_reqs[--M.nfree]);
    sl_bots_deinit(&M.bots);
}

static struct dm *dm_slot(const char *bot, const char *user)
{
    char key[96];
    snprintf(key, sizeof key, "%s/%s", bot, user);
    unsigned h = 2166136261u;
    for (const char *s = key; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    struct dm *d = &M.dms[h % (sizeof M.dms / sizeof M.dms[0])];
    if (strcmp(d->key, key)) {
        sl_strlcpy(d->key, key, sizeof d->key);
        d->channel[0] = '\0';
    }
    return d;
}

static void msg_free(struct msg *m)
{
    gate_leave(&m->link);
    if (m->req) {
        if (m->in_http)
            sl_http_cancel(M.http, m->req);
        if (M.nfree < (int)(sizeof M.free_reqs / sizeof M.free_reqs[0])) {
            sl_http_req_reset(m->req);
            M.free_reqs[M.nfree++] = m->req;
        } else {
            sl_http_req_free(m->req);
        }
    }
    sl_call_deinit(&m->call);
    m->t->state = NULL;
    free(m);
}

static void finish(struct msg *m, enum task_result r, const char *error)
{
    task *t = m->t;
    msg_free(m);
    task_finish(t, r, error);
}

static void admit_cb(task *t, long wait_ms);

/* Builds the next call and its limits, and queues it in its gate. */
static void queue_call(struct msg *m)
{
    task *t = m->t;
    worker *w = t->w;
    sl_call_deinit(&m->call);
    sl_call_init(&m->call);
    if (m->bot->platform == SL_PLATFORM_DISCORD) {
        if (m->stage == OPEN_DM)
            sl_discord_open_dm(&m->call, m->user);
        else
            sl_discord_message(&m->call, t->job.payload, m->channel, t->job.id);
        sl_rl_discord(&m->rl, w->prefix, m->bot->name, m->call.route, m->call.major,
                      M.o->discord_per_second, M.o->invalid_threshold);
    } else {
        sl_telegram_message(&m->call, t->job.payload);
        sl_rl_telegram(&m->rl, w->prefix, m->bot->name, m->call.chat, M.o->telegram_per_second);
    }
    /* waiting for a limit is not running: the job's timeout restarts when
     * the request is sent */
    ev_timer_stop(w->loop, &t->timeout);
    gate_enter(w, t, &m->rl, admit_cb, &m->link);
}

static void http_done_cb(sl_http_req *req, void *priv);

static void send_call(struct msg *m)
{
    task *t = m->t;
    char url[1024], log_url[512], auth[512];
    const char *base =
        m->bot->platform == SL_PLATFORM_DISCORD ? M.bots.discord_api : M.bots.telegram_api;
    if (!m->req)
        m->req = M.nfree ? M.free_reqs[--M.nfree] : sl_http_req_new();
    else
        sl_http_req_reset(m->req);
    if (m->bot->platform == SL_PLATFORM_DISCORD) {
        snprintf(url, sizeof url, "%s%s", base, m->call.path.data);
        snprintf(log_url, sizeof log_url, "%s%s", base, m->call.path.data);
        snprintf(auth, sizeof auth, "Authorization: Bot %s", m->bot->token);
        sl_http_req_add_header(m->req, auth);
        memset(auth, 0, sizeof auth);
    } else {
        snprintf(url, sizeof url, "%s/bot%s%s", base, m->bot->token, m->call.path.data);
        snprintf(log_url, sizeof log_url, "%s/bot<token>%s", base, m->call.path.data);
    }
    sl_http_req_set_url(m->req, url, log_url);
    memset(url, 0, sizeof url);
    enum sl_http_method method = !strcmp(m->call.method, "POST")     ? SL_HTTP_POST
                                 : !strcmp(m->call.method, "PATCH")  ? SL_HTTP_PATCH
                                 : !strcmp(m->call.method, "DELETE") ? SL_HTTP_DELETE
                                                                     : SL_HTTP_GET;
    sl_http_req_set_method(m->req, method);
    if (m->call.body.len)
        sl_http_req_set_body(m->req, "application/json", m->call.body.data, m->call.body.len);
    /* below the lease, so a hung request never outlives the job's claim */
    long timeout = (long)t->job.timeout_ms;
    if (timeout > t->w->lease_ms * 2 / 3)
        timeout = (long)(t->w->lease_ms * 2 / 3);
    sl_http_req_set_timeout(m->req, timeout);
    if (sl_http_start(M.http, m->req, http_done_cb, m)) {
        finish(m, TASK_RETRY, "http: the request could not be started");
        return;
    }
    m->in_http = 1;
}

static void admit_cb(task *t, long wait_ms)
{
    struct msg *m = t->state;
    if (wait_ms > 0) {
        /* a long wait (global 429, invalid-request pause): back to Redis as
         * a delayed job, no attempt used */
        msg_free(m);
        task_defer(t, wait_ms, "rate limited");
        return;
    }
    ev_timer_set(&t->timeout, (double)t->job.timeout_ms / 1000.0, 0);
    ev_timer_start(t->w->loop, &t->timeout);
    send_call(m);
}

static const char *header_of(const void *ctx, const char *name)
{
    return sl_http_header(ctx, name);
}

static void report(struct msg *m, const sl_rl_answer *a)
{
    const char *argv[12];
    size_t lens[12];
    char nums[5][32];
    int argc = sl_rl_report_args(&m->rl, a, argv, lens, nums);
    sl_rconn_script(m->t->w->redis, SL_SCRIPT_RL_REPORT, NULL, NULL, 1, argc, argv, lens);
}

static void http_done_cb(sl_http_req *req, void *priv)
{
    struct msg *m = priv;
    task *t = m->t;
    m->in_http = 0;
    if (sl_http_outcome(req) != SL_HTTP_OK) {
        if (m->bot->platform == SL_PLATFORM_DISCORD) { /* let the next request learn the route */
            sl_rl_answer none = {0, "", -1, -1, -1, "", -1};
            report(m, &none);
        }
        finish(m, TASK_RETRY, sl_http_error(req));
        return;
    }
    long status = sl_http_status(req);
    size_t len;
    const char *body = sl_http_body(req, &len);
    sl_rl_answer a;
    if (m->bot->platform == SL_PLATFORM_DISCORD)
        sl_rl_parse_discord(&a, (int)status, header_of, req, body, len);
    else
        sl_rl_parse_telegram(&a, (int)status, body, len);
    /* Redis hears of an answer when it can teach something: the first of a
     * route, any bucket's headers (they keep the shared window in step with
     * the server's), or trouble (429, 401, 403, 5xx). A plain 2xx without
     * headers has nothing to say. */
    if (m->link.discover || status < 200 || status >= 300 || a.bucket[0])
        report(m, &a);
    char err[512];
    enum sl_verdict v = sl_platform_verdict(m->bot->platform, m->stage == OPEN_DM ? "send" : m->op,
                                            (int)status, body, len, err, sizeof err);
    switch (v) {
    case SL_VERDICT_OK:
        if (m->stage == OPEN_DM) {
            cJSON *doc = cJSON_ParseWithLength(body, len);
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(doc, "id");
            if (!cJSON_IsString(id) || strlen(id->valuestring) >= sizeof m->channel) {
                cJSON_Delete(doc);
                finish(m, TASK_RETRY, "discord: the DM channel answer has no id");
                return;
            }
            sl_strlcpy(m->channel, id->valuestring, sizeof m->channel);
            sl_strlcpy(dm_slot(m->bot->name, m->user)->channel, m->channel, sizeof m->channel);
            cJSON_Delete(doc);
            m->stage = MESSAGE;
            queue_call(m);
            return;
        }
        sl_debug("message sent job=%s status=%ld ms=%lld", t->job.id, status,
                 (long long)sl_http_elapsed_ms(req));
        finish(m, TASK_OK, NULL);
        return;
    case SL_VERDICT_RATE:
        sl_info("rate limited job=%s scope=%s retry_after_ms=%ld (no attempt used)", t->job.id,
                a.scope[0] ? a.scope : "-", a.retry_after_ms);
        gate_hold(t->w, &m->rl, a.retry_after_ms > 0 ? a.retry_after_ms : 1000);
        queue_call(m);
        return;
    case SL_VERDICT_RETRY:
        finish(m, TASK_RETRY, err);
        return;
    case SL_VERDICT_PERMANENT:
        finish(m, TASK_PERMANENT, err);
        return;
    }
}

static void message_start(task *t)
{
    const cJSON *p = t->job.payload;
    const cJSON *plat = cJSON_GetObjectItemCaseSensitive(p, "platform");
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(p, "op");
    const cJSON *bot = cJSON_GetObjectItemCaseSensitive(p, "bot");
    enum sl_platform platform = cJSON_IsString(plat) && !strcmp(plat->valuestring, "telegram")
                                    ? SL_PLATFORM_TELEGRAM
                                    : SL_PLATFORM_DISCORD;
    const char *bot_name = cJSON_IsString(bot) ? bot->valuestring : "default";
    const sl_bot *b = sl_bots_find(&M.bots, platform, bot_name);
    if (!b) {
        char err[256];
        snprintf(err, sizeof err,
                 "no %s bot \"%s\" on this worker (set SLUICE_%s_TOKEN_FILE or SLUICE_BOTS_FILE)",
                 sl_platform_name(platform), bot_name,
                 platform == SL_PLATFORM_DISCORD ? "DISCORD" : "TELEGRAM");
        task_finish(t, TASK_PERMANENT, err);
        return;
    }
    struct msg *m = sl_calloc(1, sizeof *m);
    m->t = t;
    m->bot = b;
    m->op = cJSON_IsString(op) ? op->valuestring : "send";
    m->stage = MESSAGE;
    t->state = m;
    if (platform == SL_PLATFORM_DISCORD) {
        const cJSON *ch = cJSON_GetObjectItemCaseSensitive(p, "channel_id");
        const cJSON *user = cJSON_GetObjectItemCaseSensitive(p, "user_id");
        if (cJSON_IsString(ch)) {
            sl_strlcpy(m->channel, ch->valuestring, sizeof m->channel);
        } else {
            sl_strlcpy(m->user, user->valuestring, sizeof m->user);
            const struct dm *d = dm_slot(b->name, m->user);
            if (d->channel[0])
                sl_strlcpy(m->channel, d->channel, sizeof m->channel);
            else
                m->stage = OPEN_DM;
        }
    }
    queue_call(m);
}

static void message_cancel(task *t)
{
    if (t->state)
        msg_free(t->state);
}

const handler handler_message = {"message", message_start, message_cancel};
