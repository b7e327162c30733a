/* interview.c — the `interview` job (schemas/interview.json): find or
 * create the applicant's private channel in the guild, post the intro, and
 * register the application (app.h) with its first follow-up.
 *
 * Finding is one channel listing per guild for every job that needs it at
 * about the same time: jobs wait on the guild's listing in flight, and a
 * listing serves later jobs for LISTING_TTL seconds; channels this worker
 * creates are added to it. Creating is idempotent: before the create is
 * sent the record is marked `creating`, and a job that finds the mark (a
 * retry, or a job re-run after its worker died) lists the guild afresh,
 * from after its own start, so it finds the channel made the first time
 * instead of making a second. The intro carries a nonce of the
 * application id, so a re-run within Discord's nonce window posts nothing
 * twice; once the application is registered a re-run posts nothing.
 *
 * Its result (task_set_result): {"channel_id": "C", "application_id": "A"},
 * the applicant's interview channel (also when the application was found
 * registered already). */
#include "../call.h"
#include "../spawn.h"
#include "app.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

#define LISTING_TTL 2.0 /* seconds a guild's channel listing serves new jobs */

#define VIEW_CHANNEL 1024L
#define SEND_MESSAGES 2048L
#define ATTACH_FILES 32768L
#define READ_HISTORY 65536L

struct listing;

struct iv {
    app_job j; /* first: the state is an app_job (app.h) */
    const sl_bot *bot;
    const cJSON *p;
    char guild[24], user[24], app[65], channel[24], name[101];
    char key[SL_KEY_MAX]; /* the application's record */
    sl_buf intro, reminder, welcome, rejection, expiry;
    pcall *call;
    spawn *sp;
    int must_refresh;
    /* waiting on a guild listing */
    struct listing *lst;
    double need_after; /* a listing started at or after this serves */
    struct iv *lnext;
};

/* A guild's channel listing, shared by the jobs that need it. */
struct listing {
    char key[96]; /* bot/guild */
    cJSON *channels;
    double started;   /* when the listing in hand was asked for */
    double asked;     /* when the one in flight was asked for */
    struct iv *owner; /* whose task the request in flight runs under */
    pcall *call;
    struct iv *waiters;
    struct listing *next;
};

static void iv_free(struct iv *v);
static void finish(struct iv *v, enum task_result r, const char *error);

/* ------------------------------------------------------------ listings */

/* The listing of BOT's GUILD in W (worker.listings), made if new. Listings
 * unused for a minute are dropped on the way, so a worker that meets many
 * guilds keeps few. */
static struct listing *listing_of(worker *w, const char *bot, const char *guild, double now)
{
    char key[96];
    snprintf(key, sizeof key, "%s/%s", bot, guild);
    struct listing *found = NULL;
    for (struct listing **pp = &w->listings; *pp;) {
        struct listing *l = *pp;
        if (!strcmp(l->key, key)) {
            found = l;
        } else if (!l->call && !l->waiters && now - l->started > 60.0) {
            *pp = l->next;
            cJSON_Delete(l->channels);
            free(l);
            continue;
        }
        pp = &l->next;
    }
    if (found)
        return found;
    struct listing *l = sl_calloc(1, sizeof *l);
    sl_strlcpy(l->key, key, sizeof l->key);
    l->started = -1e9;
    l->next = w->listings;
    w->listings = l;
    return l;
}

static void found_listing(struct iv *v, const cJSON *channels);
static void listing_fetch(struct listing *l);

