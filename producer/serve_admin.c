/* serve_admin.c — DELETE /v1/jobs/ID (cancel.lua, as sluice-ctl cancel),
 * GET /v1/queues (the figures of sluice-ctl stats --json, and the spool's
 * depth with --spool), GET
 * /v1/batches/ID (as sluice-ctl batch --json) and /readyz. Each reads what
 * it shows in one MULTI, without blocking the loop. */
#include "serve.h"
#include "batch.h"
#include "events.h"
#include "job.h"
#include "keys.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define CANCEL_REASON "cancelled by the HTTP intake"

int serve_queue_arg(sreq *r, struct sreq_lookup *l); /* serve_wait.c */

static void noop_cb(sl_rconn *c, redisReply *reply, void *priv)
{
    (void)c, (void)reply, (void)priv;
}

static void unreachable(sreq *r)
{
    r->retry_after = 1;
    sreq_error(r, 503, NULL, "redis is unreachable; try again");
}

static long long reply_int(const redisReply *r)
{
    if (!r)
        return 0;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return 0;
}

/* ---- DELETE /v1/jobs/ID -------------------------------------------------- */

/* The body a cancelled job keeps, as sluice-ctl cancel writes it. */
static char *cancelled_body(const struct sreq_lookup *l, size_t *len)
{
    sl_job job;
    char err[512];
    sl_buf b = {0};
    if (l->body && !sl_job_parse(&job, l->body, l->len, 0, err, sizeof err)) {
        if (!job.id[0])
            sl_strlcpy(job.id, l->id, sizeof job.id);
        if (!job.queue[0])
            sl_strlcpy(job.queue, l->queue, sizeof job.queue);
        sl_job_set_error(&job, CANCEL_REASON);
        sl_job_encode(&job, &b);
        sl_job_deinit(&job);
    } else {
        sl_job_encode_broken(&b, l->id, l->queue, CANCEL_REASON, l->body, l->len);
    }
    *len = b.len;
    return b.data;
}

static void not_waiting(sreq *r)
{
    char msg[200];
    snprintf(msg, sizeof msg, "job %s is %s: only ready or delayed jobs can be cancelled",
             r->look->id, serve_state_name(r->look->state));
    sreq_error(r, 409, "id", msg);
}

static void after_cancel(sreq *r, int found)
{
    if (found < 0)
        unreachable(r);
    else if (found == 0)
        sreq_error(r, 404, "id", "no such job");
    else
        not_waiting(r); /* a worker took it between the look-up and the script */
    serve_resume(r->s, r);
}

static void cancel_cb(sl_rconn *c, redisReply *reply, void *priv)
{
    (void)c;
    sreq *r = priv;
    if (!reply || reply->type != REDIS_REPLY_INTEGER) {
        unreachable(r);
        serve_resume(r->s, r);
        return;
    }
    if (reply->integer == 1) {
        r->status = 200;
        sl_buf_reset(&r->resp);
        sl_buf_puts(&r->resp, "{\"id\":");
        sl_buf_json_str(&r->resp, r->look->id, strlen(r->look->id));
        sl_buf_puts(&r->resp, ",\"state\":\"cancelled\"}");
        serve_resume(r->s, r);
        return;
    }
    if (serve_lookup(r, after_cancel)) {
        unreachable(r);
        serve_resume(r->s, r);
    }
}

static void cancel_found(sreq *r, int found)
{
    struct sreq_lookup *l = r->look;
    if (found > 0 && r->token && !serve_token_allows_queue(r->token, l->queue))
        found = 0; /* a queue the token does not see */
    if (found <= 0 || (l->state != SERVE_STATE_READY && l->state != SERVE_STATE_DELAYED)) {
        if (found < 0)
            unreachable(r);
        else if (found == 0)
            sreq_error(r, 404, "id", "no such job");
        else
            not_waiting(r);
        serve_resume(r->s, r);
        return;
    }
    size_t blen;
    char cap[24];
    snprintf(cap, sizeof cap, "%lld", sl_events_cap_env());
    char *body = cancelled_body(l, &blen);
    sl_keys k;
    sl_keys_init(&k, r->s->o.prefix, l->queue);
    const char *argv[] = {k.delayed,  k.dead,   k.stats, k.ready[0], k.ready[1], k.ready[2],
                          k.ready[3], k.events, k.base,  l->id,      body,       cap};
    size_t lens[12];
    for (int i = 0; i < 12; i++)
        lens[i] = strlen(argv[i]);
    lens[10] = blen;
    int rc = sl_rconn_script(r->s->redis, SL_SCRIPT_CANCEL, cancel_cb, r, 8, 12, argv, lens);
    free(body);
    if (rc) {
        unreachable(r);
        serve_resume(r->s, r);
    }
}

