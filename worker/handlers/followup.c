/* followup.c — the `followup` job (schemas/followup.json), made by an
 * interview (and by the follow-up before it) as a delayed job: its timer
 * lives in Redis like every delayed job's, promoted once by whichever
 * scheduler leads, so a failover loses none and fires none twice.
 *
 * A run: read the application; stop if it is decided or an image came;
 * else look for an image from the applicant among the channel's newest
 * messages; none: post reminder N (nonce of the application and N, so a
 * re-run posts it once), record it, and schedule check N+1 while reminders
 * remain (idempotency key followup:APP:N+1, so a re-run schedules it once). */
#include "../call.h"
#include "../spawn.h"
#include "app.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { F_STATE, F_BOT, F_CHANNEL, F_USER, F_IMAGE, F_DONE, F_MAX, F_INTERVAL, F_TEXT, F_COUNT };

struct fu {
    app_job j; /* first: the state is an app_job (app.h) */
    char app[65];
    int n;
    char key[SL_KEY_MAX];
    char channel[24], user[24];
    long long max, interval_ms;
    char *text;
    pcall *call;
    spawn *sp;
};

static void fu_free(struct fu *f)
{
    pcall_free(f->call);
    spawn_cancel(f->sp);
    free(f->text);
    if (f->j.t)
        f->j.t->state = NULL;
    free(f);
}

static void fu_release(app_job *j)
{
    fu_free((struct fu *)j);
}

static void fu_drop(app_job *j)
{
    struct fu *f = (struct fu *)j;
    pcall_free(f->call);
    f->call = NULL;
    spawn_cancel(f->sp);
    f->sp = NULL;
}

static void finish(struct fu *f, enum task_result r, const char *error)
{
    app_finish(&f->j, r, error);
}

static void next_spawned_cb(int ok, const char *error, void *priv)
{
    struct fu *f = priv;
    f->sp = NULL;
    if (!ok) {
        char msg[300];
        snprintf(msg, sizeof msg, "the next follow-up could not be enqueued: %s", error);
        finish(f, TASK_RETRY, msg);
        return;
    }
    finish(f, TASK_OK, NULL);
}

static void schedule_next(struct fu *f)
{
    if (f->n >= f->max) {
        finish(f, TASK_OK, NULL);
        return;
    }
    char env[512], err[256];
    snprintf(env, sizeof env,
             "{\"type\":\"followup\",\"queue\":\"%s\",\"delay_ms\":%lld,"
             "\"idempotency_key\":\"followup:%s:%d\","
             "\"payload\":{\"application_id\":\"%s\",\"n\":%d}}",
             f->j.t->job.queue, f->interval_ms, f->app, f->n + 1, f->app, f->n + 1);
    f->sp = spawn_new(f->j.t->w);
    if (spawn_add(f->sp, env, err, sizeof err)) {
        finish(f, TASK_PERMANENT, err);
        return;
    }
    spawn_send(f->sp, next_spawned_cb, f);
}

static void recorded_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    (void)rc;
    if (app_reply_ok(priv, reply))
        schedule_next(priv);
}

static void reminded_cb(pcall *c, const pcall_result *r, void *priv)
{
    struct fu *f = priv;
    (void)c;
    if (r->verdict != SL_VERDICT_OK) {
        app_call_failed(&f->j, r, "reminder");
        return;
    }
    sl_info("reminder sent job=%s application=%s n=%d", f->j.t->job.id, f->app, f->n);
    char n[16];
    snprintf(n, sizeof n, "%d", f->n);
    const char *argv[4] = {"HSET", f->key, "reminders_done", n};
    if (app_command(&f->j, recorded_cb, 4, argv))
        finish(f, TASK_RETRY, APP_REDIS_DOWN);
}

static int is_image(const cJSON *att)
{
    const char *ct = app_str(att, "content_type");
    if (ct && !strncasecmp(ct, "image/", 6))
        return 1;
    const char *name = app_str(att, "filename");
    const char *dot = name ? strrchr(name, '.') : NULL;
    static const char *const exts[] = {".png", ".jpg", ".jpeg", ".gif", ".webp"};
    for (size_t i = 0; dot && i < sizeof exts / sizeof exts[0]; i++)
        if (!strcasecmp(dot, exts[i]))
            return 1;
    return 0;
}

static void image_recorded_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    (void)rc;
    if (app_reply_ok(priv, reply))
        finish(priv, TASK_OK, NULL);
}

