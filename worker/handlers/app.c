/* app.c — see app.h. */
#include "app.h"

#include <stdio.h>
#include <string.h>

void app_finish(app_job *j, enum task_result r, const char *error)
{
    char copy[TASK_ERROR_MAX + 1]; /* ERROR may live in J's calls: see worker.h */
    task *t = j->t;
    if (error)
        sl_strlcpy(copy, error, sizeof copy);
    j->release(j);
    task_finish(t, r, error ? copy : NULL);
}

int app_command(app_job *j, sl_rconn_reply_cb *cb, int argc, const char **argv)
{
    if (sl_rconn_command(j->t->w->redis, cb, j, argc, argv, NULL))
        return SL_EREDIS;
    j->in_redis = 1;
    return 0;
}

int app_script(app_job *j, sl_rconn_reply_cb *cb, enum sl_script_id script, int nkeys, int argc,
               const char **argv)
{
    if (sl_rconn_script(j->t->w->redis, script, cb, j, nkeys, argc, argv, NULL))
        return SL_EREDIS;
    j->in_redis = 1;
    return 0;
}

int app_reply_ok(app_job *j, redisReply *reply)
{
    j->in_redis = 0;
    if (j->cancelled) {
        j->t = NULL;
        j->release(j);
        return 0;
    }
    const char *err = sl_reply_error(reply);
    if (!reply || err) {
        char msg[300];
        snprintf(msg, sizeof msg, "redis: %s", err ? err : "no answer");
        app_finish(j, TASK_RETRY, msg);
        return 0;
    }
    return 1;
}

void app_call_failed(app_job *j, const pcall_result *r, const char *what)
{
    if (r->defer_ms > 0) {
        task *t = j->t;
        j->release(j);
        task_defer(t, r->defer_ms, "rate limited");
        return;
    }
    char err[700];
    snprintf(err, sizeof err, "%s: %s", what, r->error ? r->error : "failed");
    app_finish(j, r->verdict == SL_VERDICT_PERMANENT ? TASK_PERMANENT : TASK_RETRY, err);
}

void app_cancel(app_job *j)
{
    if (!j)
        return;
    if (j->in_redis) { /* the reply frees it */
        j->drop(j);
        j->cancelled = 1;
        j->t->state = NULL;
        return;
    }
    j->release(j);
}

void app_base(char out[SL_KEY_MAX], const char *prefix)
{
    snprintf(out, SL_KEY_MAX, "%s:{app}:", prefix);
}

void app_key(char out[SL_KEY_MAX], const char *prefix, const char *what)
{
    snprintf(out, SL_KEY_MAX, "%s:{app}:%s", prefix, what);
}

const char *app_str(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

long long app_int(const cJSON *obj, const char *name, long long def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : def;
}

/* Discord counts a message's length in characters: UTF-8 lead bytes. */
static size_t chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

int app_render(sl_buf *out, const char *tmpl, const cJSON *vars, const char *user,
               const char *app_id, const char *field, char *err, size_t errlen)
{
    size_t start = out->len;
    for (const char *p = tmpl; *p;) {
        const char *open = strchr(p, '{');
        const char *close = open ? strchr(open + 1, '}') : NULL;
        if (!open || !close) {
            sl_buf_puts(out, p);
            break;
        }
        sl_buf_append(out, p, (size_t)(open - p));
        char name[80];
        size_t n = (size_t)(close - open - 1);
        if (n == 0 || n >= sizeof name) { /* not a placeholder: keep it */
            sl_buf_append(out, open, (size_t)(close - open + 1));
            p = close + 1;
            continue;
        }
        memcpy(name, open + 1, n);
        name[n] = '\0';
        const char *v = app_str(vars, name);
        if (v)
            sl_buf_puts(out, v);
        else if (!strcmp(name, "user"))
            sl_buf_printf(out, "<@%s>", user);
        else if (!strcmp(name, "application_id"))
            sl_buf_puts(out, app_id);
        else {
            snprintf(err, errlen, "%s: unknown variable {%s} (give it in intro.vars)", field, name);
            out->len = start;
            if (out->data)
                out->data[start] = 0;
            return SL_EINVAL;
        }
        p = close + 1;
    }
    size_t c = chars(out->data + start, out->len - start);
    if (c > 2000) {
        snprintf(err, errlen, "%s: the message is %zu characters once filled in, at most 2000",
                 field, c);
        out->len = start;
        if (out->data)
            out->data[start] = 0;
        return SL_EINVAL;
    }
    sl_buf_append(out, "", 0);
    return 0;
}
