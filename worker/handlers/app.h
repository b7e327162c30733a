/* app.h — what the interview, followup and approval jobs share: the keys
 * of an application's record in Redis, and message templates.
 *
 *   P:{app}:app:ID     HASH   guild, user, bot, channel, state
 *                             (interviewing|approved|rejected|expired),
 *                             opened_ms, deadline_ms, decided_ms, image,
 *                             reminders_done, reminders_max, interval_ms,
 *                             the texts to post, role_id, status_url,
 *                             creating (a channel create was sent)
 *   P:{app}:pending    ZSET   undecided applications, score = deadline ms
 *   P:{app}:notify     ZSET   decided, their message not yet enqueued
 *   P:{app}:sweep      STRING the approval sweep's lock (its job id)
 *
 * Every key carries the hash tag {app}, so the scripts that move an
 * application between states touch one cluster slot. */
#ifndef SL_APP_H
#define SL_APP_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "../call.h"
#include "keys.h"
#include "util.h"

/* The head of a workflow job's state (a struct's first member): the task,
 * and the bookkeeping of the Redis replies it waits for. A task cancelled
 * while a reply is due (timeout, shutdown) cannot free its state at once:
 * the reply's callback still gets it; it is freed there instead. */
typedef struct app_job {
    task *t; /* NULL once the task is gone */
    int in_redis, cancelled;
    void (*release)(struct app_job *j); /* frees the handler's state */
    void (*drop)(struct app_job *j);    /* stops its calls and spawns, frees nothing else */
} app_job;

/* Frees J's state and ends its task with R (and ERROR). */
void app_finish(app_job *j, enum task_result r, const char *error);
/* Sends the Redis command ARGV for J; CB gets the reply (begin it with
 * app_reply_ok). Returns 0, or SL_EREDIS when the connection is down: then
 * nothing changed and CB will not be called; J is still the caller's to
 * finish (app_finish(j, TASK_RETRY, APP_REDIS_DOWN)). */
int app_command(app_job *j, sl_rconn_reply_cb *cb, int argc, const char **argv);
/* The same with script SCRIPT, its NKEYS keys first in ARGV. */
int app_script(app_job *j, sl_rconn_reply_cb *cb, enum sl_script_id script, int nkeys, int argc,
               const char **argv);
/* The error a job ends with when app_command or app_script fails. */
#define APP_REDIS_DOWN "redis is down"
/* 1 when J goes on with REPLY; 0 when J was freed (cancelled meanwhile) or
 * finished (a Redis error: retry). */
int app_reply_ok(app_job *j, redisReply *reply);
/* Ends J after a platform call that did not succeed: a long rate-limit wait
 * defers the job (no attempt); otherwise retry or dead, with WHAT named. */
void app_call_failed(app_job *j, const pcall_result *r, const char *what);
/* The handler's cancel(): frees J now, or when its reply comes. */
void app_cancel(app_job *j);

/* "PREFIX:{app}:" + WHAT (WHAT may be "app:ID"). */
void app_key(char out[SL_KEY_MAX], const char *prefix, const char *what);
/* "PREFIX:{app}:" */
void app_base(char out[SL_KEY_MAX], const char *prefix);

/* Appends TEMPLATE with {user} (a mention of USER), {application_id} and
 * {NAME} for each string in VARS replaced. Returns 0, or SL_EINVAL with ERR
 * naming FIELD and the unknown variable or the 2000-character limit. */
int app_render(sl_buf *out, const char *tmpl, const cJSON *vars, const char *user,
               const char *app_id, const char *field, char *err, size_t errlen);

/* A payload string member, or NULL. */
const char *app_str(const cJSON *obj, const char *name);
/* A payload integer member, or DEF. */
long long app_int(const cJSON *obj, const char *name, long long def);

#endif