static void listing_done_cb(pcall *c, const pcall_result *r, void *priv)
{
    struct listing *l = priv;
    (void)c;
    cJSON *doc = r->verdict == SL_VERDICT_OK ? cJSON_ParseWithLength(r->body, r->len) : NULL;
    char err[600];
    snprintf(err, sizeof err, "guild channel listing: %s",
             r->error ? r->error : "the answer is not a list");
    long defer_ms = r->defer_ms;
    enum sl_verdict verdict = r->verdict;
    pcall_free(l->call); /* R goes with it */
    l->call = NULL;
    l->owner = NULL;
    if (!cJSON_IsArray(doc)) {
        /* every job waiting on it fails alike and retries with backoff */
        cJSON_Delete(doc);
        struct iv *w = l->waiters;
        l->waiters = NULL;
        while (w) {
            struct iv *n = w->lnext;
            w->lst = NULL;
            if (defer_ms > 0) {
                task *t = w->j.t;
                iv_free(w);
                task_defer(t, defer_ms, "rate limited");
            } else {
                finish(w, verdict == SL_VERDICT_PERMANENT ? TASK_PERMANENT : TASK_RETRY, err);
            }
            w = n;
        }
        return;
    }
    cJSON_Delete(l->channels);
    l->channels = doc;
    l->started = l->asked;
    /* serve those the listing is fresh enough for; the rest need another */
    struct iv **pp = &l->waiters, *ready = NULL;
    while (*pp) {
        struct iv *w = *pp;
        if (w->need_after <= l->started) {
            *pp = w->lnext;
            w->lnext = ready;
            ready = w;
        } else {
            pp = &w->lnext;
        }
    }
    if (l->waiters)
        listing_fetch(l);
    while (ready) {
        struct iv *n = ready->lnext;
        ready->lst = NULL;
        found_listing(ready, l->channels);
        ready = n;
    }
}

static void listing_fetch(struct listing *l)
{
    struct iv *o = l->waiters;
    l->owner = o;
    l->asked = ev_now(o->j.t->w->loop);
    l->call = pcall_new(o->j.t, o->bot, 0);
    sl_discord_list_channels(pcall_spec(l->call), o->guild);
    pcall_start(l->call, "get", listing_done_cb, l);
}

/* V needs the channels of its guild, as listed after NEED_AFTER. */
static void listing_get(struct iv *v, double need_after)
{
    worker *w = v->j.t->w;
    struct listing *l = listing_of(w, v->bot->name, v->guild, ev_now(w->loop));
    if (l->channels && l->started >= need_after) {
        found_listing(v, l->channels);
        return;
    }
    v->lst = l;
    v->need_after = need_after;
    v->lnext = l->waiters;
    l->waiters = v;
    if (!l->call)
        listing_fetch(l);
}

/* V stops waiting (its task is gone). */
static void listing_leave(struct iv *v)
{
    struct listing *l = v->lst;
    if (!l)
        return;
    for (struct iv **pp = &l->waiters; *pp; pp = &(*pp)->lnext)
        if (*pp == v) {
            *pp = v->lnext;
            break;
        }
    v->lst = NULL;
    if (l->owner == v) { /* the request ran under V's task: ask again under another's */
        pcall_free(l->call);
        l->call = NULL;
        l->owner = NULL;
        if (l->waiters)
            listing_fetch(l);
    }
}

/* A channel this worker made joins the listing at once. */
static void listing_add(struct iv *v)
{
    worker *w = v->j.t->w;
    struct listing *l = listing_of(w, v->bot->name, v->guild, ev_now(w->loop));
    if (!l->channels)
        return;
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddStringToObject(ch, "id", v->channel);
    cJSON_AddStringToObject(ch, "name", v->name);
    cJSON_AddItemToArray(l->channels, ch);
}

/* ------------------------------------------------------------ the job */

static void iv_free(struct iv *v)
{
    listing_leave(v);
    pcall_free(v->call);
    spawn_cancel(v->sp);
    sl_buf_deinit(&v->intro);
    sl_buf_deinit(&v->reminder);
    sl_buf_deinit(&v->welcome);
    sl_buf_deinit(&v->rejection);
    sl_buf_deinit(&v->expiry);
    if (v->j.t)
        v->j.t->state = NULL;
    free(v);
}

static void iv_release(app_job *j)
{
    iv_free((struct iv *)j);
}

static void iv_drop(app_job *j)
{
    struct iv *v = (struct iv *)j;
    listing_leave(v);
    pcall_free(v->call);
    v->call = NULL;
    spawn_cancel(v->sp);
    v->sp = NULL;
}