void serve_job_delete(sreq *r, const char *id)
{
    struct sreq_lookup *l = sl_calloc(1, sizeof *l);
    r->look = l;
    sl_strlcpy(l->id, id, sizeof l->id);
    if (serve_queue_arg(r, l))
        return;
    if (serve_lookup(r, cancel_found)) {
        unreachable(r);
        return;
    }
    sreq_suspend(r);
}

/* ---- GET /v1/queues ------------------------------------------------------ */

static const char *counter_names[] = {"enqueued",  "processed", "failed",  "retried", "dead",
                                      "reclaimed", "cancelled", "revived", "stale"};
#define NCOUNTERS 9
#define PER_QUEUE 10

struct qstats {
    sreq *r;
    char **names;
    int n;
};

static void qstats_free(struct qstats *q)
{
    for (int i = 0; i < q->n; i++)
        free(q->names[i]);
    free(q->names);
    free(q);
}

static void queue_json(sl_buf *b, const char *name, redisReply **e)
{
    sl_buf_json_str(b, name, strlen(name));
    sl_buf_puts(b, ":{\"ready\":{");
    for (int p = 0; p < SL_PRIO_COUNT; p++)
        sl_buf_printf(b, "%s\"%s\":%lld", p ? "," : "", sl_priority_name(p), reply_int(e[p]));
    sl_buf_printf(b, "},\"delayed\":%lld,\"active\":%lld,\"done\":%lld,\"dead\":%lld",
                  reply_int(e[4]), reply_int(e[5]), reply_int(e[6]), reply_int(e[7]));
    sl_buf_printf(b, ",\"paused\":%s,\"counters\":{", reply_int(e[8]) == 1 ? "true" : "false");
    const redisReply *h = e[9];
    for (int k = 0; k < NCOUNTERS; k++) {
        long long v = 0;
        for (size_t i = 0; h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2)
            if (!strcmp(h->element[i]->str, counter_names[k]))
                v = reply_int(h->element[i + 1]);
        sl_buf_printf(b, "%s\"%s\":%lld", k ? "," : "", counter_names[k], v);
    }
    /* counters some later part adds are shown too, as they are */
    for (size_t i = 0; h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2) {
        int known = 0;
        for (int k = 0; k < NCOUNTERS; k++)
            known |= !strcmp(h->element[i]->str, counter_names[k]);
        if (!known) {
            sl_buf_puts(b, ",");
            sl_buf_json_str(b, h->element[i]->str, h->element[i]->len);
            sl_buf_printf(b, ":%lld", reply_int(h->element[i + 1]));
        }
    }
    sl_buf_puts(b, "}}");
}

