/* apps.c — `sluice-ctl app ID`: one application of the interview workflow
 * (its record PREFIX:{app}:app:ID, see worker/handlers/app.h), and
 * `sluice-ctl apps`: how many are pending, awaiting their decision message,
 * and in each state. Texts are shown shortened; --json gives them whole. */
#include "ctl.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static const char *times[] = {"opened_ms", "deadline_ms", "decided_ms"};

static int is_time(const char *field)
{
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
        if (!strcmp(field, times[i]))
            return 1;
    return 0;
}

int ctl_app(ctl *c, int npos, char **pos)
{
    (void)npos;
    if (ctl_check_id(c, pos[0]))
        return CTL_FAIL;
    char key[SL_KEY_MAX], pending[SL_KEY_MAX], notify[SL_KEY_MAX];
    snprintf(key, sizeof key, "%s:{app}:app:%s", c->o->prefix, pos[0]);
    snprintf(pending, sizeof pending, "%s:{app}:pending", c->o->prefix);
    snprintf(notify, sizeof notify, "%s:{app}:notify", c->o->prefix);
    redisAppendCommand(c->rc, "HGETALL %s", key);
    redisAppendCommand(c->rc, "ZSCORE %s %s", pending, pos[0]);
    redisAppendCommand(c->rc, "ZSCORE %s %s", notify, pos[0]);
    redisAppendCommand(c->rc, "TIME");
    redisReply *r[4];
    if (ctl_read_replies(c, r, 4, "reading the application"))
        return CTL_FAIL;
    int rc = CTL_OK;
    const redisReply *h = r[0];
    int64_t now = ctl_reply_time_ms(r[3]);
    if (h->type != REDIS_REPLY_ARRAY || h->elements == 0) {
        ctl_errorf("%s: no application %s (never opened by an interview job, or removed)", c->cmd,
                   pos[0]);
        rc = CTL_NOTFOUND;
    } else if (c->o->json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "application", pos[0]);
        for (size_t i = 0; i + 1 < h->elements; i += 2) {
            const char *f = h->element[i]->str, *v = h->element[i + 1]->str;
            if (is_time(f) || !strcmp(f, "reminders_done") || !strcmp(f, "reminders_max") ||
                !strcmp(f, "interval_ms") || !strcmp(f, "image"))
                cJSON_AddNumberToObject(doc, f, (double)atoll(v));
            else
                cJSON_AddStringToObject(doc, f, v);
        }
        cJSON_AddBoolToObject(doc, "pending", r[1]->type == REDIS_REPLY_STRING);
        cJSON_AddBoolToObject(doc, "message_due", r[2]->type == REDIS_REPLY_STRING);
        cJSON_AddNumberToObject(doc, "now_ms", (double)now);
        char *s = cJSON_PrintUnformatted(doc);
        puts(s);
        free(s);
        cJSON_Delete(doc);
    } else {
        printf("application: %s\n", pos[0]);
        for (size_t i = 0; i + 1 < h->elements; i += 2) {
            const char *f = h->element[i]->str, *v = h->element[i + 1]->str;
            if (is_time(f) && atoll(v) > 0) {
                char iso[40];
                ctl_iso_time(atoll(v), iso, sizeof iso);
                long long d = atoll(v) - now;
                printf("%s: %s (%s %lld s)\n", f, iso, d >= 0 ? "in" : "",
                       d >= 0 ? d / 1000 : -d / 1000);
            } else {
                printf("%s: %.100s%s\n", f, v, strlen(v) > 100 ? "..." : "");
            }
        }
        printf("pending approval: %s\n", r[1]->type == REDIS_REPLY_STRING ? "yes" : "no");
        if (r[2]->type == REDIS_REPLY_STRING)
            printf("decision message: not yet enqueued (the next sweep does it)\n");
    }
    ctl_free_replies(r, 4);
    return rc;
}