static void finish(struct iv *v, enum task_result r, const char *error)
{
    if (r == TASK_OK && v->channel[0]) {
        cJSON *res = cJSON_CreateObject();
        cJSON_AddStringToObject(res, "channel_id", v->channel);
        cJSON_AddStringToObject(res, "application_id", v->app);
        task_set_result(v->j.t, res);
        cJSON_Delete(res);
    }
    app_finish(&v->j, r, error);
}

static void followup_spawned_cb(int ok, const char *error, void *priv)
{
    struct iv *v = priv;
    v->sp = NULL;
    if (!ok) {
        char msg[300];
        snprintf(msg, sizeof msg, "the follow-up could not be enqueued: %s", error);
        finish(v, TASK_RETRY, msg);
        return;
    }
    sl_info("interview open job=%s application=%s channel=%s", v->j.t->job.id, v->app, v->channel);
    finish(v, TASK_OK, NULL);
}

static void registered_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct iv *v = priv;
    (void)rc;
    if (!app_reply_ok(&v->j, reply))
        return;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(v->p, "followup");
    long long reminders = app_int(f, "reminders", 2);
    if (reply->type != REDIS_REPLY_STRING || strcmp(reply->str, "interviewing") || !reminders) {
        finish(v, TASK_OK, NULL); /* decided meanwhile, or no reminders asked */
        return;
    }
    char env[512], err[256];
    snprintf(env, sizeof env,
             "{\"type\":\"followup\",\"delay_ms\":%lld,\"idempotency_key\":\"followup:%s:1\","
             "\"payload\":{\"application_id\":\"%s\",\"n\":1}}",
             app_int(f, "after_s", 60) * 1000, v->app, v->app);
    v->sp = spawn_new(v->j.t->w);
    if (spawn_add(v->sp, env, err, sizeof err)) {
        finish(v, TASK_PERMANENT, err);
        return;
    }
    spawn_send(v->sp, followup_spawned_cb, v);
}

static void do_register(struct iv *v)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(v->p, "followup");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(v->p, "approval");
    char pending[SL_KEY_MAX], deadline[32], rmax[16], interval[32];
    app_key(pending, v->j.t->w->prefix, "pending");
    snprintf(deadline, sizeof deadline, "%lld", app_int(a, "deadline_s", 604800) * 1000);
    snprintf(rmax, sizeof rmax, "%lld", app_int(f, "reminders", 2));
    snprintf(interval, sizeof interval, "%lld", app_int(f, "interval_s", 60) * 1000);
    const char *role = app_str(a, "role_id"), *url = app_str(a, "status_url");
    const char *argv[40] = {v->key,          pending,
                            v->app,          deadline,
                            "guild",         v->guild,
                            "user",          v->user,
                            "bot",           v->bot->name,
                            "channel",       v->channel,
                            "reminders_max", rmax,
                            "interval_ms",   interval,
                            "reminder",      v->reminder.data,
                            "welcome",       v->welcome.data,
                            "rejection",     v->rejection.data,
                            "expiry",        v->expiry.data,
                            "role_id",       role ? role : "",
                            "status_url",    url ? url : "",
                            "job",           v->j.t->job.id};
    if (app_script(&v->j, registered_cb, SL_SCRIPT_APP_OPEN, 2, 30, argv))
        finish(v, TASK_RETRY, APP_REDIS_DOWN);
}

static void intro_done_cb(pcall *c, const pcall_result *r, void *priv)
{
    struct iv *v = priv;
    (void)c;
    if (r->verdict != SL_VERDICT_OK) {
        app_call_failed(&v->j, r, "intro");
        return;
    }
    do_register(v);
}

static void post_intro(struct iv *v)
{
    char nonce_key[96];
    snprintf(nonce_key, sizeof nonce_key, "intro:%s", v->app);
    if (!v->call)
        v->call = pcall_new(v->j.t, v->bot, 1);
    pcall_reset(v->call);
    sl_discord_send_text(pcall_spec(v->call), v->channel, v->intro.data, nonce_key);
    pcall_start(v->call, "send", intro_done_cb, v);
}