static void stats_cb(sl_rconn *c, redisReply *reply, void *priv)
{
    (void)c;
    struct qstats *q = priv;
    sreq *r = q->r;
    size_t want = (size_t)q->n * PER_QUEUE + 1;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != want) {
        unreachable(r);
    } else {
        r->status = 200;
        sl_buf *b = &r->resp;
        sl_buf_reset(b);
        sl_buf_puts(b, "{\"queues\":{");
        int k = 0;
        for (int i = 0; i < q->n; i++) {
            if (k++)
                sl_buf_puts(b, ",");
            queue_json(b, q->names[i], reply->element + (size_t)i * PER_QUEUE);
        }
        sl_buf_printf(b, "},\"workers\":%lld", reply_int(reply->element[want - 1]));
        int room;
        serve_spool_json(r->s, b, &room); /* with --spool: what waits in it */
        sl_buf_puts(b, "}");
    }
    qstats_free(q);
    serve_resume(r->s, r);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void members_cb(sl_rconn *c, redisReply *reply, void *priv)
{
    (void)c;
    sreq *r = priv;
    serve *s = r->s;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        unreachable(r);
        serve_resume(s, r);
        return;
    }
    struct qstats *q = sl_calloc(1, sizeof *q);
    q->r = r;
    q->names = sl_calloc(reply->elements + 1, sizeof *q->names);
    for (size_t i = 0; i < reply->elements; i++) {
        const char *name = reply->element[i]->str;
        if (r->token && !serve_token_allows_queue(r->token, name))
            continue;
        q->names[q->n++] = sl_strdup(name);
    }
    qsort(q->names, (size_t)q->n, sizeof *q->names, by_name);
    const char *m[] = {"MULTI"}, *e[] = {"EXEC"};
    int rc = sl_rconn_command(s->redis, noop_cb, NULL, 1, m, NULL);
    for (int i = 0; i < q->n && !rc; i++) {
        sl_keys k;
        sl_keys_init(&k, s->o.prefix, q->names[i]);
        for (int p = 0; p < SL_PRIO_COUNT; p++) {
            const char *a[] = {"LLEN", k.ready[p]};
            sl_rconn_command(s->redis, noop_cb, NULL, 2, a, NULL);
        }
        const char *sets[] = {k.delayed, k.active, k.done, k.dead};
        for (int j = 0; j < 4; j++) {
            const char *a[] = {"ZCARD", sets[j]};
            sl_rconn_command(s->redis, noop_cb, NULL, 2, a, NULL);
        }
        const char *ex[] = {"EXISTS", k.paused}, *hg[] = {"HGETALL", k.stats};
        sl_rconn_command(s->redis, noop_cb, NULL, 2, ex, NULL);
        sl_rconn_command(s->redis, noop_cb, NULL, 2, hg, NULL);
    }
    char wkey[SL_KEY_MAX];
    sl_keys_workers(wkey, s->o.prefix);
    const char *wz[] = {"ZCARD", wkey};
    if (!rc)
        sl_rconn_command(s->redis, noop_cb, NULL, 2, wz, NULL);
    if (!rc)
        rc = sl_rconn_command(s->redis, stats_cb, q, 1, e, NULL);
    if (rc) {
        qstats_free(q);
        unreachable(r);
        serve_resume(s, r);
    }
}

void serve_queues_get(sreq *r)
{
    const char *argv[] = {"SMEMBERS", r->s->queues_key};
    if (sl_rconn_command(r->s->redis, members_cb, r, 2, argv, NULL)) {
        unreachable(r);
        return;
    }
    sreq_suspend(r);
}

/* ---- GET /v1/batches/ID -------------------------------------------------- */

static const char *batch_fields[] = {"total",      "done",       "failed",       "sealed",
                                     "created_ms", "keep_ms",    "completed_ms", "cb_id",
                                     "cb_queue",   "cb_fired_ms"};
#define NBFIELDS 10

