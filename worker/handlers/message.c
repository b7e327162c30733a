/* message.c — the `message` job: send, edit or delete a chat message on
 * Discord or Telegram (schemas/message.json).
 *
 * A run: resolve the bot and, for a Discord DM, the DM channel (opened once
 * per user and cached); then the request, through call.c (the limits, the
 * HTTP engine, 429s). 5xx and network trouble retry with backoff; other 4xx
 * are permanent, with the platform's message.
 *
 * Its result (task_set_result): where the message is, so that a frontend
 * can edit or delete it later with another job:
 *   {"platform": "discord", "channel_id": "C", "message_id": "M"}
 *   {"platform": "telegram", "chat_id": X (as the payload gave it), "message_id": "M"}
 * with "deleted": true after a delete. message_id is a string on both
 * platforms (the message schema takes it as one for edit and delete). */
#include "../call.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

struct msg {
    task *t;
    const sl_bot *bot;
    const char *op;
    char user[24];    /* Discord DM recipient, "" if none */
    char channel[24]; /* Discord channel, once known */
    pcall *call;
};

/* Discord DM channels by bot and user: a small direct-mapped cache */
static struct dm {
    char key[96];
    char channel[24];
} dms[4096];

static struct dm *dm_slot(const char *bot, const char *user)
{
    char key[96];
    snprintf(key, sizeof key, "%s/%s", bot, user);
    unsigned h = 2166136261u;
    for (const char *s = key; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    struct dm *d = &dms[h % (sizeof dms / sizeof dms[0])];
    if (strcmp(d->key, key)) {
        sl_strlcpy(d->key, key, sizeof d->key);
        d->channel[0] = '\0';
    }
    return d;
}

static void msg_free(struct msg *m)
{
    pcall_free(m->call);
    m->t->state = NULL;
    free(m);
}

/* ERROR may point into M's request (curl's error), which msg_free releases:
 * it is copied first (task_finish, see worker.h). */
static void finish(struct msg *m, enum task_result r, const char *error)
{
    char copy[TASK_ERROR_MAX + 1];
    task *t = m->t;
    if (error)
        sl_strlcpy(copy, error, sizeof copy);
    msg_free(m);
    task_finish(t, r, error ? copy : NULL);
}

static void done_cb(pcall *c, const pcall_result *r, void *priv);

static void send_message(struct msg *m)
{
    pcall_reset(m->call);
    task *t = m->t;
    if (m->bot->platform == SL_PLATFORM_DISCORD)
        sl_discord_message(pcall_spec(m->call), t->job.payload, m->channel, t->job.id);
    else
        sl_telegram_message(pcall_spec(m->call), t->job.payload);
    pcall_start(m->call, m->op, done_cb, m);
}

/* Ends M after a call that did not succeed: a long rate-limit wait defers
 * the job (no attempt used); otherwise retry or dead with the reason. */
static void failed(struct msg *m, const pcall_result *r)
{
    if (r->defer_ms > 0) {
        task *t = m->t;
        msg_free(m);
        task_defer(t, r->defer_ms, "rate limited");
        return;
    }
    finish(m, r->verdict == SL_VERDICT_PERMANENT ? TASK_PERMANENT : TASK_RETRY, r->error);
}

static void dm_done_cb(pcall *c, const pcall_result *r, void *priv)
{
    struct msg *m = priv;
    (void)c;
    if (r->verdict != SL_VERDICT_OK) {
        failed(m, r);
        return;
    }
    cJSON *doc = cJSON_ParseWithLength(r->body, r->len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(doc, "id");
    if (!cJSON_IsString(id) || strlen(id->valuestring) >= sizeof m->channel) {
        cJSON_Delete(doc);
        finish(m, TASK_RETRY, "discord: the DM channel answer has no id");
        return;
    }
    sl_strlcpy(m->channel, id->valuestring, sizeof m->channel);
    sl_strlcpy(dm_slot(m->bot->name, m->user)->channel, m->channel, sizeof m->channel);
    cJSON_Delete(doc);
    send_message(m);
}

/* The run's result from the platform's answer R (see the top). */
static void set_result(struct msg *m, const pcall_result *r)
{
    const cJSON *p = m->t->job.payload;
    int discord = m->bot->platform == SL_PLATFORM_DISCORD;
    int del = !strcmp(m->op, "delete");
    cJSON *answer = cJSON_ParseWithLength(r->body, r->len);
    const cJSON *msg = discord ? answer : cJSON_GetObjectItemCaseSensitive(answer, "result");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, discord ? "id" : "message_id");
    if (del || !id) /* a delete answers no message: the id is the payload's */
        id = cJSON_GetObjectItemCaseSensitive(p, "message_id");
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "platform", discord ? "discord" : "telegram");
    if (discord) {
        cJSON_AddStringToObject(res, "channel_id", m->channel);
    } else {
        const cJSON *chat = cJSON_GetObjectItemCaseSensitive(p, "chat_id");
        cJSON_AddItemToObject(res, "chat_id", chat ? cJSON_Duplicate(chat, 0) : cJSON_CreateNull());
    }
    char num[32];
    if (cJSON_IsString(id)) {
        cJSON_AddStringToObject(res, "message_id", id->valuestring);
    } else if (cJSON_IsNumber(id)) {
        snprintf(num, sizeof num, "%.0f", id->valuedouble);
        cJSON_AddStringToObject(res, "message_id", num);
    } else {
        cJSON_AddNullToObject(res, "message_id");
    }
    if (del)
        cJSON_AddTrueToObject(res, "deleted");
    task_set_result(m->t, res);
    cJSON_Delete(res);
    cJSON_Delete(answer);
}