static void channel_saved_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    (void)rc;
    if (app_reply_ok(priv, reply))
        post_intro(priv);
}

static void save_channel(struct iv *v)
{
    const char *argv[4] = {"HSET", v->key, "channel", v->channel};
    if (app_command(&v->j, channel_saved_cb, 4, argv))
        finish(v, TASK_RETRY, APP_REDIS_DOWN);
}

static void created_cb(pcall *c, const pcall_result *r, void *priv)
{
    struct iv *v = priv;
    (void)c;
    if (r->verdict != SL_VERDICT_OK) {
        app_call_failed(&v->j, r, "channel create");
        return;
    }
    cJSON *doc = cJSON_ParseWithLength(r->body, r->len);
    const char *id = app_str(doc, "id");
    if (!id || strlen(id) >= sizeof v->channel) {
        cJSON_Delete(doc);
        finish(v, TASK_RETRY, "channel create: the answer has no channel id");
        return;
    }
    sl_strlcpy(v->channel, id, sizeof v->channel);
    cJSON_Delete(doc);
    listing_add(v);
    sl_info("interview channel created job=%s application=%s channel=%s", v->j.t->job.id, v->app,
            v->channel);
    save_channel(v);
}

static void create_channel(struct iv *v)
{
    /* the applicant and the reviewers see it; nobody else does */
    const char *reviewer = app_str(v->p, "reviewer_role_id");
    const char *parent = app_str(v->p, "category_id");
    long allow = VIEW_CHANNEL | SEND_MESSAGES | ATTACH_FILES | READ_HISTORY;
    sl_buf b = {0};
    sl_buf_puts(&b, "{\"name\":");
    sl_buf_json_str(&b, v->name, strlen(v->name));
    sl_buf_printf(&b, ",\"type\":0,\"topic\":\"sluice application %s\"", v->app);
    if (parent)
        sl_buf_printf(&b, ",\"parent_id\":\"%s\"", parent);
    sl_buf_printf(&b,
                  ",\"permission_overwrites\":[{\"id\":\"%s\",\"type\":0,\"deny\":\"%ld\"},"
                  "{\"id\":\"%s\",\"type\":1,\"allow\":\"%ld\"}",
                  v->guild, VIEW_CHANNEL, v->user, allow);
    if (reviewer)
        sl_buf_printf(&b, ",{\"id\":\"%s\",\"type\":0,\"allow\":\"%ld\"}", reviewer, allow);
    sl_buf_puts(&b, "]}");
    if (!v->call)
        v->call = pcall_new(v->j.t, v->bot, 1);
    pcall_reset(v->call);
    sl_discord_create_channel(pcall_spec(v->call), v->guild, b.data);
    sl_buf_deinit(&b);
    pcall_start(v->call, "send", created_cb, v);
}

static void marked_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    (void)rc;
    if (app_reply_ok(priv, reply))
        create_channel(priv);
}

static void found_listing(struct iv *v, const cJSON *channels)
{
    char topic[100];
    snprintf(topic, sizeof topic, "sluice application %s", v->app);
    const cJSON *ch;
    cJSON_ArrayForEach(ch, channels)
    {
        const char *name = app_str(ch, "name"), *t = app_str(ch, "topic"), *id = app_str(ch, "id");
        if (id && strlen(id) < sizeof v->channel &&
            ((t && !strcmp(t, topic)) || (name && !strcmp(name, v->name)))) {
            sl_strlcpy(v->channel, id, sizeof v->channel);
            save_channel(v);
            return;
        }
    }
    /* not there: mark the record before creating, so that a re-run lists
     * afresh instead of trusting a listing from before this create */
    const char *argv[4] = {"HSET", v->key, "creating", v->j.t->job.id};
    if (app_command(&v->j, marked_cb, 4, argv))
        finish(v, TASK_RETRY, APP_REDIS_DOWN);
}