int ctl_apps(ctl *c, int npos, char **pos)
{
    (void)npos, (void)pos;
    char pending[SL_KEY_MAX], notify[SL_KEY_MAX], lock[SL_KEY_MAX], match[SL_KEY_MAX];
    snprintf(pending, sizeof pending, "%s:{app}:pending", c->o->prefix);
    snprintf(notify, sizeof notify, "%s:{app}:notify", c->o->prefix);
    snprintf(lock, sizeof lock, "%s:{app}:sweep", c->o->prefix);
    snprintf(match, sizeof match, "%s:{app}:app:*", c->o->prefix);
    /* states: one SCAN over the records (an admin's view, not a hot path) */
    long long counts[5] = {0};
    static const char *states[] = {"interviewing", "approved", "rejected", "expired", "other"};
    char cursor[32] = "0";
    do {
        redisReply *s =
            ctl_command(c, "scanning applications", "SCAN %s MATCH %s COUNT 1000", cursor, match);
        if (!s)
            return CTL_FAIL;
        if (s->type != REDIS_REPLY_ARRAY || s->elements != 2) {
            freeReplyObject(s);
            ctl_errorf("%s: unexpected answer to SCAN", c->cmd);
            return CTL_FAIL;
        }
        sl_strlcpy(cursor, s->element[0]->str, sizeof cursor);
        const redisReply *keys = s->element[1];
        for (size_t i = 0; i < keys->elements; i++)
            redisAppendCommand(c->rc, "HGET %s state", keys->element[i]->str);
        for (size_t i = 0; i < keys->elements; i++) {
            redisReply *st = NULL;
            if (redisGetReply(c->rc, (void **)&st) != REDIS_OK) {
                freeReplyObject(s);
                ctl_errorf("%s: the connection was lost", c->cmd);
                return CTL_FAIL;
            }
            int k = 4;
            for (int j = 0; j < 4 && st && st->type == REDIS_REPLY_STRING; j++)
                if (!strcmp(st->str, states[j]))
                    k = j;
            counts[k]++;
            freeReplyObject(st);
        }
        freeReplyObject(s);
    } while (strcmp(cursor, "0"));
    redisAppendCommand(c->rc, "ZCARD %s", pending);
    redisAppendCommand(c->rc, "ZCARD %s", notify);
    redisAppendCommand(c->rc, "GET %s", lock);
    redisAppendCommand(c->rc, "ZRANGE %s 0 0 WITHSCORES", pending);
    redisAppendCommand(c->rc, "TIME");
    redisReply *r[5];
    if (ctl_read_replies(c, r, 5, "reading the applications"))
        return CTL_FAIL;
    long long npending = ctl_reply_int(r[0], 0), ndue = ctl_reply_int(r[1], 0);
    const char *sweep = r[2]->type == REDIS_REPLY_STRING ? r[2]->str : NULL;
    long long next = r[3]->elements == 2 ? ctl_reply_int(r[3]->element[1], 0) : 0;
    int64_t now = ctl_reply_time_ms(r[4]);
    if (c->o->json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON *st = cJSON_AddObjectToObject(doc, "states");
        for (int i = 0; i < 5; i++)
            cJSON_AddNumberToObject(st, states[i], (double)counts[i]);
        cJSON_AddNumberToObject(doc, "pending", (double)npending);
        cJSON_AddNumberToObject(doc, "message_due", (double)ndue);
        if (sweep)
            cJSON_AddStringToObject(doc, "sweep", sweep);
        else
            cJSON_AddNullToObject(doc, "sweep");
        if (next)
            cJSON_AddNumberToObject(doc, "next_deadline_ms", (double)next);
        else
            cJSON_AddNullToObject(doc, "next_deadline_ms");
        char *s = cJSON_PrintUnformatted(doc);
        puts(s);
        free(s);
        cJSON_Delete(doc);
    } else {
        printf("applications: %lld interviewing, %lld approved, %lld rejected, %lld expired",
               counts[0], counts[1], counts[2], counts[3]);
        if (counts[4])
            printf(", %lld other", counts[4]);
        printf("\npending approval: %lld", npending);
        if (next)
            printf(" (next deadline in %lld s)", (long long)(next - now) / 1000);
        printf("\ndecision messages not yet enqueued: %lld\n", ndue);
        printf("approval sweep: %s%s\n", sweep ? "running, job " : "idle", sweep ? sweep : "");
    }
    ctl_free_replies(r, 5);
    return CTL_OK;
}