static void done_cb(pcall *c, const pcall_result *r, void *priv)
{
    struct msg *m = priv;
    (void)c;
    if (r->verdict != SL_VERDICT_OK) {
        failed(m, r);
        return;
    }
    set_result(m, r);
    sl_debug("message sent job=%s status=%ld", m->t->job.id, r->status);
    finish(m, TASK_OK, NULL);
}

static void message_start(task *t)
{
    const cJSON *p = t->job.payload;
    const cJSON *plat = cJSON_GetObjectItemCaseSensitive(p, "platform");
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(p, "op");
    const cJSON *bot = cJSON_GetObjectItemCaseSensitive(p, "bot");
    char err[256];
    const sl_bot *b = pcall_bot(t->w, cJSON_IsString(plat) ? plat->valuestring : NULL,
                                cJSON_IsString(bot) ? bot->valuestring : NULL, err, sizeof err);
    if (!b) {
        task_finish(t, TASK_PERMANENT, err);
        return;
    }
    struct msg *m = sl_calloc(1, sizeof *m);
    m->t = t;
    m->bot = b;
    m->op = cJSON_IsString(op) ? op->valuestring : "send";
    m->call = pcall_new(t, b, 1);
    t->state = m;
    if (b->platform == SL_PLATFORM_DISCORD) {
        const cJSON *ch = cJSON_GetObjectItemCaseSensitive(p, "channel_id");
        const cJSON *user = cJSON_GetObjectItemCaseSensitive(p, "user_id");
        if (cJSON_IsString(ch)) {
            sl_strlcpy(m->channel, ch->valuestring, sizeof m->channel);
        } else {
            sl_strlcpy(m->user, user->valuestring, sizeof m->user);
            const struct dm *d = dm_slot(b->name, m->user);
            if (!d->channel[0]) {
                sl_discord_open_dm(pcall_spec(m->call), m->user);
                pcall_start(m->call, "send", dm_done_cb, m);
                return;
            }
            sl_strlcpy(m->channel, d->channel, sizeof m->channel);
        }
    }
    send_message(m);
}

static void message_cancel(task *t)
{
    if (t->state)
        msg_free(t->state);
}

const handler handler_message = {"message", message_start, message_cancel};