static void record_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct iv *v = priv;
    (void)rc;
    if (!app_reply_ok(&v->j, reply))
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
        finish(v, TASK_RETRY, "redis: unexpected answer to HMGET");
        return;
    }
    const redisReply *state = reply->element[0], *channel = reply->element[1],
                     *creating = reply->element[2];
    if (state->type == REDIS_REPLY_STRING) { /* registered: all done before */
        if (channel->type == REDIS_REPLY_STRING && channel->len < sizeof v->channel)
            sl_strlcpy(v->channel, channel->str, sizeof v->channel);
        sl_info("interview already open job=%s application=%s state=%s", v->j.t->job.id, v->app,
                state->str);
        finish(v, TASK_OK, NULL);
        return;
    }
    if (channel->type == REDIS_REPLY_STRING && channel->len < sizeof v->channel) {
        sl_strlcpy(v->channel, channel->str, sizeof v->channel);
        post_intro(v);
        return;
    }
    double now = ev_now(v->j.t->w->loop);
    listing_get(v, creating->type == REDIS_REPLY_STRING ? now : now - LISTING_TTL);
}

static int render_texts(struct iv *v, char *err, size_t errlen)
{
    const cJSON *intro = cJSON_GetObjectItemCaseSensitive(v->p, "intro");
    const cJSON *vars = cJSON_GetObjectItemCaseSensitive(intro, "vars");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(v->p, "followup");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(v->p, "approval");
    const char *rem = app_str(f, "text"), *wel = app_str(a, "welcome"),
               *rej = app_str(a, "rejection"), *exp = app_str(a, "expiry");
    return app_render(&v->intro, app_str(intro, "template"), vars, v->user, v->app,
                      "intro.template", err, errlen) ||
           app_render(&v->reminder,
                      rem ? rem
                          : "{user} a reminder: please post an image in this channel to go on "
                            "with your application.",
                      vars, v->user, v->app, "followup.text", err, errlen) ||
           app_render(&v->welcome,
                      wel ? wel : "{user} welcome! Your application has been approved.", vars,
                      v->user, v->app, "approval.welcome", err, errlen) ||
           app_render(&v->rejection,
                      rej ? rej
                          : "{user} thank you for applying; your application was not "
                            "accepted.",
                      vars, v->user, v->app, "approval.rejection", err, errlen) ||
           app_render(&v->expiry,
                      exp ? exp : "{user} this application has expired without a decision.", vars,
                      v->user, v->app, "approval.expiry", err, errlen);
}

static void interview_start(task *t)
{
    const cJSON *p = t->job.payload;
    char err[300];
    const sl_bot *b = pcall_bot(t->w, "discord", app_str(p, "bot"), err, sizeof err);
    if (!b) {
        task_finish(t, TASK_PERMANENT, err);
        return;
    }
    struct iv *v = sl_calloc(1, sizeof *v);
    v->j.t = t;
    v->j.release = iv_release;
    v->j.drop = iv_drop;
    v->bot = b;
    v->p = p;
    t->state = v;
    sl_strlcpy(v->guild, app_str(p, "guild_id"), sizeof v->guild);
    sl_strlcpy(v->user, app_str(p, "user_id"), sizeof v->user);
    sl_strlcpy(v->app, app_str(p, "application_id"), sizeof v->app);
    const char *name = app_str(p, "channel_name");
    if (name)
        sl_strlcpy(v->name, name, sizeof v->name);
    else
        snprintf(v->name, sizeof v->name, "interview-%s", v->user);
    if (render_texts(v, err, sizeof err)) {
        finish(v, TASK_PERMANENT, err);
        return;
    }
    char what[100];
    snprintf(what, sizeof what, "app:%s", v->app);
    app_key(v->key, t->w->prefix, what);
    const char *argv[5] = {"HMGET", v->key, "state", "channel", "creating"};
    if (app_command(&v->j, record_cb, 5, argv))
        finish(v, TASK_RETRY, APP_REDIS_DOWN);
}

static void interview_cancel(task *t)
{
    app_cancel(t->state);
}

const handler handler_interview = {"interview", interview_start, interview_cancel};
