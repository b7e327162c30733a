/* serve_lookup.c — a job's state, read from Redis without blocking. An id
 * does not name its queue: the queue is the one ?queue= names, else the
 * first of the known queues (PREFIX:queues) holding PREFIX:{Q}:job:ID,
 * found in one MULTI of EXISTS. The state is then read in one MULTI (so no
 * move between structures is seen half-way): the body, LPOS in each ready
 * list, ZSCORE in delayed, active, done and dead, as sluice-ctl show does. */
#include "serve.h"
#include "keys.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static const char *state_names[] = {"unknown", "ready", "delayed",  "active",
                                    "done",    "dead",  "cancelled"};

const char *serve_state_name(int state)
{
    return state_names[state];
}

int serve_state_final(int state)
{
    return state == SERVE_STATE_DONE || state == SERVE_STATE_DEAD || state == SERVE_STATE_CANCELLED;
}

void sreq_lookup_free(struct sreq_lookup *l)
{
    if (!l)
        return;
    free(l->body);
    free(l);
}

static void noop_cb(sl_rconn *c, redisReply *reply, void *priv)
{
    (void)c, (void)reply, (void)priv;
}

/* Sends MULTI, the N commands of ARGVS, EXEC (whose reply goes to CB). */
static int multi(serve *s, int n, int argc, const char *(*argvs)[8], sl_rconn_reply_cb *cb,
                 void *priv)
{
    if (!s->redis)
        return SL_EREDIS;
    const char *m[] = {"MULTI"}, *e[] = {"EXEC"};
    if (sl_rconn_command(s->redis, noop_cb, NULL, 1, m, NULL))
        return SL_EREDIS;
    for (int i = 0; i < n; i++) {
        int ac = 0;
        while (ac < argc && argvs[i][ac])
            ac++;
        sl_rconn_command(s->redis, noop_cb, NULL, ac, argvs[i], NULL);
    }
    return sl_rconn_command(s->redis, cb, priv, 1, e, NULL);
}

static void done(sreq *r, int found)
{
    r->look->looking = 0;
    r->look->cb(r, found);
}

static void state_cb(sl_rconn *c, redisReply *reply, void *priv)
{
    (void)c;
    sreq *r = priv;
    struct sreq_lookup *l = r->look;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 9) {
        done(r, -1);
        return;
    }
    redisReply **e = reply->element;
    free(l->body);
    l->body = NULL;
    l->len = 0;
    if (e[0]->type == REDIS_REPLY_STRING) {
        l->body = sl_strndup(e[0]->str, e[0]->len);
        l->len = e[0]->len;
    }
    l->state = SERVE_STATE_UNKNOWN;
    l->score_ms = 0;
    for (int p = 0; p < 4 && l->state == SERVE_STATE_UNKNOWN; p++)
        if (e[1 + p]->type == REDIS_REPLY_INTEGER)
            l->state = SERVE_STATE_READY;
    static const int set_state[] = {SERVE_STATE_DELAYED, SERVE_STATE_ACTIVE, SERVE_STATE_DONE,
                                    SERVE_STATE_DEAD};
    for (int i = 0; i < 4 && l->state == SERVE_STATE_UNKNOWN; i++)
        if (e[5 + i]->type == REDIS_REPLY_STRING) {
            l->state = set_state[i];
            l->score_ms = strtoll(e[5 + i]->str, NULL, 10);
        }
    if (l->state == SERVE_STATE_DEAD && l->body) {
        cJSON *doc = cJSON_ParseWithLength(l->body, l->len);
        const cJSON *le = cJSON_GetObjectItemCaseSensitive(doc, "last_error");
        if (cJSON_IsString(le) && !strncmp(le->valuestring, "cancelled", 9))
            l->state = SERVE_STATE_CANCELLED;
        cJSON_Delete(doc);
    }
    done(r, l->body || l->state != SERVE_STATE_UNKNOWN);
}

static int send_state(sreq *r)
{
    struct sreq_lookup *l = r->look;
    sl_keys k;
    sl_keys_init(&k, r->s->o.prefix, l->queue);
    char job[SL_KEY_MAX + 70];
    snprintf(job, sizeof job, "%s%s", k.job_prefix, l->id);
    const char *cmds[9][8] = {
        {"GET", job},
        {"LPOS", k.ready[0], l->id},
        {"LPOS", k.ready[1], l->id},
        {"LPOS", k.ready[2], l->id},
        {"LPOS", k.ready[3], l->id},
        {"ZSCORE", k.delayed, l->id},
        {"ZSCORE", k.active, l->id},
        {"ZSCORE", k.done, l->id},
        {"ZSCORE", k.dead, l->id},
    };
    return multi(r->s, 9, 8, cmds, state_cb, r);
}