static void batch_cb(sl_rconn *c, redisReply *reply, void *priv)
{
    (void)c;
    sreq *r = priv;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[0]->type != REDIS_REPLY_ARRAY || reply->element[0]->elements != NBFIELDS) {
        unreachable(r);
        serve_resume(r->s, r);
        return;
    }
    redisReply **v = reply->element[0]->element;
    const char *id = r->url + strlen("/v1/batches/");
    if (v[0]->type != REDIS_REPLY_STRING) {
        char msg[160];
        snprintf(msg, sizeof msg, "no batch %s (never opened, or expired)", id);
        sreq_error(r, 404, "id", msg);
        serve_resume(r->s, r);
        return;
    }
    long long total = reply_int(v[0]), done = reply_int(v[1]), failed = reply_int(v[2]);
    long long completed = reply_int(v[6]), fired = reply_int(v[9]);
    long long pending = total - done - failed;
    redisReply *t = reply->element[2];
    long long now = t->type == REDIS_REPLY_ARRAY && t->elements == 2
                        ? strtoll(t->element[0]->str, NULL, 10) * 1000 +
                              strtoll(t->element[1]->str, NULL, 10) / 1000
                        : 0;
    sl_buf *b = &r->resp;
    sl_buf_reset(b);
    r->status = 200;
    sl_buf_puts(b, "{\"batch\":");
    sl_buf_json_str(b, id, strlen(id));
    sl_buf_printf(b,
                  ",\"state\":\"%s\",\"total\":%lld,\"done\":%lld,\"failed\":%lld,"
                  "\"pending\":%lld,\"sealed\":%s,\"created_ms\":%lld",
                  completed              ? "complete"
                  : reply_int(v[3]) == 1 ? "sealed"
                                         : "open",
                  total, done, failed, pending > 0 ? pending : 0,
                  reply_int(v[3]) == 1 ? "true" : "false", reply_int(v[4]));
    if (completed)
        sl_buf_printf(b, ",\"completed_ms\":%lld", completed);
    else
        sl_buf_puts(b, ",\"completed_ms\":null");
    if (v[7]->type == REDIS_REPLY_STRING) {
        sl_buf_puts(b, ",\"callback\":{\"id\":");
        sl_buf_json_str(b, v[7]->str, v[7]->len);
        sl_buf_puts(b, ",\"queue\":");
        if (v[8]->type == REDIS_REPLY_STRING)
            sl_buf_json_str(b, v[8]->str, v[8]->len);
        else
            sl_buf_puts(b, "\"\"");
        if (fired)
            sl_buf_printf(b, ",\"state\":\"fired\",\"fired_ms\":%lld}", fired);
        else
            sl_buf_puts(b, ",\"state\":\"pending\",\"fired_ms\":null}");
    } else {
        sl_buf_puts(b, ",\"callback\":null");
    }
    sl_buf_printf(b, ",\"keep_ms\":%lld,\"ttl_ms\":%lld,\"now_ms\":%lld}", reply_int(v[5]),
                  reply_int(reply->element[1]), now);
    serve_resume(r->s, r);
}

void serve_batch_get(sreq *r, const char *id)
{
    serve *s = r->s;
    char key[SL_KEY_MAX], err[200];
    if (sl_batch_check_id("id", id, err, sizeof err)) {
        sreq_error_text(r, 400, err, -1);
        return;
    }
    sl_keys_batch(key, s->o.prefix, id);
    const char *hm[2 + NBFIELDS] = {"HMGET", key};
    for (int i = 0; i < NBFIELDS; i++)
        hm[2 + i] = batch_fields[i];
    const char *m[] = {"MULTI"}, *pt[] = {"PTTL", key}, *tm[] = {"TIME"}, *e[] = {"EXEC"};
    if (sl_rconn_command(s->redis, noop_cb, NULL, 1, m, NULL)) {
        unreachable(r);
        return;
    }
    sl_rconn_command(s->redis, noop_cb, NULL, 2 + NBFIELDS, hm, NULL);
    sl_rconn_command(s->redis, noop_cb, NULL, 2, pt, NULL);
    sl_rconn_command(s->redis, noop_cb, NULL, 1, tm, NULL);
    if (sl_rconn_command(s->redis, batch_cb, r, 1, e, NULL)) {
        unreachable(r);
        return;
    }
    sreq_suspend(r);
}

/* ---- /readyz ------------------------------------------------------------- */

/* Ready when Redis is reachable, or when the spool (--spool) has room for
 * the jobs Redis cannot take; the answer says which, and the spool's depth. */
void serve_readyz(sreq *r)
{
    int up = sl_rconn_is_up(r->s->redis), room;
    sl_buf spool = {0};
    serve_spool_json(r->s, &spool, &room);
    int ready = up || room;
    r->status = ready ? 200 : 503;
    r->retry_after = ready ? 0 : 1;
    sl_buf_reset(&r->resp);
    sl_buf_printf(&r->resp, "{\"status\":\"%s\",\"redis\":\"%s\"%s}", ready ? "ready" : "not ready",
                  up ? "up" : "down", spool.data ? spool.data : "");
    sl_buf_deinit(&spool);
}
