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

#include "keys.h"
#include "util.h"

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