struct find {
    sreq *r;
    char **names;
    int n;
};

static void find_free(struct find *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->names[i]);
    free(f->names);
    free(f);
}

static void exists_cb(sl_rconn *c, redisReply *reply, void *priv)
{
    (void)c;
    struct find *f = priv;
    sreq *r = f->r;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || (int)reply->elements != f->n) {
        find_free(f);
        done(r, -1);
        return;
    }
    int at = -1;
    for (int i = 0; i < f->n && at < 0; i++)
        if (reply->element[i]->type == REDIS_REPLY_INTEGER && reply->element[i]->integer == 1)
            at = i;
    if (at >= 0)
        sl_strlcpy(r->look->queue, f->names[at], sizeof r->look->queue);
    find_free(f);
    if (at < 0)
        done(r, 0);
    else if (send_state(r))
        done(r, -1);
}

static void queues_cb(sl_rconn *c, redisReply *reply, void *priv)
{
    (void)c;
    sreq *r = priv;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        done(r, -1);
        return;
    }
    if (reply->elements == 0) {
        done(r, 0);
        return;
    }
    struct find *f = sl_calloc(1, sizeof *f);
    f->r = r;
    f->n = (int)reply->elements;
    f->names = sl_calloc((size_t)f->n, sizeof *f->names);
    const char *(*cmds)[8] = sl_calloc((size_t)f->n, sizeof *cmds);
    char(*keys)[SL_KEY_MAX + 70] = sl_malloc((size_t)f->n * sizeof *keys);
    for (int i = 0; i < f->n; i++) {
        f->names[i] = sl_strndup(reply->element[i]->str, reply->element[i]->len);
        snprintf(keys[i], sizeof keys[i], "%s:{%s}:job:%s", r->s->o.prefix, f->names[i],
                 r->look->id);
        cmds[i][0] = "EXISTS";
        cmds[i][1] = keys[i];
    }
    int rc = multi(r->s, f->n, 8, cmds, exists_cb, f);
    free(cmds);
    free(keys);
    if (rc) {
        find_free(f);
        done(r, -1);
    }
}

int serve_lookup(sreq *r, serve_lookup_cb *cb)
{
    struct sreq_lookup *l = r->look;
    l->cb = cb;
    int rc;
    if (l->queue[0]) {
        rc = send_state(r);
    } else {
        const char *argv[] = {"SMEMBERS", r->s->queues_key};
        rc = r->s->redis ? sl_rconn_command(r->s->redis, queues_cb, r, 2, argv, NULL) : SL_EREDIS;
    }
    if (!rc)
        l->looking = 1;
    return rc;
}

static void copy_field(sl_buf *b, const cJSON *doc, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, name);
    if (!v)
        return;
    char *s = cJSON_PrintUnformatted(v);
    if (!s)
        abort(); /* cJSON fails only when out of memory */
    sl_buf_printf(b, ",\"%s\":%s", name, s);
    free(s);
}

void serve_lookup_json(const struct sreq_lookup *l, sl_buf *b)
{
    sl_buf_puts(b, "{\"id\":");
    sl_buf_json_str(b, l->id, strlen(l->id));
    sl_buf_puts(b, ",\"queue\":");
    sl_buf_json_str(b, l->queue, strlen(l->queue));
    sl_buf_printf(b, ",\"state\":\"%s\"", serve_state_name(l->state));
    static const char *score_name[] = {
        [SERVE_STATE_DELAYED] = "run_at_ms",     [SERVE_STATE_ACTIVE] = "lease_deadline_ms",
        [SERVE_STATE_DONE] = "finished_ms",      [SERVE_STATE_DEAD] = "finished_ms",
        [SERVE_STATE_CANCELLED] = "finished_ms",
    };
    if (l->state >= SERVE_STATE_DELAYED)
        sl_buf_printf(b, ",\"%s\":%lld", score_name[l->state], (long long)l->score_ms);
    cJSON *doc = l->body ? cJSON_ParseWithLength(l->body, l->len) : NULL;
    if (cJSON_IsObject(doc)) {
        const cJSON *att = cJSON_GetObjectItemCaseSensitive(doc, "attempts");
        sl_buf_printf(b, ",\"attempts\":%d", cJSON_IsNumber(att) ? att->valueint : 0);
        static const char *fields[] = {"type",       "priority", "max_attempts", "created_ms",
                                       "started_ms", "batch",    "last_error",   "result"};
        for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
            if (l->state >= SERVE_STATE_DELAYED && !strcmp(fields[i], "run_at_ms"))
                continue;
            copy_field(b, doc, fields[i]);
        }
    }
    cJSON_Delete(doc);
    sl_buf_puts(b, "}");
}