static void listed_cb(pcall *c, const pcall_result *r, void *priv)
{
    struct fu *f = priv;
    (void)c;
    if (r->verdict != SL_VERDICT_OK) {
        app_call_failed(&f->j, r, "channel messages");
        return;
    }
    cJSON *doc = cJSON_ParseWithLength(r->body, r->len);
    int found = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, doc)
    {
        const cJSON *author = cJSON_GetObjectItemCaseSensitive(m, "author");
        const char *id = app_str(author, "id");
        if (!id || strcmp(id, f->user))
            continue;
        const cJSON *a;
        cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(m, "attachments")) found |=
            is_image(a);
    }
    cJSON_Delete(doc);
    if (found) {
        sl_info("image posted job=%s application=%s: no reminder", f->j.t->job.id, f->app);
        const char *argv[4] = {"HSET", f->key, "image", "1"};
        if (app_command(&f->j, image_recorded_cb, 4, argv))
            finish(f, TASK_RETRY, APP_REDIS_DOWN);
        return;
    }
    char nonce_key[96];
    snprintf(nonce_key, sizeof nonce_key, "reminder:%s:%d", f->app, f->n);
    pcall_reset(f->call);
    sl_discord_send_text(pcall_spec(f->call), f->channel, f->text, nonce_key);
    pcall_start(f->call, "send", reminded_cb, f);
}

static void record_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct fu *f = priv;
    (void)rc;
    if (!app_reply_ok(&f->j, reply))
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != F_COUNT) {
        finish(f, TASK_RETRY, "redis: unexpected answer to HMGET");
        return;
    }
    const char *v[F_COUNT];
    for (int i = 0; i < F_COUNT; i++)
        v[i] = reply->element[i]->type == REDIS_REPLY_STRING ? reply->element[i]->str : NULL;
    if (!v[F_STATE]) {
        finish(f, TASK_PERMANENT, "no such application (its record is gone)");
        return;
    }
    if (strcmp(v[F_STATE], "interviewing") || (v[F_IMAGE] && !strcmp(v[F_IMAGE], "1"))) {
        sl_debug("follow-up not needed job=%s application=%s state=%s", f->j.t->job.id, f->app,
                 v[F_STATE]);
        finish(f, TASK_OK, NULL);
        return;
    }
    char err[300];
    const sl_bot *b = pcall_bot(f->j.t->w, "discord", v[F_BOT], err, sizeof err);
    if (!b || !v[F_CHANNEL] || !v[F_USER] || !v[F_TEXT]) {
        finish(f, TASK_PERMANENT, b ? "the application's record lacks channel, user or text" : err);
        return;
    }
    sl_strlcpy(f->channel, v[F_CHANNEL], sizeof f->channel);
    sl_strlcpy(f->user, v[F_USER], sizeof f->user);
    f->max = v[F_MAX] ? atoll(v[F_MAX]) : 0;
    f->interval_ms = v[F_INTERVAL] ? atoll(v[F_INTERVAL]) : 60000;
    f->text = sl_strdup(v[F_TEXT]);
    f->call = pcall_new(f->j.t, b, 1);
    if (v[F_DONE] && atoll(v[F_DONE]) >= f->n) { /* sent by an earlier run of this job */
        schedule_next(f);
        return;
    }
    sl_discord_list_messages(pcall_spec(f->call), f->channel, 50);
    pcall_start(f->call, "get", listed_cb, f);
}

static void followup_start(task *t)
{
    struct fu *f = sl_calloc(1, sizeof *f);
    f->j.t = t;
    f->j.release = fu_release;
    f->j.drop = fu_drop;
    t->state = f;
    sl_strlcpy(f->app, app_str(t->job.payload, "application_id"), sizeof f->app);
    f->n = (int)app_int(t->job.payload, "n", 1);
    char what[100];
    snprintf(what, sizeof what, "app:%s", f->app);
    app_key(f->key, t->w->prefix, what);
    const char *argv[2 + F_COUNT] = {"HMGET",         f->key,        "state",   "bot",
                                     "channel",       "user",        "image",   "reminders_done",
                                     "reminders_max", "interval_ms", "reminder"};
    if (app_command(&f->j, record_cb, 2 + F_COUNT, argv))
        finish(f, TASK_RETRY, APP_REDIS_DOWN);
}

static void followup_cancel(task *t)
{
    app_cancel(t->state);
}

const handler handler_followup = {"followup", followup_start, followup_cancel};
